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

/// Collects the events of one run and, at job_finished, writes the page to `path` ("" : writes
/// nothing, the caller renders). A file that cannot be written is logged as an error (the run's
/// outcome does not change). Chunk events with worker -1 (not known) are drawn in a lane of
/// their own. Thread-safe.
class HtmlReport : public ProgressReporter {
 public:
  explicit HtmlReport(std::string path) : path_(std::move(path)) {}
  void on_event(const ProgressEvent& ev) override;
  /// A line shown under the summary (what the page does not show, and why).
  void add_note(std::string note);
  /// The page's heading and title instead of "parmap run report" (followed by ": job <id>"
  /// when the result names one).
  void set_title(std::string title);
  /// Labels of the lanes by worker number instead of "worker N" (a run of many tables: the
  /// table and its worker).
  void set_lane_labels(std::vector<std::string> labels);
  /// The name of the chunk with this index in its bar's tooltip instead of "chunk N".
  void set_chunk_label(uint32_t chunk, std::string label);
  /// One table of a run of many, for the table of tables under the summary.
  struct TableLine {
    std::string table, job_id, state;
    int64_t rows = 0, chunks_done = 0, chunks_planned = 0;
    double seconds = 0;  ///< from its run's start (or first chunk's) to its last commit
  };
  void add_table(TableLine line);
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
  std::vector<std::string> notes_;
  std::vector<std::string> lane_labels_;
  std::map<uint32_t, std::string> chunk_labels_;
  std::vector<TableLine> tables_;
  std::string title_ = "parmap run report";
  int workers_ = 0;
  double elapsed_ = 0;
  int64_t rows_done_ = 0;
};

}  // namespace parmap
