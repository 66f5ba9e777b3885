// The model-mode guard restores every submodule's own flag, and frozen norm layers
// never leave eval mode.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include "ebmlab/mode_guard.hpp"
#include "ebmlab/normalization.hpp"

namespace {

struct Frozenable : ebm::NormLayer {
  at::Tensor forward(const at::Tensor& x) override { return x; }
};

struct Net : torch::nn::Module {
  Net() {
    a = register_module("a", torch::nn::Linear(2, 2));
    inner = register_module("inner", std::make_shared<torch::nn::Module>());
    b = inner->register_module("b", torch::nn::Linear(2, 2));
    norm = register_module("norm", std::make_shared<Frozenable>());
  }
  torch::nn::Linear a{nullptr}, b{nullptr};
  std::shared_ptr<torch::nn::Module> inner;
  std::shared_ptr<Frozenable> norm;
};

}  // namespace

TEST_CASE("mode guard: restores a mixed tree exactly") {
  auto net = std::make_shared<Net>();
  net->train();
  net->b->eval();  // a submodule deliberately in eval inside a training model
  {
    ebm::ModeGuard guard(*net, ebm::ModelMode::eval);
    CHECK_FALSE(net->is_training());
    CHECK_FALSE(net->a->is_training());
    CHECK_FALSE(net->inner->is_training());
  }
  CHECK(net->is_training());
  CHECK(net->a->is_training());
  CHECK(net->inner->is_training());
  CHECK_FALSE(net->b->is_training());
  {
    ebm::ModeGuard guard(*net, ebm::ModelMode::train);
    CHECK(net->b->is_training());
  }
  CHECK_FALSE(net->b->is_training());
}

TEST_CASE("mode guard: a frozen norm layer stays in eval through train() and guards") {
  auto net = std::make_shared<Net>();
  net->norm->set_frozen(true);
  net->train();
  CHECK(net->a->is_training());
  CHECK_FALSE(net->norm->is_training());
  {
    ebm::ModeGuard guard(*net, ebm::ModelMode::train);
    CHECK_FALSE(net->norm->is_training());
  }
  CHECK_FALSE(net->norm->is_training());
  net->norm->set_frozen(false);
  net->train();
  CHECK(net->norm->is_training());
}
