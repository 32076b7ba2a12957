// Unit tests for KeySampler: the statistics a driver gathers from one ordered read of the keys.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "connect/driver_helpers.h"

namespace parmap {
namespace {

KeyStats sample_of(int64_t keys, int64_t nulls, int max_sample) {
  KeySampler sampler(max_sample);
  for (int64_t i = 0; i < nulls; ++i) sampler.add_null();
  for (int64_t k = 1; k <= keys; ++k) sampler.add(Value(k * 10));
  KeyStats stats;
  sampler.finish(stats);
  return stats;
}

TEST(KeySamplerTest, KeepsEveryKthKeyWithKAPowerOfTwoAndCountsEverything) {
  const KeyStats s = sample_of(100000, 7, 1000);
  EXPECT_EQ(s.rows, 100000);
  EXPECT_EQ(s.null_rows, 7);
  EXPECT_EQ(s.min.as_int(), 10);
  EXPECT_EQ(s.max.as_int(), 1000000);
  // 100000 keys in at most 1000 sample keys: every 128th (64 would keep 1563).
  EXPECT_EQ(s.sample_every, 128);
  ASSERT_EQ(s.sample.size(), 782u);  // keys 1, 129, 257, ... 99969
  for (size_t i = 0; i < s.sample.size(); ++i) {
    ASSERT_EQ(s.sample[i].as_int(), (1 + static_cast<int64_t>(i) * 128) * 10) << i;
  }
}

TEST(KeySamplerTest, FewKeysAreAllKept) {
  const KeyStats s = sample_of(5, 0, 1000);
  EXPECT_EQ(s.sample_every, 1);
  ASSERT_EQ(s.sample.size(), 5u);
  EXPECT_EQ(s.sample.back().as_int(), 50);
}

TEST(KeySamplerTest, NoKeysOrNoSampleSaySo) {
  const KeyStats none = sample_of(0, 3, 1000);
  EXPECT_EQ(none.rows, 0);
  EXPECT_EQ(none.null_rows, 3);
  EXPECT_TRUE(none.min.is_null());
  EXPECT_TRUE(none.max.is_null());
  EXPECT_EQ(none.sample_every, 0);  // no sample: nothing for the plan to trust

  const KeyStats unsampled = sample_of(1000, 0, 0);
  EXPECT_EQ(unsampled.rows, 1000);
  EXPECT_TRUE(unsampled.sample.empty());
  EXPECT_EQ(unsampled.sample_every, 0);
}

TEST(KeySamplerTest, ARunOfConsecutiveKeysKeepsWhatAddingThemOneByOneKeeps) {
  for (const int max_sample : {0, 1, 3, 1000, 4096}) {
    for (const int64_t count : {int64_t{1}, int64_t{2}, int64_t{999}, int64_t{1000},
                                int64_t{1001}, int64_t{8191}, int64_t{65536}, int64_t{100003}}) {
      const int64_t first = -17;
      KeySampler one_by_one(max_sample);
      for (int64_t k = first; k < first + count; ++k) one_by_one.add(Value(k));
      KeySampler run(max_sample);
      run.add_run(first, count);
      KeyStats a, b;
      one_by_one.finish(a);
      run.finish(b);
      const std::string where =
          "max_sample " + std::to_string(max_sample) + ", " + std::to_string(count) + " keys";
      EXPECT_EQ(b.rows, a.rows) << where;
      EXPECT_EQ(b.min.as_int(), a.min.as_int()) << where;
      EXPECT_EQ(b.max.as_int(), a.max.as_int()) << where;
      EXPECT_EQ(b.sample_every, a.sample_every) << where;
      ASSERT_EQ(b.sample.size(), a.sample.size()) << where;
      for (size_t i = 0; i < a.sample.size(); ++i) {
        ASSERT_EQ(b.sample[i].as_int(), a.sample[i].as_int()) << where << ", sample key " << i;
      }
    }
  }
}

}  // namespace
}  // namespace parmap
