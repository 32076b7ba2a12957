// ODBC diagnostics (SQLSTATE, native code, message) classified into parmap's error kinds.
#pragma once

#include <string>
#include <string_view>

#include "connect/odbc/odbc_types.h"
#include "parmap/error.h"

namespace parmap::odbc {

/// One diagnostic record of a failed ODBC call (SQLGetDiagRec).
struct Diagnostic {
  std::string sqlstate;  ///< five characters, "" when the call left none
  int native = 0;        ///< the engine's own code (SQLite result code, MySQL errno)
  std::string message;
};

/// What a failed call was doing: the same SQLSTATE means another thing while connecting
/// (08001 is a refused login) or committing (08S01 leaves the outcome unknown).
enum class Phase { Connect, Statement, Commit };

/// Maps a diagnostic to what the failure means for the run. Pure; thread-safe.
///
/// Exact codes are looked up before their two-character class. While connecting, every
/// failure is Connect except a data source or driver that does not exist (IM002, IM003) or a
/// bad connection attribute (IM0xx, HY024), which are Config: they come from the URL. While
/// committing, a lost connection (08xxx, 40003, no SQLSTATE) is InDoubt. Otherwise: 08xxx
/// connection and 40xxx rollbacks (deadlock, serialization) are Transient; HYT00/HYT01 and
/// PostgreSQL's 57014 are Timeout; HY008 (a cancelled call: parmap's own watchdog) is
/// Transient; 22xxx and 23xxx are Data; 42S02/42S22/42P01/42703 and friends (no such table or
/// column) are Schema, the rest of 42xxx Config; 28xxx Connect. SQLite reports its errors as
/// HY000 with its result code as the native code, and MySQL several as HY000 with its errno:
/// those are classified by the native code for that engine. Anything else is Internal.
ErrorKind classify_diagnostic(const Diagnostic& diagnostic, Dbms dbms, Phase phase);

/// Builds the Error of a failed call: "odbc <display>: <what> failed: <message> [<SQLSTATE>]
/// (statement: <first 200 chars>)". `display` is the masked URL; the message is masked
/// (mask_password) and has any occurrence of `password` (when 4 characters or longer)
/// replaced, since a driver may echo its connection string. native_code is the SQLSTATE.
Error make_odbc_error(ErrorKind kind, const Diagnostic& diagnostic, std::string_view display,
                      std::string_view password, std::string_view what, std::string_view sql = {},
                      std::string_view table = {});

}  // namespace parmap::odbc
