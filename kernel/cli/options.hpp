// Command-line parsing shared by the subcommands.
#pragma once

#include <string>
#include <vector>

#include <boost/program_options.hpp>

namespace ebm::cli {

/// Parses `args` against `opts`; `positional` (if not empty) takes up to `count` bare
/// arguments (-1: all of them).
inline boost::program_options::variables_map parse_options(const std::vector<std::string>& args,
                                                           const boost::program_options::options_description& opts,
                                                           const std::string& positional = "", int count = 1) {
  namespace po = boost::program_options;
  po::positional_options_description pos;
  if (!positional.empty()) pos.add(positional.c_str(), count);
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(opts).positional(pos).run(), vm);
  po::notify(vm);
  return vm;
}

/// Values of a comma-separated, repeatable option ("a,b" "c" -> a, b, c); empty items dropped.
inline std::vector<std::string> split_commas(const std::vector<std::string>& values) {
  std::vector<std::string> out;
  for (auto& v : values) {
    std::size_t start = 0;
    while (start <= v.size()) {
      const auto comma = v.find(',', start);
      std::string item = v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!item.empty()) out.push_back(std::move(item));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return out;
}

}  // namespace ebm::cli
