// The fidelity matrix's data: for each source engine, a table of every type it maps, with edge
// values, and what each target engine must hold after a copy with mode create.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

namespace parmap::test::fidelity {

enum class Engine { Sqlite = 0, Postgres = 1, Mariadb = 2 };
const char* name(Engine engine);

/// How an expected value is compared in the target's own SQL (see fidelity_sql.cpp):
/// i integer, r double, n exact decimal, x text (the column's own text form, byte for byte),
/// b bytes (hex), d date, s timestamp, z timestamp with time zone (UTC, "+00"; a target
/// without time zones holds the UTC wall-clock time), t time, o boolean ("0" / "1"), u uuid.
using Kind = char;

/// What one target holds for one column: its created type as the target's catalog names it,
/// how values are compared, and the value of rows 1, 2 and 4 (nullopt: NULL; row 3 is all
/// NULL). An empty `values` means the column's canonical `want`.
struct Expect {
  std::string type;
  Kind kind = 0;  ///< 0: the column's kind
  std::vector<std::optional<std::string>> values;
};

/// One source column.
struct Case {
  std::string name;
  std::string source_type;           ///< DDL in the source engine
  std::vector<std::string> source;   ///< SQL literals of rows 1, 2 and 4 ("" in row 4: row 1's)
  Kind kind;
  std::vector<std::optional<std::string>> want;  ///< canonical values of rows 1, 2 and 4
  std::array<Expect, 3> target;      ///< by Engine
};

/// A source engine's table: its columns, and which targets refuse row 4 (values beyond what
/// they can hold) with which words in the reject record.
struct SourceTable {
  Engine engine;
  std::vector<Case> cases;
  std::array<std::string, 3> row4_refusal;  ///< by target Engine; "" when row 4 is copied
};

const SourceTable& source_table(Engine engine);

/// How the copy reaches the engines: both native drivers, or one side through its engine's
/// ODBC driver (psqlODBC, MariaDB Connector/ODBC, the SQLite ODBC driver).
enum class Via { Native, OdbcSource, OdbcTarget };

/// What `target` holds for column `column` of `source`'s table when the source is read through
/// its engine's ODBC driver, where that differs from the native driver's Case::target (a type
/// the driver does not report); nullptr where it is the same.
const Expect* odbc_source_expect(Engine source, const std::string& column, Engine target);

/// 100,000 x's; the characters bulk formats escape (tab, newline, quotes, backslash, "\N");
/// text in several scripts and an emoji.
std::string long_text();
std::string special_text();
std::string unicode_text();

}  // namespace parmap::test::fidelity
