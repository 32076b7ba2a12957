// The one exception type parmap throws: its kinds, context and the config-error shorthand.
#include "parmap/error.h"

#include <fmt/format.h>

#include <utility>

namespace parmap {

const char* to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::Config:
      return "config";
    case ErrorKind::Connect:
      return "connect";
    case ErrorKind::Transient:
      return "transient";
    case ErrorKind::InDoubt:
      return "in_doubt";
    case ErrorKind::Data:
      return "data";
    case ErrorKind::Schema:
      return "schema";
    case ErrorKind::Timeout:
      return "timeout";
    case ErrorKind::Cancelled:
      return "cancelled";
    case ErrorKind::Internal:
      return "internal";
  }
  return "unknown";
}

Error::Error(ErrorKind kind, const std::string& message, std::string native_code,
             ErrorContext context)
    : std::runtime_error(message),
      kind_(kind),
      native_code_(std::move(native_code)),
      context_(std::move(context)) {}

Error Error::with_context(const std::string& where, const ErrorContext& more) const {
  ErrorContext merged = context_;
  // Existing fields win: they were set closer to the failure and are more precise.
  auto fill = [](std::string& mine, const std::string& theirs) {
    if (mine.empty()) mine = theirs;
  };
  fill(merged.engine, more.engine);
  fill(merged.table, more.table);
  fill(merged.chunk, more.chunk);
  fill(merged.statement, more.statement);
  std::string message = where.empty() ? std::string(what()) : fmt::format("{}: {}", where, what());
  return Error(kind_, message, native_code_, std::move(merged));
}

void throw_config(const std::string& setting, const std::string& value,
                  const std::string& accepted) {
  throw Error(ErrorKind::Config,
              fmt::format("invalid value '{}' for {}: expected {}", value, setting, accepted));
}

}  // namespace parmap
