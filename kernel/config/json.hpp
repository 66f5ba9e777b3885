// Value trees and schemas as JSON (Boost.JSON) for the index file and --json output.
#pragma once

#include <boost/json/value.hpp>

#include "ebmlab/schema.hpp"

namespace ebm::kernel {

boost::json::value to_json(const Value& v);
boost::json::value to_json(const ParamSpec& spec);
std::string pretty(const boost::json::value& v);
/// The inverse of to_json(Value): objects become tables, arrays lists; every value gets `loc`.
Value from_json(const boost::json::value& v, const SourceLoc& loc);

}  // namespace ebm::kernel
