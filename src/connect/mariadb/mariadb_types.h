// The one table of MariaDB/MySQL types and parmap's column types, both ways, and the text
// conversions of values between them.
#pragma once

#include <string>
#include <string_view>

#include "connect/driver_helpers.h"
#include "parmap/batch.h"
#include "parmap/connection.h"

struct st_mysql_field;
struct st_mysql_res;

namespace parmap::mariadb {

/// How a source reads the values other engines do not have.
struct ReadOptions {
  /// Zero dates left as text to be refused (the default) or read as NULL (ZeroDates).
  ZeroDates zero_dates = ZeroDates::Refuse;
  /// TINYINT(1) read as boolean (URL parameter tinyint1_bool=true), not as an integer: a
  /// value other than 0 and 1 is then left as it is, so that a boolean column refuses it.
  bool tinyint1_bool = false;
};

/// A result column's parmap type, from the protocol's field metadata, and its declared type
/// as MariaDB spells it ("decimal(12,2)", "bigint unsigned", "datetime(6)"; "" when the
/// base name says all). See docs in README "MariaDB and MySQL types".
ColumnType type_of_field(const st_mysql_field& field, std::string& declared,
                         const ReadOptions& options = {});

/// The columns of a result set, typed by type_of_field.
TableSchema schema_of_result(st_mysql_res* result, const ReadOptions& options = {});

/// A column type as information_schema.COLUMNS.COLUMN_TYPE or a CREATE TABLE spells it
/// ("int(11)", "bigint(20) unsigned", "decimal(10,2)", "varchar(40)", "longblob"), and as the
/// other engines' portable names that MariaDB also accepts ("numeric(10,2)", "double
/// precision", "boolean"). Any for a name MariaDB does not know.
ColumnType type_from_declared(std::string_view declared);

/// The column type `create_table` gives a column: the declared type when MariaDB knows it and
/// it stores the same kind of value, else the closest exact type of `column.type`.
std::string ddl_type(const ColumnInfo& column);

/// Appends one text-protocol cell (`data`, `size` bytes; data == nullptr is NULL) to a
/// column of type `column.type`. A value the type cannot hold exactly (a zero date, a TIME
/// outside a day) is appended as its text, which turns the column into Any for this batch,
/// so that nothing is silently changed; or as NULL for a zero date when `zero_dates` says so.
void append_cell(Column& column, const char* data, unsigned long size, ZeroDates zero_dates);

/// A Value read by query(): integers (and DECIMAL(n,0) that fit) as int, floating point as
/// double, binary strings as Blob, everything else as text.
Value value_of_cell(const st_mysql_field& field, const char* data, unsigned long size);

}  // namespace parmap::mariadb
