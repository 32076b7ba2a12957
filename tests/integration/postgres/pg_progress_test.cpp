// The JSON events of a real 2-worker PostgreSQL to PostgreSQL run (the fast path, whose bytes
// are the engine's own) add up to the rows loaded; the ledger records each chunk's start,
// worker and attempt, and `parmap report` draws the run from it.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "support/pg_support.h"
#include "support/test_support.h"

namespace parmap {
namespace {

using test::pg_checksum;

class PgProgressTest : public test::PgTwoDatabasesTest {};

TEST_F(PgProgressTest, JsonEventsOfATwoWorkerRunSumToTheRowsLoaded) {
  const int64_t rows = 60000;
  src_->exec(
      "CREATE TABLE ev (id int8 PRIMARY KEY, label text, amount numeric(12,2)); "
      "INSERT INTO ev SELECT g, 'row ' || g, g / 7.0 FROM generate_series(1, " +
      std::to_string(rows) + ") g; ANALYZE ev");
  dst_->exec("CREATE TABLE ev (id int8 PRIMARY KEY, label text, amount numeric(12,2))");
  const auto r = test::run_parmap({"run", "--source", src_url(), "--target", dst_url(), "--query",
                                   "SELECT * FROM ev ORDER BY id", "--target-table", "ev",
                                   "--workers", "2", "--chunk-size", "6000",
                                   "--min-rows-for-parallel", "10", "--progress", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<nlohmann::json> events;
  std::istringstream in(r.err);
  for (std::string line; std::getline(in, line);) events.push_back(nlohmann::json::parse(line));
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.front()["event"], "job_started");
  EXPECT_EQ(events.front()["fast_path"], true);
  EXPECT_NE(events.front()["snapshot"].get<std::string>().find("one snapshot"), std::string::npos);
  EXPECT_EQ(events.back()["event"], "job_finished");
  EXPECT_EQ(events.back()["ok"], true);
  int64_t sum = 0, done = 0;
  for (const auto& e : events) {
    if (e["event"] != "chunk_done") continue;
    ++done;
    sum += e["rows"].get<int64_t>();
    EXPECT_GT(e["bytes"].get<int64_t>(), 0);
  }
  EXPECT_EQ(done, events.front()["chunks_total"].get<int64_t>());
  EXPECT_EQ(sum, rows);
  EXPECT_EQ(pg_checksum(*dst_, "ev"), pg_checksum(*src_, "ev"));
}

/// Occurrences of `what` in `text`.
size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST_F(PgProgressTest, TheReportFromTheLedgerDrawsEveryCommittedChunkInItsWorkersLane) {
  const int64_t rows = 60000;
  src_->exec(
      "CREATE TABLE rp (id int8 PRIMARY KEY, label text); "
      "INSERT INTO rp SELECT g, 'row ' || g FROM generate_series(1, " +
      std::to_string(rows) + ") g; ANALYZE rp");
  // chunk_size auto commits groups of chunks: each still has its own ledger row.
  for (const char* chunk_size : {"5000", "auto"}) {
    SCOPED_TRACE(chunk_size);
    dst_->exec(
        "DROP TABLE IF EXISTS rp; DROP TABLE IF EXISTS parmap_ledger; "
        "DROP TABLE IF EXISTS parmap_jobs; DROP TABLE IF EXISTS parmap_runs; "
        "CREATE TABLE rp (id int8 PRIMARY KEY, label text)");
    const auto r = test::run_parmap({"run", "--source", src_url(), "--target", dst_url(), "--query",
                                     "SELECT * FROM rp ORDER BY id", "--target-table", "rp",
                                     "--workers", "2", "--chunk-size", chunk_size,
                                     "--min-rows-for-parallel", "10", "--progress", "json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::vector<nlohmann::json> events;
    std::istringstream in(r.err);
    for (std::string line; std::getline(in, line);) events.push_back(nlohmann::json::parse(line));
    ASSERT_FALSE(events.empty());
    const std::string job = events.front()["job_id"];
    const int64_t chunks = events.front()["chunks_total"];
    EXPECT_EQ(dst_->scalar("SELECT COUNT(*) FROM parmap_ledger WHERE started_at IS NOT NULL AND "
                           "worker IN (0, 1) AND attempt = 1 AND started_at <= committed_at"),
              std::to_string(chunks));
    const std::string workers = dst_->scalar("SELECT COUNT(DISTINCT worker) FROM parmap_ledger");

    test::TempDir dir;
    const auto rep =
        test::run_parmap({"report", job, "--target", dst_url(), "-o", dir.file("r.html")});
    ASSERT_EQ(rep.exit_code, 0) << rep.err;
    const std::string html = test::read_file(dir.file("r.html"));
    EXPECT_EQ(count_of(html, "<rect class=\"chunk"), static_cast<size_t>(chunks));
    EXPECT_EQ(count_of(html, "<rect class=\"lane\""), std::stoul(workers));
    EXPECT_NE(html.find("<td>rows</td><td>" + std::to_string(rows) + " in "), std::string::npos);
    // The URL is shown without its password.
    const std::string url = dst_url();
    const size_t at = url.find('@'), colon = url.rfind(':', at);
    if (at != std::string::npos && colon != std::string::npos && colon > url.find("//") + 2) {
      const std::string password = url.substr(colon + 1, at - colon - 1);
      if (!password.empty()) {
        EXPECT_EQ(html.find(password), std::string::npos);
      }
    }
    EXPECT_EQ(pg_checksum(*dst_, "rp"), pg_checksum(*src_, "rp"));
  }
}

TEST_F(PgProgressTest, AnOlderLedgerGetsTheChunkTimeColumnsAndTheRunRecordsThem) {
  src_->exec(
      "CREATE TABLE ol (id int8 PRIMARY KEY, label text); "
      "INSERT INTO ol SELECT g, 'row ' || g FROM generate_series(1, 20000) g; ANALYZE ol");
  // The chunks table as the DDL before these columns made it.
  dst_->exec(
      "CREATE TABLE ol (id int8 PRIMARY KEY, label text); "
      "CREATE TABLE parmap_ledger (job_id varchar(200) NOT NULL, chunk_id bigint NOT NULL, "
      "lo text, hi text, rows_read bigint NOT NULL, rows_written bigint NOT NULL, "
      "row_hash varchar(40) NOT NULL, committed_at varchar(32) NOT NULL, "
      "PRIMARY KEY (job_id, chunk_id))");
  const auto r =
      test::run_parmap({"run", "--source", src_url(), "--target", dst_url(), "--query",
                        "SELECT * FROM ol ORDER BY id", "--target-table", "ol", "--workers", "2",
                        "--chunk-size", "2000", "--min-rows-for-parallel", "10", "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(dst_->scalar("SELECT count(*) FROM information_schema.columns WHERE table_name = "
                         "'parmap_ledger' AND column_name IN ('started_at', 'worker', 'attempt')"),
            "3");
  const std::string chunks = dst_->scalar("SELECT count(*) FROM parmap_ledger");
  EXPECT_GE(std::stoi(chunks), 9);
  EXPECT_EQ(dst_->scalar("SELECT count(*) FROM parmap_ledger WHERE started_at IS NOT NULL AND "
                         "worker IN (0, 1) AND attempt = 1 AND started_at <= committed_at"),
            chunks);
  EXPECT_EQ(pg_checksum(*dst_, "ol"), pg_checksum(*src_, "ol"));
}

}  // namespace
}  // namespace parmap
