// The engines behind an ODBC driver, the mapping of ODBC SQL types to parmap's column types
// and back to DDL, and calendar conversions for ODBC's date and timestamp structs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

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

/// The DDL type of a column of `type` on `dbms`. `key`: the column is part of a primary key
/// (MySQL cannot key an unbounded TEXT: it gets VARCHAR(255)). Pure.
std::string ddl_type(ColumnType type, Dbms dbms, bool key);

/// Days since 1970-01-01 of a proleptic Gregorian date (year may be 0 or negative). Pure.
int64_t days_from_civil(int64_t year, unsigned month, unsigned day);
/// Inverse of days_from_civil. Pure.
void civil_from_days(int64_t days, int64_t& year, unsigned& month, unsigned& day);

}  // namespace parmap::odbc
