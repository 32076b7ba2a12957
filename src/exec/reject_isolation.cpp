// Reject isolation: after a data error, a chunk is written again in halving slices under
// savepoints until the refused rows are found; they go to the reject file.
#include <fstream>
#include <nlohmann/json.hpp>

#include "exec/executor.h"

namespace parmap {

namespace {

/// The savepoint around each slice written while isolating refused rows.
constexpr std::string_view kRowsSavepoint = "parmap_rows";

nlohmann::json value_json(const Value& v) {
  if (v.is_null()) return nullptr;
  if (v.is_int()) return v.as_int();
  if (v.is_double()) {
    return std::isfinite(v.as_double()) ? nlohmann::json(v.as_double())
                                        : nlohmann::json(v.to_display());
  }
  if (v.is_text()) return v.as_text();
  return v.to_display();  // blob: x'..' hex
}

}  // namespace

void Executor::write_isolating(const Connection& src, Connection& tgt, const Chunk& chunk,
                               const Batch& rows, size_t begin, size_t end, int64_t& written,
                               uint64_t& hash,
                               std::vector<std::string>& rejects) {
  if (begin >= end) return;
  tgt.savepoint(kRowsSavepoint);
  try {
    Batch part = rows.slice(begin, end);
    if (opts_.transform) opts_.transform(part);
    auto sink = tgt.open_sink(table_, out_columns_);
    sink->write(part);
    const int64_t taken = sink->finish();
    check_rows_taken(table_, static_cast<int64_t>(part.num_rows()), taken);
    written += taken;
    tgt.release_savepoint(kRowsSavepoint);
    hash += hash_rows(part);
    return;
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::Data) throw;
    tgt.rollback_to_savepoint(kRowsSavepoint);
    tgt.release_savepoint(kRowsSavepoint);
    if (end - begin > 1) {
      const size_t mid = begin + (end - begin) / 2;
      write_isolating(src, tgt, chunk, rows, begin, mid, written, hash, rejects);
      write_isolating(src, tgt, chunk, rows, mid, end, written, hash, rejects);
      return;
    }
    nlohmann::json row = nlohmann::json::object();
    std::string error = mask_password(e.what());
    for (const auto& c : rows.columns) {
      const Value v = c.get(begin);
      row[c.name] = value_json(v);
      if (const std::string hint = src.refused_value_hint(v); !hint.empty()) {
        error += fmt::format(" (column {}: {})", c.name, hint);
      }
    }
    nlohmann::json line{{"job", job_id_},
                        {"chunk", chunk.index},
                        {"bounds", chunk.describe()},
                        {"table", table_.display()},
                        {"row", row},
                        {"error", error}};
    if (rejected_.fetch_add(1) + 1 > config_.max_rejects) {
      rejected_ -= 1;
      throw Error(ErrorKind::Data,
                  fmt::format("the target refused the row {}: {} (max_rejects is {}; raise it to "
                              "send such rows to the reject file)",
                              row.dump(), error, config_.max_rejects),
                  e.native_code(), e.context());
    }
    rejects.push_back(line.dump());
  }
}

void Executor::save_rejects(const std::vector<std::string>& rejects) {
  if (rejects.empty()) return;
  std::lock_guard lock(reject_mu_);
  std::ofstream out(reject_path_, std::ios::app);
  for (const auto& r : rejects) out << r << '\n';
  out.flush();
  if (!out) {
    spdlog::error("job {}: cannot write {} rejected row(s) to {}", job_id_, rejects.size(),
                  reject_path_);
  }
}

int64_t Executor::copy_chunk_isolating(const Chunk& chunk, int attempt) {
  const ChunkStamp stamp{now_utc_millis(), worker_number(), attempt};
  Connection& src = pool_.get_source_connection();
  Connection& tgt = pool_.get_target_connection();
  if (!snapshot_.empty()) src.import_snapshot(snapshot_);
  std::vector<Value> params;
  const std::string sql = source_chunk_sql(src, sql_, chunk, params);
  const size_t batch_rows =
      static_cast<size_t>(std::min<int64_t>(config_.chunk_size, static_cast<int64_t>(kBatchRows)));
  // The whole chunk in memory: isolating rows re-writes slices of it. Only chunks that
  // hit a refused row come here.
  auto source = src.open_source(sql, params, batch_rows, config_.max_batch_bytes);
  std::vector<Batch> batches;
  uint64_t hash = 0;
  int64_t rows_read = 0;
  for (Batch b; source->next(b); b = Batch{}) {
    rows_read += static_cast<int64_t>(b.num_rows());
    batches.push_back(std::move(b));
  }
  source.reset();

  int64_t written = 0;
  std::vector<std::string> rejects;
  try {
    in_write_transaction(tgt, [&] {
      for (const Batch& b : batches) {
        write_isolating(src, tgt, chunk, b, 0, b.num_rows(), written, hash, rejects);
      }
      Ledger(tgt).record_chunk(job_id_, chunk, rows_read, written, HashKind::Values, hash, stamp);
    });
  } catch (...) {
    rejected_ -= static_cast<int64_t>(rejects.size());  // nothing of this attempt stands
    throw;
  }
  save_rejects(rejects);
  return written;
}

}  // namespace parmap
