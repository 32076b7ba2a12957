// The run summary and plan as text or JSON, and verify's findings.
#include "cli/report.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdio>
#include <vector>
#include <nlohmann/json.hpp>

namespace parmap::cli {

std::string summary_text(const ParallelResult& r, const Endpoints& where, bool plan_only) {
  std::string out;
  auto line = [&](const char* label, const std::string& value) {
    out += fmt::format("{:<11} {}\n", label, value);
  };
  std::string run;
  if (r.run > 0 && !plan_only) {
    run = fmt::format(" ({} run {})", r.resumed ? "resumed" : "new", r.run);
  } else if (r.run > 0) {
    run = fmt::format(" ({} run {})", r.resumed ? "would resume" : "would start", r.run);
  }
  line("job", r.job_id + run);
  line("source", where.source);
  line("target", fmt::format("{} table {}", where.target, where.target_table));
  line("estimate", fmt::format("{} rows", r.estimated_rows));
  line("plan", r.reason);
  line("partition", r.partition_column.empty() ? "none (one stream)" : r.partition_column);
  line("snapshot", r.snapshot);
  if (!r.path.empty()) line("data path", r.path);
  if (plan_only) {
    line("chunks", fmt::format("{} planned, {} already committed, {} worker(s)", r.chunks_planned,
                               r.chunks_skipped, r.workers_used));
    const size_t shown = std::min<size_t>(r.chunks.size(), 50);
    for (size_t i = 0; i < shown; ++i) {
      out += fmt::format("  {}  ~{} rows\n", r.chunks[i].bounds, r.chunks[i].estimated_rows);
    }
    if (shown < r.chunks.size()) out += fmt::format("  ... {} more\n", r.chunks.size() - shown);
    return out;
  }
  line("chunks", fmt::format("{} planned, {} done, {} skipped (already committed), {} failed",
                             r.chunks_planned, r.chunks_done, r.chunks_skipped, r.chunks_failed));
  line("rows", fmt::format("{} in {:.2f} s ({:.0f} rows/s), {} worker(s), {} retries",
                           r.total_rows_processed, r.elapsed_seconds, r.rows_per_second,
                           r.workers_used, r.retries));
  if (r.rows_rejected > 0) {
    line("rejected", fmt::format("{} row(s), written to {}", r.rows_rejected, r.reject_file));
  }
  for (const auto& e : r.errors) line("error", e);
  if (!r.unfinished_chunks.empty()) {
    const size_t shown = std::min<size_t>(r.unfinished_chunks.size(), 20);
    std::vector<uint32_t> first(r.unfinished_chunks.begin(),
                                r.unfinished_chunks.begin() + static_cast<std::ptrdiff_t>(shown));
    line("not done", fmt::format("{} of {} chunks: {}{}", r.unfinished_chunks.size(),
                                 r.chunks_planned, fmt::join(first, ", "),
                                 shown < r.unfinished_chunks.size() ? ", ..." : ""));
  }
  if (r.ok()) {
    line("result", fmt::format("complete: run {} finished, every planned chunk committed", r.run));
  } else {
    line("result", "INCOMPLETE: rows are missing from the target");
    line("resume", "rerun the same command: committed chunks are skipped, the rest are loaded");
  }
  return out;
}

std::string summary_json(const ParallelResult& r, const Endpoints& where, bool plan_only) {
  nlohmann::json j{{"job_id", r.job_id},
                   {"source", where.source},
                   {"target", where.target},
                   {"target_table", where.target_table},
                   {"dry_run", plan_only},
                   {"resumed", r.resumed},
                   {"run", r.run},
                   {"run_state", plan_only ? "planned" : r.resumed ? "resumed" : "new"},
                   {"finished", r.finished},
                   {"unfinished_chunks", r.unfinished_chunks},
                   {"parallel", r.parallel},
                   {"reason", r.reason},
                   {"partition_column", r.partition_column},
                   {"snapshot", r.snapshot},
                   {"fast_path", r.fast_path},
                   {"path", r.path},
                   {"estimated_rows", r.estimated_rows},
                   {"total_rows_processed", r.total_rows_processed},
                   {"chunks_planned", r.chunks_planned},
                   {"chunks_done", r.chunks_done},
                   {"chunks_skipped", r.chunks_skipped},
                   {"chunks_failed", r.chunks_failed},
                   {"retries", r.retries},
                   {"rows_rejected", r.rows_rejected},
                   {"reject_file", r.reject_file},
                   {"workers_used", r.workers_used},
                   {"elapsed_seconds", r.elapsed_seconds},
                   {"rows_per_second", r.rows_per_second},
                   {"errors", r.errors},
                   {"ok", r.ok()}};
  if (plan_only) {
    auto& chunks = j["chunks"] = nlohmann::json::array();
    for (const auto& c : r.chunks) {
      chunks.push_back(
          {{"index", c.index}, {"bounds", c.bounds}, {"estimated_rows", c.estimated_rows}});
    }
  }
  return j.dump(2) + "\n";
}

std::string verify_text(const VerifyResult& v, const Endpoints& where) {
  std::string out;
  auto line = [&](const char* label, const std::string& value) {
    out += fmt::format("{:<11} {}\n", label, value);
  };
  const char* against = v.against_ledger ? "the ledger" : "the source";
  line("verify", fmt::format("job {}: target {} table {} against {}", v.job_id, where.target,
                             where.target_table, v.against_ledger ? "the ledger" : where.source));
  line("compared", v.scope);
  if (!v.against_ledger) line("snapshot", v.snapshot);
  line("rows", fmt::format("{} in {}, {} in the target, {:.2f} s, {} retries", v.expected_rows,
                           against, v.target_rows, v.elapsed_seconds, v.retries));
  const size_t shown = std::min<size_t>(v.differences.size(), 100);
  for (size_t i = 0; i < shown; ++i) {
    const auto& d = v.differences[i];
    line("differs", fmt::format("{}: {}", d.bounds, d.problem));
  }
  if (shown < v.differences.size()) {
    out += fmt::format("  ... {} more (--output json lists all)\n", v.differences.size() - shown);
  }
  line("result", v.ok() ? fmt::format("OK: all {} range(s) match", v.ranges_checked)
                        : fmt::format("DIFFERENT: {} of {} range(s) differ", v.differences.size(),
                                      v.ranges_checked));
  return out;
}

nlohmann::json verify_json(const VerifyResult& v, const Endpoints& where) {
  nlohmann::json diffs = nlohmann::json::array();
  for (const auto& d : v.differences) {
    diffs.push_back({{"index", d.index},
                     {"bounds", d.bounds},
                     {"expected_rows", d.expected_rows},
                     {"target_rows", d.target_rows},
                     {"problem", d.problem}});
  }
  return {{"job_id", v.job_id},
          {"source", where.source},
          {"target", where.target},
          {"target_table", where.target_table},
          {"against_ledger", v.against_ledger},
          {"scope", v.scope},
          {"snapshot", v.snapshot},
          {"ranges_checked", v.ranges_checked},
          {"ranges_matching", v.ranges_matching},
          {"expected_rows", v.expected_rows},
          {"target_rows", v.target_rows},
          {"retries", v.retries},
          {"differences", diffs},
          {"elapsed_seconds", v.elapsed_seconds},
          {"ok", v.ok()}};
}

}  // namespace parmap::cli
