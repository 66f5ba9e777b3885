// The ebmlab subcommands. Each parses its own options and returns the exit code.
#pragma once

#include <string>
#include <vector>

namespace ebm::cli {

int run_command(const std::vector<std::string>& args, const std::string& command_line);
int validate_command(const std::vector<std::string>& args);
int plugins_command(const std::vector<std::string>& args);
int eval_command(const std::vector<std::string>& args, const std::string& command_line);
int sample_command(const std::vector<std::string>& args, const std::string& command_line);
int counterfactual_command(const std::vector<std::string>& args, const std::string& command_line);
int report_command(const std::vector<std::string>& args);
int export_command(const std::vector<std::string>& args);
int watch_command(const std::vector<std::string>& args);

}  // namespace ebm::cli
