// The run summary and plan as text or JSON, and verify's findings.
#include "cli/report.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <vector>

namespace parmap::cli {

namespace {

std::string setting_value(const ParallelConfig& c, std::string_view param) {
  if (param == "enable_parallel") return c.enable_parallel ? "true" : "false";
  if (param == "max_workers") return std::to_string(c.max_workers);
  if (param == "chunk_size") return std::to_string(c.chunk_size);
  if (param == "min_rows_for_parallel") return std::to_string(c.min_rows_for_parallel);
  if (param == "max_retries") return std::to_string(c.max_retries);
  if (param == "retry_backoff_ms") return std::to_string(c.retry_backoff_ms);
  if (param == "chunk_timeout_s") return std::to_string(c.chunk_timeout_s);
  if (param == "max_batch_bytes") return std::to_string(c.max_batch_bytes);
  if (param == "max_rejects") return std::to_string(c.max_rejects);
  return "?";
}

std::string setting_source(const ParallelConfig& c, const SettingInfo& s) {
  const auto it = c.origin.find(s.param);
  switch (it == c.origin.end() ? Source::Default : it->second) {
    case Source::Environment:
      return fmt::format("environment {}", s.env);
    case Source::Param:
      return "job param";
    case Source::Default:
      break;
  }
  return "default";
}

const SettingInfo* find_setting(std::string_view param) {
  for (const auto& s : settings_table()) {
    if (param == s.param) return &s;
  }
  return nullptr;
}

/// "enable_parallel true (default), max_workers 4 (job param), ...": the settings of the
/// parallel decision and of the chunking.
std::string decision_settings(const ParallelConfig& c) {
  std::vector<std::string> parts;
  for (const char* p : {"enable_parallel", "max_workers", "min_rows_for_parallel", "chunk_size"}) {
    if (const SettingInfo* s = find_setting(p)) {
      parts.push_back(fmt::format("{} {} ({})", p, setting_value(c, p), setting_source(c, *s)));
    }
  }
  return fmt::format("{}", fmt::join(parts, ", "));
}

}  // namespace

std::string config_text(const ParallelConfig& config) {
  std::string out = fmt::format("{:<22} {:<16} {}\n", "setting", "value", "source");
  for (const auto& s : settings_table()) {
    out += fmt::format("{:<22} {:<16} {}\n", s.param, setting_value(config, s.param),
                       setting_source(config, s));
  }
  return out;
}

nlohmann::json config_json(const ParallelConfig& config) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& s : settings_table()) {
    out.push_back({{"setting", s.param},
                   {"environment", s.env},
                   {"value", setting_value(config, s.param)},
                   {"source", setting_source(config, s)}});
  }
  return out;
}

