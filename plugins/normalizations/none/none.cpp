// normalization "none": identity layers, for backbones without normalization (JEM).
#include <torch/torch.h>

#include "ebmlab/ebmlab.hpp"

namespace {

class Identity : public ebm::NormLayer {
 public:
  at::Tensor forward(const at::Tensor& x) override { return x; }
};

class NoNorm : public ebm::Normalization {
 public:
  NoNorm(const ebm::Params&, const ebm::BuildContext&) {}
  std::shared_ptr<ebm::NormLayer> make(std::int64_t, ebm::NormInput) const override { return std::make_shared<Identity>(); }
};

ebm::Schema schema() { return {}; }

}  // namespace

EBMLAB_PLUGIN(ebm::entry<NoNorm>(ebm::Kind::normalization, "none", "1.0", "no normalization (identity layers)", schema))
