// The command line's log and progress outputs: levels, the log file, and the reporters of a run.
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "parmap/parmap.h"
#include "progress/reporters.h"

namespace parmap::cli {

struct OutputFlags {
  std::string progress = "auto";  ///< auto | live | plain | json | none
  std::string progress_file;      ///< JSON lines of the events also go here
  double progress_interval = 0;   ///< seconds; 0: 5 for plain lines, 1 for JSON
  bool quiet = false;
  bool verbose = false;
  std::string log_file;
  std::string report;        ///< the HTML run report's path
  bool json_output = false;  ///< --output json: no display unless asked for
};

/// Sets the levels of the default logger's stderr sink (warn with --quiet, debug with
/// --verbose, else info) and adds the log file (every line at debug level, UTC timestamps).
/// Throws Error(Config) when the log file cannot be opened.
void setup_logging(const OutputFlags& flags);

/// The reporters of one run as the flags ask, and the progress file. While it lives, the live
/// line (on a terminal) has log lines go through its sink. Not thread-safe itself; the
/// callback it attaches is.
class ProgressOutput {
 public:
  /// Throws Error(Config) when the progress file cannot be opened.
  explicit ProgressOutput(const OutputFlags& flags);
  ~ProgressOutput();
  ProgressOutput(const ProgressOutput&) = delete;
  ProgressOutput& operator=(const ProgressOutput&) = delete;

  /// Sets options.on_progress and progress_interval_ms (unchanged when nothing reports).
  void attach(ParallelOptions& options) const;

 private:
  std::vector<std::shared_ptr<ProgressReporter>> reporters_;
  std::shared_ptr<LiveLine> live_;
  spdlog::sink_ptr replaced_;  ///< the stderr sink the live line's sink wraps
  std::FILE* file_ = nullptr;
  int interval_ms_ = 0;
};

}  // namespace parmap::cli
