// A table selection on a MariaDB source: the database's tables (not its views), each copied to
// the same name in a SQLite target by one run; into PostgreSQL, created with their keys.
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "support/mariadb_support.h"
#include "support/pg_support.h"
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

TEST_F(MariadbMultiTableTest, CreatedPostgresTablesGetTheSourcePrimaryKeyInKeyOrder) {
  const std::string pg = test::server_url("PARMAP_PG_URL");
  if (pg.empty()) GTEST_SKIP() << "PARMAP_PG_URL is not set (scripts/pg_test_server.sh)";
  my_->exec(
      "CREATE TABLE pairs (b VARCHAR(20), a INT, v DOUBLE, PRIMARY KEY (a, b));"
      "INSERT INTO pairs SELECT CONCAT('k', seq % 4), seq DIV 4, seq * 0.25 FROM seq_1_to_6000;"
      "CREATE TABLE plain (x INT NOT NULL, y TEXT);"
      "INSERT INTO plain SELECT seq, CONCAT('y', seq) FROM seq_1_to_300;");
  test::Pg admin(pg);
  const std::string db = "parmap_my" + std::to_string(getpid());
  admin.exec("DROP DATABASE IF EXISTS " + db);
  admin.exec("CREATE DATABASE " + db);
  const std::string target = test::url_with(pg, db);
  {
    test::TempDir dir;
    const std::string file = dir.file("job.yaml");
    // The schema "copied" does not exist in the target: create mode makes it.
    test::write_file(file, "source: " + my_url() + "\ntarget: " + target +
                               "\nmode: create\ntables: ['*']\ntarget_schema: copied\n"
                               "params:\n  max_workers: 2\n  chunk_size: 1000\n"
                               "  min_rows_for_parallel: 100\n");
    const auto run = test::run_parmap({"run", file});
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    EXPECT_NE(run.out.find("primary keys only"), std::string::npos) << run.out;
    test::Pg dst(target);
    EXPECT_EQ(dst.scalar("SELECT string_agg(a.attname, ',' ORDER BY k.n) FROM pg_index i, "
                         "unnest(i.indkey) WITH ORDINALITY k(attnum, n) JOIN pg_attribute a ON "
                         "a.attnum = k.attnum WHERE i.indisprimary AND a.attrelid = i.indrelid "
                         "AND i.indrelid = 'copied.pairs'::regclass"),
              "a,b");
    EXPECT_EQ(dst.scalar("SELECT count(*) FROM pg_index WHERE indrelid = "
                         "'copied.plain'::regclass"),
              "0");
    EXPECT_EQ(dst.scalar("SELECT count(*) || ':' || sum(a) || ':' || sum(length(b)) || ':' || "
                         "sum(v * 4) FROM copied.pairs"),
              my_->scalar("SELECT CONCAT(count(*), ':', sum(a), ':', sum(length(b)), ':', "
                          "CAST(sum(v * 4) AS SIGNED)) FROM pairs"));
    EXPECT_EQ(dst.scalar("SELECT count(*) || ':' || sum(x) FROM copied.plain"), "300:45150");
    // The NOT NULL column stays NOT NULL; the other is nullable.
    EXPECT_EQ(dst.scalar("SELECT string_agg(attname, ',' ORDER BY attname) FROM pg_attribute "
                         "WHERE attrelid = 'copied.plain'::regclass AND attnum > 0 AND "
                         "attnotnull"),
              "x");
  }
  admin.exec("DROP DATABASE " + db);
}

}  // namespace
}  // namespace parmap
