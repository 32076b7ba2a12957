// A table selection on a MariaDB source: the database's tables (not its views), each copied to
// the same name in a SQLite target by one run.
#include <gtest/gtest.h>

#include <string>

#include "support/mariadb_support.h"
#include "support/test_support.h"

namespace parmap {
namespace {

class MariadbMultiTableTest : public test::MariadbTest {};

TEST_F(MariadbMultiTableTest, TableSelectionCopiesEveryTableExactly) {
  my_->exec(
      "CREATE TABLE orders (id BIGINT PRIMARY KEY, qty INT, note VARCHAR(40));"
      "INSERT INTO orders SELECT seq, CAST(seq % 13 AS SIGNED) - 6, IF(seq % 5 = 0, NULL, CONCAT('o', seq)) "
      "FROM seq_1_to_20000;"
      "CREATE TABLE order_lines (id BIGINT PRIMARY KEY, order_id BIGINT, amount DOUBLE);"
      "INSERT INTO order_lines SELECT seq, seq DIV 3, seq * 0.5 FROM seq_1_to_9000;"
      "CREATE TABLE empty_one (id INT PRIMARY KEY, v TEXT);"
      "CREATE TABLE tmp_skip (id INT PRIMARY KEY);"
      "CREATE VIEW order_view AS SELECT id FROM orders;");
  test::TempDir dir;
  const std::string dst = dir.file("dst.db");
  const std::string file = dir.file("job.yaml");
  test::write_file(file, "source: " + my_url() + "\ntarget: sqlite://" + dst +
                             "\nmode: create\ntables: ['*']\nexclude: [tmp_*]\nparams:\n"
                             "  max_workers: 3\n  chunk_size: 3000\n"
                             "  min_rows_for_parallel: 100\n");
  const auto run = test::run_parmap({"run", file});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("complete: all 3 tables"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("not shared"), std::string::npos) << run.out;
  EXPECT_FALSE(test::sqlite_has_table(dst, "order_view"));
  EXPECT_FALSE(test::sqlite_has_table(dst, "tmp_skip"));
  EXPECT_TRUE(test::sqlite_has_table(dst, "empty_one"));
  // Count and content by the two engines' own SQL: sums of the values and of their lengths.
  EXPECT_EQ(test::sqlite_scalar(dst, "SELECT count(*) || ':' || sum(id) || ':' || sum(qty) || ':' "
                                     "|| count(note) || ':' || sum(length(note)) FROM orders"),
            my_->scalar("SELECT CONCAT(count(*), ':', sum(id), ':', sum(qty), ':', count(note), "
                        "':', sum(length(note))) FROM orders"));
  EXPECT_EQ(test::sqlite_scalar(dst, "SELECT count(*) || ':' || sum(id) || ':' || sum(order_id) "
                                     "|| ':' || sum(amount * 2) FROM order_lines"),
            my_->scalar("SELECT CONCAT(count(*), ':', sum(id), ':', sum(order_id), ':', "
                        "CAST(sum(amount * 2) AS DECIMAL(20, 1))) FROM order_lines"));
}

}  // namespace
}  // namespace parmap
