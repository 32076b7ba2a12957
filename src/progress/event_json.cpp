// ProgressEvent to JSON, one object per event with the fields its kind carries.
#include "progress/event_json.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <chrono>

namespace parmap {

namespace {

std::string utc_now() {
  const auto now = std::chrono::system_clock::now();
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03}Z",
                     fmt::gmtime(std::chrono::system_clock::to_time_t(now)), ms);
}

void add_plan(nlohmann::ordered_json& j, const ParallelResult& r) {
  j["job_id"] = r.job_id;
  j["run"] = r.run;
  j["resumed"] = r.resumed;
  j["parallel"] = r.parallel;
  j["reason"] = r.reason;
  j["partition_column"] = r.partition_column;
  j["snapshot"] = r.snapshot;
  j["path"] = r.path;
  j["fast_path"] = r.fast_path;
  j["chunks_planned"] = r.chunks_planned;
  j["workers_used"] = r.workers_used;
}

}  // namespace

nlohmann::ordered_json ranks_json(const std::vector<RankShare>& ranks) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const RankShare& r : ranks) {
    nlohmann::ordered_json j{{"rank", r.rank},         {"host", r.host},
                             {"workers", r.workers},   {"chunks", r.chunks},
                             {"rows", r.rows},         {"messages", r.messages},
                             {"wait_ms", r.wait_ms}};
    if (!r.error.empty()) j["error"] = r.error;
    out.push_back(std::move(j));
  }
  return out;
}

nlohmann::ordered_json event_json(const ProgressEvent& ev) {
  nlohmann::ordered_json j{{"event", to_string(ev.kind)}, {"time", utc_now()}};
  const bool chunk = ev.kind == ProgressKind::ChunkStarted || ev.kind == ProgressKind::ChunkDone ||
                     ev.kind == ProgressKind::ChunkRetried || ev.kind == ProgressKind::ChunkFailed;
  if (chunk) {
    j["chunk"] = ev.chunk_index;
    j["bounds"] = ev.bounds;
    j["worker"] = ev.worker;
    if (ev.rank > 0) j["rank"] = ev.rank;
    j["attempt"] = ev.attempt;
  }
  if (ev.kind == ProgressKind::ChunkDone) {
    j["rows"] = ev.chunk_rows;
    if (ev.chunk_bytes >= 0) j["bytes"] = ev.chunk_bytes;
    j["seconds"] = ev.chunk_seconds;
  }
  if (ev.kind == ProgressKind::ChunkFailed) j["seconds"] = ev.chunk_seconds;
  if (ev.kind == ProgressKind::ChunkRetried || ev.kind == ProgressKind::ChunkFailed) {
    j["error"] = ev.error;
  }
  if (ev.result && ev.kind == ProgressKind::JobStarted) add_plan(j, *ev.result);
  if (ev.result && ev.kind == ProgressKind::JobFinished) {
    const ParallelResult& r = *ev.result;
    add_plan(j, r);
    j["ok"] = r.ok();
    j["finished"] = r.finished;
    j["total_rows_processed"] = r.total_rows_processed;
    j["rows_per_second"] = r.rows_per_second;
    j["unfinished_chunks"] = r.unfinished_chunks;
    j["errors"] = r.errors;
    j["reject_file"] = r.reject_file;
    if (!r.ranks.empty()) j["ranks"] = ranks_json(r.ranks);
  }
  j["estimated_rows"] = ev.estimated_rows;
  j["rows_done"] = ev.rows_done;
  j["bytes_done"] = ev.bytes_done;
  j["chunks_total"] = ev.chunks_total;
  j["chunks_done"] = ev.chunks_done;
  j["chunks_skipped"] = ev.chunks_skipped;
  j["chunks_failed"] = ev.chunks_failed;
  j["retries"] = ev.retries;
  j["rows_rejected"] = ev.rows_rejected;
  j["workers"] = ev.workers;
  j["workers_busy"] = ev.workers_busy;
  j["elapsed_seconds"] = ev.elapsed_seconds;
  return j;
}

}  // namespace parmap
