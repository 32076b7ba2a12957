// A ledger made by an older parmap on MariaDB (parmap_ledger without started_at, worker and
// attempt): the next run adds the columns and records every chunk with them.
#include <gtest/gtest.h>

#include <string>

#include "support/mariadb_support.h"
#include "support/test_support.h"

namespace parmap {
namespace {

class MariadbLedgerTest : public test::MariadbTest {};

TEST_F(MariadbLedgerTest, AnOlderLedgerGetsTheChunkTimeColumnsAndTheRunRecordsThem) {
  test::TempDir dir;
  test::make_mixed_table(dir.file("src.db"), "src", 20000);
  // The chunks table as the DDL before these columns made it.
  my_->exec(
      "CREATE TABLE parmap_ledger (job_id VARCHAR(200) NOT NULL, chunk_id BIGINT NOT NULL, "
      "lo LONGTEXT, hi LONGTEXT, rows_read BIGINT NOT NULL, rows_written BIGINT NOT NULL, "
      "row_hash VARCHAR(40) NOT NULL, committed_at VARCHAR(32) NOT NULL, "
      "PRIMARY KEY (job_id, chunk_id))");
  const auto r = test::run_parmap({"run", "--source", dir.url("src.db"), "--target", my_url(),
                                   "--query", "SELECT id, grp, label FROM src ORDER BY id",
                                   "--target-table", "dst", "--mode", "create", "--workers", "2",
                                   "--chunk-size", "2000", "--min-rows-for-parallel", "1", "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(my_->scalar("SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = "
                        "DATABASE() AND table_name = 'parmap_ledger' AND column_name IN "
                        "('started_at', 'worker', 'attempt')"),
            "3");
  const std::string chunks = my_->scalar("SELECT COUNT(*) FROM parmap_ledger");
  EXPECT_GE(std::stoi(chunks), 9);
  EXPECT_EQ(my_->scalar("SELECT COUNT(*) FROM parmap_ledger WHERE started_at IS NOT NULL AND "
                        "worker IN (0, 1) AND attempt = 1 AND started_at <= committed_at"),
            chunks);
  EXPECT_EQ(my_->scalar("SELECT COUNT(*) FROM dst"), "20000");
}

}  // namespace
}  // namespace parmap
