// SQL of the fidelity matrix in each engine's own dialect (see fidelity_sql.h).
#include "integration/fidelity/fidelity_sql.h"

#include <stdexcept>

namespace parmap::test::fidelity {
namespace {

std::string hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string quoted(const std::string& s) { return "'" + s + "'"; }

// "2038-01-19 03:14:08.123456+00" without its offset: the UTC wall-clock time.
std::string utc_wall_clock(const std::string& s) {
  return s.size() > 3 && s.compare(s.size() - 3, 3, "+00") == 0 ? s.substr(0, s.size() - 3) : s;
}

std::string pg_double(const std::string& v) {
  if (v == "inf") return "'Infinity'::float8";
  if (v == "-inf") return "'-Infinity'::float8";
  if (v == "nan") return "'NaN'::float8";
  return quoted(v) + "::float8";
}

std::string postgres(Kind kind, const std::string& c, const std::string& v) {
  switch (kind) {
    case 'i':
      return c + " = (" + v + ")::numeric";
    case 'r':
      return c + " = " + pg_double(v);
    case 'n':
      return c + " = " + quoted(v) + "::numeric";
    case 'x':
      return c + "::text = " + text_literal(Engine::Postgres, v);
    case 'b':
      return c + " = decode(" + quoted(v) + ", 'hex')";
    case 'd':
      return c + " = " + quoted(v) + "::date";
    case 's':
      return c + " = " + quoted(v) + "::timestamp";
    case 'z':
      return c + " = " + quoted(v) + "::timestamptz";
    case 't':
      return c + " = " + quoted(v) + "::time";
    case 'o':
      return c + " = " + (v == "1" ? "true" : "false");
    case 'u':
      return c + " = " + quoted(v) + "::uuid";
  }
  throw std::logic_error(std::string("no kind ") + kind);
}

std::string mariadb(Kind kind, const std::string& c, const std::string& v) {
  switch (kind) {
    case 'i':
    case 'n':
    case 'r':
    case 'o':
      return c + " = " + v;
    case 'x':
      return "CAST(" + c + " AS BINARY) = X'" + hex(v) + "'";
    case 'b':
      return c + " = X'" + v + "'";
    case 'd':
      return c + " = DATE " + quoted(v);
    case 's':
      return c + " = TIMESTAMP " + quoted(v);
    case 'z':
      return c + " = TIMESTAMP " + quoted(utc_wall_clock(v));
    case 't':
      return c + " = TIME " + quoted(v);
    case 'u':
      return c + " = " + quoted(v);
  }
  throw std::logic_error(std::string("no kind ") + kind);
}

std::string sqlite(Kind kind, const std::string& c, const std::string& v) {
  auto stored = [&](const char* storage, const std::string& literal) {
    return "(typeof(" + c + ") = '" + storage + "' AND " + c + " = " + literal + ")";
  };
  switch (kind) {
    case 'i':
    case 'o':
      return stored("integer", v);
    case 'r':
      if (v == "inf") return stored("real", "9e999");
      if (v == "-inf") return stored("real", "-9e999");
      return stored("real", v);
    case 'b':
      return stored("blob", "X'" + v + "'");
    default:
      return stored("text", text_literal(Engine::Sqlite, v));
  }
}

}  // namespace

std::string text_literal(Engine engine, const std::string& text) {
  switch (engine) {
    case Engine::Sqlite:
      return "CAST(X'" + hex(text) + "' AS TEXT)";
    case Engine::Postgres:
      return "convert_from(decode('" + hex(text) + "', 'hex'), 'UTF8')";
    case Engine::Mariadb:
      return "CONVERT(X'" + hex(text) + "' USING utf8mb4)";
  }
  return {};
}

std::string holds(Engine engine, Kind kind, const std::string& column,
                  const std::optional<std::string>& value) {
  if (!value) return "(" + column + " IS NULL)";
  std::string test;
  switch (engine) {
    case Engine::Sqlite:
      test = sqlite(kind, column, *value);
      break;
    case Engine::Postgres:
      test = postgres(kind, column, *value);
      break;
    case Engine::Mariadb:
      test = mariadb(kind, column, *value);
      break;
  }
  return "(" + column + " IS NOT NULL AND " + test + ")";
}

std::string column_type_query(Engine engine, const std::string& table, const std::string& column) {
  switch (engine) {
    case Engine::Sqlite:
      return "SELECT type FROM pragma_table_info('" + table + "') WHERE name = '" + column + "'";
    case Engine::Postgres:
      return "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = '" +
             table + "'::regclass AND attname = '" + column + "'";
    case Engine::Mariadb:
      return "SELECT COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
             "AND TABLE_NAME = '" + table + "' AND COLUMN_NAME = '" + column + "'";
  }
  return {};
}

}  // namespace parmap::test::fidelity
