// Many jobs in one run: plan each, then one pool of workers drains every job's chunks, the
// largest tables first, reading one shared snapshot of each PostgreSQL source.
#include <deque>

#include "exec/executor.h"
#include "exec/table_objects.h"

namespace parmap {

OnError on_error_from_string(std::string_view text) {
  std::string t(text);
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::tolower(c); });
  if (t == "continue") return OnError::Continue;
  if (t == "stop") return OnError::Stop;
  throw_config("on_error", std::string(text), "continue or stop");
}

bool MultiResult::ok() const {
  if (cancelled || jobs.empty()) return false;
  return std::all_of(jobs.begin(), jobs.end(), [](const JobOutcome& j) { return j.ok(); });
}

namespace {

/// The jobs being drained and the workers' shared state.
struct Drain {
  std::vector<Executor*> order;         ///< planned jobs, most queued rows first
  std::vector<std::string> names;       ///< target tables, in `order`
  std::vector<std::atomic<int>> active;  ///< threads on each job
  std::vector<std::atomic<bool>> drained;
  std::atomic<int64_t> busy_ns{0};
  std::atomic<bool> stop{false};
  OnError on_error = OnError::Continue;
  std::mutex stop_mu;

  explicit Drain(size_t n) : active(n), drained(n) {}

  /// The first job (in order) with chunks left and room for one more thread; -1 when none.
  int take() {
    for (size_t j = 0; j < order.size(); ++j) {
      if (drained[j]) continue;
      int now = active[j].load();
      while (now < order[j]->workers_allowed()) {
        if (active[j].compare_exchange_weak(now, now + 1)) return static_cast<int>(j);
      }
    }
    return -1;
  }

  void stop_all(size_t failed) {
    std::lock_guard lock(stop_mu);
    if (stop.exchange(true)) return;
    const std::string why = fmt::format("the run stopped after table {} failed (on_error: stop)",
                                        names[failed]);
    for (size_t j = 0; j < order.size(); ++j) {
      if (j != failed) order[j]->halt(why);
    }
  }

  /// One worker thread: a job at a time until its queue is drained, then the next. Its
  /// connections to a job are closed before it takes another, so that a thread never holds
  /// more than one source and one target connection.
  void worker() {
    for (int j; (j = take()) >= 0;) {
      Executor& ex = *order[j];
      for (;;) {
        const auto t0 = Clock::now();
        const bool more = ex.step();
        if (more) busy_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(
                                 Clock::now() - t0).count();
        if (ex.failed() && on_error == OnError::Stop) stop_all(j);
        if (!more) break;
      }
      ex.release_thread();
      drained[j] = true;
      --active[j];
    }
  }
};

/// Each job's last run as its target's ledger holds it (nullopt: never started, or the ledger
/// could not be read: planning then reports why).
std::vector<std::optional<JobRecord>> last_runs(const std::vector<JobDefinition>& jobs,
                                                const std::deque<ParallelOptions>& options) {
  std::vector<std::optional<JobRecord>> out(jobs.size());
  std::map<std::string, std::vector<size_t>> by_target;
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (!options[i].job_id.empty()) by_target[jobs[i].target_url].push_back(i);
  }
  for (const auto& [url, list] : by_target) {
    try {
      auto db = connection_factory(url)();
      Ledger ledger(*db);
      if (ledger.exists()) {
        for (size_t i : list) out[i] = ledger.load_job(options[i].job_id);
      }
      db->close();
    } catch (const Error& e) {
      spdlog::debug("reading the ledger of {}: {}", mask_password(url), e.what());
    }
  }
  return out;
}

/// After the data: the indexes and constraints of the jobs `with_objects` whose chunks are all
/// committed, then their finished stamps (a job whose objects failed stays unfinished, so that
/// a rerun makes what is missing).
void make_objects(const std::vector<JobDefinition>& jobs,
                  const std::vector<std::unique_ptr<Executor>>& executors,
                  const std::vector<bool>& with_objects, int max_workers, MultiResult& out) {
  std::vector<ObjectJob> todo;
  std::vector<TableRef> incomplete;
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (!with_objects[i] || !executors[i]) continue;
    const TableRef source = *simple_table_of(jobs[i].source_sql);
    if (!executors[i]->data_complete()) {
      incomplete.push_back(source);
      continue;
    }
    todo.push_back({i, jobs[i].source_url, jobs[i].target_url, source,
                    TableRef{jobs[i].target_schema, jobs[i].target_table}});
  }
  if (todo.empty()) return;
  const ObjectOutcome made = make_table_objects(todo, incomplete, max_workers);
  out.indexes_created = made.indexes;
  out.constraints_created = made.constraints;
  out.table_objects_present = made.present;
  out.table_objects = fmt::format(
      "{} index(es) and {} constraint(s) made after the data in {:.2f} s on {} session(s){}{}",
      made.indexes, made.constraints, made.seconds, made.sessions,
      made.present > 0 ? fmt::format(", {} already there", made.present) : "",
      made.errors.empty() ? "" : fmt::format(", {} table(s) with failures", made.errors.size()));
  for (const ObjectJob& job : todo) {
    JobOutcome& o = out.jobs[job.job];
    auto failed = made.errors.find(job.job);
    if (failed != made.errors.end()) {
      for (const std::string& e : failed->second) {
        o.result.errors.push_back(e);
        spdlog::error("{}", e);
      }
      continue;
    }
    try {
      executors[job.job]->stamp_finished();
      o.result.finished = true;
    } catch (const Error& e) {
      o.result.errors.push_back(fmt::format("table {}: {}", o.target_table, e.what()));
    }
  }
}

}  // namespace

