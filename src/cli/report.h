// What the command line prints: the run summary and plan (text or JSON), and verify's findings.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "parmap/parmap.h"

namespace parmap::cli {

struct Endpoints {
  std::string source;  ///< masked URL
  std::string target;  ///< masked URL
  std::string target_table;
};

/// The summary of a finished (or dry) run, as aligned text lines. With `options` (the job's),
/// a plan also names the target mode and the settings that decided it, with their sources.
std::string summary_text(const ParallelResult& r, const Endpoints& where, bool plan_only,
                         const ParallelOptions* options = nullptr);
/// The same as one JSON object.
std::string summary_json(const ParallelResult& r, const Endpoints& where, bool plan_only,
                         const ParallelOptions* options = nullptr);

/// Every setting's effective value and where it came from ("default", "environment
/// MAPPER_CHUNK_SIZE", "job param"), one aligned line each (`parmap config`).
std::string config_text(const ParallelConfig& config);
/// The same as a JSON array of {setting, environment, value, source}.
nlohmann::json config_json(const ParallelConfig& config);

/// What verify found, as aligned text lines: the scope, the totals and each range that differs.
std::string verify_text(const VerifyResult& v, const Endpoints& where);
/// The same as one JSON object.
nlohmann::json verify_json(const VerifyResult& v, const Endpoints& where);

}  // namespace parmap::cli
