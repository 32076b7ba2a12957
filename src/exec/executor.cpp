// The job runner: validate, plan (or load the stored plan), prepare the target, then let a
// pool of workers copy chunk after chunk, each in one target transaction with its ledger row.
#include "exec/executor.h"
#include "exec/plan_probe.h"

namespace parmap {

namespace {

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

}  // namespace

void Executor::prepare_target(Connection& tgt, const TableSchema& out_schema, bool table_exists) {
  Ledger ledger(tgt);
  in_write_transaction(tgt, [&] {
    ledger.ensure_tables();
    if (!table_exists) {
      if (!table_.schema.empty() && !tgt.schema_exists(table_.schema)) {
        tgt.create_schema(table_.schema);
      }
      tgt.create_table(table_, out_schema);
    }
    // Truncate only when a run starts: atomically with recording it, so that a crash cannot
    // leave an emptied table that a rerun would not know about, nor a resumed run empty the
    // chunks it already committed.
    if (new_run_ && opts_.mode == TargetMode::Truncate) {
      tgt.truncate_in_transaction(table_);
    }
    if (new_run_) {
      // After the table was made and emptied: the storage its committed chunks will be in.
      plan_.target_token = tgt.table_token(table_);
      ledger.start_run(job_id_, table_.display(), plan_, run_no_, to_string(opts_.mode));
    }
  });
}

void Executor::refuse_truncating_the_source() const {
  if (opts_.mode != TargetMode::Truncate || !snapshot_.empty() || verifying_ || !target_schema_ ||
      coord_src_->identity() != coord_tgt_->identity() || !query_names_table(sql_, table_)) {
    return;
  }
  throw Error(ErrorKind::Config,
              fmt::format("mode truncate would empty table {} before the chunks read it: the "
                          "source query reads that table on the same database ({}), and {} "
                          "keeps no snapshot of its rows for a run, so they would be lost. Copy "
                          "into another table, or use mode append",
                          table_.display(), coord_tgt_->identity(), coord_src_->engine()));
}

void Executor::carry_constraints() {
  // A source that is a whole table gives the created table its primary key, in key order,
  // when every key column is written under its own name and type, and its NOT NULL columns
  // written so (unless a transformation, which may write NULL there, comes in between).
  const auto source = simple_table_of(sql_);
  if (!source) return;
  const auto described = coord_src_->describe_table(*source);
  if (!described) return;
  auto as_it_is = [&](const std::string& name) -> ColumnInfo* {
    const int i = out_schema_.find(name);
    const int s = described->find(name);
    if (i < 0 || s < 0 || out_schema_.columns[i].type != described->columns[s].type) return nullptr;
    return &out_schema_.columns[static_cast<size_t>(i)];
  };
  if (!opts_.transform) {
    for (const ColumnInfo& column : described->columns) {
      if (!column.not_null) continue;
      if (ColumnInfo* out = as_it_is(column.name)) out->not_null = true;
    }
  }
  if (described->primary_key.empty()) return;
  std::vector<ColumnInfo*> key;
  for (const std::string& name : described->primary_key) {
    ColumnInfo* column = as_it_is(name);
    if (column == nullptr) {
      spdlog::info("job {}: {} is created without the primary key of {}: its column '{}' is not "
                   "written as it is",
                   job_id_, table_.display(), source->display(), name);
      return;
    }
    key.push_back(column);
  }
  for (ColumnInfo* column : key) {
    column->primary_key = column->not_null = true;
    out_schema_.primary_key.push_back(column->name);
  }
}

void Executor::leave_out_generated_columns() {
  TableSchema generated;  // the target's generated columns that the query returns
  std::vector<std::string> names;
  for (const ColumnInfo& c : target_schema_->columns) {
    if (!c.generated || out_schema_.find(c.name) < 0) continue;
    generated.columns.push_back(c);
    names.push_back(c.name);
  }
  if (names.empty()) return;
  if (opts_.transform) {
    throw Error(ErrorKind::Schema,
                fmt::format("target table {} generates column(s) {} itself (GENERATED ALWAYS "
                            "AS ...), so no value can be written to them; leave them out of the "
                            "column mapping",
                            table_.display(), fmt::join(names, ", ")));
  }
  TableSchema kept;
  kept.primary_key = out_schema_.primary_key;
  for (ColumnInfo& c : out_schema_.columns) {
    if (generated.find(c.name) >= 0) {
      generated_.push_back(c.name);
    } else {
      kept.columns.push_back(std::move(c));
    }
  }
  if (kept.columns.empty()) {
    throw Error(ErrorKind::Schema,
                fmt::format("target table {} generates every column the source query returns "
                            "({}): there is nothing to write",
                            table_.display(), fmt::join(names, ", ")));
  }
  out_schema_ = std::move(kept);
  out_columns_.clear();
  for (const auto& c : out_schema_.columns) out_columns_.push_back(c.name);
}

std::string Executor::source_chunk_sql(const Connection& src, std::string_view base,
                                       const Chunk& chunk, std::vector<Value>& params) const {
  std::string sql = src.chunk_query(base, chunk, params);
  if (generated_.empty()) return sql;
  std::vector<std::string> cols;
  for (const auto& c : out_columns_) cols.push_back(src.quote_identifier(c));
  return fmt::format("SELECT {} FROM ({}) AS parmap_kept", fmt::join(cols, ", "), sql);
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
  generated_.clear();
  snapshot_.clear();
  fast_path_ = false;
  local_path_ = false;
  grouping_ = false;
  queue_.clear();
  new_run_ = true;
  run_no_ = 1;
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

void Executor::stamp_finished() {
  coord_tgt_ = target_factory_();
  mark_finished();
  coord_tgt_->close();
  result_.finished = true;
}

std::string tidy_query(std::string_view sql) {
  auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!sql.empty() && (space(sql.back()) || sql.back() == ';')) sql.remove_suffix(1);
  while (!sql.empty() && space(sql.front())) sql.remove_prefix(1);
  std::string out(sql);
  if (ends_in_line_comment(out)) out += '\n';
  return out;
}

std::optional<std::string> Executor::committed_rows_missing(
    const std::map<uint32_t, LedgerEntry>& committed) {
  int64_t rows = 0;
  for (const auto& [id, e] : committed) rows += e.rows;
  if (rows <= 0) return std::nullopt;
  // Every mode appends each committed row, so the table holds at least that many unless
  // some were removed. The count stops there, so a resume reads no more than it skips.
  int64_t held = 0;
  try {
    if (coord_tgt_->describe_table(table_)) {
      held = count_rows_upto(*coord_tgt_,
                             fmt::format("SELECT * FROM {}", coord_tgt_->quote_table(table_)),
                             nullptr, rows);
    }
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::Cancelled) throw;
    spdlog::warn("job {}: could not count the rows of {} before resuming ({}); resuming without "
                 "that check",
                 job_id_, table_.display(), e.what());
    return std::nullopt;
  }
  if (held >= rows) return std::nullopt;
  return fmt::format("table {} holds {} row(s), fewer than the {} its {} committed chunk(s) "
                     "wrote, so rows were removed (DELETE, TRUNCATE, or the table made again) "
                     "since the run began and skipping those chunks would lose them",
                     table_.display(), held, rows, committed.size());
}

