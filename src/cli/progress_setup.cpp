// Log levels, the log file and a run's progress reporters, from the command line's flags.
#include "cli/progress_setup.h"

#include <fmt/format.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "progress/html_report.h"

namespace parmap::cli {

namespace {

/// Chunk and job events as log lines at debug level: --verbose shows them, the log file
/// keeps them.
class LogReporter : public ProgressReporter {
 public:
  void on_event(const ProgressEvent& ev) override {
    switch (ev.kind) {
      case ProgressKind::JobStarted:
        if (ev.result) {
          spdlog::debug("job {} run {}: {} chunk(s), {} worker(s), ~{} rows; {}", ev.result->job_id,
                        ev.result->run, ev.chunks_total, ev.workers, ev.estimated_rows,
                        ev.result->reason);
        }
        break;
      case ProgressKind::ChunkStarted:
        spdlog::debug("chunk {} {} started by worker {}", ev.chunk_index, ev.bounds, ev.worker);
        break;
      case ProgressKind::ChunkDone:
        spdlog::debug("chunk {} {} done: {} rows, {} bytes, {:.3f} s, worker {}, attempt {}",
                      ev.chunk_index, ev.bounds, ev.chunk_rows, ev.chunk_bytes, ev.chunk_seconds,
                      ev.worker, ev.attempt);
        break;
      case ProgressKind::JobFinished:
        spdlog::debug("job finished: {} rows, {} chunk(s) done, {} failed, {:.2f} s", ev.rows_done,
                      ev.chunks_done, ev.chunks_failed, ev.elapsed_seconds);
        break;
      default:  // retries and failures are logged by the run itself, progress is counters
        break;
    }
  }
};

bool stderr_is_terminal() {
  const char* term = std::getenv("TERM");
  return isatty(STDERR_FILENO) == 1 && !(term && std::strcmp(term, "dumb") == 0);
}

}  // namespace

void setup_logging(const OutputFlags& flags) {
  auto logger = spdlog::default_logger();
  const auto console = flags.quiet     ? spdlog::level::warn
                       : flags.verbose ? spdlog::level::debug
                                       : spdlog::level::info;
  for (auto& sink : logger->sinks()) sink->set_level(console);
  auto level = console;
  if (!flags.log_file.empty()) {
    std::shared_ptr<spdlog::sinks::basic_file_sink_mt> file;
    try {
      file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(flags.log_file, false);
    } catch (const spdlog::spdlog_ex&) {
      throw_config("--log-file", flags.log_file, "a file that can be written");
    }
    file->set_formatter(std::make_unique<spdlog::pattern_formatter>(
        "%Y-%m-%dT%H:%M:%S.%eZ %l [%t] %v", spdlog::pattern_time_type::utc));
    file->set_level(spdlog::level::debug);
    logger->sinks().push_back(file);
    level = spdlog::level::debug;
  }
  logger->set_level(level);
  logger->flush_on(spdlog::level::debug);
}

ProgressOutput::ProgressOutput(const OutputFlags& flags) {
  const int interval_ms = static_cast<int>(flags.progress_interval * 1000);
  std::string mode = flags.progress;
  if (mode == "auto") {
    mode = flags.json_output ? "none" : stderr_is_terminal() ? "live" : "plain";
  }
  if (flags.quiet && mode != "json") mode = "none";
  std::vector<int> intervals;
  if (!flags.progress_file.empty()) {
    file_ = std::fopen(flags.progress_file.c_str(), "a");
    if (!file_) {
      throw_config("--progress-file", flags.progress_file,
                   fmt::format("a file that can be written ({})", std::strerror(errno)));
    }
    intervals.push_back(interval_ms > 0 ? interval_ms : 1000);
    reporters_.push_back(std::make_shared<JsonLinesReporter>(file_, intervals.back()));
  }
  if (mode == "json" && !file_) {
    intervals.push_back(interval_ms > 0 ? interval_ms : 1000);
    reporters_.push_back(std::make_shared<JsonLinesReporter>(stderr, intervals.back()));
  } else if (mode == "plain") {
    intervals.push_back(interval_ms > 0 ? interval_ms : 5000);
    reporters_.push_back(std::make_shared<PlainReporter>(stderr, intervals.back()));
  } else if (mode == "live") {
    // A few redraws a second: enough to look live, few enough to cost nothing.
    intervals.push_back(200);
    live_ = std::make_shared<LiveLine>(stderr, intervals.back());
    reporters_.push_back(live_);
    auto& sinks = spdlog::default_logger()->sinks();
    if (!sinks.empty()) {
      replaced_ = sinks.front();
      auto wrapped = std::make_shared<LiveLineSink>(replaced_, live_);
      wrapped->set_level(replaced_->level());
      sinks.front() = wrapped;
    }
  }
  if (!flags.report.empty()) {
    // Found unwritable now, not after the whole run.
    if (!std::ofstream(flags.report, std::ios::app)) {
      throw_config("--report", flags.report,
                   fmt::format("a file that can be written ({})", std::strerror(errno)));
    }
    reporters_.push_back(std::make_shared<HtmlReport>(flags.report));
  }
  if (spdlog::default_logger()->should_log(spdlog::level::debug)) {
    reporters_.push_back(std::make_shared<LogReporter>());
  }
  if (!intervals.empty()) interval_ms_ = *std::min_element(intervals.begin(), intervals.end());
}

ProgressOutput::~ProgressOutput() {
  if (live_) live_->close();
  if (replaced_) spdlog::default_logger()->sinks().front() = replaced_;
  if (file_) std::fclose(file_);
}

void ProgressOutput::attach(ParallelOptions& options) const {
  if (reporters_.empty()) return;
  options.on_progress = [reporters = reporters_](const ProgressEvent& ev) {
    for (const auto& r : reporters) r->on_event(ev);
  };
  options.progress_interval_ms = interval_ms_ > 0 ? interval_ms_ : 1000;
}

}  // namespace parmap::cli
