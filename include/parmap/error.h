// The one exception type parmap throws, and the kinds that decide what happens next.
#pragma once

#include <stdexcept>
#include <string>

namespace parmap {

/// What a failure means for the run: retry it, reject a row, or stop.
enum class ErrorKind {
  Config,     ///< bad setting or usage, reported before any work starts (exit 2)
  Connect,    ///< cannot reach or log in to a database
  Transient,  ///< connection lost, busy, deadlock, serialization: retried with backoff
  InDoubt,    ///< commit outcome unknown: resolved by reading the ledger, never retried blindly
  Data,       ///< a row the target refuses
  Schema,     ///< missing table/column, mismatched columns
  Timeout,    ///< the server cancelled a statement or ended an idle session (statement_timeout,
              ///< lock_timeout, idle_in_transaction_session_timeout, pg_cancel_backend): retried
              ///< like Transient, then a failure naming the setting; never a cancellation
  Cancelled,  ///< the user asked to stop (parmap's own SIGINT/SIGTERM, a caller's cancel flag)
  Internal,   ///< a bug in parmap
};

/// Printable name of a kind ("config", "transient", ...).
const char* to_string(ErrorKind kind);

/// Where an error happened. Never holds a password: URLs are stored masked.
struct ErrorContext {
  std::string engine;     ///< "sqlite", "postgresql", ...
  std::string table;      ///< target or source table, when known
  std::string chunk;      ///< chunk id and bounds, when inside a chunk
  std::string statement;  ///< the SQL that failed, when known
};

/// The only exception type parmap throws. what() is a complete, user-facing message.
class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message, std::string native_code = {},
        ErrorContext context = {});

  ErrorKind kind() const { return kind_; }
  /// SQLSTATE, MySQL errno or SQLite result code; empty when not from a database.
  const std::string& native_code() const { return native_code_; }
  const ErrorContext& context() const { return context_; }

  /// A copy whose message is prefixed with `where` ("job j1, chunk 3: ...") and whose
  /// context has its empty fields filled from `more`.
  Error with_context(const std::string& where, const ErrorContext& more) const;

 private:
  ErrorKind kind_;
  std::string native_code_;
  ErrorContext context_;
};

/// Shorthand for a configuration error naming the setting, the value and what is accepted.
[[noreturn]] void throw_config(const std::string& setting, const std::string& value,
                               const std::string& accepted);

}  // namespace parmap