void Executor::lock_job() {
  // One run of a job at a time on a target: a second one would load its chunks twice.
  const std::string key = job_lock_key(job_id_, table_.display());
  if (shared_lock_ ? !shared_lock_(key) : !coord_tgt_->try_lock_job(key)) {
    throw Error(ErrorKind::Config,
                fmt::format("job '{}' is already running into {} (another parmap process holds "
                            "its lock on the target); wait for it to end, or stop it: a rerun "
                            "resumes where it stopped",
                            job_id_, table_.display()));
  }
}

void Executor::prepare() {
  // Everything that can be wrong with the input is found here, before any write.
  position_key_ = coord_src_->capabilities().position_key;
  if (job_id_.empty()) {
    job_id_ = derive_job_id(coord_src_->identity(), given_sql_, coord_tgt_->identity(),
                            table_.display(), opts_.mode);
  }
  result_.job_id = job_id_;
  // A following rank runs rank 0's run, whose process holds the lock.
  if (!opts_.dry_run && follow_run_ == 0) lock_job();
  // One snapshot for planning and every chunk (decision 2); the coordinator's transaction
  // holds it open until the workers are done.
  if (!shared_snapshot_.empty()) {
    coord_src_->import_snapshot(shared_snapshot_);
    snapshot_ = shared_snapshot_;
  } else if (auto id = coord_src_->export_snapshot()) {
    snapshot_ = *id;
  }
  const TableSchema src_schema = coord_src_->describe_query(sql_);
  for (size_t i = 0; i < src_schema.columns.size(); ++i) {
    const std::string& name = src_schema.columns[i].name;
    for (size_t j = i + 1; j < src_schema.columns.size(); ++j) {
      if (src_schema.columns[j].name != name) continue;
      // parmap names the query's columns (keys, the column mapping, the target's columns).
      throw Error(ErrorKind::Config,
                  fmt::format("the source query returns two columns named '{}' (columns {} and "
                              "{}); give each its own name, e.g. SELECT a.{} AS a_{}, b.{} AS "
                              "b_{} ...",
                              name, i + 1, j + 1, name, name, name, name));
    }
  }
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
  if (!target_schema && opts_.mode == TargetMode::Create) carry_constraints();
  const bool may_create_schema = opts_.mode == TargetMode::Create && create_schema_;
  if (!target_schema && !may_create_schema && !table_.schema.empty() &&
      !coord_tgt_->schema_exists(table_.schema)) {
    throw Error(ErrorKind::Schema,
                fmt::format("target schema '{}' (of table {}) does not exist on the target; "
                            "create it first{}",
                            table_.schema, table_.display(),
                            opts_.mode == TargetMode::Create
                                ? ""
                                : ", or copy a table selection in mode 'create', which makes it"));
  }
  if (!target_schema && opts_.mode != TargetMode::Create) {
    throw Error(ErrorKind::Schema,
                fmt::format("target table {} does not exist (use mode 'create' to create it "
                            "from the source query's columns)",
                            table_.display()));
  }
  if (target_schema) leave_out_generated_columns();
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

  refuse_truncating_the_source();

  Ledger ledger(*coord_tgt_);
  auto& stored = stored_;
  auto& committed = committed_;
  if (ledger.exists()) job_ = ledger.load_job(job_id_);
  // A run that did not finish is resumed; after a finished one, a new run starts with the
  // mode's meaning (truncate empties and reloads, append appends).
  const bool unfinished = job_ && !job_->finished;
  if (job_) stored = job_->plan;
  if (job_) committed = ledger.committed(job_id_);
  if (follow_run_ > 0 && (!unfinished || job_->run != follow_run_)) {
    throw Error(ErrorKind::Internal,
                fmt::format("job '{}': rank 0's run {} is not in the ledger of {} as unfinished; "
                            "this rank has nothing to follow",
                            job_id_, follow_run_, table_.display()));
  }
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
  if (resume && !verifying_ && follow_run_ == 0 && !committed.empty() &&
      !stored->position_token.empty()) {
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
  if (resume && !verifying_ && follow_run_ == 0 && !committed.empty() &&
      !stored->target_token.empty() && coord_tgt_->table_token(table_) != stored->target_token) {
    // The table was emptied, or dropped and made again, since the run prepared it: the rows
    // of the chunks it committed may be gone, and skipping those chunks would lose them.
    int64_t rows = 0;
    for (const auto& [id, e] : committed) rows += e.rows;
    if (opts_.mode != TargetMode::Truncate) {
      throw Error(ErrorKind::Config,
                  fmt::format("job '{}' cannot resume run {}: table {} was emptied or replaced "
                              "(TRUNCATE, DROP and CREATE, or a rewrite) since the run began, so "
                              "the {} chunk(s), {} row(s), it committed may no longer be there. "
                              "Rerun with --fresh --mode truncate to reload the table, or check "
                              "it with parmap verify --ledger",
                              job_id_, job_->run, table_.display(), committed.size(), rows));
    }
    spdlog::warn("job {}: run {} is not resumed but started over (mode truncate): table {} was "
                 "emptied or replaced since the run began",
                 job_id_, job_->run, table_.display());
    resume = false;
    committed.clear();
  }
  if (resume && !verifying_ && follow_run_ == 0 && !committed.empty()) {
    if (auto missing = committed_rows_missing(committed)) {
      if (opts_.mode != TargetMode::Truncate) {
        throw Error(ErrorKind::Config,
                    fmt::format("job '{}' cannot resume run {}: {}. Rerun with --fresh --mode "
                                "truncate to reload the table, or check it with parmap verify "
                                "--ledger",
                                job_id_, job_->run, *missing));
      }
      spdlog::warn("job {}: run {} is not resumed but started over (mode truncate): {}", job_id_,
                   job_->run, *missing);
      resume = false;
      committed.clear();
    }
  }
  if (resume && !verifying_ && follow_run_ == 0 && !stored->columns.empty() &&
      stored->columns != out_columns_) {
    // The columns written changed since the run began (another column mapping, a column the
    // target now generates): its committed chunks hold the others.
    if (!committed.empty()) {
      throw Error(ErrorKind::Config,
                  fmt::format("job '{}' cannot resume run {}: its {} committed chunk(s) wrote "
                              "the columns ({}) and this invocation would write ({}). Rerun "
                              "with --fresh --mode truncate to reload the table, or give the job "
                              "another --job-id",
                              job_id_, job_->run, committed.size(),
                              fmt::join(stored->columns, ", "), fmt::join(out_columns_, ", ")));
    }
    resume = false;  // nothing committed: a new run, with its own plan
  }
  new_run_ = !resume;
  run_no_ = !job_ ? 1 : resume ? job_->run : job_->run + 1;
  if (resume && !opts_.partition_column.empty()) {
    // The stored plan decides the chunks; a job that names another key (or one that does
    // not exist) is not the job that was started.
    const int i = src_schema.find(opts_.partition_column);
    if (i < 0 && (position_key_.empty() || opts_.partition_column != position_key_)) {
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
  // A plan stored by a version that kept the query as given (a trailing newline from a YAML
  // block, a semicolon) is the same query.
  const bool other_query = resume && tidy_query(stored->source_sql) != sql_;
  if (resume && (other_query || stored->target_table != table_.display())) {
    // Skipping another query's chunks would lose rows: a job id belongs to one query.
    throw Error(
        ErrorKind::Config,
        fmt::format("job '{}' in the ledger of this target was started with another "
                    "{} ({}); rerun with --fresh to start it over, or give this job "
                    "another --job-id",
                    job_id_, other_query ? "query" : "target table",
                    other_query ? stored->source_sql : stored->target_table));
  }
  // The path first: where the rows' bytes pass through, the plan may cut the table so that
  // one pass reads it.
  choose_path(*coord_src_, *coord_tgt_, src_schema, target_schema);
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
  // A target with one writer at a time (SQLite) groups only on the in-engine path, whose reads
  // happen inside the writer's statement anyway: there a group saves each chunk's commit (the
  // demo's 1,000,000 rows: 1.31 s in 20 transactions, 1.21 s in 8). A typed copy into it
  // reads each chunk ahead outside the writer's lock, which a longer transaction would shorten.
  // A distributed run hands out single chunks, so that every rank takes its share to the end.
  grouping_ = config_.chunk_size_auto && (coord_tgt_->writer_lock() == nullptr || local_path_) &&
              !distributed_ && feed_ == nullptr;
  for (const auto& c : plan_.chunks) {
    result_.chunks.push_back({c.index, c.describe(), c.estimated_rows});
    if (auto done = committed.find(c.index); done != committed.end()) {
      ++result_.chunks_skipped;
      // Read but not written: refused into the reject file, unless a transformation may
      // drop rows on purpose (it is then not told apart).
      if (!opts_.transform) {
        rejected_before_ += std::max<int64_t>(0, done->second.rows_read - done->second.rows);
      }
    } else {
      queue_.push_back(&c);
    }
  }
}

ParallelResult Executor::run() {
  start();
  if (opts_.dry_run) return result_;
  // max_workers auto: this run's own threads start one at a time (a run of many jobs shares
  // a pool of its own and does not scale).
  auto_workers_ = config_.max_workers_auto && workers_ > 1;
  if (auto_workers_) {
    std::lock_guard lock(claim_mu_);
    active_ = most_active_ = 1;
    scaling_ = true;
    window_start_ = Clock::now();
    window_rows_ = rows_done_;
  }
  std::vector<std::thread> threads;
  for (int i = 0; i < result_.workers_used; ++i) threads.emplace_back([this, i] { worker(i); });
  for (auto& t : threads) t.join();
  return finish();
}

void Executor::plan_with_retries() {
  with_retries("planning", [&](int attempt) {
    if (attempt > 0) reset_plan();
    bool interrupted = false;
    auto plan_and_prepare = [&] {
      prepare();
      if (!opts_.dry_run && follow_run_ == 0) {
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
}

void Executor::fail_progress(const std::string& error) {
  if (opts_.dry_run) return;
  result_.job_id = job_id_;
  result_.finished = false;
  result_.errors.push_back(error);
  result_.retries = retries_;
  result_.elapsed_seconds = std::chrono::duration<double>(Clock::now() - t0_).count();
  try {
    progress_.fail_job(result_);
  } catch (const std::exception& e) {
    // The run's own error is the one to throw.
    spdlog::warn("progress callback failed on job_finished: {}", e.what());
  }
}

const ParallelResult& Executor::start() {
  t0_ = Clock::now();
  // Planning, the snapshot export and the target's preparation: one unit, retried from the
  // start on new sessions (a preparation whose commit was in doubt is found in the ledger by
  // the next attempt, which then resumes the run it started).
  try {
    plan_with_retries();
  } catch (const std::exception& e) {
    // A consumer of the events learns how every run ended, this one too.
    fail_progress(e.what());
    throw;
  }
  int workers =
      plan_.parallel ? static_cast<int>(std::min<size_t>(config_.max_workers, queue_.size())) : 1;
  const auto origin = config_.origin.find("max_workers");
  const bool default_workers = origin != config_.origin.end() && origin->second == Source::Default;
  if (workers > 1 && default_workers && local_path_ && coord_tgt_->writer_lock() != nullptr) {
    // Each of the in-engine path's statements reads and writes under the target's one writer
    // lock: a second worker overlaps nothing and only adds its hand-overs and commits (the
    // demo's 1,000,000 rows: 1.05 s with one worker, 1.14 s with two). A max_workers the job
    // sets is kept.
    workers = 1;
    result_.reason += fmt::format(
        "; 1 worker: the in-engine copy reads and writes under {}'s one writer lock, where "
        "more would only wait for it (a max_workers the job sets is kept)",
        coord_tgt_->engine());
  }
  result_.workers_used = queue_.empty() ? 0 : std::max(1, workers);
  workers_ = std::max(1, result_.workers_used);
  active_ = most_active_ = workers_;
  if (opts_.dry_run) {
    result_.elapsed_seconds = std::chrono::duration<double>(Clock::now() - t0_).count();
    return result_;
  }

  // The job's lock lives on a session shared by the run's jobs: this one is not needed until
  // the finished stamp, and a run of hundreds of tables must not hold hundreds of them.
  if (shared_lock_ || feed_) coord_tgt_->close();
  reject_path_ = opts_.reject_file.empty() ? job_id_ + ".rejects.jsonl" : opts_.reject_file;
  // Only the session that exported the snapshot must stay open: it holds it for the others.
  if (snapshot_.empty() || !shared_snapshot_.empty()) coord_src_->close();
  result_.retries = retries_;
  progress_.start_job(result_, t0_, &rejected_);
  return result_;
}

void Executor::start_position_stream() {
  // Only a run of one process over chunks of whole position ranges; a slice of one key value
  // reads by that value. A resume's chunks are scattered over the table, and a projection
  // leaving out generated columns is not the table's own rows: the summary says so below.
  if (local_path_ || position_key_.empty() || plan_.partition_column != position_key_ ||
      queue_.size() < 2 || distributed_ || feed_ != nullptr || follow_run_ > 0) {
    return;
  }
  for (const Chunk* c : queue_) {
    if (c->slice || (!c->range.lo.is_null() && !c->range.lo.is_int())) return;
  }
  // The plan may have said the table is read in one pass: the summary says why it was not.
  auto not_in_one_pass = [&](const std::string& why) {
    std::lock_guard lock(claim_mu_);
    result_.path += fmt::format("; not read in one pass ({}): each chunk read its own range", why);
  };
  if (queue_.size() != plan_.chunks.size()) {
    not_in_one_pass(fmt::format("{} of its {} chunks were committed earlier",
                                plan_.chunks.size() - queue_.size(), plan_.chunks.size()));
    return;
  }
  if (!generated_.empty()) {
    not_in_one_pass("the target's generated columns are left out of the rows read");
    return;
  }
  std::vector<const Chunk*> order = queue_;
  std::stable_sort(order.begin(), order.end(), [](const Chunk* a, const Chunk* b) {
    const int64_t x = a->range.lo.is_null() ? -1 : a->range.lo.as_int();
    const int64_t y = b->range.lo.is_null() ? -1 : b->range.lo.as_int();
    return x < y;
  });
  try {
    std::unique_ptr<Connection> source = source_factory_();
    if (!snapshot_.empty()) source->import_snapshot(snapshot_);
    std::unique_ptr<PositionScan> scan = source->open_position_scan(sql_);
    if (!scan) return;
    // Workers claim chunks in the order the pass reads them, so that the rows it holds are
    // the next ones taken.
    std::lock_guard lock(claim_mu_);
    if (next_ != 0) return;
    queue_ = order;
    stream_ = std::make_unique<PositionStream>(
        std::move(source), std::move(scan), std::move(order),
        one_pass_chunk_bytes(config_.max_batch_bytes, !fast_path_), workers_, fast_path_);
    result_.path += "; the table read in one pass (one sequential scan) and cut into its chunks";
  } catch (const Error& e) {
    const std::string why = mask_password(e.what());
    spdlog::info("job {}: {} not read in one pass ({}); each chunk reads its own range", job_id_,
                 table_.display(), why);
    not_in_one_pass(why);
  }
}

int64_t Executor::queued_rows() const {
  std::lock_guard lock(claim_mu_);
  int64_t rows = 0;
  for (size_t i = std::min(next_, queue_.size()); i < queue_.size(); ++i) {
    rows += queue_[i]->estimated_rows;
  }
  return rows;
}

void Executor::halt(const std::string& why) {
  {
    std::lock_guard lock(errors_mu_);
    if (halted_.empty()) halted_ = why;
  }
  stop_ = true;
}

ParallelResult Executor::finish() {
  if (stream_) {
    stream_->stop();
    result_.path += "; " + stream_->summary();
  }
  pool_.close_all_connections();
  coord_src_->close();

  result_.total_rows_processed = rows_done_;
  result_.chunks_done = chunks_done_;
  result_.chunks_failed = chunks_failed_;
  result_.chunks_refused = chunks_refused_;
  result_.rows_rejected = rejected_ + rejected_before_;
  result_.rows_rejected_before = rejected_before_;
  if (auto_workers_) {
    result_.workers_used = most_active_;
    result_.workers_decision = workers_decision_.empty()
                                   ? fmt::format("max_workers auto: {} worker(s) when the run "
                                                 "ended, still adding (each added one had "
                                                 "brought 10% or more rows/s)",
                                                 active_)
                                   : workers_decision_;
  }
  result_.commits = commits_;
  if (!result_.ranks.empty()) {
    result_.ranks.front().chunks = chunks_done_ - remote_chunks_;
    result_.ranks.front().rows = rows_done_ - remote_rows_;
  }
  if (grouping_ && commits_ > 0) {
    result_.commit_groups = fmt::format(
        "chunk_size auto: {} chunk(s) committed in {} transaction(s), up to {} consecutive "
        "chunks each, sized for about {:.0f} s at the measured rate",
        result_.chunks_done, commits_.load(), std::max<size_t>(1, largest_group_.load()),
        group_seconds());
  }
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
    result_.retries = retries_;
    result_.elapsed_seconds = std::chrono::duration<double>(Clock::now() - t0_).count();
    progress_.finish_job(result_);
    throw Error(
        ErrorKind::Cancelled,
        fmt::format("job '{}' cancelled after {} of {} chunks; rerun the same command "
                    "to resume",
                    job_id_, result_.chunks_done + result_.chunks_skipped, result_.chunks_planned));
  }
  data_complete_ = complete;
  if (complete && !defer_stamp_) {
    try {
      if (shared_lock_) coord_tgt_ = target_factory_();
      mark_finished();
    } catch (const std::exception& e) {
      if (coord_tgt_) coord_tgt_->close();
      fail_progress(
          fmt::format("job {}: every chunk is committed, but recording the run as "
                      "finished failed: {}",
                      job_id_, e.what()));
      throw;
    }
    result_.finished = true;
  } else if (complete) {
    // stamp_finished() follows, once the indexes and constraints are made.
  } else if (result_.errors.empty()) {
    std::lock_guard lock(errors_mu_);
    if (!halted_.empty()) {
      result_.errors.push_back(fmt::format("job {}, table {}: {} of {} chunks not copied: {}",
                                           job_id_, table_.display(),
                                           result_.unfinished_chunks.size(),
                                           result_.chunks_planned, halted_));
    } else {
      // Not one chunk said why (this would be a bug): the run still must not pass as complete.
      result_.errors.push_back(fmt::format(
          "job {}: {} of {} chunks did not finish and reported no error", job_id_,
          result_.unfinished_chunks.size(), result_.chunks_planned));
    }
  }
  result_.retries = retries_;
  coord_tgt_->close();
  result_.elapsed_seconds = std::chrono::duration<double>(Clock::now() - t0_).count();
  result_.rows_per_second =
      result_.elapsed_seconds > 0
          ? static_cast<double>(result_.total_rows_processed) / result_.elapsed_seconds
          : 0;
  progress_.finish_job(result_);
  return result_;
}

void Executor::worker(int id) {
  while (wait_turn(id) && step()) {
  }
  pool_.release_thread_connections();
}

bool Executor::step() {
  if (stop_ || cancelled()) return false;
  // On the job's first step, not in start(): a run of many tables starts every job before
  // its workers reach them, and a pass holds a session and its rows until the job ends.
  std::call_once(stream_once_, [this] { start_position_stream(); });
  const ChunkGroup group = claim();
  if (group.empty()) return false;
  const auto t0 = Clock::now();
  if (group.size() == 1) {
    run_chunk(*group.front());
  } else {
    run_group(group);
  }
  // Rows of the one pass not taken by the group's attempts are not held for it any longer.
  if (stream_) {
    for (const Chunk* c : group) stream_->forget(c->index);
  }
  measured(group.size(), std::chrono::duration<double>(Clock::now() - t0).count());
  return true;
}

bool Executor::wait_turn(int id) {
  if (!auto_workers_) return true;
  std::unique_lock lock(claim_mu_);
  for (;;) {
    if (id < active_) return next_ < queue_.size();
    // Past the wanted count: wait while the count may still grow, else retire.
    if (!scaling_ || next_ >= queue_.size() || stop_ || cancelled()) return false;
    turn_cv_.wait_for(lock, std::chrono::milliseconds(200));
  }
}

void Executor::scale_workers() {
  // Each count is measured over 3 seconds, or half a second and 8 groups per worker when
  // groups are short, so that a new worker's first connection or one slow group does not
  // decide alone.
  constexpr double kWindowSeconds = 3.0;
  constexpr double kShortWindowSeconds = 0.5;
  constexpr double kGain = 1.10;  // another worker must bring 10% more rows/s
  const auto now = Clock::now();
  const double elapsed = std::chrono::duration<double>(now - window_start_).count();
  ++window_groups_;
  if (elapsed < kWindowSeconds &&
      (elapsed < kShortWindowSeconds || window_groups_ < 8 * static_cast<int64_t>(active_))) {
    return;
  }
  const double rate = static_cast<double>(rows_done_ - window_rows_) / elapsed;
  if (best_rate_ == 0 || rate >= best_rate_ * kGain) {
    best_rate_ = rate;
    best_workers_ = active_;
    if (active_ < workers_) {
      ++active_;
      most_active_ = std::max(most_active_, active_);
    } else {
      scaling_ = false;
      workers_decision_ = fmt::format(
          "max_workers auto: {} worker(s), the most this run allows ({:.0f} rows/s), each "
          "added one having brought 10% or more",
          active_, rate);
    }
  } else {
    workers_decision_ = fmt::format(
        "max_workers auto: {} worker(s): {} gave {:.0f} rows/s against {:.0f} with {}, less "
        "than 10% more, so the servers are taken to be saturated",
        best_workers_, active_, rate, best_rate_, best_workers_);
    scaling_ = false;
    active_ = best_workers_;
  }
  window_start_ = now;
  window_rows_ = rows_done_;
  window_groups_ = 0;
  turn_cv_.notify_all();
}

double Executor::group_seconds() const {
  const double aim = config_.commit_group_seconds;
  return config_.chunk_timeout_s > 0
             ? std::min(aim, static_cast<double>(config_.chunk_timeout_s) / 4)
             : aim;
}

ChunkGroup Executor::claim() {
  if (feed_) {
    // Rank 0 holds the queue; the answer may take a while, so no lock is held meanwhile.
    const std::optional<uint32_t> index = feed_->next();
    if (!index) return {};
    for (const Chunk& c : plan_.chunks) {
      if (c.index == *index) return {&c};
    }
    throw Error(ErrorKind::Internal,
                fmt::format("job {}: rank 0 handed out chunk {}, which is not in the plan",
                            job_id_, *index));
  }
  std::lock_guard lock(claim_mu_);
  if (next_ >= queue_.size()) return {};
  const size_t left = queue_.size() - next_;
  size_t n = 1;
  if (grouping_ && seconds_per_chunk_ > 0) {
    // At most an equal share of what is left among the workers, so that the groups shrink
    // towards the end and the workers finish together; unless they cannot overlap at all (the
    // in-engine path into a target with one writer at a time), where each hand-over of the
    // lock costs the next writer its cache (the demo, 2 workers: 8 transactions, 0.84-0.97 s
    // against 1 worker's 0.76-0.86 s in 2).
    const size_t share = local_path_ && coord_tgt_->writer_lock() != nullptr
                             ? left
                             : std::max<size_t>(1, left / static_cast<size_t>(active_));
    const double fit = group_seconds() / seconds_per_chunk_;
    n = std::clamp<size_t>(static_cast<size_t>(fit), 1, share);
  }
  ChunkGroup group(queue_.begin() + static_cast<std::ptrdiff_t>(next_),
                   queue_.begin() + static_cast<std::ptrdiff_t>(next_ + n));
  next_ += n;
  return group;
}

void Executor::measured(size_t chunks, double seconds) {
  std::lock_guard lock(claim_mu_);
  if (scaling_) scale_workers();
  if (!grouping_ || chunks == 0) return;
  const double per_chunk = seconds / static_cast<double>(chunks);
  seconds_per_chunk_ =
      seconds_per_chunk_ == 0 ? per_chunk : 0.5 * seconds_per_chunk_ + 0.5 * per_chunk;
}

void Executor::run_group(const ChunkGroup& group) {
  for (const Chunk* c : group) progress_.chunk_started(*c);
  try {
    Connection& src = pool_.get_source_connection();
    Connection& tgt = pool_.get_target_connection();
    bool interrupted = false;
    const std::vector<int64_t> rows = watchdog_.guard(
        describe_group(group), {&src, &tgt}, interrupted, [&] { return copy_group(group, 1); });
    if (interrupted) {
      pool_.discard_source_connection();
      pool_.discard_target_connection();
    }
    ++commits_;
    size_t largest = largest_group_.load();
    while (largest < group.size() && !largest_group_.compare_exchange_weak(largest, group.size())) {
    }
    for (size_t i = 0; i < group.size(); ++i) chunk_committed(*group[i], rows[i], 1);
    return;
  } catch (const Error& e) {
    pool_.discard_source_connection();
    pool_.discard_target_connection();
    if (e.kind() == ErrorKind::Cancelled && cancelled()) {
      for (const Chunk* c : group) progress_.chunk_stopped(*c);
      return;
    }
    spdlog::warn("job {}, {}: {}; each chunk is copied again on its own", job_id_,
                 describe_group(group), e.what());
  } catch (const std::exception& e) {
    pool_.discard_source_connection();
    pool_.discard_target_connection();
    spdlog::warn("job {}, {}: internal error: {}; each chunk is copied again on its own", job_id_,
                 describe_group(group), e.what());
  }
  // Its commit may have gone through before the connection failed: each chunk asks the ledger.
  for (const Chunk* c : group) {
    if (stop_ || cancelled()) {
      progress_.chunk_stopped(*c);
      continue;
    }
    run_chunk(*c, /*check_ledger=*/true);
  }
}

int Executor::worker_number() {
  std::lock_guard lock(workers_mu_);
  const auto [it, added] = worker_numbers_.try_emplace(std::this_thread::get_id(),
                                                       static_cast<int>(worker_numbers_.size()));
  return it->second;
}

void Executor::chunk_committed(const Chunk& chunk, int64_t rows, int attempt) {
  rows_done_ += rows;
  ++chunks_done_;
  {
    std::lock_guard lock(done_mu_);
    done_.insert(chunk.index);
  }
  progress_.chunk_done(chunk, rows, attempt);
  if (feed_) feed_->committed(chunk.index, rows, attempt);
}

std::optional<uint32_t> Executor::claim_for(int rank) {
  const Chunk* chunk = nullptr;
  {
    std::lock_guard lock(claim_mu_);
    if (stop_ || cancelled() || next_ >= queue_.size()) return std::nullopt;
    chunk = queue_[next_++];
  }
  progress_.chunk_started_remote(*chunk, rank);
  return chunk->index;
}

void Executor::remote_committed(int rank, uint32_t index, int64_t rows, int attempt) {
  for (const Chunk* c : queue_) {
    if (c->index != index) continue;
    rows_done_ += rows;
    ++chunks_done_;
    ++commits_;
    remote_chunks_ += 1;
    remote_rows_ += rows;
    {
      std::lock_guard lock(done_mu_);
      done_.insert(index);
    }
    progress_.chunk_done(*c, rows, attempt);
    return;
  }
  spdlog::warn("job {}: rank {} reported chunk {}, which is not queued", job_id_, rank, index);
}

void Executor::remote_failed(int rank, uint32_t index, const std::string& error, bool refused) {
  ++chunks_failed_;
  if (refused) {
    ++chunks_refused_;
    stop_ = true;
  }
  for (const Chunk* c : queue_) {
    if (c->index == index) progress_.chunk_failed(*c, config_.max_retries + 1, error);
  }
  std::lock_guard lock(errors_mu_);
  result_.errors.push_back(fmt::format("rank {}: {}", rank, error));
}

ParallelResult Executor::leave() {
  pool_.close_all_connections();
  if (coord_src_) coord_src_->close();
  if (coord_tgt_) coord_tgt_->close();
  result_.total_rows_processed = rows_done_;
  result_.chunks_done = chunks_done_;
  result_.chunks_failed = chunks_failed_;
  result_.chunks_refused = chunks_refused_;
  result_.retries = retries_;
  result_.commits = commits_;
  result_.elapsed_seconds = std::chrono::duration<double>(Clock::now() - t0_).count();
  return result_;
}

void Executor::run_chunk(const Chunk& chunk, bool check_ledger) {
  std::mt19937_64 rng(std::hash<std::thread::id>{}(std::this_thread::get_id()) ^ chunk.index);
  progress_.chunk_started(chunk);
  bool isolate = false;  // set after a data error: find the refused rows
  for (int attempt = 0;; ++attempt) {
    bool found_committed = false;  // an earlier attempt's commit went through: no new one
    try {
      // Under the watchdog: past chunk_timeout_s the attempt's connections are interrupted
      // and it fails as Transient. When guard() is done the watchdog has let go of them, so
      // the handlers below may discard them.
      auto copy = [&]() -> int64_t {
        if (attempt > 0 || isolate || check_ledger) {
          // The previous attempt may have committed before its connection failed: the
          // ledger, not a blind retry, decides. That includes a "data error" that is the
          // ledger's own unique key refusing a second commit of this chunk.
          Ledger ledger(pool_.get_target_connection());
          if (auto rows = ledger.committed_rows(job_id_, chunk.index)) {
            found_committed = true;
            return *rows;
          }
        }
        return isolate ? copy_chunk_isolating(chunk, attempt + 1)
                       : copy_group({&chunk}, attempt + 1).front();
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
      if (!found_committed) ++commits_;
      chunk_committed(chunk, rows, attempt + 1);
      return;
    } catch (const Error& e) {
      pool_.discard_source_connection();
      pool_.discard_target_connection();
      // Only the user's own cancel ends a chunk quietly (the run then reports the cancel);
      // any other Cancelled is a failure like the rest.
      if (e.kind() == ErrorKind::Cancelled && cancelled()) return progress_.chunk_stopped(chunk);
      if (e.kind() == ErrorKind::Data && !isolate) {
        isolate = true;
        --attempt;  // not a retry: the same attempt, row by row where it must
        continue;
      }
      if (retryable(e.kind()) && attempt < config_.max_retries && !cancelled()) {
        ++retries_;
        spdlog::warn("job {}, {}: {} (attempt {} of {}), retrying", job_id_, chunk.describe(),
                     e.what(), attempt + 1, config_.max_retries + 1);
        progress_.chunk_retried(chunk, attempt + 1, e.what());
        std::this_thread::sleep_for(backoff_delay(config_, attempt, rng));
        continue;
      }
      ++chunks_failed_;
      // A refused row beyond max_rejects fails the job: no more chunks are handed out.
      if (e.kind() == ErrorKind::Data) {
        ++chunks_refused_;
        stop_ = true;
      }
      const std::string line = fmt::format("job {}, {}, table {}: {}", job_id_, chunk.describe(),
                                           table_.display(), e.what());
      spdlog::error("{}", line);
      progress_.chunk_failed(chunk, attempt + 1, e.what());
      if (feed_) feed_->failed(chunk.index, line, e.kind() == ErrorKind::Data);
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
      progress_.chunk_failed(chunk, attempt + 1, e.what());
      if (feed_) feed_->failed(chunk.index, line, false);
      std::lock_guard lock(errors_mu_);
      result_.errors.push_back(line);
      return;
    }
  }
}

}  // namespace parmap
