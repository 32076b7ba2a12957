// Chunk planning: every key of a generated key set lands in exactly one planned chunk.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "parmap/error.h"
#include "plan/plan.h"

namespace parmap {
namespace {

constexpr int64_t kInt64Min = std::numeric_limits<int64_t>::min();
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

// The half-open range test a source's WHERE clause performs, with SQLite's value order.
bool in_range(const KeyRange& r, const Value& v) {
  if (r.nulls) return v.is_null();
  if (v.is_null()) return false;
  return (r.lo.is_null() || !(v < r.lo)) && (r.hi.is_null() || v < r.hi);
}

bool value_less(const Value& a, const Value& b) { return a < b; }

// Statistics as a driver would report them for exactly these keys: min, max, counts and
// a sorted sample of every k-th non-null key (k == 0: no sample).
KeyStats stats_of(const std::vector<Value>& keys, ColumnType type, size_t every_kth) {
  KeyStats s;
  s.column = "id";
  s.type = type;
  std::vector<Value> sorted;
  for (const Value& k : keys) {
    if (k.is_null()) {
      ++s.null_rows;
    } else {
      sorted.push_back(k);
    }
  }
  std::sort(sorted.begin(), sorted.end(), value_less);
  s.rows = static_cast<int64_t>(sorted.size());
  if (!sorted.empty()) {
    s.min = sorted.front();
    s.max = sorted.back();
  }
  if (every_kth > 0) {
    for (size_t i = 0; i < sorted.size(); i += every_kth) s.sample.push_back(sorted[i]);
  }
  return s;
}

struct Expect {
  int64_t chunk_size = 0;
  double max_factor = 0;              // 0: chunk sizes not checked (degenerate cases)
  std::vector<Value> late_keys = {};  // keys inserted after the statistics were taken
};

// Checks the plan's shape and that it partitions `keys` (and `late_keys`) exactly.
void check_plan(const std::vector<Chunk>& plan, const KeyStats& stats,
                const std::vector<Value>& keys, const Expect& expect) {
  ASSERT_FALSE(plan.empty());
  size_t ranges = plan.size();
  if (stats.null_rows > 0) {
    ASSERT_TRUE(plan.back().range.nulls) << "the last chunk holds the NULL keys";
    ranges = plan.size() - 1;
  }
  ASSERT_GE(ranges, 1u);
  for (size_t i = 0; i < plan.size(); ++i) {
    EXPECT_EQ(plan[i].index, i);
    EXPECT_EQ(plan[i].key, stats.column);
    if (i < ranges) {
      EXPECT_FALSE(plan[i].range.nulls) << plan[i].describe();
    }
  }
  EXPECT_TRUE(plan.front().range.lo.is_null()) << "first lower bound must be open";
  EXPECT_TRUE(plan[ranges - 1].range.hi.is_null()) << "last upper bound must be open";
  for (size_t i = 0; i + 1 < ranges; ++i) {
    const KeyRange& a = plan[i].range;
    const KeyRange& b = plan[i + 1].range;
    ASSERT_FALSE(a.hi.is_null()) << plan[i].describe();
    EXPECT_EQ(a.hi, b.lo) << "gap or overlap between " << plan[i].describe() << " and "
                          << plan[i + 1].describe();
    if (i > 0) {
      EXPECT_TRUE(a.lo < a.hi) << "boundaries must strictly increase: " << plan[i].describe();
    }
  }

  std::vector<int64_t> sizes(plan.size(), 0);
  auto place = [&](const Value& k) {
    int hits = 0;
    for (size_t c = 0; c < plan.size(); ++c) {
      if (in_range(plan[c].range, k)) {
        ++hits;
        ++sizes[c];
        if (k.is_null()) {
          EXPECT_TRUE(plan[c].range.nulls) << "NULL outside the nulls chunk";
        }
      }
    }
    EXPECT_EQ(hits, 1) << "key " << k.to_display() << " is in " << hits << " chunks";
  };
  for (const Value& k : keys) place(k);
  int64_t placed = 0;
  for (int64_t s : sizes) placed += s;
  EXPECT_EQ(placed, static_cast<int64_t>(keys.size()));

  if (expect.max_factor > 0) {
    for (size_t c = 0; c < ranges; ++c) {
      EXPECT_LE(static_cast<double>(sizes[c]), expect.max_factor * expect.chunk_size)
          << plan[c].describe() << " holds " << sizes[c] << " keys";
    }
  }
  std::fill(sizes.begin(), sizes.end(), 0);
  for (const Value& k : expect.late_keys) place(k);
}

std::vector<Value> int_keys(int64_t from, int64_t to, int64_t step = 1) {
  std::vector<Value> keys;
  for (int64_t k = from; k < to; k += step) keys.emplace_back(k);
  return keys;
}

int64_t range_chunks(const std::vector<Chunk>& plan) {
  return std::count_if(plan.begin(), plan.end(), [](const Chunk& c) { return !c.range.nulls; });
}

TEST(PlanChunks, NegativeKeysWithSample) {
  auto keys = int_keys(-50000, -40000);
  KeyStats stats = stats_of(keys, ColumnType::Int64, 5);
  auto plan = plan_chunks(stats, 1000);
  EXPECT_EQ(range_chunks(plan), 10);
  check_plan(plan, stats, keys, {1000, 2.0, {Value(-60000), Value(-1), Value(0), Value(10)}});
}

TEST(PlanChunks, NegativeKeysEvenSplitWithoutSample) {
  auto keys = int_keys(-50000, -40000);
  KeyStats stats = stats_of(keys, ColumnType::Int64, 0);
  auto plan = plan_chunks(stats, 1000);
  EXPECT_EQ(range_chunks(plan), 10);
  // Dense keys split evenly by value come out exactly chunk_size each.
  check_plan(plan, stats, keys, {1000, 1.0, {Value(-50001), Value(-39999)}});
}

TEST(PlanChunks, SparseKeysWithBigGaps) {
  std::vector<Value> keys;
  for (int64_t i = 0; i < 5000; ++i) keys.emplace_back(i * i * 1000 - 7);
  KeyStats stats = stats_of(keys, ColumnType::Int64, 4);
  auto plan = plan_chunks(stats, 250);
  check_plan(plan, stats, keys, {250, 2.0, {Value(-8), Value(int64_t{25'000'000'000'000})}});
}

TEST(PlanChunks, SkewedKeysFollowTheSample) {
  // 90% of the rows in the first 1% of the key range.
  auto keys = int_keys(0, 9000);
  auto tail = int_keys(10000, 1'000'000, 990);
  keys.insert(keys.end(), tail.begin(), tail.end());
  KeyStats stats = stats_of(keys, ColumnType::Int64, 10);
  auto plan = plan_chunks(stats, 500);
  check_plan(plan, stats, keys, {500, 2.0, {Value(-5), Value(2'000'000)}});
}

TEST(PlanChunks, SkewedKeysWithoutSampleStillCoverEverything) {
  // An even split cannot see skew; it must still be a complete partition.
  auto keys = int_keys(0, 9000);
  auto tail = int_keys(10000, 1'000'000, 990);
  keys.insert(keys.end(), tail.begin(), tail.end());
  KeyStats stats = stats_of(keys, ColumnType::Int64, 0);
  check_plan(plan_chunks(stats, 500), stats, keys, {500, 0, {Value(-5), Value(2'000'000)}});
}

TEST(PlanChunks, AllDuplicateKeysMakeOneChunk) {
  std::vector<Value> keys(5000, Value(42));
  KeyStats stats = stats_of(keys, ColumnType::Int64, 3);
  auto plan = plan_chunks(stats, 500);
  EXPECT_EQ(range_chunks(plan), 1);
  check_plan(plan, stats, keys, {500, 0, {Value(41), Value(43)}});
}

TEST(PlanChunks, HotKeyStaysInOneChunk) {
  auto keys = int_keys(0, 10000);
  keys.insert(keys.end(), 5000, Value(7777));
  KeyStats stats = stats_of(keys, ColumnType::Int64, 5);
  auto plan = plan_chunks(stats, 500);
  check_plan(plan, stats, keys, {500, 0, {Value(-1), Value(10000)}});

  int holding = 0;
  for (const Chunk& c : plan) {
    int64_t n = std::count_if(keys.begin(), keys.end(),
                              [&](const Value& k) { return in_range(c.range, k); });
    if (in_range(c.range, Value(7777))) {
      ++holding;
      EXPECT_GE(n, 5000);
    } else {
      EXPECT_LE(n, 2 * 500) << c.describe();
    }
  }
  EXPECT_EQ(holding, 1);
}

TEST(PlanChunks, TextKeys) {
  std::vector<Value> keys;
  for (int i = 0; i < 6000; ++i) keys.emplace_back(fmt::format("key-{:05d}", (i * 7919) % 6000));
  keys.emplace_back("A");
  keys.emplace_back("zzz");
  keys.emplace_back("");
  KeyStats stats = stats_of(keys, ColumnType::Text, 6);
  auto plan = plan_chunks(stats, 400);
  EXPECT_GE(range_chunks(plan), 8);
  for (const Chunk& c : plan) {
    if (!c.range.lo.is_null()) {
      EXPECT_TRUE(c.range.lo.is_text()) << c.describe();
    }
  }
  check_plan(plan, stats, keys,
             {400, 2.0, {Value("key-"), Value("key-99999"), Value("~"), Value("0")}});
}

TEST(PlanChunks, TextKeysWithoutSampleMakeOneChunk) {
  std::vector<Value> keys = {Value("b"), Value("a"), Value("c")};
  KeyStats stats = stats_of(keys, ColumnType::Text, 0);
  auto plan = plan_chunks(stats, 1);
  EXPECT_EQ(range_chunks(plan), 1);
  check_plan(plan, stats, keys, {1, 0, {Value(""), Value("zz")}});
}

TEST(PlanChunks, IsoDateStrings) {
  std::vector<Value> keys;
  for (int y = 2019; y <= 2024; ++y) {
    for (int m = 1; m <= 12; ++m) {
      for (int d = 1; d <= 28; ++d) {
        for (int h : {0, 6, 12, 18}) {
          keys.emplace_back(fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:00:00", y, m, d, h));
        }
      }
    }
  }
  KeyStats stats = stats_of(keys, ColumnType::Text, 8);
  auto plan = plan_chunks(stats, 500);
  check_plan(plan, stats, keys,
             {500, 2.0, {Value("1999-12-31"), Value("2030-01-01T00:00:00"), Value("2020-02-29")}});
}

TEST(PlanChunks, EmptyTableIsOneOpenChunk) {
  KeyStats stats = stats_of({}, ColumnType::Int64, 1);
  auto plan = plan_chunks(stats, 1000);
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_TRUE(plan[0].range.lo.is_null());
  EXPECT_TRUE(plan[0].range.hi.is_null());
  EXPECT_EQ(plan[0].estimated_rows, 0);
  check_plan(plan, stats, {}, {1000, 0, {Value(1), Value(kInt64Min)}});
}

TEST(PlanChunks, OnlyNullKeys) {
  std::vector<Value> keys(10, Value());
  KeyStats stats = stats_of(keys, ColumnType::Int64, 1);
  auto plan = plan_chunks(stats, 3);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[1].estimated_rows, 10);
  check_plan(plan, stats, keys, {3, 0, {Value(5)}});
}

TEST(PlanChunks, SingleRow) {
  std::vector<Value> keys = {Value(7)};
  KeyStats stats = stats_of(keys, ColumnType::Int64, 1);
  auto plan = plan_chunks(stats, 1);
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].estimated_rows, 1);
  check_plan(plan, stats, keys, {1, 0, {Value(6), Value(8)}});
}

