// The PostgreSQL connection's catalog reads and writes: the columns of a query or a table,
// their type names, the tables of a database, a sink's target columns, and CREATE TABLE.
#include <fmt/format.h>
#include <libpq-fe.h>

#include <algorithm>
#include <cctype>

#include "connect/driver_helpers.h"
#include "connect/postgres/pg_connection.h"
#include "connect/postgres/pg_connection_internal.h"
#include "connect/postgres/pg_libpq.h"
#include "parmap/error.h"

namespace parmap::pg {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

/// True when `declared` has the shape of a type name as format_type writes it: lower case
/// words, typmods in parentheses, [] suffixes, quoted or schema-qualified names. Other
/// engines' names ("INTEGER", "DATETIME") fail this and get the mapped type instead.
bool looks_like_format_type(std::string_view declared) {
  if (declared.empty() || declared.size() > 200) return false;
  int depth = 0;
  bool quoted = false;
  for (char c : declared) {
    if (c == '"') {
      quoted = !quoted;
      continue;
    }
    if (quoted) continue;
    const auto u = static_cast<unsigned char>(c);
    if (c == '(') {
      ++depth;
    } else if (c == ')') {
      if (--depth < 0) return false;
    } else if (!(std::islower(u) != 0 || std::isdigit(u) != 0 || c == '_' || c == ' ' || c == ',' ||
                 c == '[' || c == ']' || c == '.')) {
      return false;
    }
  }
  return depth == 0 && !quoted;
}

}  // namespace

int find_column(const std::vector<PgColumn>& columns, std::string_view name) {
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].name == name) return static_cast<int>(i);
  }
  for (size_t i = 0; i < columns.size(); ++i) {
    if (iequals(columns[i].name, name)) return static_cast<int>(i);
  }
  return -1;
}

std::string column_names(const std::vector<PgColumn>& columns) {
  std::string names;
  for (const PgColumn& c : columns) {
    if (!names.empty()) names += ", ";
    names += c.name;
  }
  return names;
}

// ---------------------------------------------------------------------------------------

std::vector<PgColumn> PgConnection::describe_columns(std::string_view sql) {
  PGconn* c = conn();
  const std::string text(strip_sql(sql));
  ResultPtr prepared(PQprepare(c, "", text.c_str(), 0, nullptr));
  if (!prepared || PQresultStatus(prepared.get()) != PGRES_COMMAND_OK) {
    fail(prepared.get(), "describe query", text);
  }
  ResultPtr described(PQdescribePrepared(c, ""));
  if (!described || PQresultStatus(described.get()) != PGRES_COMMAND_OK) {
    fail(described.get(), "describe query", text);
  }
  std::vector<PgColumn> columns;
  const int n = PQnfields(described.get());
  columns.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    PgColumn column;
    const char* name = PQfname(described.get(), i);
    column.name = name != nullptr ? name : fmt::format("column{}", i + 1);
    column.type_oid = PQftype(described.get(), i);
    column.typmod = PQfmod(described.get(), i);
    columns.push_back(std::move(column));
  }
  resolve_type_names(columns);
  return columns;
}

void PgConnection::resolve_type_names(std::vector<PgColumn>& columns) {
  std::string oids;
  std::string mods;
  for (const PgColumn& column : columns) {
    if (type_names_.count({column.type_oid, column.typmod}) != 0) continue;
    oids += fmt::format("{}{}", oids.empty() ? "" : ",", column.type_oid);
    mods += fmt::format("{}{}", mods.empty() ? "" : ",", column.typmod);
  }
  if (!oids.empty()) {
    constexpr std::string_view kSql =
        "SELECT t.o::int8, t.m, format_type(t.o, t.m) "
        "FROM unnest($1::oid[], $2::int4[]) AS t(o, m)";
    ResultPtr result =
        exec_params(kSql, {Value("{" + oids + "}"), Value("{" + mods + "}")}, "type names");
    for (int r = 0; r < PQntuples(result.get()); ++r) {
      const auto type_oid = static_cast<uint32_t>(cell_int(result.get(), r, 0));
      const auto typmod = static_cast<int32_t>(cell_int(result.get(), r, 1));
      type_names_[{type_oid, typmod}] = std::string(cell(result.get(), r, 2));
    }
  }
  for (PgColumn& column : columns) {
    const auto it = type_names_.find({column.type_oid, column.typmod});
    if (it != type_names_.end()) column.type_name = it->second;
  }
}

TableSchema PgConnection::describe_query(std::string_view sql) {
  ensure_read_snapshot();
  auto run = [&] {
    TableSchema schema;
    for (PgColumn& column : describe_columns(sql)) {
      ColumnInfo info;
      info.name = std::move(column.name);
      info.type = column_type_for_oid(column.type_oid);
      info.declared_type = std::move(column.type_name);
      schema.columns.push_back(std::move(info));
    }
    return schema;
  };
  return exported_ ? guarded(run) : run();
}

