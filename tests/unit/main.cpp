#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <torch/torch.h>

int main(int argc, char** argv) {
  torch::set_num_threads(1);  // deterministic and fair to the other test processes
  doctest::Context ctx(argc, argv);
  return ctx.run();
}
