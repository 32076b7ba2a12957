// `parmap plan` says what decided the plan and where each setting came from; `parmap config`
// lists the effective settings with their sources.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace parmap {
namespace {

using test::run_parmap;
using test::TempDir;

TEST(PlanConfigTest, PlanNamesModeSettingsAndSourcesAndWritesNothing) {
  TempDir dir;
  test::make_mixed_table(dir.file("src.db"), "src", 20000);
  const std::string target = dir.file("t.db");
  const auto r =
      run_parmap({"plan", "--source", dir.url("src.db"), "--target", "sqlite://" + target,
                  "--query", "SELECT * FROM src ORDER BY id", "--target-table", "dst", "--mode",
                  "create", "--workers", "2", "--min-rows-for-parallel", "10"},
                 {"MAPPER_CHUNK_SIZE=500"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* want :
       {"mode        create\n", "partition   id\n", "snapshot    ", "data path   ",
        "settings    enable_parallel true (default), max_workers 2 (job param), "
        "min_rows_for_parallel 10 (job param), chunk_size 500 (environment MAPPER_CHUNK_SIZE)\n",
        "more (--output json lists all)\n", "partition column 'id' from the query's ORDER BY"}) {
    EXPECT_NE(r.out.find(want), std::string::npos) << want << "\n" << r.out;
  }
  // The first and the last chunks are shown, the open-ended last one among them.
  EXPECT_NE(r.out.find("  chunk 0 (-inf, "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(", +inf)"), std::string::npos) << r.out;
  // A plan writes nothing: no ledger, no table (the file may not even exist).
  if (std::filesystem::exists(target)) {
    EXPECT_EQ(test::sqlite_scalar(target, "SELECT count(*) FROM sqlite_master"), "0");
  }

  const auto j = run_parmap({"plan", "--source", dir.url("src.db"), "--target",
                             "sqlite://" + target, "--query", "SELECT * FROM src ORDER BY id",
                             "--target-table", "dst", "--mode", "create", "--output", "json"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  const auto plan = nlohmann::json::parse(j.out);
  EXPECT_EQ(plan["mode"], "create");
  EXPECT_EQ(plan["settings"][0]["setting"], "enable_parallel");
}

TEST(PlanConfigTest, ConfigListsEachSettingWithItsSource) {
  TempDir dir;
  test::write_file(dir.file("job.yaml"), "params:\n  max_retries: 7\n");
  const auto r = run_parmap({"config", dir.file("job.yaml"), "--set", "chunk_size=1234"},
                            {"MAPPER_MAX_WORKERS=3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* want :
       {"max_workers            3                environment MAPPER_MAX_WORKERS\n",
        "chunk_size             1234             job param\n",
        "max_retries            7                job param\n",
        "min_rows_for_parallel  100000           default\n"}) {
    EXPECT_NE(r.out.find(want), std::string::npos) << want << "\n" << r.out;
  }
  const auto j = run_parmap({"config", "--workers", "5", "--output", "json"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  bool seen = false;
  for (const auto& s : nlohmann::json::parse(j.out)) {
    if (s["setting"] == "max_workers") {
      EXPECT_EQ(s["value"], "5");
      EXPECT_EQ(s["source"], "job param");
      EXPECT_EQ(s["environment"], "MAPPER_MAX_WORKERS");
      seen = true;
    }
  }
  EXPECT_TRUE(seen);
  // A bad value is refused as run refuses it.
  EXPECT_EQ(run_parmap({"config", "--set", "chunk_size=0"}).exit_code, 2);
}

}  // namespace
}  // namespace parmap
