// The ebmlab subcommands. Each parses its own options and returns the exit code.
#pragma once

#include <string>
#include <vector>

namespace ebm::cli {

int run_command(const std::vector<std::string>& args, const std::string& command_line);
int validate_command(const std::vector<std::string>& args);
int plugins_command(const std::vector<std::string>& args);

}  // namespace ebm::cli
