// Unit tests for Value, Column, Batch and the order-independent row hash.
#include "parmap/batch.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "parmap/error.h"

namespace parmap {
namespace {

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
const double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::numeric_limits<double>::quiet_NaN();

Blob blob(std::string bytes) { return Blob{std::move(bytes)}; }

Column col(std::string name, ColumnType type) {
  Column c;
  c.name = std::move(name);
  c.type = type;
  return c;
}

TEST(ColumnTypeTest, NamesRoundTrip) {
  for (auto t : {ColumnType::Bool, ColumnType::Int64, ColumnType::Double, ColumnType::Text,
                 ColumnType::Blob, ColumnType::Any}) {
    EXPECT_EQ(column_type_from_string(to_string(t)), t);
  }
  EXPECT_EQ(column_type_from_string("BigInt"), ColumnType::Int64);
  EXPECT_EQ(column_type_from_string("REAL"), ColumnType::Double);
  EXPECT_EQ(column_type_from_string("varchar"), ColumnType::Text);
  EXPECT_EQ(column_type_from_string("bytes"), ColumnType::Blob);
  EXPECT_EQ(column_type_from_string("Boolean"), ColumnType::Bool);
  try {
    column_type_from_string("money");
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config);
    EXPECT_NE(std::string(e.what()).find("'money'"), std::string::npos);
  }
}

TEST(ValueTest, Display) {
  EXPECT_EQ(Value().to_display(), "NULL");
  EXPECT_EQ(Value(42).to_display(), "42");
  EXPECT_EQ(Value(1.5).to_display(), "1.5");
  EXPECT_EQ(Value(1.0).to_display(), "1.0");
  EXPECT_EQ(Value("it's").to_display(), "'it''s'");
  EXPECT_EQ(Value(blob(std::string("\x00\xff", 2))).to_display(), "x'00ff'");
}

TEST(ValueTest, SerializeRoundTripEveryType) {
  const std::vector<Value> values = {
      Value(),
      Value(0),
      Value(42),
      Value(-7),
      Value(kMin),
      Value(kMax),
      Value(0.0),
      Value(-0.0),
      Value(1.5),
      Value(1.0),
      Value(0.1),
      Value(1e300),
      Value(-1e-300),
      Value(std::numeric_limits<double>::denorm_min()),
      Value(std::numeric_limits<double>::max()),
      Value(kInf),
      Value(-kInf),
      Value(""),
      Value("text with : colon and \n newline"),
      Value(std::string("a\0b", 3)),
      Value(blob("")),
      Value(blob(std::string(4, '\0'))),
      Value(blob(std::string("\x00\x01\xfe\xff", 4))),
  };
  for (const auto& v : values) {
    const std::string s = v.serialize();
    const Value back = Value::deserialize(s);
    EXPECT_EQ(back, v) << s;
    EXPECT_EQ(back.storage().index(), v.storage().index()) << s;
    if (v.is_double()) {
      EXPECT_EQ(std::signbit(back.as_double()), std::signbit(v.as_double())) << s;
    }
  }
  EXPECT_EQ(Value(42).serialize(), "i:42");
  EXPECT_EQ(Value(1.5).serialize(), "d:1.5");
  EXPECT_EQ(Value("abc").serialize(), "t:abc");
  EXPECT_EQ(Value().serialize(), "n:");
  EXPECT_EQ(Value(blob(std::string("\x00\xff", 2))).serialize(), "b:00ff");
  // NaN != NaN, so compare the class.
  const Value nan = Value::deserialize(Value(kNaN).serialize());
  ASSERT_TRUE(nan.is_double());
  EXPECT_TRUE(std::isnan(nan.as_double()));
}

TEST(ValueTest, DeserializeRejectsGarbage) {
  for (const char* bad : {"", "x", "i", "i:", "i:12a", "i:99999999999999999999", "d:", "d:1.5x",
                          "b:0", "b:zz", "q:1", "n:x"}) {
    EXPECT_THROW(Value::deserialize(bad), Error) << bad;
  }
}

TEST(ValueTest, TotalOrder) {
  // null < numbers < text < blob
  EXPECT_LT(Value(), Value(kMin));
  EXPECT_LT(Value(), Value(-kInf));
  EXPECT_LT(Value(kMax), Value(""));
  EXPECT_LT(Value(kInf), Value(""));
  EXPECT_LT(Value("zzz"), Value(blob("")));
  EXPECT_FALSE(Value() < Value());
  // ints and reals compare by value
  EXPECT_LT(Value(1), Value(1.5));
  EXPECT_LT(Value(1.5), Value(2));
  EXPECT_FALSE(Value(1) < Value(1.0));
  EXPECT_FALSE(Value(1.0) < Value(1));
  EXPECT_LT(Value(-kInf), Value(kMin));
  EXPECT_LT(Value(kMax), Value(kInf));
  // 2^63 - 1 rounds to 2^63 as a double; the comparison must stay exact.
  EXPECT_LT(Value(kMax), Value(9223372036854775808.0));
  EXPECT_FALSE(Value(kMin) < Value(-9223372036854775808.0));
  EXPECT_FALSE(Value(-9223372036854775808.0) < Value(kMin));
  EXPECT_LT(Value(kMax - 1), Value(kMax));
  EXPECT_LT(Value(int64_t{9007199254740993}), Value(9007199254740994.0));
  EXPECT_LT(Value(9007199254740992.0), Value(int64_t{9007199254740993}));
  // NaN sorts below the other numbers and is not less than itself.
  EXPECT_LT(Value(kNaN), Value(-kInf));
  EXPECT_LT(Value(kNaN), Value(kMin));
  EXPECT_FALSE(Value(kNaN) < Value(kNaN));
  EXPECT_LT(Value(), Value(kNaN));
  // text and blobs are bytewise
  EXPECT_LT(Value("A"), Value("a"));
  EXPECT_LT(Value("a"), Value("ab"));
  EXPECT_LT(Value(blob(std::string(1, '\0'))), Value(blob("\x01")));
  EXPECT_LT(Value(blob("")), Value(blob(std::string(1, '\0'))));
}

TEST(ColumnTest, TypedAppendAndGet) {
  Column c = col("n", ColumnType::Int64);
  c.append(Value(1));
  c.append(Value());
  c.append_int(kMin);
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c.type, ColumnType::Int64);
  EXPECT_EQ(c.get(0), Value(1));
  EXPECT_TRUE(c.is_null(1));
  EXPECT_TRUE(c.get(1).is_null());
  EXPECT_EQ(c.get(2), Value(kMin));
  EXPECT_EQ(c.ints.size(), 3u);

