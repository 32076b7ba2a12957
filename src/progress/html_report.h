// The run report: a run's chunk events drawn as one self-contained HTML page (inline SVG and
// CSS, no script, nothing fetched): a lane per worker with a bar per chunk, throughput over
// time, and the distribution of rows per chunk.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "parmap/parmap.h"
#include "progress/reporters.h"

namespace parmap {

/// Collects the events of one run and, at job_finished, writes the page to `path`. A file that
/// cannot be written is logged as an error (the run's outcome does not change). Thread-safe.
class HtmlReport : public ProgressReporter {
 public:
  explicit HtmlReport(std::string path) : path_(std::move(path)) {}
  void on_event(const ProgressEvent& ev) override;
  /// The page as collected so far.
  std::string render() const;

 private:
  struct Bar {
    uint32_t chunk = 0;
    std::string bounds;
    int worker = 0;
    double start = 0, end = -1;  ///< seconds since the run started; end < 0: not ended
    int64_t rows = 0;
    int attempts = 1;
    bool failed = false;
    std::string error;
  };
  std::string render_locked() const;

  const std::string path_;
  mutable std::mutex mu_;
  std::map<uint32_t, Bar> bars_;
  std::optional<ParallelResult> plan_, summary_;
  int workers_ = 0;
  double elapsed_ = 0;
  int64_t rows_done_ = 0;
};

}  // namespace parmap
