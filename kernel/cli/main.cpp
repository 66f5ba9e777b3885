// ebmlab: the command-line entry point. Dispatches to subcommands and turns errors
// into messages and exit codes (DESIGN.md: 0 ok, 1 variant failed, 2 bad input,
// 3 plugin load failure, 130/143 interrupted).
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <iostream>

#include <boost/program_options/errors.hpp>

#include "ebmlab/error.hpp"

#include "cli/commands.hpp"
#include "loader/torch_runtime.hpp"
#include "loader/version.hpp"
#include "store/h5util.hpp"
#include "train/trainer.hpp"

namespace {

const char* const kUsage =
    "usage: ebmlab <command> [options]\n"
    "\n"
    "Energy-based models and adversarial training, driven by TOML experiment descriptors.\n"
    "\n"
    "commands:\n"
    "  run FILE        validate the descriptor, then train and evaluate every variant\n"
    "  validate FILE   check a descriptor against every plugin's schema; write nothing\n"
    "  plugins         list the loaded plugins (after a line naming the LibTorch), or describe one\n"
    "  eval RUN.h5     evaluate a saved model (any metrics) and add the results to its log\n"
    "  sample RUN.h5   draw samples from a saved model with a sampler; HDF5 + PNG grid\n"
    "  counterfactual RUN.h5\n"
    "                  move a test image toward another class (robust counterfactual); path + PNG strip\n"
    "  report RUN.h5 [RUN2.h5 ...]\n"
    "                  table of variants x final evaluation results, seeds grouped (mean ± std)\n"
    "  export RUN.h5   curves and evaluation series of a variant as CSV or JSON\n"
    "  watch RUN.h5    follow a running experiment: status and latest value of every curve\n"
    "\n"
    "options:\n"
    "  -h, --help      this text; `ebmlab <command> --help` for a command's options\n"
    "  --version       print the version, the commit, and the LibTorch with what it offers of CUDA\n"
    "\n"
    "Plugins are loaded from the build's plugins/ folder next to the binary, the installed\n"
    "lib/ebmlab/plugins, and every folder or file in EBMLAB_PLUGIN_PATH (colon-separated).\n"
    "Exit codes: 0 ok (a diverged variant is a result); 1 run: a variant failed -- eval, sample, counterfactual: the\n"
    "command failed -- watch: --timeout reached; 2 bad input; 3 plugin load failure; 130/143 interrupted by\n"
    "SIGINT/SIGTERM. Each command's --help lists its own.\n";

}  // namespace

namespace {

int run_main(int argc, char** argv) {
  ebm::kernel::configure_allocator();
  // A file over `ulimit -f` then fails its write (EFBIG) with a message naming the file,
  // instead of the process being killed mid-write.
  std::signal(SIGXFSZ, SIG_IGN);
  ebm::kernel::h5::quiet_errors();
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string command_line;
  for (int i = 0; i < argc; ++i) command_line += (i ? " " : "") + std::string(argv[i]);
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "--version") {
    std::cout << "ebmlab " << ebm::kernel::kVersion << " (" << ebm::kernel::kGitCommit << ")\n"
              << ebm::kernel::torch_runtime().summary() << "\n";
    return 0;
  }
  std::string cmd = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  try {
    if (cmd == "run") return ebm::cli::run_command(rest, command_line);
    if (cmd == "validate") return ebm::cli::validate_command(rest);
    if (cmd == "plugins") return ebm::cli::plugins_command(rest);
    if (cmd == "eval") return ebm::cli::eval_command(rest, command_line);
    if (cmd == "sample") return ebm::cli::sample_command(rest, command_line);
    if (cmd == "counterfactual") return ebm::cli::counterfactual_command(rest, command_line);
    if (cmd == "report") return ebm::cli::report_command(rest);
    if (cmd == "export") return ebm::cli::export_command(rest);
    if (cmd == "watch") return ebm::cli::watch_command(rest);
    std::cerr << "ebmlab: unknown command '" << cmd
              << "'; expected one of run, validate, plugins, eval, sample, "
                 "counterfactual, report, export, watch (see ebmlab --help)\n";
    return 2;
  } catch (const ebm::Error& e) {
    // Whole lines in one write each: --jobs workers share stderr.
    std::cerr << ("ebmlab " + cmd + ": error: " + e.what() + "\n");
    return e.exit_code();
  } catch (const boost::program_options::error& e) {
    std::cerr << ("ebmlab " + cmd + ": " + e.what() + " (see ebmlab " + cmd + " --help)\n");
    return 2;
  } catch (const std::exception& e) {
    std::cerr << ("ebmlab " + cmd + ": unexpected error: " + e.what() + "\n");
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int code = run_main(argc, argv);
  if (ebm::kernel::h5::failed()) {
    // An HDF5 write failed (e.g. a full disk): the library may crash in its own exit
    // handler closing that file, so end here, with everything of ours already closed.
    std::cout.flush();
    std::cerr.flush();
    std::fflush(nullptr);
    _exit(code);
  }
  return code;
}
