// The ebmlab subcommands. Each parses its own options and returns the exit code.
#pragma once

#include <string>
#include <vector>

namespace ebm::kernel {
struct Descriptor;
struct Override;
struct VariantConfig;
class Registry;
}  // namespace ebm::kernel

namespace ebm::cli {

/// Expands (variants, sweep, overrides), keeps the variants `only` selects (`a*,b`: shell
/// globs, comma-separated; empty = all; ConfigError when none matches) and validates each,
/// collecting all problems, each under its variant's name, before failing. Variants left
/// out by `only` are not validated. `expanded`, when given, receives how many there were.
std::vector<kernel::VariantConfig> validate_all(const kernel::Descriptor& d, const kernel::Registry& registry,
                                                const std::vector<kernel::Override>& overrides, const std::string& only = "",
                                                std::size_t* expanded = nullptr);

/// The registry for descriptor `d`: the search path, then the descriptor's [plugins] paths,
/// which are code named by a file and so load only when `allow_descriptor_paths` is set
/// (--allow-plugin-path); otherwise they are a ConfigError saying so.
void load_plugins(kernel::Registry& registry, const kernel::Descriptor& d, bool allow_descriptor_paths);
/// The --allow-plugin-path option text, shared by run and validate.
inline constexpr const char* kAllowPluginPathHelp =
    "load the plugin files and folders the descriptor's [plugins] paths name (plugins are code: only for "
    "descriptors you trust)";

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
