// A PostgreSQL table's schema, indexes and constraints: read from the catalog of a source and
// made again on a copy of the table.
#include <fmt/format.h>

#include "connect/postgres/pg_connection.h"
#include "parmap/error.h"

namespace parmap::pg {

bool PgConnection::schema_exists(const std::string& schema) {
  return !query("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = ?", {Value(schema)})
              .empty();
}

void PgConnection::create_schema(const std::string& schema) {
  execute(fmt::format("CREATE SCHEMA IF NOT EXISTS {}", quote_identifier(schema)));
}

std::vector<TableObject> PgConnection::table_objects(const TableRef& table) {
  // Indexes that back a constraint (the primary key, UNIQUE, EXCLUDE) come with their
  // constraint. A foreign key's referenced table is named as regclass prints it, which is how
  // pg_get_constraintdef prints it too (qualified unless the search_path finds it).
  const auto rows = query(
      "SELECT 0 AS step, c.relname::text, pg_catalog.pg_get_indexdef(i.indexrelid), NULL::text, "
      "NULL::text, NULL::text "
      "FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid "
      "WHERE i.indrelid = to_regclass(?) AND NOT i.indisprimary AND i.indisvalid "
      "AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conindid = "
      "i.indexrelid AND k.conrelid = i.indrelid) "
      "UNION ALL "
      "SELECT CASE WHEN k.contype = 'f' THEN 2 ELSE 1 END, k.conname::text, "
      "pg_catalog.pg_get_constraintdef(k.oid), rn.nspname::text, r.relname::text, "
      "CASE WHEN k.contype = 'f' THEN k.confrelid::regclass::text END "
      "FROM pg_catalog.pg_constraint k "
      "LEFT JOIN pg_catalog.pg_class r ON r.oid = k.confrelid "
      "LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = r.relnamespace "
      "WHERE k.conrelid = to_regclass(?) AND k.contype IN ('c', 'u', 'x', 'f') AND k.conislocal "
      "ORDER BY 1, 2",
      {Value(quote_table(table)), Value(quote_table(table))});
  std::vector<TableObject> out;
  for (const auto& r : rows) {
    TableObject object;
    const int64_t step = r[0].is_int() ? r[0].as_int() : std::stoll(r[0].as_text());
    object.kind = step == 0   ? TableObject::Kind::Index
                  : step == 1 ? TableObject::Kind::Constraint
                              : TableObject::Kind::ForeignKey;
    object.name = r[1].as_text();
    object.definition = r[2].as_text();
    if (object.kind == TableObject::Kind::ForeignKey) {
      object.references = TableRef{r[3].as_text(), r[4].as_text()};
      object.references_text = r[5].as_text();
    }
    out.push_back(std::move(object));
  }
  return out;
}

bool PgConnection::has_table_object(const TableRef& table, const TableObject& object) {
  const std::string sql =
      object.kind == TableObject::Kind::Index
          ? "SELECT 1 FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = "
            "i.indexrelid WHERE i.indrelid = to_regclass(?) AND c.relname = ?"
          : "SELECT 1 FROM pg_catalog.pg_constraint WHERE conrelid = to_regclass(?) AND "
            "conname = ?";
  return !query(sql, {Value(quote_table(table)), Value(object.name)}).empty();
}

std::string PgConnection::table_object_sql(const TableRef& table, const TableObject& object,
                                           const std::optional<TableRef>& references) const {
  const std::string& def = object.definition;
  auto unreadable = [&] {
    return Error(ErrorKind::Internal,
                 fmt::format("postgresql {}: cannot read the definition of {} of {}: {}", url_,
                             object.name, table.display(), def));
  };
  if (object.kind == TableObject::Kind::Index) {
    // "CREATE [UNIQUE] INDEX name ON [ONLY] schema.table USING method (...) ...": the same
    // index on the copy, which is a plain table (no ONLY).
    const size_t using_at = def.find(" USING ");
    if (def.rfind("CREATE ", 0) != 0 || using_at == std::string::npos) throw unreadable();
    const bool unique = def.rfind("CREATE UNIQUE INDEX ", 0) == 0;
    return fmt::format("CREATE {}INDEX {} ON {}{}", unique ? "UNIQUE " : "",
                       quote_identifier(object.name), quote_table(table), def.substr(using_at));
  }
  std::string body = def;
  if (object.kind == TableObject::Kind::ForeignKey && references) {
    const std::string from = "REFERENCES " + object.references_text + "(";
    const size_t at = body.find(from);
    if (at == std::string::npos) throw unreadable();
    body.replace(at, from.size(), "REFERENCES " + quote_table(*references) + "(");
  }
  return fmt::format("ALTER TABLE {} ADD CONSTRAINT {} {}", quote_table(table),
                     quote_identifier(object.name), body);
}

}  // namespace parmap::pg
