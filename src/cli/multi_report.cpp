// What the command line prints for a run of many jobs: a line per table, the run's totals.
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>

#include "cli/report.h"

namespace parmap::cli {
namespace {

std::string state_of(const JobOutcome& o, bool dry_run) {
  if (!o.planned) return "not started";
  if (o.already_complete) return "done before";
  if (dry_run) return o.result.resumed ? "would resume" : "planned";
  if (o.cancelled) return "cancelled";
  return o.ok() ? "complete" : "INCOMPLETE";
}

}  // namespace

std::string multi_summary_text(const MultiResult& r, const std::vector<Endpoints>& where) {
  std::string out;
  size_t complete = 0;
  int64_t rows = 0, estimate = 0;
  for (const JobOutcome& o : r.jobs) {
    complete += o.ok() ? 1 : 0;
    rows += o.result.total_rows_processed;
    estimate += o.result.estimated_rows;
  }
  if (!where.empty()) {
    out += fmt::format("{:<11} {}\n", "source", where.front().source);
    out += fmt::format("{:<11} {}\n", "target", where.front().target);
  }
  out += fmt::format("{:<11} {}\n", "snapshot", r.snapshot);
  out += fmt::format("{:<32} {:<12} {:>12} {:>12} {:>9} {:>9}\n", "table", "state",
                     r.dry_run ? "estimate" : "rows", r.dry_run ? "parallel" : "estimate",
                     r.dry_run ? "chunks" : "chunks", r.dry_run ? "workers" : "seconds");
  for (const JobOutcome& o : r.jobs) {
    const ParallelResult& j = o.result;
    if (r.dry_run) {
      out += fmt::format("{:<32} {:<12} {:>12} {:>12} {:>9} {:>9}\n", o.target_table,
                         state_of(o, true), j.estimated_rows, j.parallel ? "yes" : "no",
                         fmt::format("{}/{}", j.chunks_planned - j.chunks_skipped,
                                     j.chunks_planned),
                         j.workers_used);
    } else {
      out += fmt::format("{:<32} {:<12} {:>12} {:>12} {:>9} {:>9.2f}\n", o.target_table,
                         state_of(o, false), j.total_rows_processed, j.estimated_rows,
                         fmt::format("{}/{}", j.chunks_done + j.chunks_skipped, j.chunks_planned),
                         j.elapsed_seconds);
    }
  }
  for (const JobOutcome& o : r.jobs) {
    for (const auto& e : o.result.errors) out += fmt::format("{:<11} {}\n", "error", e);
  }
  const bool skipped = std::any_of(r.jobs.begin(), r.jobs.end(),
                                   [](const JobOutcome& o) { return o.already_complete; });
  if (skipped) {
    out += fmt::format("{:<11} tables 'done before' finished in an earlier invocation of this "
                       "run and are not copied again\n",
                       "resumed");
  }
  if (r.dry_run) {
    out += fmt::format("{:<11} {} tables, {} rows estimated; chunks to do/planned per table\n",
                       "plan", r.jobs.size(), estimate);
    return out;
  }
  out += fmt::format("{:<11} {} rows in {:.2f} s, {} worker(s), {:.1f}% of worker time idle\n",
                     "rows", rows, r.elapsed_seconds, r.workers_used, r.idle_share * 100);
  if (!r.table_objects.empty()) out += fmt::format("{:<11} {}\n", "indexes", r.table_objects);
  int64_t rejected = 0;
  for (const JobOutcome& o : r.jobs) rejected += o.result.rows_rejected;
  if (r.ok() && rejected > 0) {
    out += fmt::format("{:<11} complete but for {} row(s) the target refused: all {} tables, "
                       "every planned chunk committed, the refused rows in the tables' reject "
                       "files and not in the target\n",
                       "result", rejected, r.jobs.size());
  } else if (r.ok()) {
    out += fmt::format("{:<11} complete: all {} tables, every planned chunk committed\n", "result",
                       r.jobs.size());
  } else {
    out += fmt::format("{:<11} INCOMPLETE: {} of {} tables complete; rows are missing from the "
                       "others\n",
                       "result", complete, r.jobs.size());
    out += fmt::format("{:<11} rerun the same command: complete tables and committed chunks are "
                       "skipped, the rest are loaded\n",
                       "resume");
  }
  return out;
}

std::string multi_summary_json(const MultiResult& r, const std::vector<Endpoints>& where) {
  nlohmann::json jobs = nlohmann::json::array();
  for (size_t i = 0; i < r.jobs.size(); ++i) {
    const JobOutcome& o = r.jobs[i];
    nlohmann::json j =
        nlohmann::json::parse(summary_json(o.result, i < where.size() ? where[i] : Endpoints{},
                                           r.dry_run));
    j["state"] = state_of(o, r.dry_run);
    j["ok"] = o.ok();
    jobs.push_back(std::move(j));
  }
  nlohmann::json out{{"ok", r.ok()},
                     {"dry_run", r.dry_run},
                     {"snapshot", r.snapshot},
                     {"workers_used", r.workers_used},
                     {"elapsed_seconds", r.elapsed_seconds},
                     {"idle_share", r.idle_share},
                     {"cancelled", r.cancelled},
                     {"table_objects", r.table_objects},
                     {"indexes_created", r.indexes_created},
                     {"constraints_created", r.constraints_created},
                     {"table_objects_present", r.table_objects_present},
                     {"jobs", std::move(jobs)}};
  return out.dump(2);
}

std::function<void(const ProgressEvent&)> MultiProgressPrinter::for_job(const std::string& table) {
  return [this, table](const ProgressEvent& ev) { report(table, ev); };
}

void MultiProgressPrinter::report(const std::string& table, const ProgressEvent& ev) {
  if (ev.kind != ProgressKind::ChunkDone) return;  // one line per committed chunk at most
  std::lock_guard lock(mu_);
  ++chunks_;
  rows_ += ev.chunk_rows;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_ < std::chrono::seconds(1)) return;
  last_ = now;
  const double secs = std::chrono::duration<double>(now - start_).count();
  std::fprintf(stderr,
               "progress: %lld chunks, %lld rows, %.0f rows/s this run; %s: chunk %u of %u, "
               "%lld rows\n",
               static_cast<long long>(chunks_), static_cast<long long>(rows_),
               secs > 0 ? static_cast<double>(rows_) / secs : 0.0, table.c_str(),
               ev.chunk_index + 1, ev.chunks_total, static_cast<long long>(ev.rows_done));
}

}  // namespace parmap::cli
