// normalizations "group", "layer", "instance": per-sample normalization over groups of
// channels (GroupNorm). layer = one group (all features of a sample), instance = one group
// per channel (spatial inputs; on flat [B,C] inputs, where a channel is a single number,
// instance falls back to layer). No running statistics, so a frozen stage changes nothing.
#include <torch/torch.h>

#include "ebmlab/ebmlab.hpp"

namespace {

class GroupNormLayer : public ebm::NormLayer {
 public:
  GroupNormLayer(std::int64_t groups, std::int64_t channels, double eps, bool affine) {
    gn_ = register_module("gn", torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, channels).eps(eps).affine(affine)));
  }
  at::Tensor forward(const at::Tensor& x) override { return gn_->forward(x); }

 private:
  torch::nn::GroupNorm gn_{nullptr};
};

/// The largest divisor of `channels` not above `wanted`.
std::int64_t divisor_groups(std::int64_t channels, std::int64_t wanted) {
  for (std::int64_t g = std::min(wanted, channels); g > 1; --g)
    if (channels % g == 0) return g;
  return 1;
}

enum class Scheme { group, layer, instance };

template <Scheme S>
class GroupScheme : public ebm::Normalization {
 public:
  GroupScheme(const ebm::Params& p, const ebm::BuildContext&)
      : groups_(S == Scheme::group ? p.integer("groups") : 1), eps_(p.real("eps")), affine_(p.boolean("affine")) {}
  std::shared_ptr<ebm::NormLayer> make(std::int64_t channels, ebm::NormInput input) const override {
    std::int64_t g = 1;
    if (S == Scheme::group) g = divisor_groups(channels, groups_);
    if (S == Scheme::instance && input == ebm::NormInput::spatial) g = channels;
    return std::make_shared<GroupNormLayer>(g, channels, eps_, affine_);
  }

 private:
  std::int64_t groups_;
  double eps_;
  bool affine_;
};

ebm::Schema common() {
  namespace p = ebm::param;
  return {p::real("eps", "added to the variance").set_default(1e-5).range(0, 1),
          p::boolean("affine", "learn a per-channel scale and shift").set_default(true)};
}

ebm::Schema group_schema() {
  auto s = common();
  s.insert(s.begin(), ebm::param::integer("groups", "groups per layer (the largest divisor of the channel count not above this)")
                          .set_default(32)
                          .range(1, 4096));
  return s;
}

}  // namespace

EBMLAB_PLUGIN(ebm::entry<GroupScheme<Scheme::group>>(ebm::Kind::normalization, "group", "1.0",
                                                     "GroupNorm (per-sample, groups of channels)", group_schema),
              ebm::entry<GroupScheme<Scheme::layer>>(ebm::Kind::normalization, "layer", "1.0",
                                                     "LayerNorm over all features of a sample (GroupNorm with one group)",
                                                     common),
              ebm::entry<GroupScheme<Scheme::instance>>(ebm::Kind::normalization, "instance", "1.0",
                                                        "InstanceNorm with affine (GroupNorm with one group per channel)",
                                                        common))
