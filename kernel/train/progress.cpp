#include "train/progress.hpp"

#include <cstdio>

namespace ebm::kernel {

Progress::Progress(bool terminal, double every, bool quiet) : terminal_(terminal), quiet_(quiet), every_(every) {}

void Progress::start_stage(const std::string& variant, const std::string& stage, std::int64_t total) {
  label_ = variant + "/" + stage;
  total_ = total;
  done_ = 0;
  start_ = last_ = Clock::now();
}

void Progress::update(std::int64_t done, double loss) {
  done_ = done;
  if (quiet_) return;
  auto now = Clock::now();
  double since = std::chrono::duration<double>(now - last_).count();
  if (since < (terminal_ ? 0.25 : every_) && done != total_) return;
  last_ = now;
  double elapsed = std::chrono::duration<double>(now - start_).count();
  double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0;
  double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : 0.0;
  char line[256];
  std::snprintf(line, sizeof line, "%s  step %lld/%lld  %.1f steps/s  ETA %d:%02d  loss %.4f", label_.c_str(),
                static_cast<long long>(done), static_cast<long long>(total_), rate, static_cast<int>(eta) / 60,
                static_cast<int>(eta) % 60, loss);
  if (terminal_) {
    std::fprintf(stderr, "\r\033[K%s", line);
    live_ = true;
  } else {
    std::fprintf(stderr, "%s\n", line);
  }
  std::fflush(stderr);
}

void Progress::message(const std::string& line) {
  if (quiet_) return;
  if (live_) std::fprintf(stderr, "\r\033[K");
  std::fprintf(stderr, "%s\n", line.c_str());
  live_ = false;
  std::fflush(stderr);
}

void Progress::finish_stage() {
  if (live_ && !quiet_) std::fprintf(stderr, "\n");
  live_ = false;
}

}  // namespace ebm::kernel
