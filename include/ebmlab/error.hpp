// ebmlab SDK: the one error hierarchy. Every message names the file, key or plugin at fault.
#pragma once

#include <stdexcept>
#include <string>

#define EBMLAB_API __attribute__((visibility("default")))

namespace ebm {

/// Base of every error ebmlab raises on purpose. `exit_code()` is what the CLI returns.
class EBMLAB_API Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
  ~Error() override;
  virtual int exit_code() const { return 1; }
};

/// Bad input: descriptor syntax, schema violations, CLI arguments, unreadable files. Exit 2.
class EBMLAB_API ConfigError : public Error {
 public:
  using Error::Error;
  ~ConfigError() override;
  int exit_code() const override { return 2; }
};

/// A value does not satisfy a plugin's declared schema. Exit 2.
class EBMLAB_API SchemaError : public ConfigError {
 public:
  using ConfigError::ConfigError;
  ~SchemaError() override;
};

/// A data file is missing, truncated or corrupt. Exit 2.
class EBMLAB_API DataError : public ConfigError {
 public:
  using ConfigError::ConfigError;
  ~DataError() override;
};

/// A plugin library cannot be loaded or does not match this kernel. Exit 3.
class EBMLAB_API PluginLoadError : public Error {
 public:
  using Error::Error;
  ~PluginLoadError() override;
  int exit_code() const override { return 3; }
};

/// Something went wrong while a variant ran (non-finite loss, shape mismatch). Exit 1.
class EBMLAB_API RunError : public Error {
 public:
  using Error::Error;
  ~RunError() override;
};

}  // namespace ebm
