// Child processes of ebmlab itself: --jobs workers, --nproc ranks, `plugins --check`.
// posix_spawn, never fork: LibTorch's OpenMP runtime is not fork-safe.
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

namespace ebm::cli {

/// Starts /proc/self/exe with `args` (argv[1..]) and the environment plus `extra_env`
/// ("NAME=value" entries replace inherited ones). Throws RunError when it cannot start.
pid_t spawn_self(const std::vector<std::string>& args, const std::vector<std::string>& extra_env);
/// Waits for any child; retries on signals, forwarding a stop request (g_stop_signal) once.
std::pair<pid_t, int> wait_child(const std::vector<pid_t>& running, bool& forwarded);
/// A wait status as a shell would report it: the exit code, or 128 + signal.
int exit_code_of(int status);
/// Local data parallel: N ranks of this very command line, with the torchrun variables.
int launch_ranks(const std::vector<std::string>& args, int nproc, int timeout_s, const std::string& command_line);

}  // namespace ebm::cli
