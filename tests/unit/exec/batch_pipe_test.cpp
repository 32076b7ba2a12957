// The reader thread of a typed chunk copy: every batch arrives once and in order, the
// reader's error reaches the writer, and a writer that gives up stops the reader.
#include "exec/batch_pipe.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>

namespace parmap {
namespace {

Batch batch_of(int64_t first, int rows) {
  Batch b;
  b.columns.emplace_back();
  b.columns[0].name = "id";
  b.columns[0].type = ColumnType::Int64;
  for (int i = 0; i < rows; ++i) b.columns[0].append_int(first + i);
  return b;
}

TEST(BatchPipe, EveryBatchArrivesOnceInOrder) {
  int64_t next_id = 0;
  BatchPipe pipe([&](Batch& out) {
    if (next_id >= 1000) return false;
    out = batch_of(next_id, 10);
    next_id += 10;
    return true;
  });
  Batch got;
  int64_t expect = 0;
  while (pipe.next(got)) {
    ASSERT_EQ(got.num_rows(), 10u);
    for (size_t r = 0; r < got.num_rows(); ++r) EXPECT_EQ(got.columns[0].ints[r], expect++);
  }
  EXPECT_EQ(expect, 1000);
  EXPECT_FALSE(pipe.next(got));
}

TEST(BatchPipe, TheReadersErrorReachesTheWriterAfterTheBatchesBeforeIt) {
  int calls = 0;
  BatchPipe pipe([&](Batch& out) {
    if (++calls == 3) throw std::runtime_error("source lost in batch 3");
    out = batch_of(calls, 1);
    return true;
  });
  Batch got;
  EXPECT_TRUE(pipe.next(got));
  EXPECT_TRUE(pipe.next(got));
  try {
    pipe.next(got);
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "source lost in batch 3");
  }
}

TEST(BatchPipe, AWriterThatGivesUpStopsTheReader) {
  std::atomic<int> reads{0};
  std::atomic<bool> abandoned{false};
  {
    BatchPipe pipe([&](Batch& out) {
      ++reads;
      out = batch_of(0, 1);
      return true;  // an endless source: only the writer's leaving ends it
    });
    pipe.on_abandon = [&] { abandoned = true; };
    Batch got;
    ASSERT_TRUE(pipe.next(got));
  }
  EXPECT_TRUE(abandoned);
  // At most one batch ahead: the one handed over, one waiting, one being read.
  EXPECT_LE(reads.load(), 3);
}

}  // namespace
}  // namespace parmap