std::optional<std::vector<PgConnection::TableColumn>> PgConnection::table_columns(
    const TableRef& table) {
  // to_regclass takes the quoted name, so an empty schema resolves through the search_path
  // and a missing table (or schema) is NULL rather than an error.
  // Generated columns (attgenerated) came with PostgreSQL 12.
  const std::string sql = fmt::format(
      "SELECT a.attname, a.atttypid::int8, a.atttypmod, format_type(a.atttypid, a.atttypmod), "
      "a.attnotnull, COALESCE(a.attnum = ANY (i.indkey::int2[]), false), "
      "COALESCE((SELECT k.n FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, n) "
      "WHERE k.attnum = a.attnum), 0), {} "
      "FROM pg_catalog.pg_attribute a "
      "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
      "LEFT JOIN pg_catalog.pg_index i ON i.indrelid = c.oid AND i.indisprimary "
      "WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'v', 'm', 'f', 'p') "
      "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
      server_version() >= 120000 ? "a.attgenerated <> ''" : "false");
  ResultPtr result =
      exec_params(sql, {Value(quote_table(table))},
                  fmt::format("describe table {}", table.display()), table.display());
  const int rows = PQntuples(result.get());
  if (rows == 0) return std::nullopt;
  std::vector<TableColumn> columns;
  columns.reserve(static_cast<size_t>(rows));
  for (int r = 0; r < rows; ++r) {
    TableColumn column;
    column.info.name = std::string(cell(result.get(), r, 0));
    column.type_oid = static_cast<uint32_t>(cell_int(result.get(), r, 1));
    column.typmod = static_cast<int32_t>(cell_int(result.get(), r, 2));
    column.info.declared_type = std::string(cell(result.get(), r, 3));
    column.info.type = column_type_for_oid(column.type_oid);
    column.info.not_null = cell(result.get(), r, 4) == "t";
    column.info.primary_key = cell(result.get(), r, 5) == "t";
    column.key_position = static_cast<int>(cell_int(result.get(), r, 6));
    column.info.generated = cell(result.get(), r, 7) == "t";
    columns.push_back(std::move(column));
  }
  return columns;
}

std::optional<TableSchema> PgConnection::describe_table(const TableRef& table) {
  ensure_read_snapshot();
  auto run = [&] {
    std::optional<TableSchema> schema;
    if (auto columns = table_columns(table)) {
      schema.emplace();
      std::vector<std::pair<int, std::string>> key;  // (position in the key, column)
      for (TableColumn& column : *columns) {
        if (column.key_position > 0) key.emplace_back(column.key_position, column.info.name);
        schema->columns.push_back(std::move(column.info));
      }
      std::sort(key.begin(), key.end());
      for (auto& [position, name] : key) schema->primary_key.push_back(std::move(name));
    }
    return schema;
  };
  return exported_ ? guarded(run) : run();
}

std::optional<std::string> PgConnection::integer_primary_key(const TableRef& table) {
  return single_integer_key(describe_table(table), [](const ColumnInfo& column) {
    const std::string& t = column.declared_type;
    return t == "smallint" || t == "integer" || t == "bigint";
  });
}

uint32_t PgConnection::declared_type_oid(const std::string& declared) {
  try {
    return guarded([&] {
      // A pseudo-type ("unknown", which psqlODBC reports for jsonb) names no column type.
      ResultPtr result = exec_params(
          "SELECT t.oid::int8 FROM pg_catalog.pg_type t WHERE t.oid = to_regtype($1) "
          "AND t.typtype <> 'p'",
          {Value(declared)}, "check type");
      if (PQntuples(result.get()) != 1 || PQgetisnull(result.get(), 0, 0) != 0) return uint32_t{0};
      return static_cast<uint32_t>(cell_int(result.get(), 0, 0));
    });
  } catch (const Error& e) {
    // A name PostgreSQL cannot parse ("int(11)") is not one of its types.
    if (e.kind() == ErrorKind::Config) return 0;
    throw;
  }
}

void PgConnection::create_table(const TableRef& table, const TableSchema& schema) {
  const std::string sql =
      create_table_sql(*this, "postgresql " + url_, table, schema, [&](const ColumnInfo& column) {
        // Keep the source's exact type (numeric(12,2), varchar(20), integer[]) when it came
        // from PostgreSQL, which this server confirms and which stores the same kind of value.
        if (looks_like_format_type(column.declared_type)) {
          const uint32_t type_oid = declared_type_oid(column.declared_type);
          if (type_oid != 0 && column_type_for_oid(type_oid) == column.type) {
            return column.declared_type;
          }
        }
        return std::string(postgres_type_name(column.type));
      });
  exec(sql, PGRES_COMMAND_OK, fmt::format("create table {}", table.display()), table.display());
}

std::vector<PgColumn> PgConnection::sink_columns(const TableRef& table,
                                                 const std::vector<std::string>& columns) {
  if (columns.empty()) {
    throw Error(ErrorKind::Config,
                fmt::format("postgresql {}: copy into {}: no columns", url_, table.display()), {},
                pg_context({}, table.display()));
  }
  const std::optional<std::vector<TableColumn>> existing = table_columns(table);
  if (!existing) {
    throw Error(
        ErrorKind::Schema,
        fmt::format("postgresql {}: copy into {}: the table does not exist", url_, table.display()),
        "42P01", pg_context({}, table.display()));
  }
  std::vector<PgColumn> all;
  for (const TableColumn& c : *existing) {
    all.push_back(PgColumn{c.info.name, c.type_oid, c.typmod, c.info.declared_type});
  }
  std::vector<PgColumn> target;
  for (const std::string& name : columns) {
    const int index = find_column(all, name);
    if (index < 0) {
      throw Error(ErrorKind::Schema,
                  fmt::format("postgresql {}: copy into {}: no column '{}'; the table has: {}",
                              url_, table.display(), name, column_names(all)),
                  "42703", pg_context({}, table.display()));
    }
    target.push_back(all[static_cast<size_t>(index)]);
  }
  return target;
}

std::vector<TableRef> PgConnection::list_tables() {
  // Ordinary and partitioned tables (not the partitions: their parent reads them) of every
  // schema but the system's.
  const auto rows = query(
      "SELECT n.nspname::text, c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = "
      "c.relnamespace WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname NOT "
      "IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1, 2");
  std::vector<TableRef> out;
  for (const auto& r : rows) out.push_back({r[0].as_text(), r[1].as_text()});
  return out;
}

}  // namespace parmap::pg
