// ebmlab SDK: what every plugin object shares — declared outputs, state, step hooks.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "ebmlab/error.hpp"

namespace ebm {

/// What a logged term is, for the kernel's rules: an `energy` (or a statistic of energies,
/// such as their spread) is held to the stage's energy_bound by the divergence guard.
enum class OutputRole { value, energy };

/// A curve (scalar per step, shape empty) or tensor the component will log. Declared up
/// front so the kernel lays out the HDF5 file before SWMR writing starts.
struct OutputSpec {
  OutputSpec(std::string term, std::vector<std::int64_t> dims, std::string text, OutputRole kind = OutputRole::value)
      : name(std::move(term)), shape(std::move(dims)), doc(std::move(text)), role(kind) {}

  std::string name;                 ///< the term; logged as curves/<component>/<name>
  std::vector<std::int64_t> shape;  ///< empty: scalar curve; else per-record tensor shape
  std::string doc;
  OutputRole role = OutputRole::value;
};

/// Named tensors (scalars as 0-d tensors) that capture a component's mutable state:
/// replay buffers, curricula, running windows. Saved in checkpoints, restored on resume.
using StateDict = std::map<std::string, at::Tensor>;

/// What the kernel tells every component after each optimizer step.
struct StepStats {
  std::int64_t step = 0;   ///< global step just completed (1-based)
  std::int64_t epoch = 0;  ///< 0-based epoch within the stage
  std::string stage;
  double loss = 0.0;                    ///< total weighted loss of the step
  std::map<std::string, double> terms;  ///< every logged "component/term" of this step
  std::int64_t steps_per_epoch = 0;     ///< steps in one epoch of the stage (0: not known)
};

class EBMLAB_API Component {
 public:
  virtual ~Component();
  /// Curves and tensors this component logs (through StepContext::log).
  virtual std::vector<OutputSpec> outputs() const { return {}; }
  virtual StateDict state() const { return {}; }
  /// Restore from `state()`'s output; throw ebm::RunError on a mismatch.
  virtual void load_state(const StateDict&) {}
  virtual void on_step_end(const StepStats&) {}
};

enum class ModelMode { train, eval };

}  // namespace ebm
