// The stored plan's JSON: chunks inside one key value keep their slice; old plans read.
#include <gtest/gtest.h>

#include <string>

#include "exec/ledger.h"

namespace parmap {
namespace {

TEST(StoredPlanJson, SliceRoundTrips) {
  StoredPlan plan;
  plan.source_sql = "SELECT * FROM t ORDER BY grp";
  plan.target_table = "t";
  plan.partition_column = "grp";
  plan.parallel = true;
  plan.reason = "parallel";
  plan.estimated_rows = 10;
  Chunk plain;
  plain.key = "grp";
  plain.range = KeyRange{Value(), Value(int64_t{7}), false};
  plain.estimated_rows = 3;
  Chunk sliced;
  sliced.index = 1;
  sliced.key = "grp";
  sliced.range = KeyRange{Value(int64_t{7}), Value(int64_t{8}), false};
  sliced.slice =
      KeySlice{Value(int64_t{7}), "rowid", KeyRange{Value(), Value(int64_t{500}), false}};
  sliced.estimated_rows = 7;
  plan.chunks = {plain, sliced};

  const StoredPlan back = StoredPlan::from_json(plan.to_json());
  ASSERT_EQ(back.chunks.size(), 2u);
  EXPECT_FALSE(back.chunks[0].slice.has_value());
  ASSERT_TRUE(back.chunks[1].slice.has_value());
  EXPECT_EQ(back.chunks[1].slice->value, Value(int64_t{7}));
  EXPECT_EQ(back.chunks[1].slice->position, "rowid");
  EXPECT_TRUE(back.chunks[1].slice->range.lo.is_null());
  EXPECT_EQ(back.chunks[1].slice->range.hi, Value(int64_t{500}));
  EXPECT_EQ(back.chunks[1].describe(), sliced.describe());
  EXPECT_EQ(back.to_json(), plan.to_json());
}

TEST(StoredPlanJson, PlanWithoutSlicesFromAnOlderVersionReads) {
  StoredPlan plan;
  plan.partition_column = "id";
  Chunk c;
  c.key = "id";
  c.range = KeyRange{Value(int64_t{1}), Value(), false};
  plan.chunks = {c};
  const std::string old = plan.to_json();
  ASSERT_EQ(old.find("slice"), std::string::npos);
  const StoredPlan back = StoredPlan::from_json(old);
  ASSERT_EQ(back.chunks.size(), 1u);
  EXPECT_FALSE(back.chunks[0].slice.has_value());
  EXPECT_EQ(back.chunks[0].range.lo, Value(int64_t{1}));
}

}  // namespace
}  // namespace parmap