TEST(PlanChunks, Int64ExtremesEvenSplit) {
  std::vector<Value> keys = {Value(kInt64Min), Value(kInt64Min + 1), Value(-1),       Value(0),
                             Value(1),         Value(kInt64Max - 1), Value(kInt64Max)};
  KeyStats stats = stats_of(keys, ColumnType::Int64, 0);
  auto plan = plan_chunks(stats, 1);
  EXPECT_EQ(range_chunks(plan), 7);
  check_plan(plan, stats, keys, {1, 0});
}

TEST(PlanChunks, Int64ExtremesManyChunks) {
  std::vector<Value> keys = {Value(kInt64Min), Value(kInt64Max)};
  KeyStats stats = stats_of(keys, ColumnType::Int64, 0);
  stats.rows = 1'000'000;  // an estimate far above the two keys seen
  auto plan = plan_chunks(stats, 1000);
  EXPECT_EQ(range_chunks(plan), 1000);
  check_plan(plan, stats, keys, {1000, 0, {Value(0), Value(kInt64Max - 1)}});
  int64_t total = 0;
  for (const Chunk& c : plan) total += c.estimated_rows;
  EXPECT_NEAR(total, 1'000'000, 1000);
}

TEST(PlanChunks, NarrowIntRangeNeverRepeatsABoundary) {
  std::vector<Value> keys = {Value(kInt64Max - 2), Value(kInt64Max - 1), Value(kInt64Max)};
  KeyStats stats = stats_of(keys, ColumnType::Int64, 0);
  stats.rows = 100;  // 100 chunks wanted, only 3 distinct values exist
  auto plan = plan_chunks(stats, 1);
  EXPECT_EQ(range_chunks(plan), 3);
  check_plan(plan, stats, keys, {1, 0, {Value(0)}});
}

