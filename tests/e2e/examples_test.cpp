// Every job file under examples/ runs as it is, with only the databases pointed at the test's.
#include <gtest/gtest.h>

#include <string>

#include "support/pg_support.h"
#include "support/test_support.h"

namespace parmap {
namespace {

using test::run_parmap;
using test::sqlite_scalar;

std::string example(const char* name) {
  return std::string(PARMAP_SOURCE_DIR) + "/examples/" + name;
}

class ExamplesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The demo's source, as the examples' comments say to make it.
    const auto demo = run_parmap({"demo", "--dir", dir_.path(), "--rows", "50000"});
    ASSERT_EQ(demo.exit_code, 0) << demo.err;
  }
  std::string source() const { return dir_.url("source.db"); }
  test::TempDir dir_;
};

TEST_F(ExamplesTest, SqliteDemoCopiesEveryRow) {
  const auto r = run_parmap({"run", example("sqlite-demo.yaml"), "--source", source(), "--target",
                             dir_.url("copy.db"), "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("2 worker(s)"), std::string::npos) << r.out;
  EXPECT_EQ(sqlite_scalar(dir_.file("copy.db"), "SELECT count(*) FROM demo_copy"), "50000");
}

TEST_F(ExamplesTest, TransformRenamesCastsAndAddsAColumn) {
  const auto r = run_parmap({"run", example("transform.yaml"), "--source", source(), "--target",
                             dir_.url("items.db"), "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  const std::string db = dir_.file("items.db");
  EXPECT_EQ(sqlite_scalar(db,
                          "SELECT count(*) FROM demo_items WHERE origin = 'nightly' AND "
                          "typeof(price_text) = 'text' AND item LIKE 'item-%'"),
            "50000");
}

class PgExampleTest : public test::PgTwoDatabasesTest {};

TEST_F(PgExampleTest, PostgresToPostgresLoadsTheTableOnTheFastPath) {
  src_->exec(
      "CREATE TABLE orders (id int8 PRIMARY KEY, customer text, amount numeric(12,2)); "
      "INSERT INTO orders SELECT g, 'c' || g % 97, g / 3.0 FROM generate_series(1, 30000) g;"
      " ANALYZE orders");
  dst_->exec("CREATE TABLE orders (id int8 PRIMARY KEY, customer text, amount numeric(12,2))");
  const auto r = run_parmap({"run", example("postgres-to-postgres.yaml"), "--source", src_url(),
                             "--target", dst_url(), "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("fast path"), std::string::npos) << r.out;
  EXPECT_EQ(test::pg_checksum(*dst_, "orders"), test::pg_checksum(*src_, "orders"));
}

}  // namespace
}  // namespace parmap
