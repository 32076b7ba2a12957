// What the command line prints: the run summary and plan (text or JSON), and verify's findings.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

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

/// The summary of a run of many jobs (or its plan): the shared snapshot, a line per table
/// (state, rows, chunks, estimate) and each error. `where` is in the order of r.jobs.
std::string multi_summary_text(const MultiResult& r, const std::vector<Endpoints>& where);
/// The same as one JSON object: the run's totals and each job's summary_json under "jobs".
std::string multi_summary_json(const MultiResult& r, const std::vector<Endpoints>& where);

/// What verify found, as aligned text lines: the scope, the totals and each range that differs.
std::string verify_text(const VerifyResult& v, const Endpoints& where);
/// The same as one JSON object.
nlohmann::json verify_json(const VerifyResult& v, const Endpoints& where);

/// Progress of a run of many jobs on stderr, at most once a second: chunks and rows of the
/// whole run, and the table whose chunk just committed with its own chunks and rows.
/// Thread-safe; one callback per job (for_job).
class MultiProgressPrinter {
 public:
  /// The callback for job `table`.
  std::function<void(const ProgressEvent&)> for_job(const std::string& table);

 private:
  void report(const std::string& table, const ProgressEvent& ev);

  std::mutex mu_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_{};
  int64_t chunks_ = 0, rows_ = 0;
};

}  // namespace parmap::cli
