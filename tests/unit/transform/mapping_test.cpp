// Column mapping: select, rename, cast and constants on a Batch.
#include <gtest/gtest.h>

#include "parmap/parmap.h"

namespace parmap {
namespace {

Column column(const char* name, ColumnType type) {
  Column c;
  c.name = name;
  c.type = type;
  return c;
}

ColumnMapping map(const char* name, const char* from = "",
                  std::optional<ColumnType> cast = std::nullopt,
                  std::optional<Value> value = std::nullopt) {
  ColumnMapping m;
  m.name = name;
  m.from = from;
  m.cast = cast;
  m.value = std::move(value);
  return m;
}

Batch sample() {
  Batch b;
  Column id = column("id", ColumnType::Int64);
  Column amount = column("amount", ColumnType::Double);
  Column label = column("label", ColumnType::Text);
  for (int i = 0; i < 3; ++i) {
    id.append_int(i + 1);
    amount.append_double(i + 0.5);
    if (i == 1) {
      label.append_null();
    } else {
      label.append_string(std::to_string(10 * i));
    }
  }
  b.columns = {id, amount, label};
  return b;
}

TEST(MappingTest, SelectsRenamesCastsAndAddsConstants) {
  auto t = mapping_transform({map("label_num", "label", ColumnType::Int64), map("id"),
                              map("amount_text", "amount", ColumnType::Text),
                              map("origin", "", std::nullopt, Value("demo"))});
  Batch b = sample();
  t(b);
  ASSERT_EQ(b.num_columns(), 4u);
  ASSERT_EQ(b.num_rows(), 3u);
  EXPECT_EQ(b.columns[0].name, "label_num");
  EXPECT_EQ(b.columns[0].type, ColumnType::Int64);
  EXPECT_EQ(b.columns[0].get(0), Value(0));
  EXPECT_TRUE(b.columns[0].is_null(1));  // NULL stays NULL through a cast
  EXPECT_EQ(b.columns[0].get(2), Value(20));
  EXPECT_EQ(b.columns[1].get(2), Value(3));
  EXPECT_EQ(b.columns[2].get(0), Value("0.5"));
  EXPECT_EQ(b.columns[3].type, ColumnType::Text);
  EXPECT_EQ(b.columns[3].get(1), Value("demo"));
}

TEST(MappingTest, AMissingSourceColumnIsASchemaErrorNamingIt) {
  auto t = mapping_transform({map("x", "nope")});
  Batch b = sample();
  try {
    t(b);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Schema);
    EXPECT_NE(std::string(e.what()).find("nope"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("amount"), std::string::npos);  // lists what exists
  }
}

TEST(MappingTest, AValueThatCannotBeCastIsADataErrorNamingTheColumn) {
  auto t = mapping_transform({map("n", "label", ColumnType::Int64)});
  Batch b = sample();
  b.columns[2].strings[0] = "12abc";
  try {
    t(b);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Data);
    EXPECT_NE(std::string(e.what()).find("'n'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("12abc"), std::string::npos) << e.what();
  }
}

TEST(MappingTest, WorksOnAnEmptyBatchToDescribeTheOutput) {
  auto t = mapping_transform({map("id"), map("k", "", std::nullopt, Value(int64_t{7}))});
  Batch b = sample().empty_like();
  t(b);
  ASSERT_EQ(b.num_columns(), 2u);
  EXPECT_EQ(b.num_rows(), 0u);
  EXPECT_EQ(b.columns[1].type, ColumnType::Int64);
}

}  // namespace
}  // namespace parmap
