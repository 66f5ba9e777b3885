// Value trees and schemas as JSON (Boost.JSON) for the index file and --json output.
#pragma once

#include <boost/json/value.hpp>

#include "ebmlab/schema.hpp"

namespace ebm::kernel {

boost::json::value to_json(const Value& v);
boost::json::value to_json(const ParamSpec& spec);
std::string pretty(const boost::json::value& v);

}  // namespace ebm::kernel
