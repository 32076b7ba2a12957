// The engines behind an ODBC driver, the mapping of ODBC SQL types to parmap's column types
// and back to DDL, and calendar conversions for ODBC's date and timestamp structs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "parmap/batch.h"

namespace parmap::odbc {

/// The engine an ODBC data source talks to, by SQLGetInfo(SQL_DBMS_NAME); decides the SQL
/// dialect of the few statements parmap writes itself (DDL, ledger types).
enum class Dbms { PostgreSQL, MySQL, SQLite, Other };

/// "PostgreSQL" -> PostgreSQL, "MariaDB"/"MySQL" -> MySQL, "SQLite" -> SQLite (any case,
/// prefix match), anything else Other. Pure.
Dbms dbms_from_name(std::string_view dbms_name);

/// The column type for an ODBC SQL type (SQL_INTEGER, SQL_TYPE_TIMESTAMP, ...) as
/// SQLDescribeCol or SQLColumns report it, with the engine's type name (PostgreSQL's bool
/// arrives as SQL_VARCHAR named "bool"). An unsigned BIGINT is Numeric (it may exceed int64).
/// Unknown types are Text: every driver can render a value as text. Pure.
ColumnType column_type_for(int sql_type, std::string_view type_name, bool is_unsigned);

/// The declared type a result column gives a created table, in parmap's canonical spelling that
/// every target's create_table reads ("decimal(65,30)", "numeric(20)", "time(6)"), from what
/// SQLDescribeCol says: `size` and `digits` are its column size and decimal digits. Only
/// PostgreSQL's own type names (psqlODBC's, less the pseudo-type "unknown") are kept as they are;
/// another engine's names never are (MariaDB Connector/ODBC calls ENUM, SET and UUID "char",
/// which PostgreSQL would read as char(1)). "" when the column type alone decides. Pure.
std::string declared_type_for(int sql_type, std::string_view type_name, uint64_t size, int digits,
                              bool is_unsigned, Dbms dbms);

/// The precision and scale of a declared "NUMERIC(p,s)", "DECIMAL(p)" (scale 0) in any case,
/// with p from 1 to 1000 and s from 0 to p; nullopt for anything else ("NUMERIC" alone). Pure.
std::optional<std::pair<int, int>> decimal_precision(std::string_view declared);

/// The column type of a PostgreSQL column by its catalog type (format_type) and pg_type's
/// typcategory, where it differs from what psqlODBC describes (it names json, jsonb, interval
/// and arrays "unknown", as text): Json, Interval, Array; Any for the others. Pure.
ColumnType pg_catalog_column_type(std::string_view format_type, char category);

/// The DDL type of a column of `type` on `dbms`. `key`: the column is part of a primary key
/// (MySQL cannot key an unbounded TEXT: it gets VARCHAR(255)). Pure.
std::string ddl_type(ColumnType type, Dbms dbms, bool key);

/// Days since 1970-01-01 of a proleptic Gregorian date (year may be 0 or negative). Pure.
int64_t days_from_civil(int64_t year, unsigned month, unsigned day);
/// Inverse of days_from_civil. Pure.
void civil_from_days(int64_t days, int64_t& year, unsigned& month, unsigned& day);

}  // namespace parmap::odbc