TEST(PlanChunks, KeysWithNulls) {
  auto keys = int_keys(0, 3000);
  keys.insert(keys.end(), 300, Value());
  KeyStats stats = stats_of(keys, ColumnType::Int64, 2);
  ASSERT_EQ(stats.null_rows, 300);
  auto plan = plan_chunks(stats, 1000);
  EXPECT_EQ(range_chunks(plan), 3);
  ASSERT_TRUE(plan.back().range.nulls);
  EXPECT_EQ(plan.back().estimated_rows, 300);
  check_plan(plan, stats, keys, {1000, 2.0, {Value(-1), Value(5000)}});
}

TEST(PlanChunks, DoubleKeysEvenSplit) {
  std::vector<Value> keys;
  for (int i = 0; i < 4000; ++i) keys.emplace_back(i * 0.25 - 100.0);
  KeyStats stats = stats_of(keys, ColumnType::Double, 0);
  auto plan = plan_chunks(stats, 1000);
  EXPECT_EQ(range_chunks(plan), 4);
  check_plan(plan, stats, keys, {1000, 1.1, {Value(-1e300), Value(1e300), Value(3)}});
}

TEST(PlanChunks, DoubleKeysAtTheEdgesOfTheRealRange) {
  const double big = std::numeric_limits<double>::max();
  std::vector<Value> keys = {Value(-big), Value(-1.0), Value(0.0), Value(1.0), Value(big)};
  KeyStats stats = stats_of(keys, ColumnType::Double, 0);
  auto plan = plan_chunks(stats, 1);
  EXPECT_GE(range_chunks(plan), 2);
  check_plan(plan, stats, keys, {1, 0});
}

