// Job files with many jobs (`jobs:` over shared defaults, `tables:` with `exclude:`), run by
// the parmap binary on SQLite files: what is copied, what plan lists, and the errors.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "support/test_support.h"

namespace parmap {
namespace {

class MultiJobCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = dir_.file("src.db");
    dst_ = dir_.file("dst.db");
    test::make_mixed_table(src_, "big", 30000);
    test::make_mixed_table(src_, "small", 700);
    test::make_mixed_table(src_, "tmp_scratch", 10);
    test::sqlite_exec(src_, "CREATE TABLE empty (id INTEGER PRIMARY KEY, v TEXT)");
  }

  std::string write_job(const std::string& text) {
    const std::string path = dir_.file("job.yaml");
    test::write_file(path, text);
    return path;
  }

  std::string head() const {
    return "source: sqlite://" + src_ + "\ntarget: sqlite://" + dst_ +
           "\nmode: create\nparams:\n  max_workers: 3\n  chunk_size: 2000\n"
           "  min_rows_for_parallel: 100\n";
  }

  void expect_copied(const std::string& from, const std::string& to) {
    EXPECT_EQ(test::sqlite_checksum(dst_, "SELECT * FROM " + to),
              test::sqlite_checksum(src_, "SELECT * FROM " + from))
        << to;
  }

  test::TempDir dir_;
  std::string src_, dst_;
};

TEST_F(MultiJobCliTest, JobsListOverSharedDefaults) {
  const std::string file = write_job(head() +
                                     "jobs:\n"
                                     "  - table: big\n"
                                     "    target_table: big_copy\n"
                                     "  - query: SELECT * FROM small WHERE id % 2 = 0\n"
                                     "    target_table: small_even\n"
                                     "    params:\n"
                                     "      max_workers: 1\n");
  const auto plan = test::run_parmap({"plan", file});
  ASSERT_EQ(plan.exit_code, 0) << plan.out << plan.err;
  EXPECT_NE(plan.out.find("big_copy"), std::string::npos) << plan.out;
  EXPECT_NE(plan.out.find("small_even"), std::string::npos) << plan.out;
  EXPECT_FALSE(test::sqlite_has_table(dst_, "big_copy"));

  const auto run = test::run_parmap({"run", file, "--output", "json"});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  const auto j = nlohmann::json::parse(run.out);
  EXPECT_TRUE(j["ok"].get<bool>());
  ASSERT_EQ(j["jobs"].size(), 2u);
  EXPECT_EQ(j["jobs"][0]["target_table"], "big_copy");
  EXPECT_EQ(j["jobs"][0]["state"], "complete");
  expect_copied("big", "big_copy");
  EXPECT_EQ(test::sqlite_checksum(dst_, "SELECT * FROM small_even"),
            test::sqlite_checksum(src_, "SELECT * FROM small WHERE id % 2 = 0"));
  // A job whose source is a whole table creates its target with the table's primary key; a
  // query's result has none.
  EXPECT_EQ(test::sqlite_scalar(dst_, "SELECT group_concat(name) FROM pragma_table_info("
                                      "'big_copy') WHERE pk > 0"),
            "id");
  EXPECT_EQ(test::sqlite_scalar(dst_, "SELECT count(*) FROM pragma_table_info('small_even') "
                                      "WHERE pk > 0"),
            "0");
  EXPECT_NE(run.out.find("primary keys only"), std::string::npos) << run.out;

}

TEST_F(MultiJobCliTest, TableSelectionWithExclude) {
  const std::string file = write_job(head() + "tables: ['*']\nexclude: [tmp_*]\n");
  const auto run = test::run_parmap({"run", file});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("complete: all 3 tables"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("not shared: sqlite"), std::string::npos) << run.out;
  expect_copied("big", "big");
  expect_copied("small", "small");
  EXPECT_TRUE(test::sqlite_has_table(dst_, "empty"));
  EXPECT_FALSE(test::sqlite_has_table(dst_, "tmp_scratch"));
}

TEST_F(MultiJobCliTest, BadJobFilesAreUsageErrors) {
  struct Case {
    std::string text, expect;
  };
  const std::vector<Case> cases{
      {head() + "tables: [nothing_like_this*]\n", "matches no table"},
      {head() + "jobs:\n  - table: big\n    target_tabel: x\n", "did you mean 'target_table'"},
      {head() + "tables: ['*']\njobs:\n  - table: big\n    target_table: x\n",
       "either 'jobs' or 'tables'"},
      {head() + "tables: ['*']\non_error: maybe\n", "continue or stop"},
      {head() + "exclude: [x]\ntable: big\ntarget_table: y\n", "'exclude' needs 'tables'"},
  };
  for (const auto& c : cases) {
    const auto r = test::run_parmap({"run", write_job(c.text)});
    EXPECT_EQ(r.exit_code, 2) << c.text << r.out << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << c.text << r.err;
  }
  EXPECT_FALSE(test::sqlite_has_table(dst_, "big"));
}

}  // namespace
}  // namespace parmap
