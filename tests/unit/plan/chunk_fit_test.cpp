// Fitting chunks to real rows: cut points from ranked keys, position pieces, which chunks
// to check, and chunk descriptions with a key slice.
#include "plan/chunk_fit.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <vector>

#include "parmap/error.h"
#include "plan/plan.h"

namespace parmap {
namespace {

bool in_range(const KeyRange& r, const Value& v) {
  return (r.lo.is_null() || !(v < r.lo)) && (r.hi.is_null() || v < r.hi);
}

KeyMark mark(int64_t key, int64_t first, int64_t rows) {
  KeyMark m;
  m.key = Value(key);
  m.first = first;
  m.rows = rows;
  return m;
}

// What the probe's window query returns for these sorted keys: the key at every step-th
// row with its rank and row count, plus the successor of each key holding more than
// `heavy` rows (as the probe adds it).
std::vector<KeyMark> marks_of(const std::vector<int64_t>& sorted, int64_t step, int64_t heavy) {
  std::map<int64_t, std::pair<int64_t, int64_t>> first_and_count;
  for (size_t i = 0; i < sorted.size(); ++i) {
    auto [it, fresh] = first_and_count.try_emplace(sorted[i], static_cast<int64_t>(i), 0);
    ++it->second.second;
  }
  std::vector<KeyMark> marks;
  for (size_t i = 0; i < sorted.size(); i += static_cast<size_t>(step)) {
    const auto& [first, count] = first_and_count.at(sorted[i]);
    marks.push_back(mark(sorted[i], first, count));
  }
  const size_t read = marks.size();
  for (size_t i = 0; i < read; ++i) {
    if (marks[i].rows <= heavy) continue;
    auto next = first_and_count.upper_bound(marks[i].key.as_int());
    if (next != first_and_count.end()) {
      marks.push_back(mark(next->first, next->second.first, 0));
    }
  }
  return marks;
}

// Every key in exactly one piece, each piece's row count exact.
void expect_exact_cover(const std::vector<RangePiece>& pieces, const std::vector<int64_t>& keys,
                        const KeyRange& range) {
  ASSERT_FALSE(pieces.empty());
  EXPECT_EQ(pieces.front().range.lo, range.lo);
  EXPECT_EQ(pieces.back().range.hi, range.hi);
  for (size_t i = 1; i < pieces.size(); ++i) {
    EXPECT_EQ(pieces[i - 1].range.hi, pieces[i].range.lo) << "gap or overlap at piece " << i;
  }
  for (const RangePiece& p : pieces) {
    int64_t n = 0;
    for (int64_t k : keys) n += in_range(p.range, Value(k)) ? 1 : 0;
    EXPECT_EQ(n, p.rows) << "[" << p.range.lo.to_display() << ", " << p.range.hi.to_display()
                         << ")";
  }
}

TEST(CutRange, EvenKeysGiveChunksOfAtMostChunkSize) {
  std::vector<int64_t> keys;
  for (int64_t i = 0; i < 10000; ++i) keys.push_back(i * 3);
  const KeyRange range{Value(), Value(), false};
  const auto pieces = cut_range(range, marks_of(keys, 500, 2000), 10000, 1000);
  expect_exact_cover(pieces, keys, range);
  EXPECT_EQ(pieces.size(), 10u);
  for (const auto& p : pieces) {
    EXPECT_LE(p.rows, 1000);
    EXPECT_FALSE(p.single);
  }
}

TEST(CutRange, HeavyKeyComesOutAsOneSinglePiece) {
  // Keys 0..2999, then 5000 rows of 4242, then 4243..6242: the heavy key in the middle.
  std::vector<int64_t> keys;
  for (int64_t i = 0; i < 3000; ++i) keys.push_back(i);
  for (int64_t i = 0; i < 5000; ++i) keys.push_back(4242);
  for (int64_t i = 4243; i < 6243; ++i) keys.push_back(i);
  const KeyRange range{Value(int64_t{-5}), Value(int64_t{100000}), false};
  const auto pieces = cut_range(range, marks_of(keys, 500, 2000), 10000, 1000);
  expect_exact_cover(pieces, keys, range);
  int singles = 0;
  for (const auto& p : pieces) {
    if (p.single) {
      ++singles;
      EXPECT_EQ(p.value, Value(int64_t{4242}));
      EXPECT_EQ(p.rows, 5000);
    } else {
      EXPECT_LE(p.rows, 2000);  // at most twice the chunk size
    }
  }
  EXPECT_EQ(singles, 1);
}

TEST(CutRange, HeavyKeyAtTheStartAndAtTheEnd) {
  std::vector<int64_t> keys(4000, 1);
  for (int64_t i = 2; i < 1502; ++i) keys.push_back(i);
  for (int64_t i = 0; i < 4000; ++i) keys.push_back(9999);
  const KeyRange range{Value(int64_t{1}), Value(), false};
  const auto pieces = cut_range(range, marks_of(keys, 500, 2000), 9500, 1000);
  expect_exact_cover(pieces, keys, range);
  ASSERT_GE(pieces.size(), 3u);
  EXPECT_TRUE(pieces.front().single);
  EXPECT_EQ(pieces.front().value, Value(int64_t{1}));
  EXPECT_EQ(pieces.front().rows, 4000);
  EXPECT_TRUE(pieces.back().single);
  EXPECT_EQ(pieces.back().value, Value(int64_t{9999}));
  EXPECT_EQ(pieces.back().rows, 4000);
  for (size_t i = 1; i + 1 < pieces.size(); ++i) EXPECT_LE(pieces[i].rows, 1000);
}

TEST(CutRange, OneKeyOnlyIsOneSinglePiece) {
  std::vector<int64_t> keys(7000, 5);
  const KeyRange range{Value(), Value(), false};
  const auto pieces = cut_range(range, marks_of(keys, 500, 2000), 7000, 1000);
  ASSERT_EQ(pieces.size(), 1u);
  EXPECT_TRUE(pieces[0].single);
  EXPECT_EQ(pieces[0].rows, 7000);
}

TEST(CutRange, NoMarksIsTheWholeRange) {
  const KeyRange range{Value(int64_t{1}), Value(int64_t{9}), false};
  const auto pieces = cut_range(range, {}, 0, 1000);
  ASSERT_EQ(pieces.size(), 1u);
  EXPECT_EQ(pieces[0].rows, 0);
  EXPECT_EQ(pieces[0].range.lo, range.lo);
  EXPECT_EQ(pieces[0].range.hi, range.hi);
  EXPECT_THROW(cut_range(range, {}, 0, 0), Error);
}

TEST(PositionPieces, EvenPiecesCoverTheRange) {
  const auto p = even_pieces(10, 110, 4);
  ASSERT_EQ(p.size(), 4u);
  EXPECT_EQ(p.front().lo, 10);
  EXPECT_EQ(p.back().hi, 110);
  for (size_t i = 1; i < p.size(); ++i) EXPECT_EQ(p[i - 1].hi, p[i].lo);
  EXPECT_EQ(even_pieces(0, 3, 10).size(), 3u);  // never narrower than one position
  EXPECT_TRUE(even_pieces(5, 5, 3).empty());
  const auto wide =
      even_pieces(std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(), 2);
  ASSERT_EQ(wide.size(), 2u);
  EXPECT_EQ(wide[0].hi, wide[1].lo);
}

TEST(PositionPieces, MergeGroupsUpToChunkSize) {
  const std::vector<PositionPiece> pieces = {{0, 10, 400},   {10, 20, 500}, {20, 30, 0},
                                             {30, 40, 1500}, {40, 50, 300}, {50, 60, 300}};
  const auto g = merge_pieces(pieces, 1000);
  ASSERT_EQ(g.size(), 3u);
  EXPECT_EQ(g[0].lo, 0);
  EXPECT_EQ(g[0].hi, 30);
  EXPECT_EQ(g[0].rows, 900);
  EXPECT_EQ(g[1].rows, 1500);  // alone: above the chunk size, cannot be cut further
  EXPECT_EQ(g[2].lo, 40);
  EXPECT_EQ(g[2].hi, 60);
  EXPECT_EQ(g[2].rows, 600);
}

std::vector<Chunk> chunks_with(const std::vector<int64_t>& estimates, bool null_chunk) {
  std::vector<Chunk> out;
  for (int64_t e : estimates) {
    Chunk c;
    c.key = "id";
    c.estimated_rows = e;
    out.push_back(c);
  }
  if (null_chunk) out.back().range.nulls = true;
  renumber(out);
  return out;
}

TEST(ChunksToCheck, EndsSpreadAndBigOnes) {
  const auto chunks = chunks_with({100, 100, 100, 100, 5000, 100, 100, 100, 100, 100}, false);
  const auto picked = chunks_to_check(chunks, 1000, 3);
  EXPECT_EQ(picked.front(), 0u);
  EXPECT_EQ(picked.back(), 9u);
  EXPECT_TRUE(std::count(picked.begin(), picked.end(), 4u) == 1);
  EXPECT_LE(picked.size(), 6u);
  EXPECT_TRUE(std::is_sorted(picked.begin(), picked.end()));
}

TEST(ChunksToCheck, NullChunkOnlyWhenThoughtBig) {
  auto chunks = chunks_with({100, 100, 100, 1}, true);
  auto picked = chunks_to_check(chunks, 1000, 3);
  EXPECT_EQ(std::count(picked.begin(), picked.end(), 3u), 0);
  EXPECT_EQ(picked.back(), 2u);  // the last keyed chunk, open-ended
  chunks.back().estimated_rows = 800;
  picked = chunks_to_check(chunks, 1000, 3);
  EXPECT_EQ(picked.back(), 3u);
}

TEST(EstimatesHold, SmallChunkFoundBigBreaksTrust) {
  const auto chunks = chunks_with({900, 900, 5000}, false);
  EXPECT_TRUE(estimates_hold(chunks, {0, 1, 2}, {1000, 1400, 2001}, 1000));
  EXPECT_FALSE(estimates_hold(chunks, {0, 1, 2}, {1000, 1600, 2001}, 1000));
}

TEST(ChunkDescribe, KeySlice) {
  Chunk c;
  c.index = 4;
  c.key = "grp";
  c.range = KeyRange{Value(int64_t{7}), Value(int64_t{8}), false};
  c.slice = KeySlice{Value(int64_t{7}), "ctid", KeyRange{Value(int64_t{0}), Value(), false}};
  EXPECT_EQ(c.describe(), "chunk 4 (grp = 7, ctid [0, +inf))");
  c.slice->value = Value();
  c.slice->range = KeyRange{Value(), Value(int64_t{120}), false};
  EXPECT_EQ(c.describe(), "chunk 4 (grp IS NULL, ctid (-inf, 120))");
}

}  // namespace
}  // namespace parmap
