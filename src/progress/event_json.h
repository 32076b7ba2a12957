// A ProgressEvent as one JSON object: the lines of `parmap run --progress json`.
#pragma once

#include <nlohmann/json.hpp>

#include "parmap/parmap.h"

namespace parmap {

/// The event as JSON: `event` (its kind's name), `time` (UTC, ISO 8601 with milliseconds),
/// the run's counters, the chunk's fields in chunk events, and for job_started the plan
/// (decision and why, partition column, workers, chunk count, estimate), for job_finished
/// the summary. Pure; thread-safe.
nlohmann::ordered_json event_json(const ProgressEvent& ev);

/// A distributed run's shares, one object per rank: rank, host, workers, chunks, rows,
/// messages, wait_ms (and error when the rank stopped early). The summary uses it too.
nlohmann::ordered_json ranks_json(const std::vector<RankShare>& ranks);

}  // namespace parmap
