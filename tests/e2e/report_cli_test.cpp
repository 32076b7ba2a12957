// `parmap report`: the run report drawn from the target's ledger after the run, the ledger's
// chunk times, workers and attempts (also in a ledger made before they were recorded), and the
// job_finished event of a run that failed while planning.
#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "support/mixed_source_suite.h"
#include "support/test_support.h"

namespace parmap {
namespace {

using test::run_parmap;
using test::sqlite_checksum;
using test::sqlite_scalar;
using test::TempDir;

constexpr const char* kAll = test::kMixedColumns;

/// Occurrences of `what` in `text`.
size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

/// The JSON lines among `text`'s lines.
std::vector<nlohmann::json> events_of(const std::string& text) {
  std::vector<nlohmann::json> events;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line[0] == '{') events.push_back(nlohmann::json::parse(line));
  }
  return events;
}

class ReportCliTest : public test::MixedSourceSuite {
 protected:
  static void SetUpTestSuite() { make_source(60000); }

  /// A 2-worker run of the source into `target` (created) in 12 chunks, quiet.
  static std::vector<std::string> run_args(const std::string& target) {
    auto args = MixedSourceSuite::run_args(target, rows_ / 12);
    args.push_back("-q");
    return args;
  }

};

TEST_F(ReportCliTest, TheLedgerRecordsEachChunksStartWorkerAndAttempt) {
  const std::string t = work_.file("t.db");
  const auto r = run_parmap(run_args(t));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const int64_t chunks = std::stoll(sqlite_scalar(t, "SELECT COUNT(*) FROM parmap_ledger"));
  EXPECT_GE(chunks, 10);
  // Every row has the three, the start at or before the commit (same format: text compares).
  EXPECT_EQ(sqlite_scalar(t,
                          "SELECT COUNT(*) FROM parmap_ledger WHERE started_at IS NOT NULL "
                          "AND worker IN (0, 1) AND attempt = 1 AND started_at <= committed_at "
                          "AND length(started_at) = 24 AND length(committed_at) = 24"),
            std::to_string(chunks));
  EXPECT_EQ(sqlite_checksum(t, std::string(kAll) + "dst"), source_sum_);
}