TEST(PlanChunks, NonFiniteDoubleBoundsUseTheSampleOrOneChunk) {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<Value> keys = {Value(-inf), Value(1.0), Value(2.0), Value(3.0), Value(inf)};
  KeyStats with_sample = stats_of(keys, ColumnType::Double, 1);
  check_plan(plan_chunks(with_sample, 1), with_sample, keys, {1, 0});
  KeyStats without = stats_of(keys, ColumnType::Double, 0);
  auto plan = plan_chunks(without, 1);
  EXPECT_EQ(range_chunks(plan), 1);
  check_plan(plan, without, keys, {1, 0});
}

TEST(PlanChunks, AnyTypedKeysUseValueOrder) {
  std::vector<Value> keys;
  for (int i = 0; i < 1000; ++i) {
    keys.emplace_back(int64_t{i});
    keys.emplace_back(i + 0.5);
    keys.emplace_back(fmt::format("t{:04d}", i));
    keys.emplace_back(Blob{fmt::format("b{:04d}", i)});
  }
  KeyStats stats = stats_of(keys, ColumnType::Any, 4);
  auto plan = plan_chunks(stats, 250);
  check_plan(plan, stats, keys, {250, 2.0, {Value(-1), Value("zz"), Value(Blob{"zz"})}});
}

