// ebmlab SDK: metrics consume evaluation batches and return named scalars.
#pragma once

#include <map>
#include <string>

#include "ebmlab/component.hpp"
#include "ebmlab/context.hpp"

namespace ebm {

/// One evaluation batch. logits were computed once by the kernel (eval mode, no grad).
struct EvalBatch {
  at::Tensor x;       ///< [B, ...shape] in the data range
  at::Tensor y;       ///< [B] int64
  at::Tensor logits;  ///< [B, K]
};

class EBMLAB_API Metric : public Component {
 public:
  ~Metric() override;
  virtual void reset() = 0;
  /// ctx gives access to the model for metrics that attack or sample (robust accuracy).
  virtual void update(const EvalBatch& batch, StepContext& ctx) = 0;
  /// Scalars named as in outputs(); stored under eval/<split>/<metric>/<name>.
  virtual std::map<std::string, double> result() const = 0;
  /// Tensors named as in outputs() with a non-empty shape (e.g. a reliability diagram),
  /// stored beside the scalars as one record per evaluation.
  virtual std::map<std::string, at::Tensor> tensors() const { return {}; }
};

}  // namespace ebm
