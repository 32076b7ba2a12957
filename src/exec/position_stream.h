// One pass over a table whose plan cuts it by physical positions: a thread reads the whole
// table in position order (one sequential scan, which PostgreSQL reads through a small ring
// of buffers where a range scan per chunk evicts other pages), cuts the rows into the
// plan's chunks and hands each to the worker that writes it.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "parmap/connection.h"

namespace parmap {

class PositionStream;

/// The most bytes of one chunk's rows the pass holds for its writer (one buffer): half of
/// max_batch_bytes where they pass through, a sixteenth where the writer decodes them (its
/// batches take memory of their own: 4 typed workers peak at 90 MB, not 106 with an eighth).
/// A larger chunk is read by its writer.
inline int64_t one_pass_chunk_bytes(int64_t max_batch_bytes, bool decoded) {
  return std::max<int64_t>(max_batch_bytes, 16) / (decoded ? 16 : 2);
}

/// The bytes chunk_size auto aims a chunk of the pass at: an eighth of max_batch_bytes where
/// the rows pass through (4 MB by default), the whole buffer where they are decoded. Smaller
/// buffers are written while the pass's copy is still in the CPU's cache, and fault in fewer
/// pages: one worker copied 1,000,000 rows in 3.25-3.34 s with chunks of 4 MB against
/// 3.53-3.65 s with 16 MB (the pipe: 3.16-3.31 s), peak RSS 32 MB against 75.
inline int64_t one_pass_auto_chunk_bytes(int64_t max_batch_bytes, bool decoded) {
  return decoded ? one_pass_chunk_bytes(max_batch_bytes, true)
                 : std::max<int64_t>(max_batch_bytes, 16) / 8;
}

/// One chunk's rows as the pass read them, in the source's native format. Its buffer goes
/// back to the pass when it is destroyed (written or not).
struct StreamedChunk {
  StreamedChunk() = default;
  StreamedChunk(StreamedChunk&& other) noexcept { *this = std::move(other); }
  StreamedChunk& operator=(StreamedChunk&& other) noexcept;
  ~StreamedChunk();

  std::string rows;  ///< the rows, without the native stream's header and trailer
  int64_t count = 0;
  uint64_t hash = 0;  ///< as NativeSource::row_hash, when the pass hashes rows
  PositionStream* owner = nullptr;  ///< takes the buffer back; null for none
};

/// Reads `scan` on a thread of its own and keeps each chunk's rows until its writer takes
/// them. The rows live in buffers of at most `chunk_bytes` (one_pass_chunk_bytes), and at
/// most `writers` + 2 of them (one read, the others waiting or being written), three to four,
/// exist at once: at most 64 MB on the fast path with the default max_batch_bytes (16 MB with
/// chunk_size auto, whose chunks are a quarter of a buffer), 8 MB on the typed path, whatever
/// the workers; a buffer grows only as far as its chunks need. A chunk larger than one buffer
/// is not kept, and its writer reads it itself (as it does whenever take() says nullopt).
class PositionStream {
 public:
  /// `chunks`: the chunks to copy, cut by position ranges, in position order. `source` is
  /// the session `scan` reads on; both are owned, and closed when the pass ends. `hash_rows`:
  /// each chunk's `hash` is summed from its rows (the fast path's ledger); a writer that
  /// decodes them hashes the values instead, and the pass leaves it 0.
  PositionStream(std::unique_ptr<Connection> source, std::unique_ptr<PositionScan> scan,
                 std::vector<const Chunk*> chunks, int64_t chunk_bytes, int writers,
                 bool hash_rows);
  ~PositionStream() { stop(); }
  PositionStream(const PositionStream&) = delete;
  PositionStream& operator=(const PositionStream&) = delete;

  /// Chunk `index`'s rows, waiting until the pass has read them (at most until `deadline`);
  /// nullopt when it cannot give them: not one of its chunks, taken or forgotten already,
  /// too large to keep, the pass failed or stopped, or the deadline passed. The caller then
  /// reads the chunk itself. Each chunk is given once. Thread-safe.
  std::optional<StreamedChunk> take(uint32_t index, std::chrono::steady_clock::time_point deadline);
  /// Takes back a buffer (StreamedChunk's destructor), for a later chunk: the pass reuses
  /// memory it has touched rather than fault in new pages for every chunk. Thread-safe.
  void give_back(std::string&& buffer);
  /// Chunk `index`'s rows will not be taken (its attempt ended): dropped, now or when read,
  /// so that they do not hold the pass back. Thread-safe.
  void forget(uint32_t index);
  /// Ends the pass (interrupting a read in progress), joins its thread and closes its
  /// session. Idempotent.
  void stop();

  std::string_view header() const { return header_; }
  std::string_view trailer() const { return trailer_; }
  /// How the pass went: chunks handed over, and why it ended early if it did.
  std::string summary() const;

 private:
  enum class State { Reading, Ready, Gone };
  struct Slot {
    const Chunk* chunk = nullptr;
    State state = State::Reading;
    bool forgotten = false;
    StreamedChunk rows;
  };
  void read();
  /// Makes the slot's rows available (or drops them); under mu_.
  void publish(Slot& slot, StreamedChunk rows, bool kept);
  Slot* find(uint32_t index);

  const int most_buffers_;
  std::unique_ptr<Connection> source_;
  std::unique_ptr<PositionScan> scan_;
  std::string header_, trailer_;
  const int64_t chunk_limit_;  ///< the most bytes of a chunk's rows kept
  const bool hash_rows_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> spare_;  ///< buffers given back, under mu_
  std::vector<Slot> slots_;       ///< in position order
  std::vector<int> by_index_;     ///< chunk index -> slot, -1 when not one of them
  int buffers_ = 0;               ///< buffers in existence; under mu_
  int64_t handed_ = 0;            ///< chunks taken; under mu_
  int64_t too_large_ = 0;         ///< chunks not kept for their size; under mu_
  std::atomic<bool> stopping_{false};
  bool ended_ = false;            ///< the reader is done; under mu_
  std::string error_;             ///< why the pass ended early; under mu_
  std::thread thread_;
};

}  // namespace parmap
