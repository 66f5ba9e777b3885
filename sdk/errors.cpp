// Key functions of the error hierarchy: their typeinfo lives here, once, so an exception
// thrown in a plugin is caught by type in the kernel.
#include "ebmlab/error.hpp"

namespace ebm {
Error::~Error() = default;
ConfigError::~ConfigError() = default;
SchemaError::~SchemaError() = default;
DataError::~DataError() = default;
PluginLoadError::~PluginLoadError() = default;
RunError::~RunError() = default;
}  // namespace ebm
