// MariaDB/MySQL server and client error numbers classified into parmap's error kinds.
#pragma once

#include <string>
#include <string_view>

#include "parmap/error.h"

namespace parmap::mariadb {

/// Maps an error number (a server's ER_* or the client library's CR_*) and its SQLSTATE to
/// what the failure means for the run. Pure; thread-safe.
///
/// Kinds chosen where the mapping is not obvious:
///  - lost connection, server gone away, connection killed, server shutdown (2006, 2013,
///    1927, 1053) and deadlock / lock wait timeout (1213, 1205) -> Transient: the statement or
///    the transaction is gone; the chunk is run again on a new session;
///  - query interrupted by KILL QUERY and max_statement_time (1317, 1969, 3024) -> Timeout:
///    retried, then a failure that names the setting;
///  - SQLSTATE classes 22 and 23 (out of range, too long, bad date, duplicate key, NOT NULL,
///    a CHECK) and the numbers strict mode raises for a refused value -> Data;
///  - access denied, unknown database -> Connect; unknown table or column -> Schema;
///  - anything else from the server -> Config (a statement of the job it refused).
ErrorKind classify_mariadb_error(unsigned int code, std::string_view sqlstate);

/// What to do about a value the server refused, for the refusals parmap can explain ("" for
/// the others): a UUID PostgreSQL holds that MariaDB's UUID type does not (10.11.5 and later
/// refuse version 8 and above with variant bits 0, as md5(x)::uuid makes them).
std::string refused_value_hint(std::string_view message);

/// Builds the Error of a failed call: "mariadb <host:port/db>: <what> failed: <message>
/// [<code>]", kind from classify_mariadb_error, context.engine = "mariadb", the first 200
/// characters of `sql` as context.statement and `table` as context.table.
Error make_mariadb_error(unsigned int code, std::string_view sqlstate, std::string_view message,
                         std::string_view where, std::string_view what, std::string_view sql = {},
                         std::string_view table = {});

}  // namespace parmap::mariadb
