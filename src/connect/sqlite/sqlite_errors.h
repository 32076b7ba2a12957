// SQLite result codes classified into parmap's error kinds, and the Error a failed call throws.
#pragma once

#include <string>
#include <string_view>

#include "parmap/error.h"

namespace parmap::sqlite {

/// Maps an SQLite (extended) result code to what the failure means for the run. The
/// message is consulted only for plain SQLITE_ERROR, which SQLite uses for both schema
/// problems ("no such table") and bad SQL ("syntax error"). Pure; thread-safe.
///
/// Kinds chosen where the mapping is not obvious:
///  - IOERR, CORRUPT, FULL, NOMEM, NOLFS, FORMAT, MISUSE, INTERNAL -> Internal: nothing
///    parmap can retry or reject its way out of; the run stops (there is no separate
///    "environment fatal" kind, and Internal is the kind that is never retried).
///  - ABORT, PROTOCOL, SCHEMA -> Transient: the statement or transaction was rolled back
///    or raced a lock/schema change; running the chunk again is the fix.
///  - INTERRUPT -> Transient: only sqlite3_interrupt makes it, and parmap calls that when a
///    chunk ran longer than chunk_timeout_s; the chunk is retried on a new connection.
///  - SQLITE_ERROR with an unrecognised message -> Config: it is a statement SQLite refused
///    to run, and statements come from the job.
ErrorKind classify_sqlite_error(int extended_code, std::string_view message);

/// The symbolic name of a result code ("SQLITE_CONSTRAINT_NOTNULL", "SQLITE_BUSY"), or its
/// number as text when the code has no name in this table. Used as Error::native_code().
std::string sqlite_code_name(int extended_code);

/// The context of an Error about `sql` (its first 200 characters) and `table`, engine "sqlite".
ErrorContext sqlite_context(std::string_view sql = {}, std::string_view table = {});

/// Builds the Error for a failed SQLite call: "sqlite <file>: <what> failed: <engine
/// message> [<code name>]", kind from classify_sqlite_error, context.engine = "sqlite",
/// context.statement = the first 200 characters of `sql`, context.table = `table`.
Error make_sqlite_error(int extended_code, std::string_view engine_message, std::string_view file,
                        std::string_view what, std::string_view sql = {},
                        std::string_view table = {});

}  // namespace parmap::sqlite
