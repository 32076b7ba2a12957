// Helpers shared by the files of the PostgreSQL connection: reading a result's cells, SQL and
// parameter text, finding a query's column by name, and running a statement under a savepoint.
#pragma once

#include <fmt/format.h>
#include <libpq-fe.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "connect/driver_helpers.h"
#include "connect/postgres/pg_connection.h"
#include "connect/postgres/pg_copy.h"
#include "connect/postgres/pg_session.h"

namespace parmap::pg {

/// The savepoint PgConnection::guarded runs under.
inline constexpr std::string_view kGuardSavepoint = "parmap_guard";


/// The Error(Config) for a statement whose `?` placeholders and parameters differ in number;
/// `url` is the masked URL.
Error placeholders_mismatch(std::string_view url, std::string_view sql, size_t placeholders,
                            size_t params);

/// A double as PostgreSQL's float8 input reads it: NaN, Infinity, -Infinity, or the shortest
/// text that reads back as the same value.
std::string format_double(double v);

/// A parameter's text form, as PostgreSQL's input functions read it.
std::string param_text(const Value& value);

/// A result's cell as a Value, as query() returns it: int (int2/4/8, and bool as 0/1), double
/// (float4/8), Blob (bytea) or text (everything else); null for NULL.
Value read_value(const PGresult* result, int row, int col);

/// A result's cell as text; valid while the result lives.
std::string_view cell(const PGresult* result, int row, int col);

/// A result's cell read as an integer (0 when it is not one).
int64_t cell_int(const PGresult* result, int row, int col);

/// The index of the column named `name` (an exact match first, then case-insensitive), or
/// -1 when there is none.
int find_column(const std::vector<PgColumn>& columns, std::string_view name);

/// The columns' names separated by ", ", for messages.
std::string column_names(const std::vector<PgColumn>& columns);

template <typename Fn>
auto PgConnection::guarded(Fn&& fn) {
  if (PQtransactionStatus(conn()) != PQTRANS_INTRANS) return fn();
  const std::string savepoint = fmt::format("SAVEPOINT {}", kGuardSavepoint);
  exec(savepoint, PGRES_COMMAND_OK, "savepoint", {});
  try {
    auto result = fn();
    exec(fmt::format("RELEASE SAVEPOINT {}", kGuardSavepoint), PGRES_COMMAND_OK, "savepoint");
    return result;
  } catch (...) {
    if (session_ && session_->conn && PQstatus(session_->conn.get()) == CONNECTION_OK) {
      const std::string undo =
          fmt::format("ROLLBACK TO SAVEPOINT {0}; RELEASE SAVEPOINT {0}", kGuardSavepoint);
      ResultPtr ignored(PQexec(session_->conn.get(), undo.c_str()));
    }
    throw;
  }
}

}  // namespace parmap::pg