  Column t = col("t", ColumnType::Text);
  t.append(Value("a"));
  t.append(Value(""));
  t.append_null();
  EXPECT_EQ(t.strings.size(), 3u);
  EXPECT_EQ(t.get(1), Value(""));
  EXPECT_TRUE(t.get(2).is_null());

  Column b = col("b", ColumnType::Blob);
  b.append(Value(blob(std::string(3, '\0'))));
  EXPECT_EQ(b.get(0), Value(blob(std::string(3, '\0'))));
  EXPECT_EQ(b.type, ColumnType::Blob);

  Column flag = col("f", ColumnType::Bool);
  flag.append(Value(1));
  flag.append(Value(0));
  EXPECT_EQ(flag.type, ColumnType::Bool);
  EXPECT_EQ(flag.ints, (std::vector<int64_t>{1, 0}));
  flag.append(Value(2));
  EXPECT_EQ(flag.type, ColumnType::Any);
  EXPECT_EQ(flag.get(0), Value(1));
  EXPECT_EQ(flag.get(2), Value(2));
}

TEST(ColumnTest, PromotesToAnyOnMismatch) {
  Column c = col("n", ColumnType::Int64);
  c.append(Value(7));
  c.append_null();
  c.append(Value("seven"));
  EXPECT_EQ(c.type, ColumnType::Any);
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c.get(0), Value(7));
  EXPECT_TRUE(c.get(1).is_null());
  EXPECT_EQ(c.get(2), Value("seven"));
  EXPECT_TRUE(c.ints.empty());
  EXPECT_EQ(c.values.size(), 3u);

  Column i = col("i", ColumnType::Int64);
  i.append(Value(1.5));
  EXPECT_EQ(i.type, ColumnType::Any);
  EXPECT_EQ(i.get(0), Value(1.5));

  Column t = col("t", ColumnType::Text);
  t.append(Value("x"));
  t.append(Value(blob("x")));
  EXPECT_EQ(t.type, ColumnType::Any);
  EXPECT_TRUE(t.get(0).is_text());
  EXPECT_TRUE(t.get(1).is_blob());
}

