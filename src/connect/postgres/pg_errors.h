// PostgreSQL SQLSTATEs classified into parmap's error kinds, and the Error a failed call throws.
#pragma once

#include <string>
#include <string_view>

#include "parmap/error.h"

namespace parmap::pg {

/// Maps a five-character SQLSTATE to what the failure means for the run: exact codes are
/// looked up first, then the two-character class; anything else is Internal. An empty or
/// malformed SQLSTATE is Internal too (classify_failure handles "no SQLSTATE"). Pure;
/// thread-safe.
///
/// Beyond the obvious rows: 3D000 (the database does not exist) is Connect, because it comes
/// from the URL; 3F000 (no such schema) and 42P06 (schema exists) are Schema, like 42P01/42P07;
/// 0A000 (feature not supported) is Config: the statement came from the job.
ErrorKind classify_sqlstate(std::string_view sqlstate);

/// The kind of a failed statement given what is known of it: a lost connection (or a failure
/// libpq reports without a SQLSTATE, which only happens for client-side/connection problems)
/// is Transient, except while committing, where it is InDoubt: the server may have committed
/// before the connection dropped. A SQLSTATE of class 08 or 57P01/57P02 during a commit is
/// InDoubt for the same reason. Otherwise classify_sqlstate. Pure; thread-safe.
ErrorKind classify_failure(std::string_view sqlstate, bool connection_lost, bool committing);

/// The kind of a failed connection attempt from libpq's message (libpq gives no SQLSTATE for
/// these): the server refusing for now (too many clients, starting up, shutting down, in
/// recovery) is Transient; an invalid option or option value is Config; anything else
/// (refused, unknown host, authentication, no such database) is Connect. Pure; thread-safe.
ErrorKind classify_connect_message(std::string_view message);

/// For a statement the server ended on its own (a timeout setting, another session's cancel,
/// a standby's recovery conflict): what did it and how to raise that setting for parmap's
/// sessions, e.g. "the server's statement_timeout ended it; raise it ... options=-c
/// statement_timeout=0". Empty for any other failure. Pure; thread-safe.
std::string server_cancel_hint(std::string_view sqlstate, std::string_view server_message);

/// Drops trailing whitespace and newlines from a libpq message and turns its inner newlines
/// and tabs into single spaces, so that the message fits one log line.
std::string one_line(std::string_view message);

/// Builds the Error for a failed statement: "postgresql <masked url>: <what> failed:
/// <server message> [<SQLSTATE>] (statement: <first 200 chars>)", with native_code = the
/// SQLSTATE, context.engine = "postgresql", context.statement = the first 200 characters of
/// `sql` and context.table = `table`. `url` must already be masked; the server message is
/// masked again (mask_password) in case it quotes a connection string.
Error make_pg_error(ErrorKind kind, std::string_view sqlstate, std::string_view server_message,
                    std::string_view url, std::string_view what, std::string_view sql = {},
                    std::string_view table = {});

}  // namespace parmap::pg
