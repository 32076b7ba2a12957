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
table.tables td,table.tables th{padding:2px 12px 2px 0;text-align:left}
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
      // Attempt 0: not known (a ledger row from an older parmap).
      b.attempts = ev.attempt <= 0 && b.attempts == 1 ? 0 : std::max(b.attempts, ev.attempt);
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
  if (path_.empty()) return;
  std::ofstream out(path_, std::ios::trunc);
  out << render_locked();
  out.close();
  if (!out) spdlog::error("--report: could not write {}", path_);
}

void HtmlReport::add_note(std::string note) {
  std::lock_guard lock(mu_);
  notes_.push_back(std::move(note));
}

void HtmlReport::set_title(std::string title) {
  std::lock_guard lock(mu_);
  title_ = std::move(title);
}

void HtmlReport::set_lane_labels(std::vector<std::string> labels) {
  std::lock_guard lock(mu_);
  lane_labels_ = std::move(labels);
}

void HtmlReport::set_chunk_label(uint32_t chunk, std::string label) {
  std::lock_guard lock(mu_);
  chunk_labels_[chunk] = std::move(label);
}

void HtmlReport::add_table(TableLine line) {
  std::lock_guard lock(mu_);
  tables_.push_back(std::move(line));
}

std::string HtmlReport::render() const {
  std::lock_guard lock(mu_);
  return render_locked();
}

