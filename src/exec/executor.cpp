// The job runner: validate, plan (or load the stored plan), prepare the target, then let a
// pool of workers copy chunk after chunk, each in one target transaction with its ledger row.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "exec/ledger.h"
#include "parmap/parmap.h"
#include "plan/plan.h"

namespace parmap {
namespace {

using Clock = std::chrono::steady_clock;

/// Rows per batch handed from a source to a sink.
constexpr size_t kBatchRows = 10000;

/// Runs `fn` inside one target transaction, holding the engine's writer lock if it has one.
template <typename Fn>
void in_write_transaction(Connection& db, Fn&& fn) {
  std::unique_lock<std::mutex> guard;
  if (auto* lock = db.writer_lock()) guard = std::unique_lock(*lock);
  db.begin();
  try {
    fn();
    db.commit();
  } catch (...) {
    db.rollback();
    throw;
  }
}

bool retryable(ErrorKind kind) {
  return kind == ErrorKind::Transient || kind == ErrorKind::InDoubt || kind == ErrorKind::Connect;
}

Batch empty_batch(const TableSchema& schema) {
  Batch b;
  for (const auto& c : schema.columns) {
    Column col;
    col.name = c.name;
    col.type = c.type;
    b.columns.push_back(std::move(col));
  }
  return b;
}

TableSchema schema_of(const Batch& b, const TableSchema& source) {
  TableSchema s;
  for (const auto& c : b.columns) {
    ColumnInfo info;
    info.name = c.name;
    info.type = c.type;
    const int i = source.find(c.name);
    if (i >= 0 && source.columns[i].type == c.type)
      info.declared_type = source.columns[i].declared_type;
    s.columns.push_back(std::move(info));
  }
  return s;
}

class Executor {
 public:
  Executor(ConnectionFactory source, std::string sql, ConnectionFactory target, TableRef table,
           const ParallelOptions& options, std::string job_id)
      : pool_(source, target),
        source_factory_(std::move(source)),
        target_factory_(std::move(target)),
        sql_(std::move(sql)),
        table_(std::move(table)),
        opts_(options),
        config_(options.config),
        job_id_(std::move(job_id)) {}

  ParallelResult run();

 private:
  StoredPlan make_plan(Connection& src, const TableSchema& src_schema);
  void prepare_target(Connection& tgt, const TableSchema& out_schema, bool table_exists,
                      bool job_exists);
  void choose_path(Connection& src, Connection& tgt, const TableSchema& src_schema,
                   const std::optional<TableSchema>& target_schema);
  void worker();
  void run_chunk(const Chunk& chunk);
  /// One attempt; returns rows written.
  int64_t copy_chunk(const Chunk& chunk);
  /// One attempt on the fast path: native bytes from source to target, not decoded.
  int64_t copy_chunk_native(const Chunk& chunk, Connection& src, Connection& tgt);
  /// After a data error: reads the whole chunk again and writes it in halving slices, each
  /// under a savepoint, until the refused rows are isolated; they go to the reject file
  /// (within max_rejects) and the others commit. Returns rows written.
  int64_t copy_chunk_isolating(const Chunk& chunk);
  void write_isolating(Connection& tgt, const Chunk& chunk, const Batch& rows, size_t begin,
                       size_t end, int64_t& written, std::vector<std::string>& rejects);
  void save_rejects(const std::vector<std::string>& rejects);
  bool cancelled() const { return opts_.cancel && opts_.cancel->load(); }
  void report(const Chunk& chunk, int64_t rows, bool skipped);

  ConnectionPoolManager pool_;
  ConnectionFactory source_factory_, target_factory_;
  const std::string sql_;
  const TableRef table_;
  const ParallelOptions& opts_;
  const ParallelConfig config_;
  const std::string job_id_;

