// SQLite's declared column types and parmap's column types, both ways, and how a value stored
// in a column with a declared type is read as that type.
#pragma once

#include <string>
#include <string_view>

#include "parmap/batch.h"
#include "parmap/connection.h"

namespace parmap::sqlite {

/// The parmap type of a column declared `declared` (sqlite3_column_decltype, PRAGMA
/// table_info), and in `normalized` the declared type other engines should create: by
/// SQLite's affinity rules (INT, CHAR/CLOB/TEXT, BLOB, REAL/FLOA/DOUB) plus the names whose
/// values SQLite leaves to the application: BOOL..., DATE, TIME, DATETIME / TIMESTAMP,
/// TIMESTAMPTZ, NUMERIC(p,s) and DECIMAL(p,s) (normalized "numeric(p,s)"; any integer name is
/// normalized "bigint", since SQLite's integers are 64-bit). Any for anything
/// else (no declared type, NUMERIC without a precision). See README "SQLite declared types".
ColumnType type_from_declared(std::string_view declared, std::string* normalized = nullptr);

/// Appends `stored`, a value as SQLite stored it, to `column` of declared type `type` (the
/// column's own type, or Any once a value of this batch made it so): dates, times
/// and timestamps typed when in their canonical text, as the text they are when another
/// spelling of a valid value (the column becomes Any); numbers and decimal text within
/// numeric(p,s), as decimal text. Returns false, appending nothing, when the value is not of
/// the declared type (the caller refuses it; never changed to fit). Any other column takes the
/// value as it is.
bool append_declared(Column& column, ColumnType type, const Value& stored);

}  // namespace parmap::sqlite