std::string HtmlReport::render_locked() const {
  // Room for the longest lane label (about 6 units a character at 11px).
  size_t longest = 0;
  for (const auto& l : lane_labels_) longest = std::max(longest, l.size());
  const double left = std::min(kWidth / 2, std::max(kLeft, 6.0 * static_cast<double>(longest) + 8));
  const ParallelResult* r = summary_ ? &*summary_ : plan_ ? &*plan_ : nullptr;
  const double total = std::max(elapsed_, 1e-3);
  auto x = [&](double t) { return left + (kWidth - left) * std::clamp(t / total, 0.0, 1.0); };
  // "<title>: job <id>"; a page of several jobs has no one id.
  const std::string heading =
      r && !r->job_id.empty() ? fmt::format("{}: job {}", title_, r->job_id) : title_;
  std::string html = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}"
      "</title><style>{}</style></head><body>\n<h1>{}</h1>\n",
      escape(heading), kStyle, escape(heading));

  // Summary.
  html += "<table class=\"summary\">\n";
  auto row = [&](const char* label, const std::string& value) {
    html += fmt::format("<tr><td>{}</td><td>{}</td></tr>\n", label, escape(value));
  };
  if (r) {
    row("result", summary_ ? (r->ok() ? "complete" : "INCOMPLETE") : "running");
    if (r->run > 0) row("run", fmt::format("{}{}", r->run, r->resumed ? " (resumed)" : ""));
    row("rows", fmt::format("{} in {:.2f} s ({:.0f} rows/s)", rows_done_, elapsed_,
                            static_cast<double>(rows_done_) / total));
    row("estimate", fmt::format("{} rows", r->estimated_rows));
    row("plan", r->reason);
    row("partition", r->partition_column.empty() ? "none (one stream)" : r->partition_column);
    row("chunks", fmt::format("{} planned, {} skipped (committed earlier)", r->chunks_planned,
                              r->chunks_skipped));
    row("workers", std::to_string(workers_));
    row("retries", std::to_string(r->retries));
    if (!r->snapshot.empty()) row("snapshot", r->snapshot);
    if (!r->path.empty()) row("data path", r->path);
    for (const auto& e : r->errors) row("error", e);
  }
  for (const auto& n : notes_) row("note", n);
  html += "</table>\n";

  // A run of many tables: a line per table.
  if (!tables_.empty()) {
    html +=
        "<h2>Tables</h2>\n<table class=\"tables\"><tr><th>table</th><th>job</th><th>state</th>"
        "<th>rows</th><th>chunks</th><th>seconds</th><th>rows/s</th></tr>\n";
    for (const TableLine& t : tables_) {
      html += fmt::format(
          "<tr class=\"table\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} of {}</td>"
          "<td>{:.2f}</td><td>{:.0f}</td></tr>\n",
          escape(t.table), escape(t.job_id), escape(t.state), t.rows, t.chunks_done,
          t.chunks_planned, t.seconds,
          t.seconds > 0 ? static_cast<double>(t.rows) / t.seconds : 0.0);
    }
    html += "</table>\n";
  }

  // Timeline: a lane per worker, a bar per chunk; chunks whose worker is not known (-1) get a
  // lane of their own below.
  const bool unknown =
      std::any_of(bars_.begin(), bars_.end(), [](const auto& b) { return b.second.worker < 0; });
  const int known_lanes = unknown && workers_ == 0 ? 0 : std::max(workers_, 1);
  const int lanes = known_lanes + (unknown ? 1 : 0);
  auto lane_of = [&](int worker) { return worker < 0 ? known_lanes : worker; };
  const double height = lanes * kLane + 30;
  html +=
      "<h2>Workers over time</h2>\n<div class=\"legend\"><span style=\"background:#4a7fc1\">"
      "</span>chunk<span style=\"background:#e0a030\"></span>retried"
      "<span style=\"background:#d03b3b\"></span>failed</div>\n";
  html += fmt::format("<svg id=\"timeline\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\">\n",
                      kWidth, height, kWidth, height);
  for (int w = 0; w < known_lanes; ++w) {
    html += fmt::format(
        "<rect class=\"lane\" data-worker=\"{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>"
        "<text x=\"4\" y=\"{}\">{}</text>\n",
        w, left, w * kLane + 1, kWidth - left, kLane - 2, w * kLane + 15,
        static_cast<size_t>(w) < lane_labels_.size() ? escape(lane_labels_[w])
                                                     : fmt::format("worker {}", w));
  }
  if (unknown) {
    html += fmt::format(
        "<rect class=\"lane unknown\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>"
        "<text x=\"4\" y=\"{}\">worker ?</text>\n",
        left, known_lanes * kLane + 1, kWidth - left, kLane - 2, known_lanes * kLane + 15);
  }
  for (const auto& [index, b] : bars_) {
    const double end = b.end < 0 ? total : b.end;
    const std::string cls = b.failed         ? "chunk failed"
                            : b.end < 0      ? "chunk open"
                            : b.attempts > 1 ? "chunk retried"
                                             : "chunk";
    html += fmt::format(
        "<rect class=\"{}\" data-chunk=\"{}\" x=\"{:.1f}\" y=\"{}\" width=\"{:.1f}\" "
        "height=\"{}\"><title>{} {}: {} rows, {:.3f} s, worker {}, attempt {}{}</title>"
        "</rect>\n",
        cls, index, x(b.start), lane_of(b.worker) * kLane + 3, std::max(1.0, x(end) - x(b.start)),
        kLane - 6,
        chunk_labels_.count(index) ? escape(chunk_labels_.at(index))
                                   : fmt::format("chunk {}", index),
        escape(b.bounds), b.rows, end - b.start,
        b.worker < 0 ? std::string("?") : std::to_string(b.worker),
        b.attempts < 1 ? std::string("?") : std::to_string(b.attempts),
        b.error.empty() ? "" : ": " + escape(b.error));
  }
  html += fmt::format(
      "<text x=\"{}\" y=\"{}\">0 s</text><text x=\"{}\" y=\"{}\" "
      "text-anchor=\"end\">{:.2f} s</text>\n</svg>\n",
      left, lanes * kLane + 20, kWidth, lanes * kLane + 20, total);

  // Throughput: rows committed per time bin (a chunk's rows spread over its own span).
  std::vector<double> bins(kBins, 0);
  for (const auto& [index, b] : bars_) {
    if (b.end < 0 || b.failed) continue;
    if (b.end - b.start < 1e-6) {
      // Known only by when it committed (a ledger row from an older parmap): its bin.
      bins[std::clamp(static_cast<int>(b.end / total * kBins), 0, kBins - 1)] +=
          static_cast<double>(b.rows);
      continue;
    }
    const double span = b.end - b.start;
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
        x(total * i / kBins), kChart - h, (kWidth - left) / kBins - 1, h, bins[i] / bin_seconds);
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
        left + (kWidth - left) * i / kBins, kChart - h, (kWidth - left) / kBins - 1, h, counts[i]);
  }
  html += "</svg>\n</body></html>\n";
  return html;
}

}  // namespace parmap
