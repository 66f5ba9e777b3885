#include "train/services.hpp"

#include "ebmlab/error.hpp"

namespace ebm::kernel {

const Batch& NoServices::other_dataset(const std::string& name, const std::string&, std::int64_t) {
  throw RunError("other data set '" + name + "' asked for, but this trainer was given no evaluation services");
}

Embedding NoServices::embed(const std::string& checkpoint, const at::Tensor&) {
  throw RunError("reference network " + checkpoint + " asked for, but this trainer was given no evaluation services");
}

}  // namespace ebm::kernel
