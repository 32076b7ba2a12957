// One chunk's copy attempt: source rows into the target table and the ledger row, in one
// target transaction (typed batches, or native bytes on the fast path).
#include <deque>

#include "exec/batch_pipe.h"
#include "exec/executor.h"

namespace parmap {

int64_t Executor::copy_chunk_native(const Chunk& chunk, Connection& src, Connection& tgt) {
  std::vector<Value> params;
  const std::string sql = src.chunk_query(sql_, chunk, params);
  int64_t written = 0;
  in_write_transaction(tgt, [&] {
    auto source = src.open_native_source(sql, params);
    auto sink = tgt.open_native_sink(table_, out_columns_);
    std::string_view data;
    while (source->next(data)) {
      if (cancelled()) {
        throw Error(ErrorKind::Cancelled, fmt::format("{} cancelled", chunk.describe()));
      }
      sink->write(data);
      progress_.add_bytes(chunk.index, static_cast<int64_t>(data.size()));
    }
    written = sink->finish();
    if (written != source->rows()) {
      throw Error(ErrorKind::Internal,
                  fmt::format("{}: the source sent {} rows but the target took {}",
                              chunk.describe(), source->rows(), written));
    }
    Ledger(tgt).record_chunk(job_id_, chunk, source->rows(), written, HashKind::Bytes,
                             source->row_hash());
  });
  return written;
}

int64_t Executor::copy_chunk(const Chunk& chunk) {
  Connection& src = pool_.get_source_connection();
  Connection& tgt = pool_.get_target_connection();
  if (!snapshot_.empty()) src.import_snapshot(snapshot_);
  if (fast_path_) return copy_chunk_native(chunk, src, tgt);
  std::vector<Value> params;
  const std::string sql = src.chunk_query(sql_, chunk, params);
  const size_t batch_rows =
      static_cast<size_t>(std::min<int64_t>(config_.chunk_size, static_cast<int64_t>(kBatchRows)));
  // Where writers may overlap, a reader thread keeps one batch ahead of the writer (three
  // batches in memory: the one read, the one waiting, the one written), each at most a third
  // of the byte bound and 8 MB, which keeps both ends busy; an engine with one writer at a
  // time reads ahead under its own rules below.
  constexpr int64_t kOverlapBatchBytes = 8 << 20;
  const bool overlap = tgt.writer_lock() == nullptr;
  const size_t batch_bytes = static_cast<size_t>(
      overlap ? std::clamp<int64_t>(config_.max_batch_bytes / 3, 1, kOverlapBatchBytes)
              : config_.max_batch_bytes);
  auto source = src.open_source(sql, params, batch_rows, batch_bytes);

  uint64_t hash = 0;
  int64_t rows_read = 0;
  Batch batch;
  auto next = [&] {
    if (cancelled()) {
      throw Error(ErrorKind::Cancelled, fmt::format("{} cancelled", chunk.describe()));
    }
    if (!source->next(batch)) return false;
    rows_read += static_cast<int64_t>(batch.num_rows());
    progress_.add_bytes(chunk.index, static_cast<int64_t>(batch.byte_size()));
    if (opts_.transform) opts_.transform(batch);
    hash += hash_rows(batch);  // the rows as written: what verify --ledger reads back
    return true;
  };

  // An engine with one writer at a time: read ahead without the lock, up to the byte
  // bound, so that readers overlap the writer; a larger chunk streams on under the lock.
  std::deque<Batch> ahead;
  bool more = true;
  if (tgt.writer_lock()) {
    size_t bytes = 0;
    while (bytes < static_cast<size_t>(config_.max_batch_bytes) && (more = next())) {
      bytes += batch.byte_size();
      ahead.push_back(std::move(batch));
      batch = Batch{};
    }
    // A drained source lets go of its read lock before this worker waits for the writer
    // lock: with source and target in one SQLite file, a reader waiting for the writer
    // would block the writer's commit.
    if (!more) source.reset();
  }

  int64_t written = 0;
  if (overlap) {
    in_write_transaction(tgt, [&] {
      auto sink = tgt.open_sink(table_, out_columns_);
      {
        BatchPipe pipe([&](Batch& out) {
          const bool got = next();
          if (got) out = std::move(batch);
          return got;
        });
        // A failed write leaves the reader nothing to do: its connection is discarded with
        // the attempt, so a read blocked on the server is cut short.
        pipe.on_abandon = [&src] { src.interrupt(); };
        Batch piece;
        while (pipe.next(piece)) sink->write(piece);
      }
      written = sink->finish();
      Ledger(tgt).record_chunk(job_id_, chunk, rows_read, written, HashKind::Values, hash);
    });
    return written;
  }
  in_write_transaction(tgt, [&] {
    auto sink = tgt.open_sink(table_, out_columns_);
    while (!ahead.empty()) {
      sink->write(ahead.front());
      ahead.pop_front();
    }
    while (more && next()) sink->write(batch);
    written = sink->finish();
    Ledger(tgt).record_chunk(job_id_, chunk, rows_read, written, HashKind::Values, hash);
  });
  return written;
}

}  // namespace parmap
