// The run report's page: summary table, worker timeline, throughput and rows-per-chunk charts.
#include "progress/html_report.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

namespace parmap {

namespace {

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

constexpr double kWidth = 960;  // drawing width of every chart, in SVG units
constexpr double kLeft = 90;    // room for the lane and axis labels
constexpr double kLane = 22;    // height of one worker's lane
constexpr int kBins = 40;       // throughput and distribution bins

constexpr const char* kStyle = R"(
body{font:14px system-ui,sans-serif;margin:24px;color:#222}
h1{font-size:20px} h2{font-size:16px;margin-top:28px}
table.summary td{padding:2px 12px 2px 0;vertical-align:top}
svg text{font:11px system-ui,sans-serif;fill:#444}
rect.chunk{fill:#4a7fc1} rect.chunk.retried{fill:#e0a030} rect.chunk.failed{fill:#d03b3b}
rect.chunk.open{fill:#999} rect.lane{fill:#f3f5f8} rect.bin{fill:#5b9e6b}
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 14px;vertical-align:-2px}
)";

}  // namespace

void HtmlReport::on_event(const ProgressEvent& ev) {
  std::lock_guard lock(mu_);
  elapsed_ = std::max(elapsed_, ev.elapsed_seconds);
  rows_done_ = ev.rows_done;
  workers_ = std::max(workers_, ev.workers);
  switch (ev.kind) {
    case ProgressKind::JobStarted:
      if (ev.result) plan_ = *ev.result;
      return;
    case ProgressKind::ChunkStarted: {
      Bar& b = bars_[ev.chunk_index];
      b.chunk = ev.chunk_index;
      b.bounds = ev.bounds;
      b.worker = ev.worker;
      b.start = ev.elapsed_seconds;
      return;
    }
    case ProgressKind::ChunkRetried:
      bars_[ev.chunk_index].attempts = ev.attempt + 1;
      return;
    case ProgressKind::ChunkDone:
    case ProgressKind::ChunkFailed: {
      Bar& b = bars_[ev.chunk_index];
      b.end = ev.elapsed_seconds;
      b.rows = ev.chunk_rows;
      b.attempts = std::max(b.attempts, ev.attempt);
      b.failed = ev.kind == ProgressKind::ChunkFailed;
      b.error = ev.error;
      return;
    }
    case ProgressKind::Progress:
      return;
    case ProgressKind::JobFinished:
      break;
  }
  if (ev.result) summary_ = *ev.result;
  std::ofstream out(path_, std::ios::trunc);
  out << render_locked();
  out.close();
  if (!out) spdlog::error("--report: could not write {}", path_);
}

std::string HtmlReport::render() const {
  std::lock_guard lock(mu_);
  return render_locked();
}

std::string HtmlReport::render_locked() const {
  const ParallelResult* r = summary_ ? &*summary_ : plan_ ? &*plan_ : nullptr;
  const double total = std::max(elapsed_, 1e-3);
  auto x = [&](double t) { return kLeft + (kWidth - kLeft) * std::clamp(t / total, 0.0, 1.0); };
  std::string html = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>parmap run {}"
      "</title><style>{}</style></head><body>\n<h1>parmap run report: job {}</h1>\n",
      escape(r ? r->job_id : ""), kStyle, escape(r ? r->job_id : ""));

  // Summary.
  html += "<table class=\"summary\">\n";
  auto row = [&](const char* label, const std::string& value) {
    html += fmt::format("<tr><td>{}</td><td>{}</td></tr>\n", label, escape(value));
  };
  if (r) {
    row("result", summary_ ? (r->ok() ? "complete" : "INCOMPLETE") : "running");
    row("run", fmt::format("{}{}", r->run, r->resumed ? " (resumed)" : ""));
    row("rows", fmt::format("{} in {:.2f} s ({:.0f} rows/s)", rows_done_, elapsed_,
                            static_cast<double>(rows_done_) / total));
    row("estimate", fmt::format("{} rows", r->estimated_rows));
    row("plan", r->reason);
    row("partition", r->partition_column.empty() ? "none (one stream)" : r->partition_column);
    row("chunks", fmt::format("{} planned, {} skipped (committed earlier)", r->chunks_planned,
                              r->chunks_skipped));
    row("workers", std::to_string(workers_));
    row("retries", std::to_string(r->retries));
    row("snapshot", r->snapshot);
    row("data path", r->path);
    for (const auto& e : r->errors) row("error", e);
  }
  html += "</table>\n";

  // Timeline: a lane per worker, a bar per chunk.
  const int lanes = std::max(workers_, 1);
  const double height = lanes * kLane + 30;
  html +=
      "<h2>Workers over time</h2>\n<div class=\"legend\"><span style=\"background:#4a7fc1\">"
      "</span>chunk<span style=\"background:#e0a030\"></span>retried"
      "<span style=\"background:#d03b3b\"></span>failed</div>\n";
  html += fmt::format("<svg id=\"timeline\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\">\n",
                      kWidth, height, kWidth, height);
  for (int w = 0; w < lanes; ++w) {
    html += fmt::format(
        "<rect class=\"lane\" data-worker=\"{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>"
        "<text x=\"4\" y=\"{}\">worker {}</text>\n",
        w, kLeft, w * kLane + 1, kWidth - kLeft, kLane - 2, w * kLane + 15, w);
  }
  for (const auto& [index, b] : bars_) {
    const double end = b.end < 0 ? total : b.end;
    const std::string cls = b.failed         ? "chunk failed"
                            : b.end < 0      ? "chunk open"
                            : b.attempts > 1 ? "chunk retried"
                                             : "chunk";
    html += fmt::format(
        "<rect class=\"{}\" data-chunk=\"{}\" x=\"{:.1f}\" y=\"{}\" width=\"{:.1f}\" "
        "height=\"{}\"><title>chunk {} {}: {} rows, {:.3f} s, worker {}, attempt {}{}</title>"
        "</rect>\n",
        cls, index, x(b.start), b.worker * kLane + 3, std::max(1.0, x(end) - x(b.start)), kLane - 6,
        index, escape(b.bounds), b.rows, end - b.start, b.worker, b.attempts,
        b.error.empty() ? "" : ": " + escape(b.error));
  }
  html += fmt::format(
      "<text x=\"{}\" y=\"{}\">0 s</text><text x=\"{}\" y=\"{}\" "
      "text-anchor=\"end\">{:.2f} s</text>\n</svg>\n",
      kLeft, lanes * kLane + 20, kWidth, lanes * kLane + 20, total);

  // Throughput: rows committed per time bin (a chunk's rows spread over its own span).
  std::vector<double> bins(kBins, 0);
  for (const auto& [index, b] : bars_) {
    if (b.end < 0 || b.failed) continue;
    const double span = std::max(b.end - b.start, 1e-9);
    for (int i = 0; i < kBins; ++i) {
      const double lo = total * i / kBins, hi = total * (i + 1) / kBins;
      const double overlap = std::min(hi, b.end) - std::max(lo, b.start);
      if (overlap > 0) bins[i] += static_cast<double>(b.rows) * overlap / span;
    }
  }
  const double bin_seconds = total / kBins;
  const double peak = std::max(1.0, *std::max_element(bins.begin(), bins.end()) / bin_seconds);
  constexpr double kChart = 120;
  html += fmt::format(
      "<h2>Throughput (rows/s; peak {:.0f})</h2>\n<svg id=\"throughput\" "
      "width=\"{}\" height=\"{}\">\n",
      peak, kWidth, kChart + 20);
  for (int i = 0; i < kBins; ++i) {
    const double h = kChart * bins[i] / bin_seconds / peak;
    html += fmt::format(
        "<rect class=\"bin\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" "
        "height=\"{:.1f}\"><title>{:.0f} rows/s</title></rect>\n",
        x(total * i / kBins), kChart - h, (kWidth - kLeft) / kBins - 1, h, bins[i] / bin_seconds);
  }
  html += "</svg>\n";

  // Rows per chunk: how even the chunks were (skew shows as a long tail).
  int64_t lo = 0, hi = 0;
  bool any = false;
  for (const auto& [index, b] : bars_) {
    if (b.end < 0 || b.failed) continue;
    lo = any ? std::min(lo, b.rows) : b.rows;
    hi = any ? std::max(hi, b.rows) : b.rows;
    any = true;
  }
  std::vector<int> counts(kBins, 0);
  for (const auto& [index, b] : bars_) {
    if (b.end < 0 || b.failed) continue;
    const int i = hi > lo ? static_cast<int>(static_cast<double>(b.rows - lo) /
                                             static_cast<double>(hi - lo) * (kBins - 1))
                          : 0;
    ++counts[i];
  }
  const int most = std::max(1, *std::max_element(counts.begin(), counts.end()));
  html += fmt::format(
      "<h2>Rows per chunk ({} to {})</h2>\n<svg id=\"distribution\" width=\"{}\" "
      "height=\"{}\">\n",
      lo, hi, kWidth, kChart + 20);
  for (int i = 0; i < kBins; ++i) {
    const double h = kChart * counts[i] / most;
    html += fmt::format(
        "<rect class=\"bin\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" "
        "height=\"{:.1f}\"><title>{} chunk(s)</title></rect>\n",
        kLeft + (kWidth - kLeft) * i / kBins, kChart - h, (kWidth - kLeft) / kBins - 1, h,
        counts[i]);
  }
  html += "</svg>\n</body></html>\n";
  return html;
}

}  // namespace parmap
