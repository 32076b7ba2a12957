// Two processes making, or upgrading, the same PostgreSQL ledger at the same moment (two jobs
// into one target): the one whose DDL finds the other's work done goes on instead of failing.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>

#include "exec/ledger.h"
#include "parmap/connection.h"
#include "parmap/error.h"
#include "support/pg_support.h"
#include "support/test_support.h"

namespace parmap {
namespace {

class PgLedgerUpgradeTest : public test::PgTwoDatabasesTest {
 protected:
  /// Two connections making the ledger at once: the first makes it in a transaction it keeps
  /// open (with its locks); the second looks before the first commits (nothing there yet),
  /// and its DDL waits for the first. Once the first commits, the second must go on.
  void make_ledger_twice_at_once() {
    register_builtin_drivers();
    auto first = DriverRegistry::instance().open(parse_url(dst_url()));
    auto second = DriverRegistry::instance().open(parse_url(dst_url()));
    first->begin();
    Ledger(*first).ensure_tables();
    auto other = std::async(std::launch::async, [&] {
      second->begin();
      Ledger(*second).ensure_tables();
      second->commit();
    });
    EXPECT_EQ(other.wait_for(std::chrono::milliseconds(700)), std::future_status::timeout)
        << "the second did not wait for the first";
    first->commit();
    EXPECT_NO_THROW(other.get());
    // The second connection's transaction was not spoiled: it committed, and it still works.
    EXPECT_EQ(second->query("SELECT count(*) FROM parmap_ledger", {}).at(0).at(0).to_display(),
              "0");
    EXPECT_EQ(dst_->scalar("SELECT count(*) FROM information_schema.columns WHERE table_name "
                           "= 'parmap_ledger' AND column_name IN ('started_at', 'worker', "
                           "'attempt')"),
              "3");
    EXPECT_EQ(dst_->scalar("SELECT count(*) FROM information_schema.tables WHERE table_name "
                           "IN ('parmap_jobs', 'parmap_runs', 'parmap_ledger')"),
              "3");
  }
};

TEST_F(PgLedgerUpgradeTest, TwoJobsMakingANewLedgerAtOnceBothGoOn) { make_ledger_twice_at_once(); }

TEST_F(PgLedgerUpgradeTest, TwoJobsUpgradingAnOlderLedgerAtOnceBothGoOn) {
  // The tables as the DDL before the run and chunk-time columns made them.
  dst_->exec(
      "CREATE TABLE parmap_jobs (job_id VARCHAR(200) NOT NULL PRIMARY KEY, target_table TEXT "
      "NOT NULL, plan TEXT NOT NULL, started_at VARCHAR(32) NOT NULL, finished_at VARCHAR(32));"
      "CREATE TABLE parmap_runs (job_id VARCHAR(200) NOT NULL, run BIGINT NOT NULL, "
      "target_table TEXT NOT NULL, mode VARCHAR(16) NOT NULL, started_at VARCHAR(32) NOT NULL, "
      "finished_at VARCHAR(32), chunks_planned BIGINT NOT NULL, chunks_done BIGINT, "
      "rows_written BIGINT, PRIMARY KEY (job_id, run));"
      "CREATE TABLE parmap_ledger (job_id VARCHAR(200) NOT NULL, chunk_id BIGINT NOT NULL, "
      "lo TEXT, hi TEXT, rows_read BIGINT NOT NULL, rows_written BIGINT NOT NULL, "
      "row_hash VARCHAR(40) NOT NULL, committed_at VARCHAR(32) NOT NULL, "
      "PRIMARY KEY (job_id, chunk_id))");
  make_ledger_twice_at_once();
  EXPECT_EQ(dst_->scalar("SELECT count(*) FROM information_schema.columns WHERE table_name = "
                         "'parmap_jobs' AND column_name = 'run'"),
            "1");
}

}  // namespace
}  // namespace parmap
