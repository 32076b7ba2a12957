// The fidelity matrix's data (see fidelity_cases.h). Values are written as each source engine
// spells them; expected values in one canonical text per kind.
#include "integration/fidelity/fidelity_cases.h"

#include "integration/fidelity/fidelity_sql.h"

namespace parmap::test::fidelity {
namespace {

using V = std::vector<std::optional<std::string>>;
constexpr auto kNull = std::nullopt;

const std::string kMin64 = "-9223372036854775808";
const std::string kMax64 = "9223372036854775807";
const std::string kMinDouble = "-1.7976931348623157e308";
const std::string kMinNormal = "2.2250738585072014e-308";

// Every target holds the canonical values, in a column of these types.
std::array<Expect, 3> as(std::string sqlite, std::string pg, std::string my) {
  return {Expect{std::move(sqlite), 0, {}}, Expect{std::move(pg), 0, {}},
          Expect{std::move(my), 0, {}}};
}

SourceTable sqlite_table() {
  const Engine e = Engine::Sqlite;
  SourceTable t{e, {}, {"", "", "infinity"}};
  t.cases = {
      {"i", "INTEGER", {kMin64, kMax64, ""}, 'i', {kMin64, kMax64, kMin64},
       as("INTEGER", "bigint", "bigint(20)")},
      {"r", "REAL", {kMinDouble, kMinNormal, "9e999"}, 'r', {kMinDouble, kMinNormal, "inf"},
       as("REAL", "double precision", "double")},
      {"t", "TEXT", {"''", text_literal(e, unicode_text()), ""}, 'x', {"", unicode_text(), ""},
       as("TEXT", "text", "longtext")},
      {"lt", "TEXT", {text_literal(e, special_text()), "printf('%.*c', 100000, 'x')", ""}, 'x',
       {special_text(), long_text(), special_text()}, as("TEXT", "text", "longtext")},
      {"b", "BLOB", {"X''", "X'00FF0A0D5C2722005C4E'", ""}, 'b', {"", "00ff0a0d5c2722005c4e", ""},
       as("BLOB", "bytea", "longblob")},
      {"d", "DATE", {"'0001-01-01'", "'9999-12-31'", "'10000-01-01'"}, 'd',
       {"0001-01-01", "9999-12-31", "10000-01-01"}, as("DATE", "date", "date")},
      {"ts", "TIMESTAMP", {"'0001-01-01 00:00:00'", "'9999-12-31 23:59:59.999999'", ""}, 's',
       {"0001-01-01 00:00:00", "9999-12-31 23:59:59.999999", "0001-01-01 00:00:00"},
       as("TIMESTAMP", "timestamp without time zone", "datetime(6)")},
      {"dt", "DATETIME", {"'2024-02-29 13:45:00.25'", "'1970-01-01 00:00:00'", ""}, 's',
       {"2024-02-29 13:45:00.25", "1970-01-01 00:00:00", "2024-02-29 13:45:00.25"},
       as("TIMESTAMP", "timestamp without time zone", "datetime(6)")},
      {"tm", "TIME", {"'00:00:00'", "'23:59:59.999999'", ""}, 't',
       {"00:00:00", "23:59:59.999999", "00:00:00"}, as("TIME", "time without time zone", "time(6)")},
      {"tz", "TIMESTAMPTZ", {"'1970-01-01 00:00:00+00'", "'2038-01-19 03:14:08.123456+00'", ""}, 'z',
       {"1970-01-01 00:00:00+00", "2038-01-19 03:14:08.123456+00", "1970-01-01 00:00:00+00"},
       as("TIMESTAMPTZ", "timestamp with time zone", "datetime(6)")},
      {"n", "NUMERIC(10,2)", {"-99999999.99", "0.01", "'12.50'"}, 'n',
       {"-99999999.99", "0.01", "12.5"}, as("TEXT", "numeric(10,2)", "decimal(10,2)")},
      {"bo", "BOOLEAN", {"0", "1", ""}, 'o', {"0", "1", "0"},
       as("BOOLEAN", "boolean", "tinyint(1)")},
  };
  return t;
}

SourceTable pg_table() {
  const Engine e = Engine::Postgres;
  SourceTable t{e, {}, {"holds NaN", "", "NaN"}};
  const std::string iso_interval = "P1Y2M3DT4H5M6.789S";
  t.cases = {
      {"i2", "smallint", {"-32768", "32767", ""}, 'i', {"-32768", "32767", "-32768"},
       as("INTEGER", "smallint", "smallint(6)")},
      {"i4", "integer", {"-2147483648", "2147483647", ""}, 'i',
       {"-2147483648", "2147483647", "-2147483648"}, as("INTEGER", "integer", "int(11)")},
      {"i8", "bigint", {kMin64, kMax64, ""}, 'i', {kMin64, kMax64, kMin64},
       as("INTEGER", "bigint", "bigint(20)")},
      {"n", "numeric(38,10)", {"'-9999999999999999999999999999.9999999999'", "'0.0000000001'", ""},
       'n', {"-9999999999999999999999999999.9999999999", "0.0000000001",
             "-9999999999999999999999999999.9999999999"},
       as("TEXT", "numeric(38,10)", "decimal(38,10)")},
      {"nu", "numeric",
       {"'-123456789012345678901234567890.123456789012345678901234567890'",
        "'0.000000000000000000000000000001'", "'12.50'"},
       'n', {"-123456789012345678901234567890.123456789012345678901234567890",
             "0.000000000000000000000000000001", "12.50"},
       as("TEXT", "numeric", "decimal(65,30)")},
      {"f8", "double precision", {kMinDouble, kMinNormal, "'NaN'"}, 'r',
       {kMinDouble, kMinNormal, "nan"}, as("REAL", "double precision", "double")},
      {"f4", "real", {"'-3.4028235e38'", "'1.17549435e-38'", "'Infinity'"}, 'r',
       {"-3.4028234663852886e38", "1.1754943508222875e-38", "inf"},
       as("REAL", "real", "double")},
      {"t", "text", {"''", text_literal(e, unicode_text()), ""}, 'x', {"", unicode_text(), ""},
       as("TEXT", "text", "longtext")},
      {"vc", "varchar(5)", {"'ñäöü✓'", "'abcde'", ""}, 'x', {"ñäöü✓", "abcde", "ñäöü✓"},
       as("TEXT", "character varying(5)", "longtext")},
      {"lt", "text", {text_literal(e, special_text()), "repeat('x', 100000)", ""}, 'x',
       {special_text(), long_text(), special_text()}, as("TEXT", "text", "longtext")},
      {"b", "bytea", {"'\\x'", "'\\x00ff0a0d5c2722005c4e'", ""}, 'b',
       {"", "00ff0a0d5c2722005c4e", ""}, as("BLOB", "bytea", "longblob")},
      {"d", "date", {"'0001-01-01'", "'9999-12-31'", "'10000-01-01'"}, 'd',
       {"0001-01-01", "9999-12-31", "10000-01-01"}, as("DATE", "date", "date")},
      {"ts", "timestamp", {"'0001-01-01 00:00:00'", "'9999-12-31 23:59:59.999999'", "'infinity'"},
       's', {"0001-01-01 00:00:00", "9999-12-31 23:59:59.999999", "infinity"},
       as("TIMESTAMP", "timestamp without time zone", "datetime(6)")},
      {"tz", "timestamptz",
       {"'0001-01-01 00:00:00+00'", "'2038-01-19 03:14:08.123456+00'", ""}, 'z',
       {"0001-01-01 00:00:00+00", "2038-01-19 03:14:08.123456+00", "0001-01-01 00:00:00+00"},
       as("TIMESTAMPTZ", "timestamp with time zone", "datetime(6)")},
      {"tm", "time", {"'00:00:00'", "'23:59:59.999999'", ""}, 't',
       {"00:00:00", "23:59:59.999999", "00:00:00"}, as("TIME", "time without time zone", "time(6)")},
      {"bo", "boolean", {"false", "true", ""}, 'o', {"0", "1", "0"},
       as("BOOLEAN", "boolean", "tinyint(1)")},
      {"j", "jsonb", {"'{\"b\": null, \"a\": [1, 2.5, \"x\"]}'", "'\"ü\"'", ""}, 'x',
       {"{\"a\": [1, 2.5, \"x\"], \"b\": null}", "\"ü\"", "{\"a\": [1, 2.5, \"x\"], \"b\": null}"},
       as("TEXT", "jsonb", "longtext")},
      {"js", "json", {"'{\"b\":1,  \"a\":2}'", "'[]'", ""}, 'x',
       {"{\"b\":1,  \"a\":2}", "[]", "{\"b\":1,  \"a\":2}"}, as("TEXT", "json", "longtext")},
      {"u", "uuid", {"'00000000-0000-0000-0000-000000000000'", "'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF'", ""},
       'u', {"00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff",
             "00000000-0000-0000-0000-000000000000"},
       as("TEXT", "uuid", "uuid")},
      {"iv", "interval", {"'1 year 2 mons 3 days 04:05:06.789'", "'-00:00:00.000001'", ""}, 'x',
       {iso_interval, "PT-0.000001S", iso_interval}, as("TEXT", "interval", "varchar(64)")},
      {"ar", "integer[]", {"'{1,NULL,3}'", "'{}'", ""}, 'x', {"{1,NULL,3}", "{}", "{1,NULL,3}"},
       as("TEXT", "integer[]", "longtext")},
  };
  // PostgreSQL keeps its own interval (compared by its own text form).
  t.cases[19].target[1].values = {"1 year 2 mons 3 days 04:05:06.789", "-00:00:00.000001",
                                  "1 year 2 mons 3 days 04:05:06.789"};
  return t;
}

SourceTable mariadb_table() {
  const Engine e = Engine::Mariadb;
  SourceTable t{e, {}, {"", "zero_dates=null", "zero_dates=null"}};
  t.cases = {
      {"ti", "TINYINT", {"-128", "127", ""}, 'i', {"-128", "127", "-128"},
       as("INTEGER", "smallint", "smallint(6)")},
      {"t1", "TINYINT(1)", {"0", "1", ""}, 'i', {"0", "1", "0"},
       as("INTEGER", "smallint", "smallint(6)")},
      {"iu", "INT UNSIGNED", {"0", "4294967295", ""}, 'i', {"0", "4294967295", "0"},
       as("INTEGER", "bigint", "bigint(20)")},
      {"i8", "BIGINT", {kMin64, kMax64, ""}, 'i', {kMin64, kMax64, kMin64},
       as("INTEGER", "bigint", "bigint(20)")},
      {"u8", "BIGINT UNSIGNED", {"0", "18446744073709551615", ""}, 'n',
       {"0", "18446744073709551615", "0"}, as("TEXT", "numeric(20,0)", "decimal(20,0)")},
      {"de", "DECIMAL(65,30)",
       {"-99999999999999999999999999999999999.999999999999999999999999999999",
        "0.000000000000000000000000000001", ""},
       'n', {"-99999999999999999999999999999999999.999999999999999999999999999999",
             "0.000000000000000000000000000001",
             "-99999999999999999999999999999999999.999999999999999999999999999999"},
       as("TEXT", "numeric(65,30)", "decimal(65,30)")},
      {"db", "DOUBLE", {kMinDouble, kMinNormal, ""}, 'r', {kMinDouble, kMinNormal, kMinDouble},
       as("REAL", "double precision", "double")},
      {"fl", "FLOAT", {"-0.25", "1.5", ""}, 'r', {"-0.25", "1.5", "-0.25"},
       as("REAL", "double precision", "double")},
      {"vc", "VARCHAR(10)", {"''", text_literal(e, "ñäöü✓"), ""}, 'x', {"", "ñäöü✓", ""},
       as("TEXT", "text", "longtext")},
      {"lt", "LONGTEXT", {text_literal(e, special_text()), "REPEAT('x', 100000)", ""}, 'x',
       {special_text(), long_text(), special_text()}, as("TEXT", "text", "longtext")},
      {"bl", "LONGBLOB", {"X''", "X'00FF0A0D5C2722005C4E'", ""}, 'b',
       {"", "00ff0a0d5c2722005c4e", ""}, as("BLOB", "bytea", "longblob")},
      {"d", "DATE", {"'0001-01-01'", "'9999-12-31'", "'0000-00-00'"}, 'd',
       {"0001-01-01", "9999-12-31", "0000-00-00"}, as("DATE", "date", "date")},
      {"dt", "DATETIME(6)", {"'0001-01-01 00:00:00'", "'9999-12-31 23:59:59.999999'", ""}, 's',
       {"0001-01-01 00:00:00", "9999-12-31 23:59:59.999999", "0001-01-01 00:00:00"},
       as("TIMESTAMP", "timestamp without time zone", "datetime(6)")},
      {"ts", "TIMESTAMP(6) NULL", {"'1970-01-01 00:00:01'", "'2038-01-19 03:14:07.999999'", ""},
       'z', {"1970-01-01 00:00:01+00", "2038-01-19 03:14:07.999999+00", "1970-01-01 00:00:01+00"},
       as("TIMESTAMPTZ", "timestamp with time zone", "timestamp(6)")},
      {"tm", "TIME(6)", {"'00:00:00'", "'23:59:59.999999'", ""}, 't',
       {"00:00:00", "23:59:59.999999", "00:00:00"},
       as("TIME", "time(6) without time zone", "time(6)")},
      {"y", "YEAR", {"1901", "2155", ""}, 'i', {"1901", "2155", "1901"},
       as("INTEGER", "smallint", "smallint(6)")},
      {"bt", "BIT(8)", {"b'0'", "b'11111111'", ""}, 'i', {"0", "255", "0"},
       as("INTEGER", "bigint", "bigint(20)")},
      {"e", "ENUM('a','b')", {"'a'", "'b'", ""}, 'x', {"a", "b", "a"},
       as("TEXT", "text", "longtext")},
      {"st", "SET('x','y')", {"''", "'x,y'", ""}, 'x', {"", "x,y", ""},
       as("TEXT", "text", "longtext")},
      {"j", "JSON", {"'{\"a\": [1, 2.5, \"x\"]}'", "'[]'", ""}, 'x',
       {"{\"a\": [1, 2.5, \"x\"]}", "[]", "{\"a\": [1, 2.5, \"x\"]}"},
       as("TEXT", "jsonb", "longtext")},
      {"u", "UUID", {"'00000000-0000-0000-0000-000000000000'", "'ffffffff-ffff-ffff-ffff-ffffffffffff'", ""},
       'u', {"00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff",
             "00000000-0000-0000-0000-000000000000"},
       as("TEXT", "uuid", "uuid")},
  };
  return t;
}

}  // namespace

const char* name(Engine engine) {
  switch (engine) {
    case Engine::Sqlite:
      return "sqlite";
    case Engine::Postgres:
      return "postgresql";
    case Engine::Mariadb:
      return "mariadb";
  }
  return "?";
}

const Expect* odbc_source_expect(Engine source, const std::string& column, Engine target) {
  struct Override {
    Engine source;
    const char* column;
    Engine target;
    Expect expect;
  };
  // MariaDB Connector/ODBC describes UUID as CHAR(36) and JSON as LONGTEXT, and names only the
  // derived table of a chunk's query as the column's table: their values arrive as text.
  static const std::vector<Override> overrides = {
      {Engine::Mariadb, "u", Engine::Postgres, Expect{"text", 'x', {}}},
      {Engine::Mariadb, "u", Engine::Mariadb, Expect{"longtext", 'x', {}}},
      {Engine::Mariadb, "j", Engine::Postgres, Expect{"text", 0, {}}},
  };
  for (const Override& o : overrides) {
    if (o.source == source && o.target == target && column == o.column) return &o.expect;
  }
  return nullptr;
}

std::string long_text() { return std::string(100000, 'x'); }
std::string special_text() { return "a\tb\nc\"d'e\\f\\N\r,|;"; }
std::string unicode_text() { return "héllo wörld ✓ 😀 日本語"; }

const SourceTable& source_table(Engine engine) {
  static const std::array<SourceTable, 3> tables = {sqlite_table(), pg_table(), mariadb_table()};
  return tables[static_cast<int>(engine)];
}

}  // namespace parmap::test::fidelity
