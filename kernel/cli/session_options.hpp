// The options eval, sample and counterfactual share, read into a run/session.hpp request.
#pragma once

#include <string>
#include <utility>

#include <boost/program_options.hpp>

#include "ebmlab/value.hpp"

#include "run/session.hpp"

namespace ebm::cli {

/// --run, --variant, --checkpoint, --weights, --threads, --seed.
void common_options(boost::program_options::options_description& opts);

/// The parsed common options of `command`.
kernel::SessionRequest session_request(const boost::program_options::variables_map& vm, const std::string& command);

/// `key=value` with the value read as TOML (numbers, booleans, arrays), else as a string.
std::pair<std::string, Value> parse_setting(const std::string& setting, const std::string& option);

}  // namespace ebm::cli
