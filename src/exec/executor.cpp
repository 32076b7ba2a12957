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
#include <set>
#include <thread>

#include "exec/ledger.h"
#include "exec/plan_probe.h"
#include "exec/watchdog.h"
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

/// How long to wait before retry number `attempt` (0-based): exponential from
/// retry_backoff_ms, capped at 30 s, with jitter (50-100%) so that workers do not retry in step.
std::chrono::milliseconds backoff_delay(const ParallelConfig& config, int attempt,
                                        std::mt19937_64& rng) {
  const double base = config.retry_backoff_ms * std::pow(2.0, attempt);
  const double capped = std::min(base, 30000.0);
  const double jitter = std::uniform_real_distribution<double>(0.5, 1.0)(rng);
  return std::chrono::milliseconds(static_cast<int64_t>(capped * jitter));
}

bool retryable(ErrorKind kind) {
  return kind == ErrorKind::Transient || kind == ErrorKind::InDoubt ||
         kind == ErrorKind::Connect || kind == ErrorKind::Timeout;
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

  /// The job id: given, or derived once the coordinator's sessions say which databases they
  /// are on (derive_job_id).
  const std::string& job_id() const { return job_id_; }

  ParallelResult run();
  /// Compares source (or ledger) and target range by range; see verify_query_parallel.
  VerifyResult verify(bool against_ledger);

 private:
  StoredPlan make_plan(Connection& src, const TableSchema& src_schema);
  /// In one target transaction: the ledger tables, the table (mode create), and for a new run
  /// the truncation (mode truncate) with the run's record, so that neither exists without
  /// the other.
  void prepare_target(Connection& tgt, const TableSchema& out_schema, bool table_exists);
  /// Runs one phase of the run that is not a chunk (`what`: "planning", "recording the job
  /// as finished") with the policy chunks get: `attempt(n)` is called again after a transient
  /// error, a server-side timeout or a lost connection, up to max_retries, with backoff.
  /// `attempt` opens its own sessions and runs under the watchdog.
  template <typename Fn>
  void with_retries(const std::string& what, Fn&& attempt);
  /// Forgets what an abandoned attempt at planning found, before the next attempt.
  void reset_plan();
  /// Takes the job's lock on the coordinator's target session, or refuses.
  void lock_job();
  /// Stamps the job finished in the ledger, on a new session when the coordinator's died.
  void mark_finished();
  /// Rows and ledger-form hash ("v:<hex>", or "b:<hex>" when `bytes`) of one range of the
  /// target table, read back.
  std::pair<int64_t, std::string> sum_target(Connection& tgt, const Chunk& chunk, bool bytes);
  /// Rows and "v:<hex>" hash of one range of the source query, transformed as when written.
  std::pair<int64_t, std::string> sum_source(Connection& src, const Chunk& chunk);
  /// On the coordinator's open sessions (coord_src_, coord_tgt_): checks the input, loads or
  /// makes the plan and fills the queue of chunks still to do. Writes nothing.
  void prepare();
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
                       size_t end, int64_t& written, uint64_t& hash,
                       std::vector<std::string>& rejects);
  void save_rejects(const std::vector<std::string>& rejects);
  bool cancelled() const { return opts_.cancel && opts_.cancel->load(); }
  void report(const Chunk& chunk, int64_t rows, bool skipped);

  ConnectionPoolManager pool_;
  ConnectionFactory source_factory_, target_factory_;
  const std::string sql_;
  const TableRef table_;
  const ParallelOptions& opts_;
  const ParallelConfig config_;
  std::string job_id_;  ///< set before prepare() returns
  int64_t run_no_ = 1;  ///< the run this invocation resumes or starts
  bool verifying_ = false;  ///< verify(): the plan is the last run's, finished or not
  bool new_run_ = true; ///< false: resuming an unfinished run
  std::optional<JobRecord> job_;  ///< the ledger's record of this job

  std::unique_ptr<Connection> coord_src_, coord_tgt_;  ///< the coordinator's sessions
  TableSchema out_schema_;                  ///< the columns written, in order
  std::optional<TableSchema> target_schema_;  ///< nullopt: the table does not exist yet
  std::optional<StoredPlan> stored_;        ///< the ledger's plan of this job
  std::map<uint32_t, LedgerEntry> committed_;

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
  std::mutex done_mu_;
  std::set<uint32_t> done_;  ///< chunks committed by this invocation, under done_mu_
  /// Bounds each chunk attempt (chunk_timeout_s). Declared last: destroyed (its thread
  /// joined) before the connections it may interrupt.
  Watchdog watchdog_{std::chrono::seconds(config_.chunk_timeout_s)};
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
    // A key the engine cannot order or compare (json, point) cannot be cut into ranges.
    if (key != "ctid") {
      if (auto problem = src.range_filter_problem(sql_, key)) {
        why.push_back(*problem);
        key.clear();
        if (blocks && splits_by_blocks_of(src, sql_)) {
          key = "ctid";
          why.push_back(fmt::format("{} split by block ranges (ctid) instead", table->display()));
        } else {
          why.push_back("streamed as one chunk");
        }
      }
    }
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

  // An estimate that says "small" can be far too low (a join, a view, stale statistics):
  // there a bounded count of the real rows decides.
  int64_t rows = p.estimated_rows;
  if (!key.empty() && key != "ctid") {
    const int64_t enough = config_.enable_parallel && config_.max_workers > 1
                               ? std::max(config_.chunk_size, config_.min_rows_for_parallel)
                               : config_.chunk_size;
    if (rows <= enough) {
      const int64_t counted = count_rows_upto(src, sql_, nullptr, enough + 1);
      if (counted > rows) {
        why.push_back(fmt::format("estimated {} rows, but counted {}{}", rows,
                                  counted > enough ? "more than " : "", std::min(counted, enough)));
        rows = counted;
      }
    }
  }
  const bool parallel_ok = should_use_parallel_processing(config_, rows);
  if (!config_.enable_parallel) {
    why.push_back("parallel processing is disabled (enable_parallel / MAPPER_PARALLEL_ENABLED)");
  } else if (config_.max_workers <= 1) {
    why.push_back("max_workers is 1");
  } else if (rows < config_.min_rows_for_parallel) {
    why.push_back(fmt::format("{} {} rows < min_rows_for_parallel {}",
                              rows == p.estimated_rows ? "estimated" : "counted", rows,
                              config_.min_rows_for_parallel));
  }

  // Chunks keep a rerun's unit of work small even when one worker runs them.
  if (key.empty() || (!parallel_ok && rows <= config_.chunk_size)) {
    p.partition_column.clear();
    p.chunks = {whole_query_chunk()};
    p.chunks[0].estimated_rows = rows;
    p.parallel = false;
  } else {
    const int64_t n = std::max<int64_t>(1, (rows + config_.chunk_size - 1) / config_.chunk_size);
    const int max_sample = static_cast<int>(std::clamp<int64_t>(n * 32, 1024, 200000));
    KeyStats stats = src.key_stats(sql_, key, max_sample);
    stats.rows = std::max(stats.rows, rows - stats.null_rows);
    p.partition_column = key;
    p.chunks = plan_chunks(stats, config_.chunk_size);
    // The estimate cut the chunks; the real rows decide their final size.
    PlanProbe probe(src, sql_, config_.chunk_size);
    p.chunks = probe.fit(std::move(p.chunks), !stats.sample.empty());
    if (const std::string probed = probe.summary(); !probed.empty()) why.push_back(probed);
    p.parallel = parallel_ok && p.chunks.size() > 1;
    // Chunks cut by physical position stay exact on resume only while no row moves: remember
    // where the rows were, so that a resume can tell.
    const bool by_position =
        key == "ctid" || std::any_of(p.chunks.begin(), p.chunks.end(),
                                     [](const Chunk& c) { return c.slice.has_value(); });
    if (by_position) p.position_token = src.position_token(sql_);
  }
  if (p.parallel) {
    why.insert(why.begin(), fmt::format("parallel: {} {} rows >= min_rows_for_parallel {}",
                                        rows == p.estimated_rows ? "estimated" : "counted at least",
                                        rows, config_.min_rows_for_parallel));
  } else {
    why.insert(why.begin(), "serial");
  }
  p.reason = fmt::format("{}", fmt::join(why, "; "));
  return p;
}