  ParallelResult result_;
  StoredPlan plan_;
  std::vector<std::string> out_columns_;
  std::string snapshot_;  ///< exported snapshot id, "" when the engine has none
  bool fast_path_ = false;
  std::vector<const Chunk*> queue_;
  std::atomic<size_t> next_{0};
  std::atomic<int64_t> rows_done_{0}, chunks_done_{0}, chunks_failed_{0}, retries_{0};
  std::atomic<int64_t> rejected_{0};  ///< rows rejected, counted against max_rejects
  std::string reject_path_;
  std::mutex reject_mu_;
  std::atomic<bool> stop_{false};
  std::mutex errors_mu_;
};

namespace {

/// Whether the query's relation really splits by blocks (a table, not a view): the driver
/// says so by answering key_stats for "ctid".
bool splits_by_blocks_of(Connection& src, const std::string& sql) {
  try {
    src.key_stats(sql, "ctid", 0);
    return true;
  } catch (const Error&) {
    return false;
  }
}

}  // namespace

StoredPlan Executor::make_plan(Connection& src, const TableSchema& src_schema) {
  StoredPlan p;
  p.source_sql = sql_;
  p.target_table = table_.display();
  p.estimated_rows = src.estimate_rows(sql_);
  std::vector<std::string> why;

  // The partition key: the job's partition_column, else the ORDER BY key, else the
  // integer primary key of a plain "SELECT * FROM table".
  std::string key;
  const QueryCheck check = check_query_splittable(sql_);
  auto resolve = [&](const std::string& name) -> std::string {
    const int i = src_schema.find(name);
    return i < 0 ? std::string() : src_schema.columns[i].name;
  };
  const auto table = simple_table_of(sql_);
  const bool blocks = table && src.capabilities().block_ranges;
  if (!opts_.partition_column.empty()) {
    if (opts_.partition_column == "ctid") {
      if (!blocks) {
        throw_config("partition_column", "ctid",
                     "a column of the source query; 'ctid' (block ranges) needs a PostgreSQL "
                     "source and a plain 'SELECT * FROM table' query");
      }
      key = "ctid";
    } else {
      key = resolve(opts_.partition_column);
    }
    if (key.empty()) {
      std::vector<std::string> names;
      for (const auto& c : src_schema.columns) names.push_back(c.name);
      throw_config("partition_column", opts_.partition_column,
                   fmt::format("a column of the source query: {}", fmt::join(names, ", ")));
    }
    why.push_back(fmt::format("partition column '{}' from the job", key));
  } else if (!check.splittable) {
    why.push_back(check.reason + "; streamed as one chunk (set partition_column to override)");
  } else {
    if (auto k = order_by_key(sql_); k && !resolve(*k).empty()) {
      key = resolve(*k);
      why.push_back(fmt::format("partition column '{}' from the query's ORDER BY", key));
    } else if (table) {
      if (auto pk = src.integer_primary_key(*table); pk && !resolve(*pk).empty()) {
        key = resolve(*pk);
        why.push_back(fmt::format("partition column '{}', the integer primary key of {}", key,
                                  table->display()));
      }
    }
    // A filter the engine cannot push into the scan would make every chunk run the whole
    // query: one stream is cheaper.
    if (!key.empty()) {
      if (auto problem = src.range_filter_problem(sql_, key)) {
        why.push_back(*problem + "; streamed as one chunk");
        key.clear();
      }
    }
    if (key.empty() && blocks && splits_by_blocks_of(src, sql_)) {
      key = "ctid";
      why.push_back(
          fmt::format("no usable key column: {} split by block ranges (ctid)", table->display()));
    } else if (key.empty() && why.empty()) {
      why.push_back(
          "no partition key (no ORDER BY column, no integer primary key, no "
          "partition_column): streamed as one chunk");
    }
  }

  const bool parallel_ok = should_use_parallel_processing(config_, p.estimated_rows);
  if (!config_.enable_parallel) {
    why.push_back("parallel processing is disabled (enable_parallel / MAPPER_PARALLEL_ENABLED)");
  } else if (config_.max_workers <= 1) {
    why.push_back("max_workers is 1");
  } else if (p.estimated_rows < config_.min_rows_for_parallel) {
    why.push_back(fmt::format("estimated {} rows < min_rows_for_parallel {}", p.estimated_rows,
                              config_.min_rows_for_parallel));
  }

  // Chunks keep a rerun's unit of work small even when one worker runs them.
  if (key.empty() || (!parallel_ok && p.estimated_rows <= config_.chunk_size)) {
    p.partition_column.clear();
    p.chunks = {whole_query_chunk()};
    p.chunks[0].estimated_rows = p.estimated_rows;
    p.parallel = false;
  } else {
    const int64_t n =
        std::max<int64_t>(1, (p.estimated_rows + config_.chunk_size - 1) / config_.chunk_size);
    const int max_sample = static_cast<int>(std::clamp<int64_t>(n * 32, 1024, 200000));
    const KeyStats stats = src.key_stats(sql_, key, max_sample);
    p.partition_column = key;
    p.chunks = plan_chunks(stats, config_.chunk_size);
    p.parallel = parallel_ok && p.chunks.size() > 1;
  }
  if (p.parallel) {
    why.insert(why.begin(), fmt::format("parallel: estimated {} rows >= min_rows_for_parallel {}",
                                        p.estimated_rows, config_.min_rows_for_parallel));
  } else {
    why.insert(why.begin(), "serial");
  }
  p.reason = fmt::format("{}", fmt::join(why, "; "));
  return p;
}

void Executor::prepare_target(Connection& tgt, const TableSchema& out_schema, bool table_exists,
                              bool job_exists) {
  Ledger ledger(tgt);
  in_write_transaction(tgt, [&] {
    ledger.ensure_tables();
    if (opts_.fresh && job_exists) ledger.forget_job(job_id_);
    if (!table_exists) tgt.create_table(table_, out_schema);
    // Truncate only when the job starts: atomically with recording it, so that a crash
    // cannot leave an emptied table that a rerun would not know about.
    if (opts_.mode == TargetMode::Truncate && (!job_exists || opts_.fresh)) {
      tgt.execute(fmt::format("DELETE FROM {}", tgt.quote_table(table_)));
    }
    if (!job_exists || opts_.fresh) ledger.insert_job(job_id_, table_.display(), plan_);
  });
}

void Executor::choose_path(Connection& src, Connection& tgt, const TableSchema& src_schema,
                           const std::optional<TableSchema>& target_schema) {
  const std::string format = src.native_format();
  std::string why;
  if (opts_.transform) {
    why = "a transformation needs the values";
  } else if (format.empty() || format != tgt.native_format()) {
    why = fmt::format("{} to {} has no shared native format", src.engine(), tgt.engine());
  } else if (target_schema) {
    auto lower = [](std::string t) {
      for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return t;
    };
    for (const auto& c : src_schema.columns) {
      const auto& t = target_schema->columns[target_schema->find(c.name)];
      if (c.declared_type.empty() || lower(c.declared_type) != lower(t.declared_type)) {
        why = fmt::format("column {} is {} in the source and {} in the target", c.name,
                          c.declared_type.empty() ? "of unknown type" : c.declared_type,
                          t.declared_type);
        break;
      }
    }
  }
  fast_path_ = why.empty();
  result_.fast_path = fast_path_;
  result_.path = fast_path_ ? fmt::format("fast path: {} bytes passed through, not decoded", format)
                            : "typed path: " + why;
}

ParallelResult Executor::run() {
  const auto t0 = Clock::now();
  result_.job_id = job_id_;

  // Everything that can be wrong with the input is found here, before any write.
  auto coord_src = source_factory_();
  auto coord_tgt = target_factory_();
  // One snapshot for planning and every chunk (decision 2); the coordinator's transaction
  // holds it open until the workers are done.
  if (auto id = coord_src->export_snapshot()) snapshot_ = *id;
  const TableSchema src_schema = coord_src->describe_query(sql_);
  Batch probe = empty_batch(src_schema);
  if (opts_.transform) opts_.transform(probe);
  const TableSchema out_schema = schema_of(probe, src_schema);
  if (out_schema.columns.empty()) {
    throw Error(ErrorKind::Config, "the source query (after the column mapping) has no columns");
  }
  for (const auto& c : out_schema.columns) out_columns_.push_back(c.name);

  const auto target_schema = coord_tgt->describe_table(table_);
  if (!target_schema && opts_.mode != TargetMode::Create) {
    throw Error(ErrorKind::Schema,
                fmt::format("target table {} does not exist (use mode 'create' to create it "
                            "from the source query's columns)",
                            table_.display()));
  }
  if (target_schema) {
    std::vector<std::string> missing;
    for (const auto& c : out_schema.columns) {
      if (target_schema->find(c.name) < 0) missing.push_back(c.name);
    }
    if (!missing.empty()) {
      std::vector<std::string> have;
      for (const auto& c : target_schema->columns) have.push_back(c.name);
      throw Error(ErrorKind::Schema,
                  fmt::format("target table {} has no column(s) {} (it has: {}); map them with "
                              "'columns' or fix the target",
                              table_.display(), fmt::join(missing, ", "), fmt::join(have, ", ")));
    }
  }

  Ledger ledger(*coord_tgt);
  const bool ledger_exists = ledger.exists();
  std::optional<StoredPlan> stored;
  std::map<uint32_t, LedgerEntry> committed;
  if (ledger_exists) {
    stored = ledger.load_plan(job_id_);
    if (stored) committed = ledger.committed(job_id_);
  }
  if (opts_.fresh && !committed.empty() && opts_.mode != TargetMode::Truncate) {
    int64_t rows = 0;
    for (const auto& [id, e] : committed) rows += e.rows;
    throw Error(
        ErrorKind::Config,
        fmt::format("--fresh: job '{}' already committed {} chunk(s), {} row(s), to {}; "
                    "starting over in mode '{}' would load them twice. Use mode "
                    "'truncate' to empty the table first, or a new --job-id",
                    job_id_, committed.size(), rows, table_.display(), to_string(opts_.mode)));
  }
  const bool resume = stored && !opts_.fresh;
  if (resume && !opts_.partition_column.empty()) {
    // The stored plan decides the chunks; a job that names another key (or one that does
    // not exist) is not the job that was started.
    const int i = src_schema.find(opts_.partition_column);
    if (opts_.partition_column != "ctid" && i < 0) {
      throw_config("partition_column", opts_.partition_column, "a column of the source query");
    }
    const std::string key = i < 0 ? opts_.partition_column : src_schema.columns[i].name;
    if (key != stored->partition_column) {
      throw Error(ErrorKind::Config,
                  fmt::format("job '{}' was planned on partition column '{}', not '{}'; rerun "
                              "without partition_column to resume it, or with --fresh to start "
                              "over",
                              job_id_, stored->partition_column, key));
    }
  }
  if (resume && (stored->source_sql != sql_ || stored->target_table != table_.display())) {
    // Skipping another query's chunks would lose rows: a job id belongs to one query.
    throw Error(
        ErrorKind::Config,
        fmt::format("job '{}' in the ledger of this target was started with another "
                    "{} ({}); rerun with --fresh to start it over, or give this job "
                    "another --job-id",
                    job_id_, stored->source_sql != sql_ ? "query" : "target table",
                    stored->source_sql != sql_ ? stored->source_sql : stored->target_table));
  }
  plan_ = resume ? *stored : make_plan(*coord_src, src_schema);
  if (!resume) committed.clear();

  result_.resumed = resume;
  result_.estimated_rows = plan_.estimated_rows;
  result_.partition_column = plan_.partition_column;
  result_.parallel = plan_.parallel;
  result_.reason = resume ? "resumed from the ledger; " + plan_.reason : plan_.reason;
  result_.chunks_planned = static_cast<int64_t>(plan_.chunks.size());
  if (snapshot_.empty()) {
    result_.snapshot = fmt::format(
        "not shared: {} cannot export a snapshot, so each chunk reads the source as of its "
        "own start",
        coord_src->engine());
  } else {
    result_.snapshot = resume ? "one snapshot shared by all workers of this run (the chunks "
                                "of the earlier run read an earlier instant)"
                              : "one snapshot shared by planning and all workers";
  }
  choose_path(*coord_src, *coord_tgt, src_schema, target_schema);
  for (const auto& c : plan_.chunks) {
    result_.chunks.push_back({c.index, c.describe(), c.estimated_rows});
    if (committed.count(c.index)) {
      ++result_.chunks_skipped;
    } else {
      queue_.push_back(&c);
    }
  }
  const int workers =
      plan_.parallel ? static_cast<int>(std::min<size_t>(config_.max_workers, queue_.size())) : 1;
  result_.workers_used = queue_.empty() ? 0 : std::max(1, workers);
  if (opts_.dry_run) {
    result_.elapsed_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    return result_;
  }

  reject_path_ = opts_.reject_file.empty() ? job_id_ + ".rejects.jsonl" : opts_.reject_file;
  prepare_target(*coord_tgt, out_schema, target_schema.has_value(), stored.has_value());
  if (snapshot_.empty()) coord_src->close();

  std::vector<std::thread> threads;
  for (int i = 0; i < result_.workers_used; ++i) threads.emplace_back([this] { worker(); });
  for (auto& t : threads) t.join();
  pool_.close_all_connections();
  coord_src->close();

  result_.total_rows_processed = rows_done_;
  result_.chunks_done = chunks_done_;
  result_.chunks_failed = chunks_failed_;
  result_.retries = retries_;
  result_.rows_rejected = rejected_;
  if (result_.rows_rejected > 0) result_.reject_file = reject_path_;
  if (result_.chunks_done + result_.chunks_skipped == result_.chunks_planned) {
    in_write_transaction(*coord_tgt, [&] { ledger.mark_finished(job_id_); });
  }
  coord_tgt->close();
  result_.elapsed_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  result_.rows_per_second =
      result_.elapsed_seconds > 0
          ? static_cast<double>(result_.total_rows_processed) / result_.elapsed_seconds
          : 0;
  if (cancelled() && result_.chunks_done + result_.chunks_skipped < result_.chunks_planned) {
    throw Error(
        ErrorKind::Cancelled,
        fmt::format("job '{}' cancelled after {} of {} chunks; rerun the same command "
                    "to resume",
                    job_id_, result_.chunks_done + result_.chunks_skipped, result_.chunks_planned));
  }
  return result_;
}

void Executor::worker() {
  for (;;) {
    if (stop_ || cancelled()) break;
    const size_t i = next_.fetch_add(1);
    if (i >= queue_.size()) break;
    run_chunk(*queue_[i]);
  }
  pool_.release_thread_connections();
}

void Executor::report(const Chunk& chunk, int64_t rows, bool skipped) {
  if (!opts_.on_progress) return;
  ProgressEvent ev{chunk.index, static_cast<uint32_t>(plan_.chunks.size()), rows, rows_done_.load(),
                   skipped};
  opts_.on_progress(ev);
}

void Executor::run_chunk(const Chunk& chunk) {
  std::mt19937_64 rng(std::hash<std::thread::id>{}(std::this_thread::get_id()) ^ chunk.index);
  bool isolate = false;  // set after a data error: find the refused rows
  for (int attempt = 0;; ++attempt) {
    try {
      if (attempt > 0) {
        // The previous attempt may have committed before its connection failed: the
        // ledger, not a blind retry, decides.
        Ledger ledger(pool_.get_target_connection());
        if (ledger.is_committed(job_id_, chunk.index)) {
          ++chunks_done_;
          report(chunk, 0, false);
          return;
        }
      }
      const int64_t rows = isolate ? copy_chunk_isolating(chunk) : copy_chunk(chunk);
      rows_done_ += rows;
      ++chunks_done_;
      report(chunk, rows, false);
      return;
    } catch (const Error& e) {
      pool_.discard_source_connection();
      pool_.discard_target_connection();
      if (e.kind() == ErrorKind::Cancelled) return;
      if (e.kind() == ErrorKind::Data && !isolate) {
        isolate = true;
        --attempt;  // not a retry: the same attempt, row by row where it must
        continue;
      }
      if (retryable(e.kind()) && attempt < config_.max_retries && !cancelled()) {
        ++retries_;
        const double base = config_.retry_backoff_ms * std::pow(2.0, attempt);
        const double capped = std::min(base, 30000.0);
        const double jitter = std::uniform_real_distribution<double>(0.5, 1.0)(rng);
        spdlog::warn("job {}, {}: {} (attempt {} of {}), retrying", job_id_, chunk.describe(),
                     e.what(), attempt + 1, config_.max_retries + 1);
        std::this_thread::sleep_for(
            std::chrono::milliseconds(static_cast<int64_t>(capped * jitter)));
        continue;
      }
      ++chunks_failed_;
      // A refused row beyond max_rejects fails the job: no more chunks are handed out.
      if (e.kind() == ErrorKind::Data) stop_ = true;
      const std::string line = fmt::format("job {}, {}, table {}: {}", job_id_, chunk.describe(),
                                           table_.display(), e.what());
      spdlog::error("{}", line);
      std::lock_guard lock(errors_mu_);
      result_.errors.push_back(line);
      return;
    } catch (const std::exception& e) {
      pool_.discard_source_connection();
      pool_.discard_target_connection();
      ++chunks_failed_;
      const std::string line = fmt::format("job {}, {}, table {}: internal error: {}", job_id_,
                                           chunk.describe(), table_.display(), e.what());
      spdlog::error("{}", line);
      std::lock_guard lock(errors_mu_);
      result_.errors.push_back(line);
      return;
    }
  }
}

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

namespace {

/// Rows [begin, end) of a batch.
Batch slice(const Batch& rows, size_t begin, size_t end) {
  Batch out = rows;
  std::vector<uint8_t> keep(rows.num_rows(), 0);
  std::fill(keep.begin() + static_cast<std::ptrdiff_t>(begin),
            keep.begin() + static_cast<std::ptrdiff_t>(end), 1);
  out.filter(keep);
  return out;
}

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

void Executor::write_isolating(Connection& tgt, const Chunk& chunk, const Batch& rows, size_t begin,
                               size_t end, int64_t& written, std::vector<std::string>& rejects) {
  if (begin >= end) return;
  tgt.execute("SAVEPOINT parmap_rows");
  try {
    Batch part = slice(rows, begin, end);
    if (opts_.transform) opts_.transform(part);
    auto sink = tgt.open_sink(table_, out_columns_);
    sink->write(part);
    written += sink->finish();
    tgt.execute("RELEASE SAVEPOINT parmap_rows");
    return;
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::Data) throw;
    tgt.execute("ROLLBACK TO SAVEPOINT parmap_rows");
    tgt.execute("RELEASE SAVEPOINT parmap_rows");
    if (end - begin > 1) {
      const size_t mid = begin + (end - begin) / 2;
      write_isolating(tgt, chunk, rows, begin, mid, written, rejects);
      write_isolating(tgt, chunk, rows, mid, end, written, rejects);
      return;
    }
    nlohmann::json row = nlohmann::json::object();
    for (const auto& c : rows.columns) row[c.name] = value_json(c.get(begin));
    nlohmann::json line{{"job", job_id_},
                        {"chunk", chunk.index},
                        {"bounds", chunk.describe()},
                        {"table", table_.display()},
                        {"row", row},
                        {"error", mask_password(e.what())}};
    if (rejected_.fetch_add(1) + 1 > config_.max_rejects) {
      rejected_ -= 1;
      throw Error(ErrorKind::Data,
                  fmt::format("the target refused the row {}: {} (max_rejects is {}; raise it to "
                              "send such rows to the reject file)",
                              row.dump(), e.what(), config_.max_rejects),
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

int64_t Executor::copy_chunk_isolating(const Chunk& chunk) {
  Connection& src = pool_.get_source_connection();
  Connection& tgt = pool_.get_target_connection();
  if (!snapshot_.empty()) src.import_snapshot(snapshot_);
  std::vector<Value> params;
  const std::string sql = src.chunk_query(sql_, chunk, params);
  const size_t batch_rows =
      static_cast<size_t>(std::min<int64_t>(config_.chunk_size, static_cast<int64_t>(kBatchRows)));
  // The whole chunk in memory: isolating rows re-writes slices of it. Only chunks that
  // hit a refused row come here.
  auto source = src.open_source(sql, params, batch_rows, config_.max_batch_bytes);
  std::vector<Batch> batches;
  uint64_t hash = 0;
  int64_t rows_read = 0;
  for (Batch b; source->next(b); b = Batch{}) {
    hash += hash_rows(b);
    rows_read += static_cast<int64_t>(b.num_rows());
    batches.push_back(std::move(b));
  }
  source.reset();

  int64_t written = 0;
  std::vector<std::string> rejects;
  try {
    in_write_transaction(tgt, [&] {
      for (const Batch& b : batches) {
        write_isolating(tgt, chunk, b, 0, b.num_rows(), written, rejects);
      }
      Ledger(tgt).record_chunk(job_id_, chunk, rows_read, written, HashKind::Values, hash);
    });
  } catch (...) {
    rejected_ -= static_cast<int64_t>(rejects.size());  // nothing of this attempt stands
    throw;
  }
  save_rejects(rejects);
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
  auto source = src.open_source(sql, params, batch_rows, config_.max_batch_bytes);

  uint64_t hash = 0;
  int64_t rows_read = 0;
  Batch batch;
  auto next = [&] {
    if (cancelled()) {
      throw Error(ErrorKind::Cancelled, fmt::format("{} cancelled", chunk.describe()));
    }
    if (!source->next(batch)) return false;
    hash += hash_rows(batch);
    rows_read += static_cast<int64_t>(batch.num_rows());
    if (opts_.transform) opts_.transform(batch);
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

}  // namespace

const char* to_string(TargetMode mode) {
  switch (mode) {
    case TargetMode::Append:
      return "append";
    case TargetMode::Truncate:
      return "truncate";
    case TargetMode::Create:
      return "create";
  }
  return "?";
}

TargetMode target_mode_from_string(std::string_view text) {
  std::string t(text);
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::tolower(c); });
  if (t == "append") return TargetMode::Append;
  if (t == "truncate") return TargetMode::Truncate;
  if (t == "create") return TargetMode::Create;
  throw_config("mode", std::string(text), "append, truncate or create");
}

std::string derive_job_id(const std::string& source_url, const std::string& source_sql,
                          const std::string& target_url, const std::string& target_table) {
  const std::vector<Value> parts{mask_password(source_url), source_sql, mask_password(target_url),
                                 target_table};
  return fmt::format("job-{:012x}", hash_row(parts) & 0xffffffffffffULL);
}

ParallelResult execute_query_parallel(ConnectionFactory source, const std::string& source_sql,
                                      ConnectionFactory target, const std::string& target_schema,
                                      const std::string& target_table,
                                      const ParallelOptions& options) {
  if (source_sql.find_first_not_of(" \t\r\n") == std::string::npos) {
    throw_config("query", source_sql, "a SELECT statement or a table name");
  }
  if (target_table.empty()) throw_config("target_table", target_table, "a table name");
  if (options.config.chunk_size <= 0) {
    throw_config("chunk_size", std::to_string(options.config.chunk_size), "a whole number >= 1");
  }
  // spdlog builds its registry on first use; do that here, not racing in the workers.
  spdlog::default_logger_raw();
  TableRef table{target_schema, target_table};
  std::string job_id =
      options.job_id.empty() ? derive_job_id("", source_sql, "", table.display()) : options.job_id;
  Executor ex(std::move(source), source_sql, std::move(target), std::move(table), options,
              std::move(job_id));
  return ex.run();
}

ParallelResult execute_query_parallel(const std::string& source_url, const std::string& source_sql,
                                      const std::string& target_url,
                                      const std::string& target_schema,
                                      const std::string& target_table,
                                      const ParallelOptions& options) {
  ParallelOptions opts = options;
  if (opts.job_id.empty()) {
    opts.job_id = derive_job_id(source_url, source_sql, target_url,
                                TableRef{target_schema, target_table}.display());
  }
  return execute_query_parallel(connection_factory(source_url), source_sql,
                                connection_factory(target_url), target_schema, target_table, opts);
}

ParallelResult ParallelProcessor::execute(const std::string& source_url,
                                          const std::string& source_sql,
                                          const std::string& target_url,
                                          const std::string& target_schema,
                                          const std::string& target_table,
                                          ParallelOptions options) const {
  options.config = config_;
  return execute_query_parallel(source_url, source_sql, target_url, target_schema, target_table,
                                options);
}

std::unique_ptr<ParallelProcessor> create_parallel_processor(const ParamMap& params) {
  return std::make_unique<ParallelProcessor>(get_parallel_config_from_params(params));
}

}  // namespace parmap