// The engine sorts the sample in its own collation (here case-insensitive, as PostgreSQL's
// default collations are): boundaries must follow that order, or the engine's range filters
// would overlap and duplicate rows.
TEST(PlanChunks, BoundariesKeepTheEnginesSampleOrder) {
  std::vector<Value> sample;
  for (int i = 0; i < 400; ++i) {
    const char first = static_cast<char>((i % 2 ? 'A' : 'a') + i / 16);
    sample.emplace_back(fmt::format("{}{:03d}", first, i));
  }
  KeyStats stats;
  stats.column = "name";
  stats.type = ColumnType::Text;
  stats.min = sample.front();
  stats.max = sample.back();
  stats.rows = 400;
  stats.sample = sample;
  const auto plan = plan_chunks(stats, 50);
  ASSERT_GT(plan.size(), 3u);
  auto position = [&](const Value& v) {
    return std::find(sample.begin(), sample.end(), v) - sample.begin();
  };
  for (size_t i = 1; i + 1 < plan.size(); ++i) {
    EXPECT_LT(position(plan[i].range.lo), position(plan[i].range.hi)) << plan[i].describe();
  }
}

TEST(PlanChunks, EstimatesAddUpToTheRows) {
  auto keys = int_keys(0, 10000);
  keys.insert(keys.end(), 50, Value());
  for (size_t every : {size_t{0}, size_t{3}}) {
    KeyStats stats = stats_of(keys, ColumnType::Int64, every);
    int64_t total = 0;
    for (const Chunk& c : plan_chunks(stats, 700)) total += c.estimated_rows;
    EXPECT_NEAR(total, 10050, 20) << "sample every " << every;
  }
}

TEST(PlanChunks, SamePlanForSameStatistics) {
  auto keys = int_keys(-300, 9000, 3);
  KeyStats stats = stats_of(keys, ColumnType::Int64, 7);
  auto a = plan_chunks(stats, 100);
  auto b = plan_chunks(stats, 100);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].describe(), b[i].describe());
}

TEST(PlanChunks, RejectsNonPositiveChunkSize) {
  KeyStats stats = stats_of(int_keys(0, 10), ColumnType::Int64, 1);
  EXPECT_THROW(plan_chunks(stats, 0), Error);
  EXPECT_THROW(plan_chunks(stats, -5), Error);
}

TEST(PlanDescribe, RangesNullsAndWholeQuery) {
  Chunk c;
  c.key = "id";
  c.index = 3;
  c.range = {Value(100), Value(200)};
  EXPECT_EQ(c.describe(), "chunk 3 [100, 200)");
  c.index = 0;
  c.range = {Value(), Value(100)};
  EXPECT_EQ(c.describe(), "chunk 0 (-inf, 100)");
  c.index = 5;
  c.range = {Value(200), Value()};
  EXPECT_EQ(c.describe(), "chunk 5 [200, +inf)");
  c.index = 6;
  c.range = {Value(), Value(), true};
  EXPECT_EQ(c.describe(), "chunk 6 (id IS NULL)");
  c.index = 1;
  c.range = {Value("a"), Value("b")};
  EXPECT_EQ(c.describe(), "chunk 1 ['a', 'b')");

  Chunk whole = whole_query_chunk();
  EXPECT_EQ(whole.index, 0u);
  EXPECT_TRUE(whole.key.empty());
  EXPECT_EQ(whole.describe(), "chunk 0 (whole query)");
}

}  // namespace
}  // namespace parmap