std::string summary_text(const ParallelResult& r, const Endpoints& where, bool plan_only,
                         const ParallelOptions* options) {
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
  if (options) line("mode", to_string(options->mode));
  line("plan", r.reason);
  if (options && plan_only) line("settings", decision_settings(options->config));
  line("partition", r.partition_column.empty() ? "none (one stream)" : r.partition_column);
  line("snapshot", r.snapshot);
  if (!r.path.empty()) line("data path", r.path);
  if (plan_only) {
    line("chunks", fmt::format("{} planned, {} already committed, {} worker(s)", r.chunks_planned,
                               r.chunks_skipped, r.workers_used));
    // The first and the last few: where the key space starts and ends, and the open ends.
    constexpr size_t kEnds = 5;
    const size_t n = r.chunks.size();
    for (size_t i = 0; i < n; ++i) {
      if (n > 3 * kEnds && i == kEnds) {
        out += fmt::format("  ... {} more (--output json lists all)\n", n - 2 * kEnds);
        i = n - kEnds - 1;
        continue;
      }
      out += fmt::format("  {}  ~{} rows\n", r.chunks[i].bounds, r.chunks[i].estimated_rows);
    }
    return out;
  }
  line("chunks", fmt::format("{} planned, {} done, {} skipped (already committed), {} failed",
                             r.chunks_planned, r.chunks_done, r.chunks_skipped, r.chunks_failed));
  line("rows", fmt::format("{} in {:.2f} s ({:.0f} rows/s), {} worker(s), {} retries",
                           r.total_rows_processed, r.elapsed_seconds, r.rows_per_second,
                           r.workers_used, r.retries));
  if (!r.commit_groups.empty()) line("commits", r.commit_groups);
  if (!r.ranks.empty()) {
    line("ranks", fmt::format("{} (MPI): rank 0 planned, held the snapshot and handed out the "
                              "chunks one at a time to the workers that asked",
                              r.ranks.size()));
    for (const RankShare& s : r.ranks) {
      std::string cost;
      if (s.rank > 0 && s.chunks > 0) {
        cost = fmt::format(", {} messages, {:.2f} ms waited per chunk", s.messages,
                           s.wait_ms / static_cast<double>(s.chunks));
      }
      out += fmt::format("  rank {:<4} {}: {} worker(s), {} chunks, {} rows{}{}\n", s.rank, s.host,
                         s.workers, s.chunks, s.rows, cost,
                         s.error.empty() ? "" : ", stopped: " + s.error);
    }
  }
  if (!r.workers_decision.empty()) line("workers", r.workers_decision);
  if (r.rows_rejected > 0) {
    line("rejected",
         fmt::format("{} row(s), written to {}{}", r.rows_rejected, r.reject_file,
                     r.rows_rejected_before > 0
                         ? fmt::format(" ({} by an earlier invocation of run {}, in the chunks "
                                       "it committed)",
                                       r.rows_rejected_before, r.run)
                         : ""));
  }
  for (const auto& e : r.errors) line("error", e);
  if (!r.unfinished_chunks.empty()) {
    const size_t shown = std::min<size_t>(r.unfinished_chunks.size(), 20);
    std::vector<uint32_t> first(r.unfinished_chunks.begin(),
                                r.unfinished_chunks.begin() + static_cast<std::ptrdiff_t>(shown));
    line("not done",
         fmt::format("{} of {} chunks: {}{}", r.unfinished_chunks.size(), r.chunks_planned,
                     fmt::join(first, ", "), shown < r.unfinished_chunks.size() ? ", ..." : ""));
  }
  if (r.ok() && !r.complete()) {
    // Every chunk is in, but not every row: the refused ones are in the reject file (exit 3).
    line("result", fmt::format("complete but for {} row(s) the target refused: run {} finished, "
                               "every planned chunk committed, the refused rows are in {} and "
                               "not in the target",
                               r.rows_rejected, r.run, r.reject_file));
  } else if (r.ok()) {
    line("result", fmt::format("complete: run {} finished, every planned chunk committed", r.run));
  } else {
    line("result", "INCOMPLETE: rows are missing from the target");
    line("resume", "rerun the same command: committed chunks are skipped, the rest are loaded");
  }
  return out;
}

std::string summary_json(const ParallelResult& r, const Endpoints& where, bool plan_only,
                         const ParallelOptions* options) {
  nlohmann::json j{{"job_id", r.job_id},
                   {"source", where.source},
                   {"target", where.target},
                   {"target_table", where.target_table},
                   {"dry_run", plan_only},
                   {"resumed", r.resumed},
                   {"run", r.run},
                   {"run_state", plan_only   ? "planned"
                                 : r.resumed ? "resumed"
                                             : "new"},
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
                   {"chunks_refused", r.chunks_refused},
                   {"commits", r.commits},
                   {"commit_groups", r.commit_groups},
                   {"retries", r.retries},
                   {"rows_rejected", r.rows_rejected},
                   {"rows_rejected_before", r.rows_rejected_before},
                   {"reject_file", r.reject_file},
                   {"workers_used", r.workers_used},
                   {"workers_decision", r.workers_decision},
                   {"elapsed_seconds", r.elapsed_seconds},
                   {"rows_per_second", r.rows_per_second},
                   {"errors", r.errors},
                   {"ok", r.ok()},
                   {"complete", r.complete()}};
  if (!r.ranks.empty()) {
    auto& ranks = j["ranks"] = nlohmann::json::array();
    for (const RankShare& s : r.ranks) {
      ranks.push_back({{"rank", s.rank},
                       {"host", s.host},
                       {"workers", s.workers},
                       {"chunks", s.chunks},
                       {"rows", s.rows},
                       {"messages", s.messages},
                       {"wait_ms", s.wait_ms},
                       {"error", s.error}});
    }
  }
  if (options) {
    j["mode"] = to_string(options->mode);
    j["settings"] = config_json(options->config);
  }
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