TEST(ColumnTest, IntIntoDoubleOnlyWhenExact) {
  Column d = col("d", ColumnType::Double);
  d.append(Value(2.5));
  d.append(Value(3));
  EXPECT_EQ(d.type, ColumnType::Double);
  EXPECT_EQ(d.get(1), Value(3.0));
  d.append(Value(int64_t{9007199254740993}));  // 2^53 + 1 has no exact double
  EXPECT_EQ(d.type, ColumnType::Any);
  EXPECT_EQ(d.get(2), Value(int64_t{9007199254740993}));
  EXPECT_EQ(d.get(0), Value(2.5));

  Column m = col("m", ColumnType::Double);
  m.append(Value(kMax));  // rounds to 2^63, which is not kMax
  EXPECT_EQ(m.type, ColumnType::Any);
  EXPECT_EQ(m.get(0), Value(kMax));
  Column n = col("n", ColumnType::Double);
  n.append(Value(kMin));  // -2^63 is exact
  EXPECT_EQ(n.type, ColumnType::Double);
}

TEST(ColumnTest, FilterClearReserveByteSize) {
  Column c = col("t", ColumnType::Text);
  for (int i = 0; i < 6; ++i) {
    if (i == 3) {
      c.append_null();
    } else {
      c.append(Value(std::string(100, static_cast<char>('a' + i))));
    }
  }
  const size_t before = c.byte_size();
  EXPECT_GE(before, 5u * 100u);
  c.filter({1, 0, 1, 1, 0, 1});
  ASSERT_EQ(c.size(), 4u);
  EXPECT_EQ(c.get(0), Value(std::string(100, 'a')));
  EXPECT_EQ(c.get(1), Value(std::string(100, 'c')));
  EXPECT_TRUE(c.get(2).is_null());
  EXPECT_EQ(c.get(3), Value(std::string(100, 'f')));
  EXPECT_THROW(c.filter({1}), Error);

  Column a = col("a", ColumnType::Any);
  a.append(Value(1));
  a.append(Value("x"));
  a.append_null();
  a.filter({0, 1, 1});
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a.get(0), Value("x"));
  EXPECT_TRUE(a.get(1).is_null());

  c.clear();
  EXPECT_EQ(c.size(), 0u);
  EXPECT_EQ(c.type, ColumnType::Text);
  Column r = col("r", ColumnType::Int64);
  r.reserve(1000);
  EXPECT_GE(r.byte_size(), 1000u * sizeof(int64_t));
  EXPECT_GE(r.ints.capacity(), 1000u);
}

TEST(ColumnTest, ByteSizeGrowsWithLargeStrings) {
  Column c = col("t", ColumnType::Text);
  for (int i = 0; i < 10000; ++i) c.append(Value(std::string(1000, 'x')));
  EXPECT_GE(c.byte_size(), 10000u * 1000u);
  EXPECT_LE(c.byte_size(), 10000u * 1200u);
}