void Executor::prepare_target(Connection& tgt, const TableSchema& out_schema, bool table_exists) {
  Ledger ledger(tgt);
  in_write_transaction(tgt, [&] {
    ledger.ensure_tables();
    if (!table_exists) tgt.create_table(table_, out_schema);
    // Truncate only when a run starts: atomically with recording it, so that a crash cannot
    // leave an emptied table that a rerun would not know about, nor a resumed run empty the
    // chunks it already committed.
    if (new_run_ && opts_.mode == TargetMode::Truncate) {
      tgt.execute(fmt::format("DELETE FROM {}", tgt.quote_table(table_)));
    }
    if (new_run_) ledger.start_run(job_id_, table_.display(), plan_, run_no_, to_string(opts_.mode));
  });
}

template <typename Fn>
void Executor::with_retries(const std::string& what, Fn&& attempt) {
  std::mt19937_64 rng(std::hash<std::string>{}(what) ^
                      static_cast<uint64_t>(Clock::now().time_since_epoch().count()));
  for (int n = 0;; ++n) {
    try {
      attempt(n);
      return;
    } catch (const Error& e) {
      if (!retryable(e.kind()) || n >= config_.max_retries || cancelled()) throw;
      ++retries_;
      spdlog::warn("job {}: {}: {} (attempt {} of {}), retrying on new connections",
                   job_id_.empty() ? "(new)" : job_id_, what, e.what(), n + 1,
                   config_.max_retries + 1);
      std::this_thread::sleep_for(backoff_delay(config_, n, rng));
    }
  }
}