MultiResult execute_jobs_parallel(const std::vector<JobDefinition>& jobs,
                                  const MultiOptions& multi) {
  if (jobs.empty()) throw_config("jobs", "", "at least one job or table");
  if (multi.max_workers < 1) {
    throw_config("max_workers", std::to_string(multi.max_workers), "a whole number >= 1");
  }
  spdlog::default_logger_raw();
  const auto t0 = Clock::now();
  MultiResult out;
  out.dry_run = multi.dry_run;
  out.jobs.resize(jobs.size());
  // Executors keep a reference to their options: a stable copy of each, completed here.
  std::deque<ParallelOptions> options;
  std::vector<std::unique_ptr<Executor>> executors(jobs.size());
  std::map<std::string, std::string> snapshots;  // source URL -> exported snapshot id
  std::set<std::string> unshared;                // engines that cannot share one
  bool stopped = false;
  // One session per target URL holds every job's lock (session-level locks, released when it
  // closes at the end), rather than one session per job: a schema of hundreds of tables must
  // not open hundreds of sessions.
  std::map<std::string, std::unique_ptr<Connection>> lock_sessions;
  auto lock_on = [&lock_sessions](const std::string& url) {
    return [&lock_sessions, url](const std::string& key) {
      auto& db = lock_sessions[url];
      if (!db) db = connection_factory(url)();
      try {
        return db->try_lock_job(key);
      } catch (const Error&) {
        db->close();  // the next attempt at planning opens a new one
        db.reset();
        throw;
      }
    };
  };
  // Jobs whose indexes and constraints follow their data: mode create, PostgreSQL to
  // PostgreSQL, a source that is a whole table. Their runs are stamped finished after that.
  std::vector<bool> with_objects(jobs.size(), false);
  bool any_create = false, any_other_pair = false;

  // Job ids first: the ledger says whether this invocation continues an earlier one.
  std::vector<std::string> url_errors(jobs.size());
  bool fresh = false;
  for (size_t i = 0; i < jobs.size(); ++i) {
    const JobDefinition& job = jobs[i];
    ParallelOptions& opts = options.emplace_back(job.options);
    opts.dry_run = multi.dry_run;
    fresh = fresh || opts.fresh;
    out.jobs[i].target_table = TableRef{job.target_schema, job.target_table}.display();
    try {
      const ConnectionUrl source = parse_url(job.source_url), target = parse_url(job.target_url);
      check_url(source, "source", true);
      check_url(target, "target", false);
      if (opts.job_id.empty()) {
        opts.job_id = derive_job_id(identity_of(source), job.source_sql, identity_of(target),
                                    out.jobs[i].target_table, opts.mode);
      }
    } catch (const Error& e) {
      url_errors[i] = e.what();
    }
  }
  const auto last = last_runs(jobs, options);
  const bool any_unfinished = std::any_of(last.begin(), last.end(), [](const auto& r) {
    return r && !r->finished;
  });
  const bool any_finished =
      std::any_of(last.begin(), last.end(), [](const auto& r) { return r && r->finished; });
  const bool any_new = std::any_of(last.begin(), last.end(), [](const auto& r) { return !r; });
  const bool resuming = !fresh && (any_unfinished || (any_finished && any_new));

  for (size_t i = 0; i < jobs.size(); ++i) {
    const JobDefinition& job = jobs[i];
    JobOutcome& o = out.jobs[i];
    const TableRef table{job.target_schema, job.target_table};
    ParallelOptions& opts = options[i];
    o.result.job_id = opts.job_id;
    // A whole table loaded in mode create is done: copying it again would only meet its
    // primary key (rows already there); mode truncate reloads it.
    const bool created = !opts.fresh && opts.mode == TargetMode::Create && last[i] &&
                         last[i]->finished && simple_table_of(job.source_sql).has_value();
    if ((resuming || created) && last[i] && last[i]->finished) {
      // Finished by an earlier invocation of this run: starting it again would append it
      // twice (append, create) or reload it for nothing (truncate).
      const JobRecord& rec = *last[i];
      o.planned = o.already_complete = true;
      o.result.finished = true;
      o.result.dry_run = multi.dry_run;
      o.result.run = rec.run;
      o.result.estimated_rows = rec.plan.estimated_rows;
      o.result.partition_column = rec.plan.partition_column;
      o.result.parallel = rec.plan.parallel;
      o.result.chunks_planned = o.result.chunks_skipped =
          static_cast<int64_t>(rec.plan.chunks.size());
      o.result.reason =
          created && !resuming
              ? fmt::format("mode create: the table was loaded by run {}; not copied again "
                            "(mode truncate reloads it)",
                            rec.run)
              : fmt::format("run {} finished in an earlier invocation of this run; not copied "
                            "again",
                            rec.run);
      continue;
    }
    try {
      if (stopped) throw Error(ErrorKind::Config, "not started: an earlier job failed (on_error: stop)");
      if (!url_errors[i].empty()) throw Error(ErrorKind::Config, url_errors[i]);
      const ConnectionUrl source = parse_url(job.source_url);
      executors[i] = std::make_unique<Executor>(connection_factory(job.source_url), job.source_sql,
                                                connection_factory(job.target_url), table, opts,
                                                opts.job_id);
      Executor& ex = *executors[i];
      ex.share_job_lock(lock_on(job.target_url));
      ex.allow_schema_creation();
      if (opts.mode == TargetMode::Create) {
        any_create = true;
        const bool pg_pair = source.scheme == "postgresql" &&
                             parse_url(job.target_url).scheme == "postgresql";
        if (pg_pair && simple_table_of(job.source_sql) && !multi.dry_run) {
          with_objects[i] = true;
          ex.defer_finished_stamp();
        } else if (!pg_pair) {
          any_other_pair = true;
        }
      }
      auto shared = snapshots.find(job.source_url);
      if (shared != snapshots.end()) ex.share_snapshot(shared->second);
      o.result = ex.start();
      o.result.dry_run = multi.dry_run;
      o.planned = true;
      if (ex.snapshot().empty()) {
        unshared.insert(source.scheme);
      } else if (shared == snapshots.end()) {
        snapshots[job.source_url] = ex.snapshot();
      }
    } catch (const Error& e) {
      executors[i].reset();
      o.result.errors.push_back(fmt::format("table {}: {}", o.target_table, e.what()));
      spdlog::error("{}", o.result.errors.back());
      if (e.kind() == ErrorKind::Cancelled) o.cancelled = out.cancelled = true;
      if (multi.on_error == OnError::Stop || out.cancelled) stopped = true;
    }
  }

  if (snapshots.empty()) {
    out.snapshot = unshared.empty() ? "no job was planned"
                                    : fmt::format("not shared: {} cannot export a snapshot, so "
                                                  "each chunk reads the source as of its own start",
                                                  fmt::join(unshared, ", "));
  } else {
    out.snapshot = snapshots.size() == 1 && unshared.empty()
                       ? "one snapshot shared by every table of the run"
                       : fmt::format("one snapshot per PostgreSQL source ({}) shared by its tables",
                                     snapshots.size());
    if (!unshared.empty()) {
      out.snapshot += fmt::format("; not shared on {}: each chunk reads as of its own start",
                                  fmt::join(unshared, ", "));
    }
  }

  Drain drain(jobs.size());
  drain.on_error = multi.on_error;
  std::vector<size_t> index;  // position in `jobs` of each drained job
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (executors[i]) index.push_back(i);
  }
  std::stable_sort(index.begin(), index.end(), [&](size_t a, size_t b) {
    return executors[a]->queued_rows() > executors[b]->queued_rows();
  });
  int wanted = 0;
  for (size_t i : index) {
    drain.order.push_back(executors[i].get());
    drain.names.push_back(out.jobs[i].target_table);
    wanted += executors[i]->workers_allowed();
  }
  if (stopped && !out.cancelled) {
    for (size_t j = 0; j < drain.order.size(); ++j) {
      drain.order[j]->halt("the run stopped after a job failed to start (on_error: stop)");
    }
  }

  if (!multi.dry_run) {
    out.workers_used = std::min(multi.max_workers, wanted);
    const auto c0 = Clock::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < out.workers_used; ++t) threads.emplace_back([&drain] { drain.worker(); });
    for (auto& t : threads) t.join();
    const double wall = std::chrono::duration<double>(Clock::now() - c0).count();
    if (out.workers_used > 0 && wall > 0) {
      out.idle_share = std::clamp(
          1.0 - static_cast<double>(drain.busy_ns) / 1e9 / (wall * out.workers_used), 0.0, 1.0);
    }
    for (size_t i : index) {
      JobOutcome& o = out.jobs[i];
      try {
        o.result = executors[i]->finish();
      } catch (const Error& e) {
        if (e.kind() == ErrorKind::Cancelled) o.cancelled = out.cancelled = true;
        o.result.errors.push_back(fmt::format("table {}: {}", o.target_table, e.what()));
      }
      o.result.dry_run = false;
    }
    if (!out.cancelled) make_objects(jobs, executors, with_objects, multi.max_workers, out);
  }
  if (any_create) {
    const char* others = "primary keys only for the other tables: indexes and constraints are "
                         "made only from PostgreSQL to PostgreSQL";
    if (out.table_objects.empty() && any_other_pair) {
      out.table_objects = others;
    } else if (any_other_pair) {
      out.table_objects += fmt::format("; {}", others);
    }
  }
  // The coordinators' sessions (the one holding the snapshot among them) close here, then the
  // sessions holding the jobs' locks.
  executors.clear();
  for (auto& [url, db] : lock_sessions) {
    if (db) db->close();
  }
  out.elapsed_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return out;
}

}  // namespace parmap