Batch sample_batch() {
  Batch b;
  b.columns.push_back(col("id", ColumnType::Int64));
  b.columns.push_back(col("Name", ColumnType::Text));
  b.columns.push_back(col("score", ColumnType::Double));
  b.columns.push_back(col("data", ColumnType::Blob));
  b.columns.push_back(col("flag", ColumnType::Bool));
  b.columns.push_back(col("misc", ColumnType::Any));
  for (int i = 0; i < 5; ++i) {
    b.columns[0].append(Value(i));
    if (i == 2) {
      b.columns[1].append_null();
    } else {
      b.columns[1].append(Value("n" + std::to_string(i)));
    }
    b.columns[2].append(Value(i * 0.5));
    b.columns[3].append(Value(blob(std::string(static_cast<size_t>(i), '\0'))));
    b.columns[4].append(Value(i % 2));
    b.columns[5].append(i % 2 ? Value(i) : Value("s"));
  }
  return b;
}

std::vector<Value> row_of(const Batch& b, size_t row) {
  std::vector<Value> out;
  for (const auto& c : b.columns) out.push_back(c.get(row));
  return out;
}

TEST(BatchTest, FindFilterEmptyLike) {
  Batch b = sample_batch();
  EXPECT_EQ(b.num_rows(), 5u);
  EXPECT_EQ(b.num_columns(), 6u);
  EXPECT_EQ(b.find("id"), 0);
  EXPECT_EQ(b.find("name"), 1);
  EXPECT_EQ(b.find("NAME"), 1);
  EXPECT_EQ(b.find("nope"), -1);
  b.columns.push_back(col("name", ColumnType::Any));
  EXPECT_EQ(b.find("name"), 6);  // exact wins
  b.columns.pop_back();

  Batch e = b.empty_like();
  EXPECT_EQ(e.num_columns(), 6u);
  EXPECT_EQ(e.num_rows(), 0u);
  EXPECT_EQ(e.columns[2].name, "score");
  EXPECT_EQ(e.columns[2].type, ColumnType::Double);

  b.filter({0, 1, 0, 1, 1});
  ASSERT_EQ(b.num_rows(), 3u);
  for (const auto& c : b.columns) EXPECT_EQ(c.size(), 3u);
  EXPECT_EQ(b.columns[0].get(0), Value(1));
  EXPECT_EQ(b.columns[5].get(2), Value("s"));
  EXPECT_GT(b.byte_size(), 0u);
  b.clear();
  EXPECT_EQ(b.num_rows(), 0u);
  EXPECT_EQ(b.num_columns(), 6u);
}

TEST(BatchTest, SliceCopiesOnlyItsRowsOfEveryColumn) {
  const Batch b = sample_batch();
  const Batch mid = b.slice(1, 4);
  ASSERT_EQ(mid.num_rows(), 3u);
  ASSERT_EQ(mid.num_columns(), b.num_columns());
  for (size_t c = 0; c < b.num_columns(); ++c) {
    EXPECT_EQ(mid.columns[c].name, b.columns[c].name);
    EXPECT_EQ(mid.columns[c].type, b.columns[c].type);
    for (size_t r = 0; r < 3; ++r) EXPECT_EQ(mid.columns[c].get(r), b.columns[c].get(r + 1));
  }
  // The parts of a batch hash to the whole, as the reject isolation relies on.
  EXPECT_EQ(hash_rows(b.slice(0, 2)) + hash_rows(b.slice(2, 5)), hash_rows(b));
  EXPECT_EQ(b.slice(2, 2).num_rows(), 0u);
  EXPECT_THROW(b.slice(3, 6), Error);
}

TEST(HashTest, BatchHashIsSumOfRowHashes) {
  const Batch b = sample_batch();
  uint64_t sum = 0;
  for (size_t r = 0; r < b.num_rows(); ++r) sum += hash_row(row_of(b, r));
  EXPECT_EQ(hash_rows(b), sum);
  EXPECT_EQ(hash_rows(Batch{}), 0u);
}

