// Progress display: a live line on a terminal, plain periodic lines otherwise.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace ebm::kernel {

class Progress {
 public:
  Progress(bool terminal, double plain_every_seconds, bool quiet = false);
  void start_stage(const std::string& variant, const std::string& stage, std::int64_t total_steps);
  void update(std::int64_t done, double loss);
  void message(const std::string& line);  ///< a whole line, never interleaved with the live one
  void finish_stage();

 private:
  using Clock = std::chrono::steady_clock;
  bool terminal_, quiet_;
  double every_;
  std::string label_;
  std::int64_t total_ = 0, done_ = 0;
  Clock::time_point start_, last_;
  bool live_ = false;
};

}  // namespace ebm::kernel
