// Small libpq helpers shared by the PostgreSQL driver's classes: owned libpq buffers, error
// contexts, errors from results, and ending a command a source or sink left running.
#pragma once

#include <libpq-fe.h>

#include <memory>
#include <string>
#include <string_view>

#include "parmap/error.h"

namespace parmap::pg {

/// Frees memory libpq allocated (PQgetCopyData buffers, PQescapeLiteral results).
struct PqFree {
  void operator()(char* p) const noexcept { PQfreemem(p); }
};
using PqBuffer = std::unique_ptr<char, PqFree>;

/// Frees a cancel handle.
struct CancelFree {
  void operator()(PGcancel* p) const noexcept { PQfreeCancel(p); }
};

/// The error context of a PostgreSQL statement (engine, table, the statement's first 200
/// characters).
ErrorContext pg_context(std::string_view sql = {}, std::string_view table = {});

/// The SQLSTATE of a result; "" for a null result or one without a SQLSTATE.
std::string sqlstate_of(const PGresult* result);

/// Whether a result status is an error.
bool is_error_status(ExecStatusType status);

/// Throws Error(Connect) for a session used after close(). Never returns.
[[noreturn]] void throw_closed(std::string_view url);

/// Throws the classified Error for a failed result (null: libpq could not even make one).
[[noreturn]] void throw_result_error(PGconn* conn, const PGresult* result, std::string_view url,
                                     std::string_view what, std::string_view sql,
                                     std::string_view table = {}, bool committing = false);

/// Ends whatever command is still running on the connection (a COPY left half-way by a source
/// or sink that is being destroyed, or by an error) so that the session takes new commands.
void abandon_command(PGconn* conn) noexcept;

/// Reads and frees the results left after a command ended (a COPY after its end).
void drain_results(PGconn* conn) noexcept;

}  // namespace parmap::pg