void Executor::reset_plan() {
  if (coord_src_) coord_src_->close();
  if (coord_tgt_) coord_tgt_->close();
  out_schema_ = TableSchema{};
  target_schema_.reset();
  stored_.reset();
  job_.reset();
  committed_.clear();
  const int64_t retries = result_.retries;
  result_ = ParallelResult{};
  result_.retries = retries;
  plan_ = StoredPlan{};
  out_columns_.clear();
  snapshot_.clear();
  fast_path_ = false;
  queue_.clear();
  new_run_ = true;
  run_no_ = 1;
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

void Executor::mark_finished() {
  // Every chunk is committed; only the run's finished stamp is left. The coordinator's
  // session may have died during the run (a restarted server): a new one, with the retries a
  // chunk gets, rather than failing a complete job. Its lock went with the old session, so
  // this stamp is all that the new one writes; stamping twice (a commit in doubt) is harmless.
  with_retries("recording the run as finished", [&](int attempt) {
    if (attempt > 0) {
      coord_tgt_->close();
      coord_tgt_ = target_factory_();
    }
    bool interrupted = false;
    watchdog_.guard("recording the run as finished", {coord_tgt_.get()}, interrupted, [&] {
      in_write_transaction(*coord_tgt_,
                           [&] { Ledger(*coord_tgt_).mark_finished(job_id_, run_no_); });
    });
  });
}

void Executor::lock_job() {
  // One run of a job at a time on a target: a second one would load its chunks twice.
  if (!coord_tgt_->try_lock_job(job_lock_key(job_id_, table_.display()))) {
    throw Error(ErrorKind::Config,
                fmt::format("job '{}' is already running into {} (another parmap process holds "
                            "its lock on the target); wait for it to end, or stop it: a rerun "
                            "resumes where it stopped",
                            job_id_, table_.display()));
  }
}

void Executor::prepare() {
  // Everything that can be wrong with the input is found here, before any write.
  if (job_id_.empty()) {
    job_id_ = derive_job_id(coord_src_->identity(), sql_, coord_tgt_->identity(),
                            table_.display(), opts_.mode);
  }
  result_.job_id = job_id_;
  if (!opts_.dry_run) lock_job();
  // One snapshot for planning and every chunk (decision 2); the coordinator's transaction
  // holds it open until the workers are done.
  if (auto id = coord_src_->export_snapshot()) snapshot_ = *id;
  const TableSchema src_schema = coord_src_->describe_query(sql_);
  Batch probe = empty_batch(src_schema);
  if (opts_.transform) opts_.transform(probe);
  out_schema_ = schema_of(probe, src_schema);
  const TableSchema& out_schema = out_schema_;
  if (out_schema.columns.empty()) {
    throw Error(ErrorKind::Config, "the source query (after the column mapping) has no columns");
  }
  for (const auto& c : out_schema.columns) out_columns_.push_back(c.name);

  target_schema_ = coord_tgt_->describe_table(table_);
  const auto& target_schema = target_schema_;
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

  Ledger ledger(*coord_tgt_);
  auto& stored = stored_;
  auto& committed = committed_;
  if (ledger.exists()) job_ = ledger.load_job(job_id_);
  // A run that did not finish is resumed; after a finished one, a new run starts with the
  // mode's meaning (truncate empties and reloads, append appends).
  const bool unfinished = job_ && !job_->finished;
  if (job_) stored = job_->plan;
  if (job_) committed = ledger.committed(job_id_);
  if (opts_.fresh && unfinished && !committed.empty() && opts_.mode != TargetMode::Truncate) {
    int64_t rows = 0;
    for (const auto& [id, e] : committed) rows += e.rows;
    throw Error(
        ErrorKind::Config,
        fmt::format("--fresh: job '{}' already committed {} chunk(s), {} row(s), to {}; "
                    "starting over in mode '{}' would load them twice. Use mode "
                    "'truncate' to empty the table first, or a new --job-id",
                    job_id_, committed.size(), rows, table_.display(), to_string(opts_.mode)));
  }
  // verify compares the last run's chunks, finished or not.
  bool resume = job_ && !opts_.fresh && (unfinished || verifying_);
  if (resume && !verifying_ && !committed.empty() && !stored->position_token.empty()) {
    // Committed chunks were cut by physical position under an earlier snapshot: a row moved
    // since (UPDATE, VACUUM FULL) would be copied twice or never.
    if (auto moved = coord_src_->positions_moved(sql_, stored->position_token)) {
      if (opts_.mode != TargetMode::Truncate) {
        throw Error(ErrorKind::Config,
                    fmt::format("job '{}' cannot resume run {}: its chunks are cut by physical "
                                "position ({}) and {}; resuming would copy moved rows twice or "
                                "never. Rerun with --fresh --mode truncate to reload the table, "
                                "or give the job a key column (partition_column)",
                                job_id_, job_->run, stored->partition_column, *moved));
      }
      spdlog::warn("job {}: run {} is not resumed but started over (mode truncate): {}", job_id_,
                   job_->run, *moved);
      resume = false;
      committed.clear();
    }
  }
  new_run_ = !resume;
  run_no_ = !job_ ? 1 : resume ? job_->run : job_->run + 1;
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
  plan_ = resume ? *stored : make_plan(*coord_src_, src_schema);
  if (!resume) plan_.columns = out_columns_;
  if (!resume) committed.clear();

  result_.resumed = resume;
  result_.run = run_no_;
  result_.estimated_rows = plan_.estimated_rows;
  result_.partition_column = plan_.partition_column;
  result_.parallel = plan_.parallel;
  result_.reason = resume ? fmt::format("resumed run {} from the ledger; {}", run_no_, plan_.reason)
                          : plan_.reason;
  result_.chunks_planned = static_cast<int64_t>(plan_.chunks.size());
  if (snapshot_.empty()) {
    result_.snapshot = fmt::format(
        "not shared: {} cannot export a snapshot, so each chunk reads the source as of its "
        "own start",
        coord_src_->engine());
  } else {
    result_.snapshot = resume ? "one snapshot shared by all workers of this run (the chunks "
                                "of the earlier run read an earlier instant)"
                              : "one snapshot shared by planning and all workers";
  }
  choose_path(*coord_src_, *coord_tgt_, src_schema, target_schema);
  for (const auto& c : plan_.chunks) {
    result_.chunks.push_back({c.index, c.describe(), c.estimated_rows});
    if (committed.count(c.index)) {
      ++result_.chunks_skipped;
    } else {
      queue_.push_back(&c);
    }
  }
}

ParallelResult Executor::run() {
  const auto t0 = Clock::now();
  // Planning, the snapshot export and the target's preparation: one unit, retried from the
  // start on new sessions (a preparation whose commit was in doubt is found in the ledger by
  // the next attempt, which then resumes the run it started).
  with_retries("planning", [&](int attempt) {
    if (attempt > 0) reset_plan();
    bool interrupted = false;
    auto plan_and_prepare = [&] {
      prepare();
      if (!opts_.dry_run) {
        prepare_target(*coord_tgt_, out_schema_, target_schema_.has_value());
      }
    };
    // Connecting has its own limit (connect_timeout); the watchdog bounds what follows.
    coord_src_ = source_factory_();
    coord_tgt_ = target_factory_();
    watchdog_.guard("planning", {coord_src_.get(), coord_tgt_.get()}, interrupted,
                    plan_and_prepare);
    if (interrupted) {
      // It finished just as the limit passed: its sessions (the snapshot's) are spent.
      throw watchdog_.timeout_error("planning", nullptr);
    }
  });
  const int workers =
      plan_.parallel ? static_cast<int>(std::min<size_t>(config_.max_workers, queue_.size())) : 1;
  result_.workers_used = queue_.empty() ? 0 : std::max(1, workers);
  if (opts_.dry_run) {
    result_.elapsed_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    return result_;
  }

  reject_path_ = opts_.reject_file.empty() ? job_id_ + ".rejects.jsonl" : opts_.reject_file;
  if (snapshot_.empty()) coord_src_->close();

  std::vector<std::thread> threads;
  for (int i = 0; i < result_.workers_used; ++i) threads.emplace_back([this] { worker(); });
  for (auto& t : threads) t.join();
  pool_.close_all_connections();
  coord_src_->close();

  result_.total_rows_processed = rows_done_;
  result_.chunks_done = chunks_done_;
  result_.chunks_failed = chunks_failed_;
  result_.rows_rejected = rejected_;
  if (result_.rows_rejected > 0) result_.reject_file = reject_path_;
  // Success is complete: every planned chunk committed (now or by an earlier invocation of
  // this run) and the run stamped finished. Anything else names what is missing.
  {
    std::lock_guard lock(done_mu_);
    for (const Chunk* c : queue_) {
      if (!done_.count(c->index)) result_.unfinished_chunks.push_back(c->index);
    }
  }
  const bool complete = result_.unfinished_chunks.empty() &&
                        result_.chunks_done + result_.chunks_skipped == result_.chunks_planned;
  if (cancelled() && !complete) {
    coord_tgt_->close();
    throw Error(
        ErrorKind::Cancelled,
        fmt::format("job '{}' cancelled after {} of {} chunks; rerun the same command "
                    "to resume",
                    job_id_, result_.chunks_done + result_.chunks_skipped, result_.chunks_planned));
  }
  if (complete) {
    mark_finished();
    result_.finished = true;
  } else if (result_.errors.empty()) {
    // Not one chunk said why (this would be a bug): the run still must not pass as complete.
    result_.errors.push_back(fmt::format(
        "job {}: {} of {} chunks did not finish and reported no error", job_id_,
        result_.unfinished_chunks.size(), result_.chunks_planned));
  }
  result_.retries = retries_;
  coord_tgt_->close();
  result_.elapsed_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  result_.rows_per_second =
      result_.elapsed_seconds > 0
          ? static_cast<double>(result_.total_rows_processed) / result_.elapsed_seconds
          : 0;
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
      // Under the watchdog: past chunk_timeout_s the attempt's connections are interrupted
      // and it fails as Transient. When guard() is done the watchdog has let go of them, so
      // the handlers below may discard them.
      auto copy = [&]() -> int64_t {
        if (attempt > 0 || isolate) {
          // The previous attempt may have committed before its connection failed: the
          // ledger, not a blind retry, decides. That includes a "data error" that is the
          // ledger's own unique key refusing a second commit of this chunk.
          Ledger ledger(pool_.get_target_connection());
          if (auto rows = ledger.committed_rows(job_id_, chunk.index)) return *rows;
        }
        return isolate ? copy_chunk_isolating(chunk) : copy_chunk(chunk);
      };
      Connection& src = pool_.get_source_connection();
      Connection& tgt = pool_.get_target_connection();
      bool interrupted = false;
      const int64_t rows = watchdog_.guard(chunk, {&src, &tgt}, interrupted, copy);
      if (interrupted) {
        // It finished just as the limit passed: the work stands, the connections are spent.
        pool_.discard_source_connection();
        pool_.discard_target_connection();
      }
      rows_done_ += rows;
      ++chunks_done_;
      {
        std::lock_guard lock(done_mu_);
        done_.insert(chunk.index);
      }
      report(chunk, rows, false);
      return;
    } catch (const Error& e) {
      pool_.discard_source_connection();
      pool_.discard_target_connection();
      // Only the user's own cancel ends a chunk quietly (the run then reports the cancel);
      // any other Cancelled is a failure like the rest.
      if (e.kind() == ErrorKind::Cancelled && cancelled()) return;
      if (e.kind() == ErrorKind::Data && !isolate) {
        isolate = true;
        --attempt;  // not a retry: the same attempt, row by row where it must
        continue;
      }
      if (retryable(e.kind()) && attempt < config_.max_retries && !cancelled()) {
        ++retries_;
        spdlog::warn("job {}, {}: {} (attempt {} of {}), retrying", job_id_, chunk.describe(),
                     e.what(), attempt + 1, config_.max_retries + 1);
        std::this_thread::sleep_for(backoff_delay(config_, attempt, rng));
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
                               size_t end, int64_t& written, uint64_t& hash,
                               std::vector<std::string>& rejects) {
  if (begin >= end) return;
  tgt.execute("SAVEPOINT parmap_rows");
  try {
    Batch part = slice(rows, begin, end);
    if (opts_.transform) opts_.transform(part);
    auto sink = tgt.open_sink(table_, out_columns_);
    sink->write(part);
    written += sink->finish();
    tgt.execute("RELEASE SAVEPOINT parmap_rows");
    hash += hash_rows(part);
    return;
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::Data) throw;
    tgt.execute("ROLLBACK TO SAVEPOINT parmap_rows");
    tgt.execute("RELEASE SAVEPOINT parmap_rows");
    if (end - begin > 1) {
      const size_t mid = begin + (end - begin) / 2;
      write_isolating(tgt, chunk, rows, begin, mid, written, hash, rejects);
      write_isolating(tgt, chunk, rows, mid, end, written, hash, rejects);
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
    rows_read += static_cast<int64_t>(b.num_rows());
    batches.push_back(std::move(b));
  }
  source.reset();

  int64_t written = 0;
  std::vector<std::string> rejects;
  try {
    in_write_transaction(tgt, [&] {
      for (const Batch& b : batches) {
        write_isolating(tgt, chunk, b, 0, b.num_rows(), written, hash, rejects);
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
    rows_read += static_cast<int64_t>(batch.num_rows());
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


std::pair<int64_t, std::string> Executor::sum_target(Connection& tgt, const Chunk& chunk,
                                                     bool bytes) {
  std::vector<std::string> cols;
  for (const auto& c : out_columns_) cols.push_back(tgt.quote_identifier(c));
  const std::string table_sql =
      fmt::format("SELECT {} FROM {}", fmt::join(cols, ", "), tgt.quote_table(table_));
  std::vector<Value> params;
  const std::string sql = tgt.chunk_query(table_sql, chunk, params);
  if (bytes) {
    auto source = tgt.open_native_source(sql, params);
    for (std::string_view data; source->next(data);) {
      if (cancelled()) throw Error(ErrorKind::Cancelled, "verify cancelled");
    }
    return {source->rows(), "b:" + hash_hex(source->row_hash())};
  }
  const ContentChecksum sum =
      content_checksum(tgt, sql, params, {}, opts_.cancel, config_.max_batch_bytes);
  return {sum.rows, "v:" + hash_hex(sum.hash)};
}

std::pair<int64_t, std::string> Executor::sum_source(Connection& src, const Chunk& chunk) {
  if (!snapshot_.empty()) src.import_snapshot(snapshot_);
  std::vector<Value> params;
  const std::string sql = src.chunk_query(sql_, chunk, params);
  const ContentChecksum sum = content_checksum(src, sql, params, opts_.transform, opts_.cancel,
                                               config_.max_batch_bytes);
  return {sum.rows, "v:" + hash_hex(sum.hash)};
}

VerifyResult Executor::verify(bool against_ledger) {
  const auto t0 = Clock::now();
  verifying_ = true;
  VerifyResult v;
  v.against_ledger = against_ledger;
  std::map<uint32_t, LedgerEntry> entries;
  if (against_ledger) {
    // The source is not read at all: the ledger says what each chunk wrote.
    coord_tgt_ = target_factory_();
    if (job_id_.empty()) {
      job_id_ = derive_job_id(source_factory_()->identity(), sql_, coord_tgt_->identity(),
                              table_.display(), opts_.mode);
    }
    lock_job();
    Ledger ledger(*coord_tgt_);
    if (ledger.exists()) stored_ = ledger.load_plan(job_id_);
    if (!stored_) {
      throw Error(ErrorKind::Config,
                  fmt::format("job '{}' has no ledger in the target (no row in {}): verify "
                              "--ledger checks what a run recorded; run the job first, or "
                              "verify against the source without --ledger",
                              job_id_, Ledger::kJobsTable));
    }
    if (stored_->columns.empty()) {
      throw Error(ErrorKind::Config,
                  fmt::format("job '{}' was recorded without its column list (an older "
                              "parmap); verify it against the source, without --ledger",
                              job_id_));
    }
    plan_ = *stored_;
    out_columns_ = plan_.columns;
    entries = ledger.committed(job_id_);
    target_schema_ = coord_tgt_->describe_table(table_);
    v.snapshot = "not read: the ledger's hashes stand for the source";
  } else {
    with_retries("planning the verify", [&](int attempt) {
      if (attempt > 0) reset_plan();
      coord_src_ = source_factory_();
      coord_tgt_ = target_factory_();
      bool interrupted = false;
      watchdog_.guard("planning the verify", {coord_src_.get(), coord_tgt_.get()}, interrupted,
                      [&] { prepare(); });
      if (interrupted) throw watchdog_.timeout_error("planning the verify", nullptr);
    });
    v.snapshot = result_.snapshot;
  }
  if (!target_schema_) {
    throw Error(ErrorKind::Schema,
                fmt::format("target table {} does not exist: nothing to verify", table_.display()));
  }

  // Chunk ranges can be read back from the target when it has the partition column; block
  // ranges (ctid) and a key the mapping dropped leave one comparison of everything.
  const std::string& key = plan_.partition_column;
  // Chunks inside one key value are cut by the source's physical positions: like ctid.
  const bool sliced = std::any_of(plan_.chunks.begin(), plan_.chunks.end(),
                                  [](const Chunk& c) { return c.slice.has_value(); });
  const bool by_chunk =
      key.empty() ||
      (key != "ctid" && !sliced &&
       std::find(out_columns_.begin(), out_columns_.end(), key) != out_columns_.end());
  std::vector<Chunk> ranges;
  if (by_chunk) {
    ranges = plan_.chunks;
    v.scope = key.empty() ? "the whole query (one chunk)"
                          : fmt::format("{} chunk range(s) of {}", ranges.size(), key);
  } else {
    ranges = {whole_query_chunk()};
    v.scope = fmt::format(
        "the whole table: the chunks are cut on {}, which {}", key,
        key == "ctid" ? "are the source's blocks, not the target's"
        : sliced      ? "splits some values by the source's physical positions"
                      : "the target does not have");
  }

  // What each range should hold, for verify --ledger: the committed chunk's rows and hash.
  // Over the whole table: the sums (hashes add up), comparable when all share one kind.
  auto expected_of = [&](const Chunk& range) -> std::optional<std::pair<int64_t, std::string>> {
    if (by_chunk) {
      const auto it = entries.find(range.index);
      if (it == entries.end()) return std::nullopt;
      return std::make_pair(it->second.rows, it->second.row_hash);
    }
    int64_t rows = 0;
    uint64_t hash = 0;
    std::string kind;
    for (const auto& [id, e] : entries) {
      rows += e.rows;
      hash += std::stoull(e.row_hash.substr(2), nullptr, 16);
      const std::string k = e.row_hash.substr(0, 2);
      kind = kind.empty() || kind == k ? k : "?";
    }
    return std::make_pair(rows, kind + hash_hex(hash));
  };

  std::mutex mu;
  std::vector<ChunkDifference> diffs;
  std::atomic<size_t> next{0};
  std::exception_ptr failure;
  // One range read on both sides, under the watchdog, and retried on new connections after a
  // transient error as a chunk is.
  struct Sums {
    std::optional<std::pair<int64_t, std::string>> want;  ///< nullopt: not in the ledger
    std::pair<int64_t, std::string> got;
  };
  auto read_range = [&](const Chunk& range) {
    std::mt19937_64 rng(std::hash<std::thread::id>{}(std::this_thread::get_id()) ^ range.index);
    for (int attempt = 0;; ++attempt) {
      try {
        Connection& tgt = pool_.get_target_connection();
        Connection* src = against_ledger ? nullptr : &pool_.get_source_connection();
        auto read = [&] {
          Sums sums;
          if (src) {
            sums.want = sum_source(*src, range);
          } else {
            sums.want = expected_of(range);
          }
          const bool bytes = sums.want && sums.want->second.rfind("b:", 0) == 0;
          sums.got = sum_target(tgt, range, bytes);
          return sums;
        };
        bool interrupted = false;
        Sums sums = src ? watchdog_.guard(range, {src, &tgt}, interrupted, read)
                        : watchdog_.guard(range, {&tgt}, interrupted, read);
        if (interrupted) {
          pool_.discard_source_connection();
          pool_.discard_target_connection();
        }
        return sums;
      } catch (const Error& e) {
        pool_.discard_source_connection();
        pool_.discard_target_connection();
        if (!retryable(e.kind()) || attempt >= config_.max_retries || cancelled()) throw;
        ++retries_;
        spdlog::warn("verify of job {}, {}: {} (attempt {} of {}), retrying", job_id_,
                     range.describe(), e.what(), attempt + 1, config_.max_retries + 1);
        std::this_thread::sleep_for(backoff_delay(config_, attempt, rng));
      }
    }
  };
  auto check = [&](const Chunk& range) {
    const Sums sums = read_range(range);
    ChunkDifference d;
    d.index = range.index;
    d.bounds = range.describe();
    if (!sums.want) {
      d.target_rows = sums.got.first;
      d.problem = "not in the ledger: the job has not committed this chunk";
      std::lock_guard lock(mu);
      v.target_rows += sums.got.first;
      diffs.push_back(std::move(d));
      return;
    }
    const auto& want = sums.want;
    const auto& got = sums.got;
    d.expected_rows = want->first;
    d.target_rows = got.first;
    if (got.first != want->first) {
      d.problem = fmt::format("{} row(s) {}, {} in the target", want->first,
                              against_ledger ? "in the ledger" : "in the source", got.first);
      // Rows the target refused explain a shortfall; the reject file holds them.
      const auto it = committed_.find(range.index);
      if (!against_ledger && by_chunk && it != committed_.end() &&
          it->second.rows_read > it->second.rows) {
        d.problem += fmt::format(" (the run rejected {} row(s) of this chunk: see the reject file)",
                                 it->second.rows_read - it->second.rows);
      }
    } else if (want->second.rfind("?", 0) == 0) {
      d.problem.clear();  // mixed hash kinds: the count is all that compares
    } else if (got.second != want->second) {
      d.problem = "same row count, different content (checksum)";
    }
    std::lock_guard lock(mu);
    v.expected_rows += want->first;
    v.target_rows += got.first;
    if (d.problem.empty()) {
      ++v.ranges_matching;
    } else {
      diffs.push_back(std::move(d));
    }
  };
  auto worker = [&] {
    try {
      for (;;) {
        const size_t i = next.fetch_add(1);
        if (i >= ranges.size() || cancelled()) break;
        check(ranges[i]);
      }
    } catch (...) {
      std::lock_guard lock(mu);
      if (!failure) failure = std::current_exception();
      next = ranges.size();
    }
    pool_.release_thread_connections();
  };
  const size_t workers = std::max<size_t>(
      1, std::min<size_t>(static_cast<size_t>(config_.max_workers), ranges.size()));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < workers; ++i) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  pool_.close_all_connections();
  if (failure) std::rethrow_exception(failure);
  if (cancelled()) throw Error(ErrorKind::Cancelled, fmt::format("verify of job '{}' cancelled", job_id_));

  v.job_id = job_id_;
  std::sort(diffs.begin(), diffs.end(),
            [](const ChunkDifference& a, const ChunkDifference& b) { return a.index < b.index; });
  v.ranges_checked = static_cast<int64_t>(ranges.size());
  v.retries = retries_;
  v.differences = std::move(diffs);
  v.elapsed_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return v;
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

std::string derive_job_id(const std::string& source_identity, const std::string& source_sql,
                          const std::string& target_identity, const std::string& target_table,
                          TargetMode mode) {
  const std::vector<Value> parts{mask_password(source_identity), source_sql,
                                 mask_password(target_identity), target_table,
                                 std::string(to_string(mode))};
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
  // An empty id is derived from the databases the coordinator's sessions are on.
  Executor ex(std::move(source), source_sql, std::move(target), std::move(table), options,
              options.job_id);
  ParallelResult r = ex.run();
  r.dry_run = options.dry_run;
  return r;
}

ParallelResult execute_query_parallel(const std::string& source_url, const std::string& source_sql,
                                      const std::string& target_url,
                                      const std::string& target_schema,
                                      const std::string& target_table,
                                      const ParallelOptions& options) {
  ParallelOptions opts = options;
  const ConnectionUrl source = parse_url(source_url), target = parse_url(target_url);
  if (opts.job_id.empty()) {
    opts.job_id = derive_job_id(identity_of(source), source_sql, identity_of(target),
                                TableRef{target_schema, target_table}.display(), opts.mode);
  }
  check_sqlite_file(source, "source", true);
  check_sqlite_file(target, "target", false);
  return execute_query_parallel(connection_factory(source_url), source_sql,
                                connection_factory(target_url), target_schema, target_table, opts);
}

VerifyResult verify_query_parallel(ConnectionFactory source, const std::string& source_sql,
                                   ConnectionFactory target, const std::string& target_schema,
                                   const std::string& target_table, const ParallelOptions& options,
                                   bool against_ledger) {
  if (target_table.empty()) throw_config("target_table", target_table, "a table name");
  spdlog::default_logger_raw();
  TableRef table{target_schema, target_table};
  std::string job_id = options.job_id;
  ParallelOptions opts = options;
  opts.dry_run = false;
  opts.fresh = false;  // run --fresh --verify: the verify compares what that run loaded
  Executor ex(std::move(source), source_sql, std::move(target), std::move(table), opts,
              std::move(job_id));
  return ex.verify(against_ledger);
}

VerifyResult verify_query_parallel(const std::string& source_url, const std::string& source_sql,
                                   const std::string& target_url, const std::string& target_schema,
                                   const std::string& target_table, const ParallelOptions& options,
                                   bool against_ledger) {
  ParallelOptions opts = options;
  const ConnectionUrl source = parse_url(source_url), target = parse_url(target_url);
  if (opts.job_id.empty()) {
    opts.job_id = derive_job_id(identity_of(source), source_sql, identity_of(target),
                                TableRef{target_schema, target_table}.display(), opts.mode);
  }
  if (!against_ledger) check_sqlite_file(source, "source", true);
  check_sqlite_file(target, "target", false);
  return verify_query_parallel(connection_factory(source_url), source_sql,
                               connection_factory(target_url), target_schema, target_table, opts,
                               against_ledger);
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
