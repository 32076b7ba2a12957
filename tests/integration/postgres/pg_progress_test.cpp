// The JSON events of a real 2-worker PostgreSQL to PostgreSQL run (the fast path, whose bytes
// are the engine's own) add up to the rows loaded.
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

}  // namespace
}  // namespace parmap
