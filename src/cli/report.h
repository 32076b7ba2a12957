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

/// The summary of a finished (or dry) run, as aligned text lines.
std::string summary_text(const ParallelResult& r, const Endpoints& where, bool plan_only);
/// The same as one JSON object.
std::string summary_json(const ParallelResult& r, const Endpoints& where, bool plan_only);

/// What verify found, as aligned text lines: the scope, the totals and each range that differs.
std::string verify_text(const VerifyResult& v, const Endpoints& where);
/// The same as one JSON object.
nlohmann::json verify_json(const VerifyResult& v, const Endpoints& where);

}  // namespace parmap::cli
