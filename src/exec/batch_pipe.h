// Reading a chunk on a thread of its own, one batch ahead of the writer, so that reading the
// source (and the transformation) overlaps writing the target instead of taking turns.
#pragma once

#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "parmap/batch.h"

namespace parmap {

/// One reader thread filling batches from `read` (returns false at the end of the chunk),
/// at most one batch ahead of the consumer: memory is the batch being read, the one waiting
/// and the one being written. The reader's exception is rethrown by next(). Destroying the
/// pipe before the end stops the reader after the batch it is reading (call `on_abandon`
/// first to make a blocked read return, e.g. interrupt the source connection).
class BatchPipe {
 public:
  explicit BatchPipe(std::function<bool(Batch&)> read);
  ~BatchPipe();
  BatchPipe(const BatchPipe&) = delete;
  BatchPipe& operator=(const BatchPipe&) = delete;

  /// The next batch into `out`; false at the end. Rethrows what the reader threw.
  bool next(Batch& out);

  /// Called by the destructor, before joining, when the reader has not finished.
  std::function<void()> on_abandon;

 private:
  void run();

  std::function<bool(Batch&)> read_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<Batch> ready_;  ///< the batch waiting for the consumer
  bool done_ = false;           ///< the reader has finished (end, error or stop)
  bool stop_ = false;           ///< the consumer has gone
  std::exception_ptr error_;
  std::thread thread_;
};

}  // namespace parmap
