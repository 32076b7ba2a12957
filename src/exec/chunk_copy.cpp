// One attempt at a group of chunks (one chunk, or with chunk_size auto a run of consecutive
// ones): the source rows of each into the target table, and each chunk's ledger row, in one
// target transaction and one bulk write (typed batches, or native bytes on the fast path).
#include <deque>

#include "exec/batch_pipe.h"
#include "exec/executor.h"

namespace parmap {

namespace {

/// What one chunk of a group read and wrote, for its ledger row.
struct Tally {
  int64_t read = 0;
  int64_t written = 0;
  uint64_t hash = 0;
  std::string started_at;  ///< when its read began
};

}  // namespace

void check_rows_taken(const TableRef& table, int64_t sent, int64_t taken) {
  if (sent == taken) return;
  throw Error(ErrorKind::Schema,
              fmt::format("table {} took {} of the {} rows sent{}: something on the table "
                          "drops or adds rows as they are written (a trigger or rule that skips "
                          "them, a conflict clause that ignores them such as SQLite's ON "
                          "CONFLICT IGNORE); parmap commits a chunk only with every row it read, "
                          "so remove that from the table, or filter the rows in the source query",
                          table.display(), taken, sent,
                          taken < sent ? fmt::format(" ({} missing)", sent - taken) : ""));
}

std::string describe_group(const ChunkGroup& group) {
  if (group.size() == 1) return group.front()->describe();
  return fmt::format("{} chunks committed together (chunk {} to chunk {})", group.size(),
                     group.front()->index, group.back()->index);
}

Clock::time_point Executor::stream_deadline() const {
  return Clock::now() + std::chrono::seconds(config_.chunk_timeout_s > 0 ? config_.chunk_timeout_s
                                                                         : int64_t{24} * 3600);
}

void Executor::write_in_slices(NativeSink& sink, std::string_view rows, const Chunk& chunk) {
  // Slices of 256 KB: libpq copies each write into its output buffer whole.
  constexpr size_t kSlice = 256 << 10;
  for (size_t at = 0; at < rows.size(); at += kSlice) {
    if (cancelled()) {
      throw Error(ErrorKind::Cancelled, fmt::format("{} cancelled", chunk.describe()));
    }
    const std::string_view slice = rows.substr(at, kSlice);
    sink.write(slice);
    progress_.add_bytes(chunk.index, static_cast<int64_t>(slice.size()));
  }
}

std::vector<int64_t> Executor::copy_group_native(const ChunkGroup& group, int attempt,
                                                 Connection& src, Connection& tgt) {
  std::vector<int64_t> rows(group.size());
  std::vector<ChunkStamp> stamps(group.size(), ChunkStamp{"", worker_number(), attempt});
  in_write_transaction(tgt, [&] {
    auto sink = tgt.open_native_sink(table_, out_columns_);
    std::vector<uint64_t> hashes(group.size());
    int64_t sent = 0;
    for (size_t i = 0; i < group.size(); ++i) {
      stamps[i].started_at = now_utc_millis();
      if (stream_) {
        // The chunk's rows from the one pass over the table, when it has them.
        if (std::optional<StreamedChunk> streamed =
                stream_->take(group[i]->index, stream_deadline())) {
          if (i == 0) sink->write(stream_->header());
          write_in_slices(*sink, streamed->rows, *group[i]);
          if (i + 1 == group.size()) sink->write(stream_->trailer());
          rows[i] = streamed->count;
          hashes[i] = streamed->hash;
          sent += rows[i];
          continue;
        }
      }
      // Declared before the source, which may point into them: destroyed after it.
      std::vector<Value> params;
      const std::string sql = source_chunk_sql(src, sql_, *group[i], params);
      auto source = src.open_native_source(sql, params);
      // One stream into the target: the first chunk's header, the last chunk's trailer.
      source->set_framing(i == 0, i + 1 == group.size());
      std::string_view data;
      while (source->next(data)) {
        if (cancelled()) {
          throw Error(ErrorKind::Cancelled, fmt::format("{} cancelled", group[i]->describe()));
        }
        sink->write(data);
        progress_.add_bytes(group[i]->index, static_cast<int64_t>(data.size()));
      }
      rows[i] = source->rows();
      hashes[i] = source->row_hash();
      sent += rows[i];
    }
    check_rows_taken(table_, sent, sink->finish());
    Ledger ledger(tgt);
    for (size_t i = 0; i < group.size(); ++i) {
      ledger.record_chunk(job_id_, *group[i], rows[i], rows[i], HashKind::Bytes, hashes[i],
                          stamps[i]);
    }
  });
  return rows;
}

std::vector<int64_t> Executor::copy_group_local(const ChunkGroup& group, int attempt,
                                                const std::string& local_sql, Connection& src,
                                                Connection& tgt) {
  std::vector<int64_t> rows(group.size());
  std::vector<ChunkStamp> stamps(group.size(), ChunkStamp{"", worker_number(), attempt});
  in_write_transaction(tgt, [&] {
    std::vector<uint64_t> hashes(group.size());
    for (size_t i = 0; i < group.size(); ++i) {
      std::vector<Value> params;
      stamps[i].started_at = now_utc_millis();
      const std::string sql = source_chunk_sql(src, local_sql, *group[i], params);
      const uint32_t index = group[i]->index;
      const LocalCopyResult copied =
          tgt.copy_local(table_, out_columns_, sql, params, [&](int64_t, int64_t bytes) {
            if (cancelled()) {
              throw Error(ErrorKind::Cancelled, fmt::format("{} cancelled", group[i]->describe()));
            }
            progress_.add_bytes(index, bytes);
          });
      check_rows_taken(table_, copied.rows, copied.taken);
      rows[i] = copied.rows;
      hashes[i] = copied.hash;
    }
    Ledger ledger(tgt);
    for (size_t i = 0; i < group.size(); ++i) {
      ledger.record_chunk(job_id_, *group[i], rows[i], rows[i], HashKind::Values, hashes[i],
                          stamps[i]);
    }
  });
  return rows;
}

std::vector<int64_t> Executor::copy_group(const ChunkGroup& group, int attempt) {
  Connection& src = pool_.get_source_connection();
  Connection& tgt = pool_.get_target_connection();
  if (!snapshot_.empty()) src.import_snapshot(snapshot_);
  if (fast_path_) return copy_group_native(group, attempt, src, tgt);
  // Each worker's session attaches the source before its first chunk; one that cannot (the
  // source's file gone since the plan, say) copies typed.
  if (local_path_) {
    const AttachedSource attached = tgt.attach_source(src, sql_, table_);
    if (attached.problem.empty()) return copy_group_local(group, attempt, attached.sql, src, tgt);
  }
  const int worker = worker_number();
  const size_t batch_rows =
      static_cast<size_t>(std::min<int64_t>(config_.chunk_size, static_cast<int64_t>(kBatchRows)));
  // Where writers may overlap, a reader thread keeps one batch ahead of the writer (three
  // batches in memory: the one read, the one waiting, the one written), each at most a third
  // of the byte bound and 2 MB, which keeps both ends busy; an engine with one writer at a
  // time reads ahead under its own rules below. 2 MB rather than 4: the same speed, and four
  // workers of a 12-column typed copy peak at 76 MB instead of 111 MB.
  constexpr int64_t kBatchBytes = 2 << 20;
  const bool overlap = tgt.writer_lock() == nullptr;
  const size_t batch_bytes =
      static_cast<size_t>(std::clamp<int64_t>(config_.max_batch_bytes / 3, 1, kBatchBytes));

  // The group's rows as one stream of batches: chunk after chunk, each chunk's own query.
  std::vector<Tally> tally(group.size());
  size_t current = 0;
  // The open source's query and bound values: a driver may keep pointers into them (SQLite
  // binds text without copying), so they outlive it.
  // A chunk's rows from the one pass over the table, which its source decodes, likewise.
  std::string sql;
  std::vector<Value> params;
  std::optional<StreamedChunk> streamed;
  std::unique_ptr<RowSource> source;
  Batch batch;
  auto next = [&] {
    for (;;) {
      if (cancelled()) {
        throw Error(ErrorKind::Cancelled, fmt::format("{} cancelled", describe_group(group)));
      }
      if (!source) {
        if (current == group.size()) return false;
        params.clear();
        tally[current].started_at = now_utc_millis();
        if (stream_) {
          streamed = stream_->take(group[current]->index, stream_deadline());
          if (streamed) {
            source = src.decode_native_rows(sql_, stream_->header(), streamed->rows,
                                            batch_rows, batch_bytes);
          }
        }
        if (!source) {
          sql = source_chunk_sql(src, sql_, *group[current], params);
          source = src.open_source(sql, params, batch_rows, batch_bytes);
        }
      }
      if (source->next(batch)) break;
      // A drained source lets go of its statement (and, on SQLite, its read lock) at once,
      // and of the pass's buffer.
      source.reset();
      streamed.reset();
      ++current;
    }
    Tally& t = tally[current];
    t.read += static_cast<int64_t>(batch.num_rows());
    progress_.add_bytes(group[current]->index, static_cast<int64_t>(batch.byte_size()));
    if (opts_.transform) opts_.transform(batch);
    t.written += static_cast<int64_t>(batch.num_rows());
    t.hash += hash_rows(batch);  // the rows as written: what verify --ledger reads back
    return true;
  };
  auto record = [&](int64_t taken) {
    int64_t sent = 0;
    for (const Tally& t : tally) sent += t.written;
    check_rows_taken(table_, sent, taken);
    Ledger ledger(tgt);
    for (size_t i = 0; i < group.size(); ++i) {
      ledger.record_chunk(job_id_, *group[i], tally[i].read, tally[i].written, HashKind::Values,
                          tally[i].hash, ChunkStamp{tally[i].started_at, worker, attempt});
    }
  };

  // An engine with one writer at a time: read ahead without the lock, up to the byte
  // bound and 8 MB, so that readers overlap the writer; a larger chunk streams on under the
  // lock. (The whole bound, 32 MB a worker by default, held a 200-column table's two workers
  // at 144 MB, and reading further ahead than the writer takes gains nothing.)
  // A drained source has let go of its read lock before this worker waits for the writer
  // lock: with source and target in one SQLite file, a reader waiting for the writer would
  // block the writer's commit.
  constexpr int64_t kReadAheadBytes = 8 << 20;
  std::deque<Batch> ahead;
  bool more = true;
  if (tgt.writer_lock()) {
    const size_t limit = static_cast<size_t>(
        std::max<int64_t>(1, std::min(config_.max_batch_bytes, kReadAheadBytes) -
                                 static_cast<int64_t>(batch_bytes)));
    size_t bytes = 0;
    while (bytes < limit && (more = next())) {
      bytes += batch.byte_size();
      ahead.push_back(std::move(batch));
      batch = Batch{};
    }
  }

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
      record(sink->finish());
    });
  } else {
    in_write_transaction(tgt, [&] {
      auto sink = tgt.open_sink(table_, out_columns_);
      while (!ahead.empty()) {
        sink->write(ahead.front());
        ahead.pop_front();
      }
      while (more && next()) sink->write(batch);
      record(sink->finish());
    });
  }
  std::vector<int64_t> written;
  for (const Tally& t : tally) written.push_back(t.written);
  return written;
}

}  // namespace parmap
