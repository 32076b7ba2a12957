// Unit tests for the temporal and text-stored column types of Column and Batch.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/temporal.h"
#include "parmap/batch.h"
#include "parmap/error.h"

namespace parmap {
namespace {

constexpr ColumnType kAllTypes[] = {
    ColumnType::Bool,      ColumnType::Int64,       ColumnType::Double,  ColumnType::Text,
    ColumnType::Blob,      ColumnType::Any,         ColumnType::Date,    ColumnType::Time,
    ColumnType::Timestamp, ColumnType::TimestampTz, ColumnType::Numeric, ColumnType::Uuid,
    ColumnType::Json,      ColumnType::Interval,    ColumnType::Array,
};

constexpr ColumnType kNewTypes[] = {
    ColumnType::Date,        ColumnType::Time,     ColumnType::Timestamp,
    ColumnType::TimestampTz, ColumnType::Numeric,  ColumnType::Uuid,
    ColumnType::Json,        ColumnType::Interval, ColumnType::Array,
};

Column col(std::string name, ColumnType type, std::string declared = "") {
  Column c;
  c.name = std::move(name);
  c.type = type;
  c.declared_type = std::move(declared);
  return c;
}

// The row hash of get(row) over every column, summed: what hash_rows must equal.
uint64_t hash_via_get(const Batch& batch) {
  uint64_t sum = 0;
  for (size_t r = 0; r < batch.num_rows(); ++r) {
    std::vector<Value> row;
    for (const Column& c : batch.columns) row.push_back(c.get(r));
    sum += hash_row(row);
  }
  return sum;
}

// One valid text value per new type, and the text get() returns for it.
struct Sample {
  ColumnType type;
  std::string in;
  std::string out;
};

const std::vector<Sample>& samples() {
  static const std::vector<Sample> kSamples = {
      {ColumnType::Date, "2024-02-29", "2024-02-29"},
      {ColumnType::Date, "0044-03-15 BC", "0044-03-15 BC"},
      {ColumnType::Date, "infinity", "infinity"},
      {ColumnType::Time, "13:45:00.250", "13:45:00.25"},
      {ColumnType::Timestamp, "2024-02-29T13:45:00.25", "2024-02-29 13:45:00.25"},
      {ColumnType::TimestampTz, "2024-02-29 14:45:00.25+01:00", "2024-02-29 13:45:00.25+00"},
      {ColumnType::TimestampTz, "-infinity", "-infinity"},
      {ColumnType::Numeric, "-12.3400", "-12.3400"},
      {ColumnType::Numeric, "NaN", "NaN"},
      {ColumnType::Numeric, "Infinity", "Infinity"},
      {ColumnType::Uuid, "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
       "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
      {ColumnType::Uuid, "{a0eebc999c0b4ef8bb6d6bb9bd380a11}",
       "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
      {ColumnType::Json, R"({"a": [1, 2]})", R"({"a": [1, 2]})"},
      {ColumnType::Interval, "P1Y2M3DT4H5M6.5S", "P1Y2M3DT4H5M6.5S"},
      {ColumnType::Interval, "PT1H-30M", "PT30M"},
      {ColumnType::Array, "{1,2,NULL}", "{1,2,NULL}"},
  };
  return kSamples;
}

TEST(ColumnTypesTest, StorageIsExactlyOne) {
  for (ColumnType t : kAllTypes) {
    const int where = (stored_as_int(t) ? 1 : 0) + (stored_as_string(t) ? 1 : 0);
    if (t == ColumnType::Double || t == ColumnType::Any) {
      EXPECT_EQ(where, 0) << to_string(t);
    } else {
      EXPECT_EQ(where, 1) << to_string(t);
    }
  }
  EXPECT_TRUE(stored_as_int(ColumnType::Date));
  EXPECT_TRUE(stored_as_int(ColumnType::TimestampTz));
  EXPECT_TRUE(stored_as_string(ColumnType::Numeric));
  EXPECT_TRUE(stored_as_string(ColumnType::Array));
}

TEST(ColumnTypesTest, NamesRoundTrip) {
  for (ColumnType t : kAllTypes) EXPECT_EQ(column_type_from_string(to_string(t)), t);
  EXPECT_STREQ(to_string(ColumnType::TimestampTz), "timestamptz");
  EXPECT_STREQ(to_string(ColumnType::Array), "array");
  EXPECT_EQ(column_type_from_string("DECIMAL"), ColumnType::Numeric);
  EXPECT_EQ(column_type_from_string("jsonb"), ColumnType::Json);
  EXPECT_EQ(column_type_from_string("DateTime"), ColumnType::Timestamp);
  EXPECT_EQ(column_type_from_string("UUID"), ColumnType::Uuid);
  EXPECT_THROW(column_type_from_string("money"), Error);
}

TEST(ColumnTypesTest, TextInCanonicalTextOut) {
  for (const Sample& s : samples()) {
    Column c = col("c", s.type);
    c.append(Value(s.in));
    ASSERT_EQ(c.type, s.type) << s.in;
    EXPECT_EQ(c.get(0), Value(s.out)) << s.in;
    // The canonical text reads back to the same stored value.
    c.append(c.get(0));
    EXPECT_EQ(c.get(1), Value(s.out)) << s.in;
    if (stored_as_int(s.type)) {
      EXPECT_EQ(c.ints.size(), 2u);
      EXPECT_EQ(c.ints[0], c.ints[1]);
    } else {
      EXPECT_EQ(c.strings, (std::vector<std::string>{s.out, s.out}));
    }
  }
}

TEST(ColumnTypesTest, TemporalStorageIsPostgresUnits) {
  Column d = col("d", ColumnType::Date);
  d.append(Value("2024-02-29"));
  EXPECT_EQ(d.ints[0], 19'782);
  Column t = col("t", ColumnType::Time);
  t.append(Value("00:00:01.5"));
  EXPECT_EQ(t.ints[0], 1'500'000);
  Column ts = col("ts", ColumnType::TimestampTz);
  ts.append(Value("1970-01-01 01:00:00+01"));
  EXPECT_EQ(ts.ints[0], 0);
  ts.append_int(kPgEpochMicros);
  EXPECT_EQ(ts.get(1), Value("2000-01-01 00:00:00+00"));
}

TEST(ColumnTypesTest, UnparsableTextPromotesToAnyKeepingEveryRow) {
  const std::vector<Sample> bad = {
      {ColumnType::Date, "2023-02-29", ""},
      {ColumnType::Date, "29/02/2024", ""},
      {ColumnType::Time, "25:00:00", ""},
      {ColumnType::Timestamp, "2024-02-29+00", ""},
      {ColumnType::TimestampTz, "2024-02-29 13:45:00", ""},  // no offset: not guessed
      {ColumnType::Numeric, "12,5", ""},
      {ColumnType::Numeric, "1e5", ""},
      {ColumnType::Numeric, "abc", ""},
      {ColumnType::Uuid, "not-a-uuid", ""},
      {ColumnType::Uuid, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1g", ""},
      {ColumnType::Interval, "1 day", ""},
  };
  for (const Sample& s : bad) {
    // A good row first, so that promotion has something to carry over.
    const Sample* good = nullptr;
    for (const Sample& g : samples()) {
      if (g.type == s.type) {
        good = &g;
        break;
      }
    }
    ASSERT_NE(good, nullptr);
    Column c = col("c", s.type, "declared");
    c.append(Value(good->in));
    c.append_null();
    c.append(Value(s.in));
    ASSERT_EQ(c.type, ColumnType::Any) << s.in;
    EXPECT_EQ(c.declared_type, "declared");
    ASSERT_EQ(c.size(), 3u);
    EXPECT_EQ(c.get(0), Value(good->out)) << s.in;
    EXPECT_TRUE(c.get(1).is_null());
    EXPECT_EQ(c.get(2), Value(s.in));
    EXPECT_TRUE(c.ints.empty());
    EXPECT_TRUE(c.strings.empty());
  }
}

TEST(ColumnTypesTest, NonTextValuesPromoteToAny) {
  for (ColumnType t : kNewTypes) {
    for (const Value& v : {Value(int64_t{19'782}), Value(1.5), Value(Blob{"x"})}) {
      Column c = col("c", t);
      c.append(v);
      EXPECT_EQ(c.type, ColumnType::Any) << to_string(t) << " " << v.to_display();
      EXPECT_EQ(c.get(0), v);
    }
  }
}

TEST(ColumnTypesTest, NullsHoldPlaceholdersInTheTypedStorage) {
  for (ColumnType t : kNewTypes) {
    Column c = col("c", t);
    c.append_null();
    c.append(Value());
    ASSERT_EQ(c.size(), 2u);
    EXPECT_TRUE(c.get(0).is_null());
    EXPECT_TRUE(c.get(1).is_null());
    EXPECT_EQ(stored_as_int(t) ? c.ints.size() : c.strings.size(), 2u) << to_string(t);
  }
}

Batch sample_batch() {
  Batch b;
  for (const Sample& s : samples()) {
    Column c = col(std::string(to_string(s.type)) + std::to_string(b.columns.size()), s.type,
                   std::string(to_string(s.type)) + "(x)");
    c.reserve(3);
    c.append(Value(s.in));
    c.append_null();
    c.append(Value(s.in));
    b.columns.push_back(std::move(c));
  }
  return b;
}

TEST(BatchTypesTest, HashEqualsSumOfRowHashesAndTextStorage) {
  Batch typed = sample_batch();
  for (const Column& c : typed.columns) ASSERT_NE(c.type, ColumnType::Any) << c.name;
  EXPECT_EQ(hash_rows(typed), hash_via_get(typed));

  // The same rows with every column as plain text (a SQLite source) hash the same.
  Batch text;
  for (const Column& c : typed.columns) {
    Column t = col(c.name, ColumnType::Text);
    for (size_t r = 0; r < c.size(); ++r) t.append(c.get(r));
    text.columns.push_back(std::move(t));
  }
  EXPECT_EQ(hash_rows(text), hash_rows(typed));

  // And as Any (after a promotion).
  Batch any = typed;
  for (Column& c : any.columns) c.promote_to_any();
  EXPECT_EQ(hash_rows(any), hash_rows(typed));
}

TEST(BatchTypesTest, DateHashesAsItsText) {
  Batch a, b;
  a.columns.push_back(col("d", ColumnType::Date));
  a.columns[0].append_int(19'782);
  b.columns.push_back(col("d", ColumnType::Text));
  b.columns[0].append(Value("2024-02-29"));
  EXPECT_EQ(hash_rows(a), hash_rows(b));
  EXPECT_EQ(hash_rows(a), hash_row({Value("2024-02-29")}));
}

TEST(BatchTypesTest, EmptyLikeAndFilterKeepTypesAndDeclaredTypes) {
  Batch b = sample_batch();
  const Batch empty = b.empty_like();
  ASSERT_EQ(empty.num_columns(), b.num_columns());
  EXPECT_EQ(empty.num_rows(), 0u);
  for (size_t i = 0; i < b.num_columns(); ++i) {
    EXPECT_EQ(empty.columns[i].name, b.columns[i].name);
    EXPECT_EQ(empty.columns[i].type, b.columns[i].type);
    EXPECT_EQ(empty.columns[i].declared_type, b.columns[i].declared_type);
  }

  const std::vector<uint8_t> keep = {0, 1, 1};
  Batch filtered = b;
  filtered.filter(keep);
  ASSERT_EQ(filtered.num_rows(), 2u);
  for (size_t i = 0; i < b.num_columns(); ++i) {
    const Column& c = filtered.columns[i];
    EXPECT_EQ(c.type, b.columns[i].type);
    EXPECT_EQ(c.declared_type, b.columns[i].declared_type);
    EXPECT_TRUE(c.get(0).is_null());
    EXPECT_EQ(c.get(1), b.columns[i].get(2));
  }
  // The dropped rows' hashes are gone from the sum, nothing else.
  Batch dropped = b;
  dropped.filter({1, 0, 0});
  EXPECT_EQ(hash_rows(filtered) + hash_rows(dropped), hash_rows(b));
}

TEST(BatchTypesTest, ClearAndByteSize) {
  Batch b = sample_batch();
  EXPECT_GT(b.byte_size(), 0u);
  b.clear();
  EXPECT_EQ(b.num_rows(), 0u);
  for (const Column& c : b.columns) EXPECT_NE(c.type, ColumnType::Any);
  b.columns[0].append(Value("2024-02-29"));
  EXPECT_EQ(b.columns[0].size(), 1u);
}

}  // namespace
}  // namespace parmap
