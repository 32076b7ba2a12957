// What every driver does the same way: the table DDL's shape, the single-column key of a
// table, the error for a key column the query does not have. A driver passes only what
// differs (its type names, what counts as an integer).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "parmap/connection.h"
#include "parmap/error.h"

namespace parmap {

/// The PostgreSQL type a created column of `type` gets, for the native driver and for
/// PostgreSQL reached through ODBC ("bigint", "numeric", "jsonb", "text[]" for Array).
const char* postgres_type_name(ColumnType type);

/// The declared type a created SQLite column of `type` gets ("" for Any: BLOB affinity, which
/// stores every value as it was given), for the native driver and through ODBC.
const char* sqlite_type_name(ColumnType type);

/// CREATE TABLE <table> (<column> <type_of(column)> [NOT NULL], ..., PRIMARY KEY (...))
/// followed by `suffix`, with names quoted by `conn`. Throws Error(Config) naming the table
/// when there are no columns; `where` starts that message ("sqlite /tmp/a.db").
std::string create_table_sql(const Connection& conn, std::string_view where, const TableRef& table,
                             const TableSchema& schema,
                             const std::function<std::string(const ColumnInfo&)>& type_of,
                             std::string_view suffix = {});

/// The table's primary key when it is one column for which `is_integer` holds; nullopt for
/// no key, a composite key or another type.
std::optional<std::string> single_integer_key(
    const std::optional<TableSchema>& schema,
    const std::function<bool(const ColumnInfo&)>& is_integer);

/// Error(Schema): "<where>: key column '<column>' is not a column of the query; its columns
/// are: a, b, c".
Error missing_key_column(std::string_view where, std::string_view column,
                         const TableSchema& schema, ErrorContext context);

}  // namespace parmap
