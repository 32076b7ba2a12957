// SQLite's declared types: which names give which parmap type, and which stored values a
// column of a declared type takes as that type.
#include "connect/sqlite/sqlite_types.h"

#include <gtest/gtest.h>

namespace parmap::sqlite {
namespace {

TEST(SqliteTypesTest, DeclaredNamesGiveTypes) {
  struct Named {
    const char* declared;
    ColumnType type;
    const char* normalized;
  };
  const Named cases[] = {
      {"INTEGER", ColumnType::Int64, "bigint"},
      {"TINYINT", ColumnType::Int64, "bigint"},
      {"VARCHAR(20)", ColumnType::Text, "VARCHAR(20)"},
      {"BLOB", ColumnType::Blob, "BLOB"},
      {"DOUBLE PRECISION", ColumnType::Double, "DOUBLE PRECISION"},
      {"BOOLEAN", ColumnType::Bool, "BOOLEAN"},
      {"date", ColumnType::Date, "date"},
      {"TIME", ColumnType::Time, "TIME"},
      {"DATETIME", ColumnType::Timestamp, "DATETIME"},
      {"TIMESTAMP", ColumnType::Timestamp, "TIMESTAMP"},
      {"TIMESTAMPTZ", ColumnType::TimestampTz, "TIMESTAMPTZ"},
      {"NUMERIC(10,2)", ColumnType::Numeric, "numeric(10,2)"},
      {"decimal ( 12 )", ColumnType::Numeric, "numeric(12,0)"},
      // No precision, or one no other engine has: SQLite's NUMERIC affinity, values as stored.
      {"NUMERIC", ColumnType::Any, "NUMERIC"},
      {"NUMERIC(70,2)", ColumnType::Any, "NUMERIC(70,2)"},
      {"NUMERIC(2,5)", ColumnType::Any, "NUMERIC(2,5)"},
      {"", ColumnType::Any, ""},
      {"DATE TIME", ColumnType::Any, "DATE TIME"},
  };
  for (const Named& c : cases) {
    std::string normalized;
    EXPECT_EQ(type_from_declared(c.declared, &normalized), c.type) << c.declared;
    EXPECT_EQ(normalized, c.normalized) << c.declared;
  }
}

Column column_of(ColumnType type, std::string declared = {}) {
  Column c;
  c.type = type;
  c.declared_type = std::move(declared);
  return c;
}

TEST(SqliteTypesTest, TemporalValuesAreTakenOnlyInTheirCanonicalText) {
  Column d = column_of(ColumnType::Date, "DATE");
  EXPECT_TRUE(append_declared(d, ColumnType::Date, Value("2024-02-29")));
  EXPECT_TRUE(append_declared(d, ColumnType::Date, Value("10000-01-01")));
  EXPECT_TRUE(append_declared(d, ColumnType::Date, Value()));
  EXPECT_EQ(d.get(0), Value("2024-02-29"));
  EXPECT_EQ(d.get(1), Value("10000-01-01"));
  EXPECT_TRUE(d.get(2).is_null());
  for (const Value& bad : {Value("2023-02-29"), Value("2024-2-29"), Value(""),
                           Value(int64_t{20240229}), Value(Blob{"2024-02-29"})}) {
    EXPECT_FALSE(append_declared(d, ColumnType::Date, bad)) << bad.to_display();
  }
  EXPECT_EQ(d.size(), 3u);
  EXPECT_EQ(d.type, ColumnType::Date);

  Column ts = column_of(ColumnType::Timestamp, "TIMESTAMP");
  EXPECT_TRUE(append_declared(ts, ColumnType::Timestamp, Value("9999-12-31 23:59:59.999999")));
  EXPECT_EQ(ts.type, ColumnType::Timestamp);
  // An offset would be lost in a timestamp without time zone.
  EXPECT_FALSE(append_declared(ts, ColumnType::Timestamp, Value("2024-01-01 10:00:00+02")));
  // Other spellings of valid values stay the text they are.
  EXPECT_TRUE(append_declared(ts, ColumnType::Timestamp, Value("2024-01-01T10:00:00")));
  EXPECT_TRUE(append_declared(ts, ColumnType::Timestamp, Value("2024-01-01 10:00:00.500")));
  EXPECT_EQ(ts.type, ColumnType::Any);
  EXPECT_EQ(ts.get(0), Value("9999-12-31 23:59:59.999999"));
  EXPECT_EQ(ts.get(1), Value("2024-01-01T10:00:00"));
  EXPECT_EQ(ts.get(2), Value("2024-01-01 10:00:00.500"));
  // Once Any, a canonical value stays its text and a bad one is still refused.
  EXPECT_TRUE(append_declared(ts, ColumnType::Timestamp, Value("2024-01-01 10:00:00")));
  EXPECT_EQ(ts.get(3), Value("2024-01-01 10:00:00"));
  EXPECT_FALSE(append_declared(ts, ColumnType::Timestamp, Value("2024-01-01 10:00:00+02")));

  Column tz = column_of(ColumnType::TimestampTz, "TIMESTAMPTZ");
  EXPECT_TRUE(append_declared(tz, ColumnType::TimestampTz, Value("2038-01-19 03:14:08.123456+00")));
  EXPECT_FALSE(append_declared(tz, ColumnType::TimestampTz, Value("2038-01-19 03:14:08")));

  Column tm = column_of(ColumnType::Time, "TIME");
  EXPECT_TRUE(append_declared(tm, ColumnType::Time, Value("23:59:59.999999")));
  EXPECT_FALSE(append_declared(tm, ColumnType::Time, Value("25:00:00")));
}

TEST(SqliteTypesTest, NumbersAreTakenWhenTheyFitPrecisionAndScale) {
  Column n = column_of(ColumnType::Numeric, "numeric(10,2)");
  EXPECT_TRUE(append_declared(n, ColumnType::Numeric, Value(int64_t{-99999999})));
  EXPECT_TRUE(append_declared(n, ColumnType::Numeric, Value(12.5)));
  EXPECT_TRUE(append_declared(n, ColumnType::Numeric, Value(0.01)));
  EXPECT_TRUE(append_declared(n, ColumnType::Numeric, Value("12.50")));
  EXPECT_TRUE(append_declared(n, ColumnType::Numeric, Value(-0.0)));
  EXPECT_EQ(n.get(0), Value("-99999999"));
  EXPECT_EQ(n.get(1), Value("12.5"));
  EXPECT_EQ(n.get(2), Value("0.01"));
  EXPECT_EQ(n.get(3), Value("12.50"));
  EXPECT_EQ(n.get(4), Value("0"));
  // Rounding or widening would change them.
  for (const Value& bad : {Value(1.005), Value(int64_t{123456789}), Value("1.234"), Value("1e3"),
                           Value("007"), Value("12."), Value("abc"), Value(1.0 / 0.0)}) {
    EXPECT_FALSE(append_declared(n, ColumnType::Numeric, bad)) << bad.to_display();
  }
  EXPECT_EQ(n.size(), 5u);
}

}  // namespace
}  // namespace parmap::sqlite
