// JSON lines, plain lines and the live terminal line, from a run's ProgressEvents.
#include "progress/reporters.h"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cmath>

#include "progress/event_json.h"

namespace parmap {

namespace {

/// Seconds over which rates are measured: long enough that a chunk's commit (rows arrive a
/// chunk at a time) does not make the rate jump, short enough to follow a real change.
constexpr double kWindowSeconds = 5.0;

std::string grouped(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string short_number(double n) {
  if (n >= 1e9) return fmt::format("{:.1f}G", n / 1e9);
  if (n >= 1e6) return fmt::format("{:.1f}M", n / 1e6);
  if (n >= 1e4) return fmt::format("{:.1f}k", n / 1e3);
  return fmt::format("{:.0f}", n);
}

std::string clock_time(double seconds) {
  const auto s = static_cast<int64_t>(std::llround(seconds));
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

bool chunk_event(ProgressKind kind) {
  return kind == ProgressKind::ChunkStarted || kind == ProgressKind::ChunkDone ||
         kind == ProgressKind::ChunkRetried || kind == ProgressKind::ChunkFailed;
}

}  // namespace

void RateMeter::sample(double seconds, int64_t rows, int64_t bytes) {
  if (!window_.empty() && seconds <= window_.back().seconds) return;
  window_.push_back({seconds, rows, bytes});
  // Keep the newest sample at or before the window's start, so that the window is full.
  while (window_.size() > 2 && window_[1].seconds <= seconds - kWindowSeconds) {
    window_.pop_front();
  }
  const Sample& first = window_.front();
  const double span = seconds - first.seconds;
  if (span <= 0) return;
  rows_rate_ = static_cast<double>(rows - first.rows) / span;
  bytes_rate_ = static_cast<double>(bytes - first.bytes) / span;
}

std::string status_text(const ProgressEvent& ev, const RateMeter& rates) {
  const int64_t chunks = ev.chunks_done + ev.chunks_skipped;
  std::string out;
  // The estimate may be wrong (a view, stale statistics): past it, chunks say how far.
  if (ev.estimated_rows > ev.rows_done && ev.kind != ProgressKind::JobFinished) {
    out = fmt::format(
        "{:5.1f}%  {} of ~{} rows",
        100.0 * static_cast<double>(ev.rows_done) / static_cast<double>(ev.estimated_rows),
        grouped(ev.rows_done), grouped(ev.estimated_rows));
  } else {
    out = fmt::format("{:5.1f}%  {} rows",
                      ev.chunks_total ? 100.0 * static_cast<double>(chunks) / ev.chunks_total : 0.0,
                      grouped(ev.rows_done));
  }
  const bool end = ev.kind == ProgressKind::JobFinished;
  const double seconds = ev.elapsed_seconds > 0 ? ev.elapsed_seconds : 1;
  const double rows_rate =
      end ? static_cast<double>(ev.rows_done) / seconds : rates.rows_per_second();
  const double bytes_rate =
      end ? static_cast<double>(ev.bytes_done) / seconds : rates.bytes_per_second();
  out += fmt::format("  {} rows/s  {:.1f} MB/s", short_number(rows_rate), bytes_rate / 1e6);
  if (!end) {
    const double rate = rates.rows_per_second();
    const int64_t left = ev.estimated_rows - ev.rows_done;
    out += left > 0 && rate > 0 ? "  ETA " + clock_time(static_cast<double>(left) / rate)
                                : std::string("  ETA ?");
  } else {
    out += "  in " + clock_time(ev.elapsed_seconds);
  }
  out += fmt::format("  chunks {}/{}  busy {}/{}  retries {}  rejects {}", chunks, ev.chunks_total,
                     ev.workers_busy, ev.workers, ev.retries, ev.rows_rejected);
  if (ev.chunks_failed > 0) out += fmt::format("  FAILED {}", ev.chunks_failed);
  return out;
}

void JsonLinesReporter::on_event(const ProgressEvent& ev) {
  std::lock_guard lock(mu_);
  if (ev.kind == ProgressKind::Progress) {
    if ((ev.elapsed_seconds - last_progress_) * 1000 < interval_ms_ * 0.9) return;
    last_progress_ = ev.elapsed_seconds;
  }
  const std::string line = event_json(ev).dump() + "\n";
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
}

void PlainReporter::on_event(const ProgressEvent& ev) {
  if (chunk_event(ev.kind)) return;  // the counters move; lines come with the timer
  std::lock_guard lock(mu_);
  rates_.sample(ev.elapsed_seconds, ev.rows_done, ev.bytes_done);
  std::string line;
  if (ev.kind == ProgressKind::JobStarted && ev.result) {
    const ParallelResult& r = *ev.result;
    line = fmt::format(
        "started: job {} run {}, ~{} rows in {} chunk(s) ({} committed earlier), "
        "{} worker(s)",
        r.job_id, r.run, grouped(r.estimated_rows), r.chunks_planned, r.chunks_skipped,
        r.workers_used);
  } else if (ev.kind == ProgressKind::Progress) {
    if ((ev.elapsed_seconds - last_line_) * 1000 < interval_ms_ * 0.9) return;
    line = "progress: " + status_text(ev, rates_);
  } else if (ev.kind == ProgressKind::JobFinished) {
    line = "finished: " + status_text(ev, rates_);
  } else {
    return;
  }
  last_line_ = ev.elapsed_seconds;
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
}

void LiveLine::erase() {
  if (!drawn_) return;
  std::fputs("\r\033[K", out_);
  std::fflush(out_);
  drawn_ = false;
}

void LiveLine::draw() {
  std::string text = text_;
  winsize size{};
  if (ioctl(fileno(out_), TIOCGWINSZ, &size) == 0 && size.ws_col > 1 &&
      text.size() >= size.ws_col) {
    text.resize(size.ws_col - 1);
  }
  std::fputs(("\r" + text + "\033[K").c_str(), out_);
  std::fflush(out_);
  drawn_ = true;
}

void LiveLine::on_event(const ProgressEvent& ev) {
  std::lock_guard lock(mu_);
  if (finished_) return;
  if (ev.kind == ProgressKind::JobFinished) {
    rates_.sample(ev.elapsed_seconds, ev.rows_done, ev.bytes_done);
    erase();
    const std::string line = "finished: " + status_text(ev, rates_) + "\n";
    std::fputs(line.c_str(), out_);
    std::fflush(out_);
    finished_ = true;
    return;
  }
  // Chunk events may come many times a second from several workers: the line is redrawn (and
  // the rates sampled) at most every interval, with the counters of the latest event.
  if ((ev.elapsed_seconds - last_draw_) * 1000 < interval_ms_ &&
      ev.kind != ProgressKind::JobStarted)
    return;
  last_draw_ = ev.elapsed_seconds;
  rates_.sample(ev.elapsed_seconds, ev.rows_done, ev.bytes_done);
  text_ = status_text(ev, rates_);
  draw();
}

}  // namespace parmap
