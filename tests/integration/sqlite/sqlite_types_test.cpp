// The SQLite driver writing the temporal and text-stored column types: exact text, text storage.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "connect/sqlite/sqlite_connection.h"
#include "parmap/batch.h"
#include "support/test_support.h"

namespace parmap::sqlite {
namespace {

struct Case {
  const char* name;
  ColumnType type;
  const char* declared;            // what create_table must name the column's type
  std::vector<std::string> texts;  // canonical text of each non-null row
};

const std::vector<Case>& cases() {
  static const std::vector<Case> kCases = {
      {"d", ColumnType::Date, "DATE", {"2024-02-29", "0044-03-15 BC", "10000-01-01", "infinity"}},
      {"t", ColumnType::Time, "TIME", {"13:45:00", "13:45:00.25", "00:00:00", "24:00:00"}},
      {"ts",
       ColumnType::Timestamp,
       "TIMESTAMP",
       {"2024-02-29 13:45:00.25", "1969-12-31 23:59:59.999999", "-infinity",
        "2000-01-01 00:00:00"}},
      {"tz",
       ColumnType::TimestampTz,
       "TIMESTAMPTZ",
       {"2024-02-29 13:45:00.25+00", "0044-03-15 12:00:00+00 BC", "infinity",
        "1970-01-01 00:00:00+00"}},
      // Numeric text that SQLite's NUMERIC affinity would have turned into a number.
      {"n", ColumnType::Numeric, "TEXT", {"12.50", "007", "-0.000", "NaN"}},
      {"u",
       ColumnType::Uuid,
       "TEXT",
       {"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "00000000-0000-0000-0000-000000000000",
        "12345678-1234-1234-1234-123456789012", "ffffffff-ffff-ffff-ffff-ffffffffffff"}},
      {"j", ColumnType::Json, "TEXT", {R"({"a": [1, 2]})", "12", "null", "\"x\""}},
      {"i", ColumnType::Interval, "TEXT", {"P1Y2M3DT4H5M6.5S", "PT0S", "P-1Y-2MT-3H", "P1D"}},
      {"a", ColumnType::Array, "TEXT", {"{1,2,NULL}", "{}", "{\"a b\",c}", "{{1,2},{3,4}}"}},
  };
  return kCases;
}

class SqliteTypesTest : public ::testing::Test {
 protected:
  std::unique_ptr<SqliteConnection> open(const std::string& name) {
    ConnectionUrl url;
    url.scheme = "sqlite";
    url.database = dir_.file(name);
    return SqliteConnection::open(url);
  }

  // One column per case, four text rows each and a null row last.
  static Batch make_batch() {
    Batch batch;
    for (const Case& c : cases()) {
      Column column;
      column.name = c.name;
      column.type = c.type;
      for (const std::string& text : c.texts) column.append(Value(text));
      column.append_null();
      EXPECT_EQ(column.type, c.type) << c.name << " was promoted";
      batch.columns.push_back(std::move(column));
    }
    return batch;
  }

  test::TempDir dir_;
};

TEST_F(SqliteTypesTest, WritesEveryTypeAsItsExactText) {
  auto conn = open("types.db");
  const Batch batch = make_batch();
  TableSchema schema;
  std::vector<std::string> names;
  for (const Column& c : batch.columns) {
    schema.columns.push_back(ColumnInfo{c.name, c.type, "", false, false});
    names.push_back(c.name);
  }
  const TableRef table{"", "typed"};
  conn->create_table(table, schema);
  conn->begin();
  auto sink = conn->open_sink(table, names);
  sink->write(batch);
  EXPECT_EQ(sink->finish(), 5);
  conn->commit();

  const std::string path = dir_.file("types.db");
  for (const Case& c : cases()) {
    EXPECT_EQ(test::sqlite_scalar(
                  path, fmt::format("SELECT type FROM pragma_table_info('typed') WHERE name = '{}'",
                                    c.name)),
              c.declared)
        << c.name;
    for (size_t row = 0; row < c.texts.size(); ++row) {
      const std::string where = fmt::format("FROM typed WHERE rowid = {}", row + 1);
      // Stored as text, not converted by the column's affinity.
      EXPECT_EQ(test::sqlite_scalar(path, fmt::format("SELECT typeof({}) {}", c.name, where)),
                "text")
          << c.name << " row " << row;
      EXPECT_EQ(test::sqlite_scalar(path, fmt::format("SELECT {} {}", c.name, where)), c.texts[row])
          << c.name << " row " << row;
    }
    EXPECT_EQ(test::sqlite_scalar(
                  path, fmt::format("SELECT typeof({}) FROM typed WHERE rowid = 5", c.name)),
              "null")
        << c.name;
  }
}

TEST_F(SqliteTypesTest, ReadBackHashesLikeTheTypedBatch) {
  auto conn = open("types.db");
  const Batch batch = make_batch();
  TableSchema schema;
  std::vector<std::string> names;
  for (const Column& c : batch.columns) {
    schema.columns.push_back(ColumnInfo{c.name, c.type, "", false, false});
    names.push_back(c.name);
  }
  const TableRef table{"", "typed"};
  conn->create_table(table, schema);
  conn->begin();
  auto sink = conn->open_sink(table, names);
  sink->write(batch);
  sink->finish();
  conn->commit();

  // SQLite hands the values back as text; the content hash must not see the difference.
  auto source = conn->open_source("SELECT * FROM typed", {}, 100, 0);
  Batch read;
  uint64_t sum = 0;
  size_t rows = 0;
  while (source->next(read)) {
    sum += hash_rows(read);
    rows += read.num_rows();
  }
  EXPECT_EQ(rows, 5u);
  EXPECT_EQ(sum, hash_rows(batch));
}

TEST_F(SqliteTypesTest, NumericAffinityWouldHaveLostExactness) {
  // Why Numeric is created as TEXT and why DATE/TIMESTAMP names are safe for ISO text.
  const std::string path = dir_.file("affinity.db");
  test::sqlite_exec(path,
                    "CREATE TABLE t (n NUMERIC, d DATE, ts TIMESTAMP, tm TIME);"
                    "INSERT INTO t VALUES ('12.50', '2024-02-29', '2024-02-29 13:45:00.25', "
                    "'13:45:00');");
  EXPECT_EQ(test::sqlite_scalar(path, "SELECT typeof(n) || ':' || n FROM t"), "real:12.5");
  EXPECT_EQ(test::sqlite_scalar(path, "SELECT typeof(d) || typeof(ts) || typeof(tm) FROM t"),
            "texttexttext");
}

}  // namespace
}  // namespace parmap::sqlite