TEST(HashTest, OrderIndependentAndAdditive) {
  const Batch b = sample_batch();
  Batch reversed = b.empty_like();
  for (size_t r = b.num_rows(); r-- > 0;) {
    for (size_t c = 0; c < b.num_columns(); ++c) reversed.columns[c].append(b.columns[c].get(r));
  }
  EXPECT_EQ(hash_rows(reversed), hash_rows(b));

  Batch first = b, second = b;
  first.filter({1, 1, 0, 0, 0});
  second.filter({0, 0, 1, 1, 1});
  EXPECT_EQ(hash_rows(first) + hash_rows(second), hash_rows(b));

  // The same rows in an Any column hash the same as in typed columns.
  Batch any = b;
  for (auto& c : any.columns) c.promote_to_any();
  EXPECT_EQ(hash_rows(any), hash_rows(b));
}

TEST(HashTest, TypeTagged) {
  EXPECT_NE(hash_row({Value(1)}), hash_row({Value(1.0)}));
  EXPECT_NE(hash_row({Value("")}), hash_row({Value()}));
  EXPECT_NE(hash_row({Value("1")}), hash_row({Value(1)}));
  EXPECT_NE(hash_row({Value("ab")}), hash_row({Value(blob("ab"))}));
  EXPECT_NE(hash_row({Value("ab"), Value("c")}), hash_row({Value("a"), Value("bc")}));
  EXPECT_NE(hash_row({Value(1), Value(2)}), hash_row({Value(2), Value(1)}));
  EXPECT_NE(hash_row({Value(blob(""))}), hash_row({Value(blob(std::string(1, '\0')))}));
  EXPECT_NE(hash_row({}), hash_row({Value()}));
  EXPECT_EQ(hash_row({Value(0.0)}), hash_row({Value(-0.0)}));
  EXPECT_EQ(hash_row({Value(kNaN)}), hash_row({Value(-kNaN)}));
  EXPECT_EQ(hash_row({Value("x"), Value(3)}), hash_row({Value("x"), Value(3)}));
  // Words: text is hashed 8 bytes at a time, its tail zero-padded; the length tells them apart.
  EXPECT_NE(hash_row({Value("a")}), hash_row({Value(std::string("a\0", 2))}));
  for (const size_t n : {7u, 8u, 9u, 16u, 17u}) {
    const std::string text(n, 'x');
    std::string last = text;
    last.back() = 'y';
    EXPECT_NE(hash_row({Value(text)}), hash_row({Value(last)})) << n;
    EXPECT_NE(hash_row({Value(text)}), hash_row({Value(text + "x")})) << n;
  }
  // Both functions tag every value the same ways.
  for (const RowHashVersion v : {RowHashVersion::Fnv1a, RowHashVersion::Words}) {
    EXPECT_NE(hash_row({Value(1)}, v), hash_row({Value(1.0)}, v));
    EXPECT_NE(hash_row({Value("ab"), Value("c")}, v), hash_row({Value("a"), Value("bc")}, v));
    EXPECT_NE(hash_row({Value("")}, v), hash_row({Value()}, v));
  }
}

/// A fixed row through `version`.
uint64_t fixed_row_hash(RowHashVersion version) {
  RowHasher h(version);
  h.add_int(42);
  h.add_double(-1.5);
  h.add_text("h\xc3\xa9llo, w\xc3\xb6rld of rows");
  h.add_null();
  h.add_blob(std::string_view("\x00\x01\xff", 3));
  h.add_int(-1);
  return h.finish();
}

TEST(HashTest, EachFunctionGivesTheHashesItsLedgersHold) {
  // verify --ledger recomputes a committed chunk's hash from the target: a function that
  // changed would call every earlier load different. These are what each wrote.
  EXPECT_EQ(fixed_row_hash(RowHashVersion::Fnv1a), 0x167e9c2dbead3870ULL);
  EXPECT_EQ(RowHasher(RowHashVersion::Fnv1a).finish(), 0xc3817c016ba4ff30ULL);
  EXPECT_EQ(fixed_row_hash(RowHashVersion::Words), 0x70eeb4c67ea6ba7cULL);
  EXPECT_EQ(RowHasher(RowHashVersion::Words).finish(), 0x2cb0f69f4abea221ULL);
  EXPECT_EQ(kRowHashVersion, RowHashVersion::Words);
}

}  // namespace
}  // namespace parmap
