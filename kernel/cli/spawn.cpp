#include "cli/spawn.hpp"

#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "ebmlab/error.hpp"

#include "train/trainer.hpp"

extern char** environ;

namespace fs = std::filesystem;

namespace ebm::cli {

namespace {
extern "C" void forward_signal(int sig) { kernel::g_stop_signal.store(sig); }
}  // namespace

using namespace ebm::kernel;

pid_t spawn_self(const std::vector<std::string>& args, const std::vector<std::string>& extra_env) {
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    bool replaced = false;
    for (auto& x : extra_env)
      if (kv.compare(0, x.find('=') + 1, x, 0, x.find('=') + 1) == 0) replaced = true;
    if (!replaced) env_store.push_back(kv);
  }
  for (auto& x : extra_env) env_store.push_back(x);
  std::vector<char*> argv, envp;
  std::string self = fs::read_symlink("/proc/self/exe").string();
  argv.push_back(self.data());
  std::vector<std::string> a = args;
  for (auto& s : a) argv.push_back(s.data());
  argv.push_back(nullptr);
  for (auto& s : env_store) envp.push_back(s.data());
  envp.push_back(nullptr);
  pid_t pid = 0;
  // posix_spawn, not fork: LibTorch's OpenMP runtime is not fork-safe.
  // Through /proc/self/exe: the running image, even when a rebuild replaced the file.
  int rc = posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv.data(), envp.data());
  if (rc != 0) throw RunError("cannot start a worker process (" + self + "): " + std::strerror(rc));
  return pid;
}

std::pair<pid_t, int> wait_child(const std::vector<pid_t>& running, bool& forwarded) {
  while (true) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, 0);
    if (pid > 0) return {pid, status};
    if (errno != EINTR) return {-1, 0};
    if (g_stop_signal.load() && !forwarded) {
      for (pid_t p : running) kill(p, g_stop_signal.load());
      forwarded = true;
    }
  }
}

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

int launch_ranks(const std::vector<std::string>& args, int nproc, int timeout_s, const std::string& command_line) {
  // A free port for rank 0's TCPStore: bind to port 0 and read what the kernel chose.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw RunError("--nproc: cannot find a free local port for the rendezvous");
  const int port = ntohs(addr.sin_port);
  close(fd);
  std::vector<pid_t> ranks;
  ranks.reserve(static_cast<std::size_t>(nproc));
  for (int r = 0; r < nproc; ++r)
    ranks.push_back(spawn_self(args, {"RANK=" + std::to_string(r), "WORLD_SIZE=" + std::to_string(nproc), "MASTER_ADDR=127.0.0.1",
                                      "MASTER_PORT=" + std::to_string(port), "EBMLAB_LAUNCH_COMMAND=" + command_line}));
  std::signal(SIGINT, forward_signal);
  std::signal(SIGTERM, forward_signal);
  int code = 0, rank0 = -1;
  bool forwarded = false;
  std::vector<pid_t> running = ranks;
  while (!running.empty()) {
    auto [pid, status] = wait_child(running, forwarded);
    if (pid < 0) break;
    running.erase(std::remove(running.begin(), running.end(), pid), running.end());
    const int c = exit_code_of(status);
    if (pid == ranks.front()) rank0 = c;
    if (c != 0 && code == 0) {
      code = c;
      // The others fail at their next collective; give them the time-out, then stop them.
      std::thread([running, timeout_s] {
        std::this_thread::sleep_for(std::chrono::seconds(timeout_s + 30));
        for (pid_t p : running) kill(p, SIGKILL);
      }).detach();
    }
  }
  return rank0 > 0 ? rank0 : code;
}

}  // namespace ebm::cli
