// The run report from the ledger: each committed chunk's row becomes the chunk_started and
// chunk_done events the live report would have seen, fed to the same renderer.
#include "progress/ledger_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <memory>
#include <set>
#include <tuple>
#include <vector>

#include "exec/ledger.h"
#include "parmap/error.h"
#include "parmap/parmap.h"
#include "progress/html_report.h"
#include "progress/progress_tracker.h"

namespace parmap {
namespace {

/// Seconds since the epoch of "YYYY-MM-DDTHH:MM:SS[.fff]Z" (UTC); -1 when it is not one.
double epoch_seconds(const std::string& stamp) {
  std::tm tm{};
  double seconds = 0;
  if (std::sscanf(stamp.c_str(), "%4d-%2d-%2dT%2d:%2d:%lf", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &seconds) != 6) {
    return -1;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<double>(timegm(&tm)) + seconds;
}

/// One job's last run as the ledger holds it.
struct JobData {
  std::string id;
  RunRecord run;
  JobRecord job;
  std::vector<LedgerChunk> chunks;  ///< committed, with their times (epoch seconds below)
  std::vector<std::pair<double, double>> spans;  ///< start, commit of each; start = commit
                                                 ///< when not recorded
  int64_t rows = 0;
  int64_t unstamped = 0;  ///< chunks without start, worker or attempt (an older parmap's)
  std::set<int> workers;
  double first = -1, last = -1;  ///< earliest start (or the run's start), latest commit
};

JobData load_job(Ledger& ledger, const std::string& id, const std::string& where) {
  JobData d;
  d.id = id;
  const std::optional<JobRecord> job = ledger.load_job(id);
  const std::vector<RunRecord> runs = ledger.runs(id);
  if (!job || runs.empty()) {
    throw Error(ErrorKind::Config,
                fmt::format("job '{}' has no run in the ledger of {}", id, where));
  }
  d.job = *job;
  d.run = runs.back();  // the current run: the one the ledger's chunks belong to
  d.chunks = ledger.chunk_history(id);
  d.first = epoch_seconds(d.run.started_at);
  for (const LedgerChunk& c : d.chunks) {
    const double end = epoch_seconds(c.committed_at);
    const double start = c.started_at.empty() ? end : epoch_seconds(c.started_at);
    if (c.started_at.empty() || c.worker < 0) ++d.unstamped;
    if (c.worker >= 0) d.workers.insert(c.worker);
    d.spans.emplace_back(start, end);
    d.rows += c.rows;
    if (start >= 0 && (d.first < 0 || start < d.first)) d.first = start;
    d.last = std::max(d.last, end);
  }
  if (!d.run.finished_at.empty()) d.last = std::max(d.last, epoch_seconds(d.run.finished_at));
  if (d.last < 0) d.last = d.first;
  return d;
}

/// A committed chunk as the events of a run: started, then done, at times from `t0`.
void send_chunk(HtmlReport& report, ProgressEvent& ev, uint32_t key, const LedgerChunk& c,
                std::pair<double, double> span, int worker, double t0, const std::string& bounds) {
  ev.chunk_index = key;
  ev.bounds = bounds;
  ev.worker = worker;
  ev.attempt = std::max(0, c.attempt);
  ev.kind = ProgressKind::ChunkStarted;
  ev.elapsed_seconds = span.first < 0 ? 0 : span.first - t0;
  report.on_event(ev);
  ev.kind = ProgressKind::ChunkDone;
  ev.chunk_rows = c.rows;
  ev.rows_done += c.rows;
  ++ev.chunks_done;
  ev.elapsed_seconds = span.second < 0 ? 0 : span.second - t0;
  ev.chunk_seconds = std::max(0.0, span.second - span.first);
  report.on_event(ev);
}

/// Sends the report the job_started event of `r`; returns the event, to be reused for chunks.
ProgressEvent start_report(HtmlReport& report, const ParallelResult& r) {
  ProgressEvent ev;
  ev.workers = r.workers_used;
  ev.chunks_total = static_cast<uint32_t>(r.chunks_planned);
  ev.estimated_rows = r.estimated_rows;
  ev.kind = ProgressKind::JobStarted;
  ev.result = &r;
  report.on_event(ev);
  ev.result = nullptr;
  return ev;
}

std::string only_committed_note(const std::string& where) {
  return fmt::format(
      "drawn after the fact from the ledger of {}: only committed attempts are shown; attempts "
      "that failed or were retried are not in the ledger, and the retries above count only "
      "the earlier attempts of committed chunks",
      where);
}

std::string unstamped_note(int64_t unstamped, int64_t chunks) {
  return fmt::format(
      "{} of {} chunks were committed by an older parmap that did not record when a chunk "
      "started, its worker or its attempt: each is drawn as a mark at its commit time (whole "
      "seconds) in the lane \"worker ?\"",
      unstamped, chunks);
}

/// The page of one job's last run.
LedgerReport draw_job(const JobData& d, const std::string& where) {
  const double t0 = std::max(0.0, d.first);
  ParallelResult r;
  r.job_id = d.id;
  r.run = d.run.run;
  r.estimated_rows = d.job.plan.estimated_rows;
  r.chunks_planned = static_cast<int64_t>(d.job.plan.chunks.size());
  r.chunks_done = static_cast<int64_t>(d.chunks.size());
  r.parallel = d.job.plan.parallel;
  r.reason = d.job.plan.reason;
  r.partition_column = d.job.plan.partition_column;
  r.finished = !d.run.finished_at.empty();
  r.workers_used = d.workers.empty() ? 0 : *d.workers.rbegin() + 1;
  r.elapsed_seconds = std::max(0.0, d.last - t0);
  r.total_rows_processed = d.rows;
  std::set<uint32_t> committed;
  for (const LedgerChunk& c : d.chunks) {
    committed.insert(c.chunk_id);
    if (c.attempt > 1) r.retries += c.attempt - 1;
  }
  std::map<uint32_t, std::string> bounds;
  for (const Chunk& c : d.job.plan.chunks) {
    bounds[c.index] = bounds_of(c);
    if (!committed.count(c.index)) r.unfinished_chunks.push_back(c.index);
  }
  r.rows_per_second =
      r.elapsed_seconds > 0 ? static_cast<double>(r.total_rows_processed) / r.elapsed_seconds : 0;

  HtmlReport report("");
  report.set_title("parmap report from the ledger");
  report.add_note(only_committed_note(where));
  report.add_note(fmt::format("run {} ({}) into {}, started {}{}", d.run.run, d.run.mode,
                              d.run.target_table, d.run.started_at,
                              r.finished ? ", finished " + d.run.finished_at : ", not finished"));
  if (!r.finished) {
    report.add_note(fmt::format("the run is not finished: {} of {} chunks committed", r.chunks_done,
                                r.chunks_planned));
  }
  if (d.unstamped > 0) report.add_note(unstamped_note(d.unstamped, r.chunks_done));

  ProgressEvent ev = start_report(report, r);
  // In commit order, so that rows_done grows as it did.
  std::vector<size_t> order(d.chunks.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::tie(d.spans[a].second, d.chunks[a].chunk_id) <
           std::tie(d.spans[b].second, d.chunks[b].chunk_id);
  });
  for (size_t i : order) {
    const LedgerChunk& c = d.chunks[i];
    const auto it = bounds.find(c.chunk_id);
    send_chunk(report, ev, c.chunk_id, c, d.spans[i], c.worker, t0,
               it == bounds.end() ? "" : it->second);
  }
  ev.kind = ProgressKind::JobFinished;
  ev.elapsed_seconds = r.elapsed_seconds;
  ev.result = &r;
  report.on_event(ev);

  LedgerReport out;
  out.job_id = d.id;
  out.run = r.run;
  out.chunks = r.chunks_done;
  out.workers = static_cast<int>(d.workers.size());
  out.rows = r.total_rows_processed;
  out.finished = r.finished;
  out.html = report.render();
  return out;
}

/// The page of several jobs' last runs (a run of many tables) on one time axis: a line per
/// table, and a lane per table and worker, labelled with both.
LedgerReport draw_jobs(std::vector<JobData> jobs, const std::string& where) {
  std::sort(jobs.begin(), jobs.end(), [](const JobData& a, const JobData& b) {
    return std::tie(a.run.target_table, a.id) < std::tie(b.run.target_table, b.id);
  });
  double t0 = -1, t_end = 0;
  for (const JobData& d : jobs) {
    if (d.first >= 0 && (t0 < 0 || d.first < t0)) t0 = d.first;
    t_end = std::max(t_end, d.last);
  }
  t0 = std::max(0.0, t0);

  ParallelResult r;
  r.reason = "a run of many tables: every job in the ledger, each job's last run";
  r.partition_column = "per table";
  r.finished = true;
  r.elapsed_seconds = std::max(0.0, t_end - t0);
  HtmlReport report("");
  report.set_title(fmt::format("parmap report from the ledger: {} tables", jobs.size()));
  report.add_note(only_committed_note(where));
  // A lane per (job, worker); chunks keyed by their order on the page.
  std::vector<std::string> labels;
  std::map<std::pair<size_t, int>, int> lane;
  int64_t unstamped = 0, chunks = 0;
  for (size_t j = 0; j < jobs.size(); ++j) {
    const JobData& d = jobs[j];
    for (int w : d.workers) {
      lane[{j, w}] = static_cast<int>(labels.size());
      labels.push_back(fmt::format("{} / {}", d.run.target_table, w));
    }
    const bool finished = !d.run.finished_at.empty();
    r.finished = r.finished && finished;
    r.estimated_rows += d.job.plan.estimated_rows;
    r.chunks_planned += static_cast<int64_t>(d.job.plan.chunks.size());
    r.chunks_done += static_cast<int64_t>(d.chunks.size());
    r.total_rows_processed += d.rows;
    for (const LedgerChunk& c : d.chunks) r.retries += c.attempt > 1 ? c.attempt - 1 : 0;
    unstamped += d.unstamped;
    chunks += static_cast<int64_t>(d.chunks.size());
    const double first = std::max(0.0, d.first);
    report.add_table({d.run.target_table, d.id, finished ? "finished" : "not finished", d.rows,
                      static_cast<int64_t>(d.chunks.size()),
                      static_cast<int64_t>(d.job.plan.chunks.size()),
                      std::max(0.0, d.last - first)});
  }
  r.workers_used = static_cast<int>(labels.size());
  r.rows_per_second =
      r.elapsed_seconds > 0 ? static_cast<double>(r.total_rows_processed) / r.elapsed_seconds : 0;
  report.set_lane_labels(labels);
  if (!r.finished) report.add_note("not every table's run is finished (see the tables)");
  if (unstamped > 0) report.add_note(unstamped_note(unstamped, chunks));

  ProgressEvent ev = start_report(report, r);
  uint32_t key = 0;
  for (size_t j = 0; j < jobs.size(); ++j) {
    const JobData& d = jobs[j];
    std::map<uint32_t, std::string> bounds;
    for (const Chunk& c : d.job.plan.chunks) bounds[c.index] = bounds_of(c);
    for (size_t i = 0; i < d.chunks.size(); ++i, ++key) {
      const LedgerChunk& c = d.chunks[i];
      report.set_chunk_label(key, fmt::format("{} chunk {}", d.run.target_table, c.chunk_id));
      const int worker = c.worker < 0 ? -1 : lane[{j, c.worker}];
      send_chunk(report, ev, key, c, d.spans[i], worker, t0, bounds[c.chunk_id]);
    }
  }
  ev.kind = ProgressKind::JobFinished;
  ev.elapsed_seconds = r.elapsed_seconds;
  ev.result = &r;
  report.on_event(ev);

  LedgerReport out;
  out.jobs = static_cast<int64_t>(jobs.size());
  out.chunks = r.chunks_done;
  out.workers = r.workers_used;
  out.rows = r.total_rows_processed;
  out.finished = r.finished;
  out.html = report.render();
  return out;
}

}  // namespace

LedgerReport ledger_report(const std::string& target_url, const std::string& job_id) {
  const ConnectionUrl url = parse_url(target_url);
  check_url(url, "target", true);  // reading a ledger must not create a database
  const std::string where = url.masked();
  std::unique_ptr<Connection> db = connection_factory(target_url)();
  Ledger ledger(*db);
  if (!ledger.exists()) {
    throw Error(ErrorKind::Config,
                fmt::format("{} has no parmap ledger (no {} table): no job has run into it", where,
                            Ledger::kJobsTable));
  }
  std::set<std::string> ids;
  if (job_id.empty()) {
    for (const RunRecord& r : ledger.runs("")) ids.insert(r.job_id);
    if (ids.empty())
      throw Error(ErrorKind::Config, fmt::format("the ledger of {} has no job", where));
  } else {
    ids.insert(job_id);
  }
  std::vector<JobData> jobs;
  for (const std::string& id : ids) jobs.push_back(load_job(ledger, id, where));
  db->close();
  return jobs.size() == 1 ? draw_job(jobs.front(), where) : draw_jobs(std::move(jobs), where);
}

}  // namespace parmap