TEST_F(ReportCliTest, TheReportHasABarPerCommittedChunkAndALanePerWorkerThatCommitted) {
  const std::string t = work_.file("t.db"), html_path = work_.file("after.html");
  const auto r = run_parmap(run_args(t));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string chunks = sqlite_scalar(t, "SELECT COUNT(*) FROM parmap_ledger");
  const std::string workers = sqlite_scalar(t, "SELECT COUNT(DISTINCT worker) FROM parmap_ledger");
  const std::string job = sqlite_scalar(t, "SELECT job_id FROM parmap_jobs");
  ASSERT_FALSE(job.empty());

  // By job id, as `parmap status` takes it.
  const auto rep = run_parmap({"report", job, "--target", "sqlite://" + t, "-o", html_path});
  ASSERT_EQ(rep.exit_code, 0) << rep.err;
  EXPECT_NE(rep.out.find(chunks + " chunk(s), " + std::to_string(rows_) + " rows, " + workers +
                         " worker(s)"),
            std::string::npos)
      << rep.out;
  const std::string html = test::read_file(html_path);
  EXPECT_EQ(count_of(html, "<rect class=\"chunk"), std::stoul(chunks));
  EXPECT_EQ(count_of(html, "<rect class=\"lane\""), std::stoul(workers));
  EXPECT_EQ(count_of(html, "lane unknown"), 0u);
  EXPECT_NE(html.find("<td>rows</td><td>" + std::to_string(rows_) + " in "), std::string::npos);
  EXPECT_NE(html.find("<td>result</td><td>complete</td>"), std::string::npos);
  EXPECT_NE(html.find("only committed attempts are shown"), std::string::npos);
  EXPECT_EQ(html.find("older parmap"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);

  // Without a job id the ledger's only job; the file named after it by default.
  const auto again = run_parmap({"report", "--target", "sqlite://" + t, "-o", html_path + "2"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(count_of(test::read_file(html_path + "2"), "<rect class=\"chunk"), std::stoul(chunks));

  // Errors name what is wrong: no such job, a target without a ledger.
  const auto missing = run_parmap({"report", "nope", "--target", "sqlite://" + t, "-o", html_path});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("job 'nope'"), std::string::npos) << missing.err;
  const auto empty = run_parmap({"report", "--target", work_.url("none.db")});
  EXPECT_EQ(empty.exit_code, 2);
}

TEST_F(ReportCliTest, AnOlderLedgerGetsTheNewColumnsAndItsRunResumes) {
  const std::string t = work_.file("t.db"), html_path = work_.file("old.html");
  auto r = run_parmap(run_args(t));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const int64_t chunks = std::stoll(sqlite_scalar(t, "SELECT COUNT(*) FROM parmap_ledger"));
  // The run as an older parmap left it when stopped half way: its ledger table as the old DDL
  // made it (no started_at, worker, attempt), the later half of the chunks not committed (the
  // chunks are key ranges in chunk order: their rows are the target's highest ids).
  const int64_t kept = chunks / 2;
  test::sqlite_exec(
      t,
      "CREATE TABLE old_ledger (job_id VARCHAR(200) NOT NULL, chunk_id INTEGER NOT NULL, "
      "lo TEXT, hi TEXT, rows_read INTEGER NOT NULL, rows_written INTEGER NOT NULL, "
      "row_hash VARCHAR(40) NOT NULL, committed_at VARCHAR(32) NOT NULL, "
      "PRIMARY KEY (job_id, chunk_id)); "
      "INSERT INTO old_ledger SELECT job_id, chunk_id, lo, hi, rows_read, rows_written, "
      "row_hash, substr(committed_at, 1, 19) || 'Z' FROM parmap_ledger WHERE chunk_id < " +
          std::to_string(kept) +
          "; DROP TABLE parmap_ledger; ALTER TABLE old_ledger RENAME TO parmap_ledger; "
          "DELETE FROM dst WHERE id NOT IN (SELECT id FROM dst ORDER BY id LIMIT "
          "(SELECT SUM(rows_written) FROM parmap_ledger)); "
          "UPDATE parmap_jobs SET finished_at = NULL; UPDATE parmap_runs SET finished_at = "
          "NULL, chunks_done = NULL, rows_written = NULL");
  ASSERT_EQ(sqlite_scalar(t,
                          "SELECT COUNT(*) FROM pragma_table_info('parmap_ledger') "
                          "WHERE name IN ('started_at', 'worker', 'attempt')"),
            "0");

  // The same command resumes the run: the columns are added, the old rows keep nulls.
  r = run_parmap(run_args(t));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(sqlite_scalar(t,
                          "SELECT COUNT(*) FROM pragma_table_info('parmap_ledger') "
                          "WHERE name IN ('started_at', 'worker', 'attempt')"),
            "3");
  EXPECT_EQ(sqlite_scalar(t, "SELECT COUNT(*) FROM parmap_ledger"), std::to_string(chunks));
  EXPECT_EQ(sqlite_scalar(t,
                          "SELECT COUNT(*) FROM parmap_ledger WHERE worker IS NULL AND "
                          "started_at IS NULL AND attempt IS NULL"),
            std::to_string(kept));
  EXPECT_EQ(sqlite_scalar(t,
                          "SELECT COUNT(*) FROM parmap_ledger WHERE worker IS NOT NULL AND "
                          "started_at IS NOT NULL AND attempt = 1"),
            std::to_string(chunks - kept));
  EXPECT_EQ(sqlite_scalar(t, "SELECT COUNT(*) FROM parmap_runs WHERE finished_at IS NOT NULL"),
            "1");
  EXPECT_EQ(sqlite_checksum(t, std::string(kAll) + "dst"), source_sum_);

  // The report draws every chunk: the old ones in a lane of their own, and says so.
  const auto rep = run_parmap({"report", "--target", "sqlite://" + t, "-o", html_path});
  ASSERT_EQ(rep.exit_code, 0) << rep.err;
  const std::string html = test::read_file(html_path);
  EXPECT_EQ(count_of(html, "<rect class=\"chunk"), static_cast<size_t>(chunks));
  EXPECT_EQ(count_of(html, "<rect class=\"lane unknown\""), 1u);
  EXPECT_NE(html.find(std::to_string(kept) + " of " + std::to_string(chunks) +
                      " chunks were committed by an older parmap"),
            std::string::npos);
  EXPECT_NE(html.find("<td>rows</td><td>" + std::to_string(rows_) + " in "), std::string::npos);
}

TEST_F(ReportCliTest, ARunOfManyTablesHasALinePerTableAndLanesLabelledByTable) {
  const std::string t = work_.file("t.db"), job = work_.file("many.yaml");
  const std::string html_path = work_.file("many.html");
  test::write_file(job, "source: " + dir_->url("src.db") + "\ntarget: sqlite://" + t +
                            "\nmode: create\nparams:\n  max_workers: 2\n  chunk_size: 5000\n"
                            "  min_rows_for_parallel: 100\njobs:\n"
                            "  - query: SELECT * FROM src WHERE id % 2 = 0 ORDER BY id\n"
                            "    target_table: evens\n"
                            "  - query: SELECT * FROM src WHERE id % 2 = 1 ORDER BY id\n"
                            "    target_table: odds\n");
  const auto r = run_parmap({"run", job, "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string chunks = sqlite_scalar(t, "SELECT COUNT(*) FROM parmap_ledger");
  const std::string lanes =
      sqlite_scalar(t, "SELECT COUNT(*) FROM (SELECT DISTINCT job_id, worker FROM parmap_ledger)");
  EXPECT_EQ(sqlite_scalar(t, "SELECT COUNT(DISTINCT job_id) FROM parmap_ledger"), "2");

  // Without a job id: every job of the ledger on one page.
  const auto rep = run_parmap({"report", "--target", "sqlite://" + t, "-o", html_path});
  ASSERT_EQ(rep.exit_code, 0) << rep.err;
  const std::string html = test::read_file(html_path);
  EXPECT_EQ(count_of(html, "<tr class=\"table\">"), 2u);
  EXPECT_NE(html.find("<tr class=\"table\"><td>evens</td>"), std::string::npos);
  EXPECT_NE(html.find("<tr class=\"table\"><td>odds</td>"), std::string::npos);
  EXPECT_EQ(count_of(html, "<rect class=\"chunk"), std::stoul(chunks));
  EXPECT_EQ(count_of(html, "<rect class=\"lane\""), std::stoul(lanes));
  EXPECT_NE(html.find(">evens / 0</text>"), std::string::npos);
  EXPECT_NE(html.find(">odds / 0</text>"), std::string::npos);
  EXPECT_NE(html.find("<td>rows</td><td>" + std::to_string(rows_) + " in "), std::string::npos);

  // One of them by its job id: that table only.
  const std::string evens =
      sqlite_scalar(t, "SELECT job_id FROM parmap_jobs WHERE target_table = 'evens'");
  const auto one = run_parmap({"report", evens, "--target", "sqlite://" + t, "-o", html_path});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_EQ(count_of(test::read_file(html_path), "<rect class=\"chunk"),
            std::stoul(sqlite_scalar(
                t, "SELECT COUNT(*) FROM parmap_ledger WHERE job_id = '" + evens + "'")));
}

TEST_F(ReportCliTest, APlanningFailureStillEndsTheJsonEventsWithJobFinished) {
  const std::string t = work_.file("t.db");
  auto args = run_args(t);
  args.pop_back();  // -q
  args[6] = "SELECT * FROM no_such_table ORDER BY id";
  args.insert(args.end(), {"--progress", "json"});
  const auto r = run_parmap(args);
  EXPECT_NE(r.exit_code, 0);
  const auto events = events_of(r.err);
  ASSERT_FALSE(events.empty()) << r.err;
  const nlohmann::json& last = events.back();
  EXPECT_EQ(last["event"], "job_finished") << r.err;
  EXPECT_EQ(last["ok"], false);
  EXPECT_EQ(last["finished"], false);
  ASSERT_EQ(last["errors"].size(), 1u) << last.dump();
  EXPECT_NE(last["errors"][0].get<std::string>().find("no_such_table"), std::string::npos)
      << last.dump();
  size_t finished = 0;
  for (const auto& e : events) finished += e["event"] == "job_finished" ? 1 : 0;
  EXPECT_EQ(finished, 1u);
}

}  // namespace
}  // namespace parmap
