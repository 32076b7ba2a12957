// The compatibility API on real SQLite files: the five-argument call with the environment's
// configuration, get_parallel_config_from_params with a whole job's params, ParallelProcessor
// and create_parallel_processor.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "parmap/parmap.h"
#include "support/test_support.h"

namespace parmap {
namespace {

using test::sqlite_checksum;
using test::TempDir;

constexpr int64_t kRows = 6000;
constexpr const char* kQuery =
    "SELECT id, grp, amount, label, note, day, payload FROM src ORDER BY id";
constexpr const char* kAll = "SELECT id, grp, amount, label, note, day, payload FROM ";

/// Sets MAPPER_* variables for one test and restores what was there.
class ScopedEnv {
 public:
  ScopedEnv(std::string name, const std::string& value) : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str())) {
      old_ = old;
      had_ = true;
    }
    setenv(name_.c_str(), value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (had_) {
      setenv(name_.c_str(), old_.c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_, old_;
  bool had_ = false;
};

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    register_builtin_drivers();
    test::make_mixed_table(dir_.file("src.db"), "src", kRows);
    // The mapper's jobs append into a table that exists.
    test::sqlite_exec(dir_.file("dst.db"),
                      "CREATE TABLE dst (id INTEGER PRIMARY KEY, grp INTEGER, amount REAL, label "
                      "TEXT, note TEXT, day TEXT, payload BLOB)");
  }
  void expect_copied() {
    EXPECT_EQ(sqlite_checksum(dir_.file("dst.db"), std::string(kAll) + "dst"),
              sqlite_checksum(dir_.file("src.db"), std::string(kAll) + "src"));
  }
  TempDir dir_;
};

TEST_F(ApiTest, FiveArgumentCallUsesTheEnvironmentsConfiguration) {
  ScopedEnv workers("MAPPER_MAX_WORKERS", "3");
  ScopedEnv chunk("MAPPER_CHUNK_SIZE", "500");
  ScopedEnv min_rows("MAPPER_MIN_ROWS_FOR_PARALLEL", "100");
  const ParallelResult r =
      execute_query_parallel(dir_.url("src.db"), kQuery, dir_.url("dst.db"), "", "dst");
  EXPECT_TRUE(r.ok()) << r.reason;
  EXPECT_EQ(r.total_rows_processed, kRows);
  EXPECT_TRUE(r.parallel) << r.reason;
  EXPECT_EQ(r.workers_used, 3);
  EXPECT_GE(r.chunks_planned, 10);
  expect_copied();
}

TEST_F(ApiTest, ProcessorRunsWithItsParamsAndIgnoresTheJobsOwnKeys) {
  ScopedEnv workers("MAPPER_MAX_WORKERS", "4");
  const auto processor = create_parallel_processor({{"enable_parallel", "Y"},
                                                    {"max_workers", "2"},
                                                    {"chunk_size", "1000"},
                                                    {"min_rows_for_parallel", "10"},
                                                    {"run_date", "2026-12-01"}});
  EXPECT_EQ(processor->config().max_workers, 2);  // the param beats the environment
  EXPECT_EQ(processor->config().ignored_params, std::vector<std::string>{"run_date"});
  EXPECT_TRUE(should_use_parallel_processing(processor->config(), kRows));
  const ParallelResult r =
      processor->execute(dir_.url("src.db"), kQuery, dir_.url("dst.db"), "", "dst");
  EXPECT_TRUE(r.ok()) << r.reason;
  EXPECT_EQ(r.total_rows_processed, kRows);
  EXPECT_EQ(r.workers_used, 2);
  EXPECT_GE(r.chunks_planned, 4);
  expect_copied();
}

TEST_F(ApiTest, ProcessorWithParallelOffRunsSerially) {
  const auto processor = create_parallel_processor({{"enable_parallel", "N"}});
  EXPECT_FALSE(should_use_parallel_processing(processor->config(), kRows));
  const ParallelResult r =
      processor->execute(dir_.url("src.db"), kQuery, dir_.url("dst.db"), "", "dst");
  EXPECT_TRUE(r.ok()) << r.reason;
  EXPECT_FALSE(r.parallel);
  EXPECT_EQ(r.total_rows_processed, kRows);
  expect_copied();
}

TEST_F(ApiTest, ProcessorRefusesATypoOfASetting) {
  try {
    create_parallel_processor({{"max_worker", "2"}});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config);
    EXPECT_NE(std::string(e.what()).find("did you mean 'max_workers'"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace parmap
