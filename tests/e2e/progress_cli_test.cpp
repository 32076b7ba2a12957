// What `parmap run` shows while it runs: JSON events, plain lines, and the live line in a
// real terminal (tmux).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "support/mixed_source_suite.h"
#include "support/test_support.h"

namespace parmap {
namespace {

using test::run_parmap;
using test::sqlite_checksum;
using test::TempDir;

constexpr const char* kAll = test::kMixedColumns;

class ProgressCliTest : public test::MixedSourceSuite {
 protected:
  static void SetUpTestSuite() { make_source(std::max<int64_t>(test::test_rows(), 100000)); }

  /// A 2-worker run of the source into `target` (created), in about `chunks` chunks.
  static std::vector<std::string> run_args(const std::string& target, int64_t chunks) {
    return MixedSourceSuite::run_args(target, rows_ / chunks);
  }

  /// The JSON events among `text`'s lines, each checked to parse.
  static std::vector<nlohmann::json> events_of(const std::string& text) {
    std::vector<nlohmann::json> events;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      if (line.empty() || line[0] != '{') continue;
      events.push_back(nlohmann::json::parse(line));
    }
    return events;
  }

  /// The events of a complete 2-worker run: in order, every kind a clean run has, chunk rows
  /// adding up to the rows loaded; and the target holds exactly the source's rows.
  static void expect_complete_run(const std::vector<nlohmann::json>& events,
                                  const std::string& target) {
    ASSERT_GE(events.size(), 3u);
    EXPECT_EQ(events.front()["event"], "job_started");
    EXPECT_EQ(events.back()["event"], "job_finished");
    EXPECT_EQ(events.front()["workers"], 2);
    EXPECT_FALSE(events.front()["reason"].get<std::string>().empty());
    const int64_t chunks = events.front()["chunks_total"];
    int64_t rows = 0, started = 0, done = 0;
    std::set<int64_t> workers;
    for (const auto& e : events) {
      ASSERT_TRUE(e.contains("event") && e.contains("time") && e.contains("rows_done"));
      if (e["event"] == "chunk_started") ++started;
      if (e["event"] == "chunk_done") {
        ++done;
        rows += e["rows"].get<int64_t>();
        EXPECT_GT(e["bytes"].get<int64_t>(), 0);
        EXPECT_GE(e["seconds"].get<double>(), 0);
        EXPECT_EQ(e["attempt"], 1);
        EXPECT_FALSE(e["bounds"].get<std::string>().empty());
        workers.insert(e["worker"].get<int64_t>());
      }
      EXPECT_NE(e["event"], "chunk_failed");
    }
    EXPECT_EQ(started, chunks);
    EXPECT_EQ(done, chunks);
    EXPECT_EQ(rows, rows_);
    EXPECT_EQ(events.back()["total_rows_processed"], rows_);
    EXPECT_EQ(events.back()["ok"], true);
    for (int64_t w : workers) EXPECT_TRUE(w == 0 || w == 1) << w;
    EXPECT_EQ(sqlite_checksum(target, std::string(kAll) + "dst"), source_sum_);
  }

};

TEST_F(ProgressCliTest, JsonEventsOnStderrDescribeTheWholeRun) {
  const std::string t = work_.file("t.db");
  auto args = run_args(t, 10);
  args.insert(args.end(), {"--progress", "json", "--progress-interval", "0.05"});
  const auto r = run_parmap(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Every stderr line is an event: a scheduler reads it as JSON lines.
  std::istringstream in(r.err);
  for (std::string line; std::getline(in, line);) EXPECT_EQ(line.substr(0, 1), "{") << line;
  expect_complete_run(events_of(r.err), t);
  // The summary still goes to stdout.
  EXPECT_NE(r.out.find("complete: run 1 finished"), std::string::npos) << r.out;
}

TEST_F(ProgressCliTest, JsonEventsGoToTheProgressFile) {
  const std::string t = work_.file("t.db"), events = work_.file("events.jsonl");
  auto args = run_args(t, 8);
  args.insert(args.end(), {"--progress", "none", "--progress-file", events});
  const auto r = run_parmap(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  expect_complete_run(events_of(test::read_file(events)), t);
}

TEST_F(ProgressCliTest, NotATerminalGetsPlainLines) {
  const std::string t = work_.file("t.db");
  auto args = run_args(t, 40);
  args.insert(args.end(), {"--progress-interval", "0.05"});
  const auto r = run_parmap(args);  // stderr is a file here
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find('\r'), std::string::npos);
  EXPECT_EQ(r.err.find('\033'), std::string::npos);
  EXPECT_EQ(r.err.rfind("started: job ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("\nfinished: 100.0%  "), std::string::npos) << r.err;
  // The last line counts every chunk done: "chunks N/N".
  const size_t at = r.err.find("chunks ", r.err.find("\nfinished: "));
  ASSERT_NE(at, std::string::npos) << r.err;
  const std::string counts = r.err.substr(at + 7, r.err.find(' ', at + 7) - at - 7);
  const size_t slash = counts.find('/');
  ASSERT_NE(slash, std::string::npos) << counts;
  EXPECT_EQ(counts.substr(0, slash), counts.substr(slash + 1)) << r.err;
  EXPECT_GE(std::stoi(counts.substr(0, slash)), 40) << r.err;
  // Lines are whole lines, each a status.
  std::istringstream in(r.err);
  for (std::string line; std::getline(in, line);) {
    EXPECT_TRUE(line.rfind("started: ", 0) == 0 || line.rfind("progress: ", 0) == 0 ||
                line.rfind("finished: ", 0) == 0)
        << line;
  }
  EXPECT_EQ(sqlite_checksum(t, std::string(kAll) + "dst"), source_sum_);
}

TEST_F(ProgressCliTest, QuietShowsNoProgress) {
  const std::string t = work_.file("t.db");
  auto args = run_args(t, 8);
  args.push_back("-q");
  const auto r = run_parmap(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
}

TEST_F(ProgressCliTest, LogFileKeepsChunkLinesWithTimes) {
  const std::string t = work_.file("t.db"), log = work_.file("run.log");
  auto args = run_args(t, 8);
  args.insert(args.end(), {"-q", "--log-file", log});
  const auto r = run_parmap(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const std::string text = test::read_file(log);
  EXPECT_NE(text.find("Z debug ["), std::string::npos) << text;
  EXPECT_NE(text.find("done: "), std::string::npos) << text;
  EXPECT_NE(text.find("job finished: " + std::to_string(rows_) + " rows"), std::string::npos)
      << text;
}

/// Runs `command` in the shell, returning its stdout.
std::string shell(const std::string& command) {
  std::string out;
  if (FILE* p = popen(command.c_str(), "r")) {
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    pclose(p);
  }
  return out;
}

/// Occurrences of `what` in `text`.
size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST_F(ProgressCliTest, TheHtmlReportHasALanePerWorkerAndABarPerChunkInChromium) {
  const std::string t = work_.file("t.db"), report = work_.file("run.html");
  const std::string events = work_.file("events.jsonl");
  auto args = run_args(t, 12);
  args.insert(args.end(), {"--report", report, "--progress-file", events});
  const auto r = run_parmap(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto ev = events_of(test::read_file(events));
  ASSERT_FALSE(ev.empty());
  const size_t chunks = ev.front()["chunks_total"].get<size_t>();
  const std::string html = test::read_file(report);
  EXPECT_EQ(count_of(html, "<rect class=\"chunk"), chunks);
  EXPECT_EQ(count_of(html, "<rect class=\"lane\""), 2u);
  // Self-contained: nothing to fetch.
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("href="), std::string::npos);

  if (std::system("chromium --version >/dev/null 2>&1") != 0) {
    const char* require = std::getenv("PARMAP_REQUIRE_SERVERS");
    if (require && std::string(require) == "1") FAIL() << "chromium is missing (scripts/setup.sh)";
    GTEST_SKIP() << "chromium is not installed (scripts/setup.sh installs it)";
  }
  // The DOM as Chromium built it from the page: the SVG parsed, every bar and lane there.
  const std::string dom =
      shell("chromium --headless --no-sandbox --disable-gpu --dump-dom 'file://" + report +
            "' 2>/dev/null");
  EXPECT_EQ(count_of(dom, "class=\"chunk"), chunks) << dom.substr(0, 2000);
  EXPECT_EQ(count_of(dom, "class=\"lane\""), 2u);
  EXPECT_NE(dom.find("<svg id=\"timeline\""), std::string::npos);
  EXPECT_NE(dom.find("complete"), std::string::npos);
}

TEST_F(ProgressCliTest, OnATerminalOneLiveLineUpdatesAndEndsInTheSummary) {
  if (std::system("tmux -V >/dev/null 2>&1") != 0) {
    const char* require = std::getenv("PARMAP_REQUIRE_SERVERS");
    if (require && std::string(require) == "1") FAIL() << "tmux is missing (scripts/setup.sh)";
    GTEST_SKIP() << "tmux is not installed (scripts/setup.sh installs it)";
  }
  const std::string t = work_.file("t.db"), marker = work_.file("ended");
  // Small chunks: enough commits to see the line move a few times.
  const auto args = run_args(t, 400);
  std::string command = std::string("'") + PARMAP_BIN + "'";
  for (const auto& a : args) command += " '" + a + "'";
  command += "; echo \\$? > '" + marker + "'; sleep 600";
  // A server of its own (-L), so that the test touches no other tmux session.
  const std::string tmux = "tmux -L parmap-test-" + std::to_string(getpid());
  ASSERT_EQ(std::system((tmux + " new-session -d -x 160 -y 40 \"" + command + "\"").c_str()), 0);
  std::vector<std::string> screens;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (test::read_file(marker).empty() && std::chrono::steady_clock::now() < deadline) {
    screens.push_back(shell(tmux + " capture-pane -p"));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const std::string last = shell(tmux + " capture-pane -p");
  const std::string raw = shell(tmux + " capture-pane -p -e");  // with the screen's attributes
  std::system((tmux + " kill-server").c_str());
  ASSERT_EQ(test::read_file(marker), "0\n") << last;

  // While it ran: a status line with rows/s and an ETA, and it changed.
  std::set<std::string> live;
  for (const auto& s : screens) {
    std::istringstream in(s);
    for (std::string line; std::getline(in, line);) {
      if (line.find(" rows/s ") != std::string::npos && line.find("ETA") != std::string::npos) {
        live.insert(line);
      }
    }
  }
  EXPECT_GE(live.size(), 2u) << "the live line was not seen updating";
  // At the end: the last status line once, then the summary; no live line is left over, and
  // no control code shows as text.
  EXPECT_NE(last.find("finished: 100.0%"), std::string::npos) << last;
  EXPECT_NE(last.find("complete: run 1 finished"), std::string::npos) << last;
  EXPECT_LT(last.find("finished: 100.0%"), last.find("complete: run 1 finished")) << last;
  EXPECT_EQ(last.find("ETA"), std::string::npos) << last;
  EXPECT_EQ(last.find("[K"), std::string::npos) << last;
  EXPECT_EQ(last.find('\r'), std::string::npos) << last;
  EXPECT_EQ(raw.find("\033[K"), std::string::npos) << raw;
  EXPECT_EQ(sqlite_checksum(t, std::string(kAll) + "dst"), source_sum_);
}

}  // namespace
}  // namespace parmap
