// Many jobs in one run: plan each, then one pool of workers drains every job's chunks, the
// largest tables first, reading one shared snapshot of each PostgreSQL source.
#include <deque>

#include "exec/executor.h"

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
    if (resuming && last[i] && last[i]->finished) {
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
      o.result.reason = fmt::format("run {} finished in an earlier invocation of this run; not "
                                    "copied again",
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
  }
  // The coordinators' sessions (the one holding the snapshot among them) close here.
  executors.clear();
  out.elapsed_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return out;
}

}  // namespace parmap
