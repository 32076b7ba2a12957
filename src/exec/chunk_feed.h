// Where a run's workers take chunks from when another process holds the queue (a rank of a
// distributed run), and where they report each chunk's outcome.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace parmap {

/// Implemented by the distributed runner (src/dist/) for a rank other than 0. Its methods
/// are called from worker threads at the same time: implementations are thread-safe.
class ChunkFeed {
 public:
  virtual ~ChunkFeed() = default;
  /// The index of the next chunk of the plan for the calling worker, blocking until the
  /// holder of the queue answers; nullopt when there is no more work for this process.
  virtual std::optional<uint32_t> next() = 0;
  /// The chunk committed `rows` rows with its ledger row, at `attempt` (1-based).
  virtual void committed(uint32_t index, int64_t rows, int attempt) = 0;
  /// The chunk failed after its retries; `refused`: stopped by a row the target refused.
  virtual void failed(uint32_t index, const std::string& error, bool refused) = 0;
};

}  // namespace parmap
