// What a person or a scheduler sees of a running job: JSON lines, plain lines every few
// seconds, or one live line redrawn in place on a terminal; and the log sink that keeps log
// lines from garbling the live line.
#pragma once

#include <spdlog/sinks/base_sink.h>

#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "parmap/parmap.h"

namespace parmap {

/// Receives every event of a run (ProgressEvent). Implementations are thread-safe: chunk
/// events come from worker threads. They never throw.
class ProgressReporter {
 public:
  virtual ~ProgressReporter() = default;
  virtual void on_event(const ProgressEvent& ev) = 0;
};

/// Rows/s and bytes/s over the last few seconds (a sliding window), from samples of the run's
/// counters: rows arrive a chunk at a time, so an instant rate would jump; a window follows a
/// real change within seconds. Not thread-safe.
class RateMeter {
 public:
  void sample(double seconds, int64_t rows, int64_t bytes);
  double rows_per_second() const { return rows_rate_; }
  double bytes_per_second() const { return bytes_rate_; }

 private:
  struct Sample {
    double seconds;
    int64_t rows, bytes;
  };
  std::deque<Sample> window_;
  double rows_rate_ = 0, bytes_rate_ = 0;
};

/// "45.2%  452,000 of ~1,000,000 rows  81.3k rows/s  12.4 MB/s  ETA 0:07  chunks 9/20
/// busy 2/2  retries 0  rejects 0": the status of a run from its latest counters (for
/// job_finished: the averages over the whole run, and its time instead of the ETA).
std::string status_text(const ProgressEvent& ev, const RateMeter& rates);

/// Writes each event as one JSON line (event_json) to `out`, flushed; `progress` events at
/// most every `interval_ms`. Does not own `out`.
class JsonLinesReporter : public ProgressReporter {
 public:
  JsonLinesReporter(std::FILE* out, int interval_ms) : out_(out), interval_ms_(interval_ms) {}
  void on_event(const ProgressEvent& ev) override;

 private:
  std::mutex mu_;
  std::FILE* out_;
  int interval_ms_;
  double last_progress_ = -1e9;
};

/// For a pipe, a file or CI: a line when the job starts, a status line every `interval_ms`,
/// and a last one when it ends, each a whole line (no control codes).
class PlainReporter : public ProgressReporter {
 public:
  PlainReporter(std::FILE* out, int interval_ms) : out_(out), interval_ms_(interval_ms) {}
  void on_event(const ProgressEvent& ev) override;

 private:
  std::mutex mu_;
  std::FILE* out_;
  int interval_ms_;
  double last_line_ = 0;
  RateMeter rates_;
};

/// For a terminal: one status line redrawn in place (carriage return, then erase to the end
/// of the line) at most every `interval_ms`, cut to the terminal's width so that it never
/// wraps (a wrapped line could not be erased). Ends with a last status line on its own, before
/// the summary. Log lines go through LiveLineSink, which erases the line first and redraws it.
///
/// Why no terminal library: the line needs only CR and ESC[K (erase in line), which every
/// terminal and multiplexer since the VT100 understands. Debian's ncurses (the one maintained
/// terminal library there) would take over the whole screen (initscr) or, through terminfo
/// alone, give us these same two sequences at the cost of a dependency and TERM lookups; it
/// has nothing for a line that shares stderr with log lines, which is the part we need.
class LiveLine : public ProgressReporter {
 public:
  LiveLine(std::FILE* out, int interval_ms) : out_(out), interval_ms_(interval_ms) {}
  void on_event(const ProgressEvent& ev) override;
  /// Erases the line if it is drawn and draws no more (a run that ended without job_finished).
  void close() {
    std::lock_guard lock(mu_);
    erase();
    finished_ = true;
  }
  /// Runs `write` (which prints whole lines to the same terminal) with the line erased, then
  /// draws it again.
  template <typename Fn>
  void around(Fn&& write) {
    std::lock_guard lock(mu_);
    erase();
    write();
    if (!finished_ && !text_.empty()) draw();
  }

 private:
  void erase();
  void draw();

  std::mutex mu_;
  std::FILE* out_;
  int interval_ms_;
  double last_draw_ = -1e9;
  bool drawn_ = false;
  bool finished_ = false;
  std::string text_;  ///< the line as last drawn
  RateMeter rates_;
};

/// An spdlog sink that writes through `inner` with the live line erased and then redrawn,
/// so that log lines and the live line never share a row.
class LiveLineSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  LiveLineSink(spdlog::sink_ptr inner, std::shared_ptr<LiveLine> line)
      : inner_(std::move(inner)), line_(std::move(line)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    line_->around([&] {
      inner_->log(msg);
      inner_->flush();
    });
  }
  void flush_() override { inner_->flush(); }

 private:
  spdlog::sink_ptr inner_;
  std::shared_ptr<LiveLine> line_;
};

}  // namespace parmap
