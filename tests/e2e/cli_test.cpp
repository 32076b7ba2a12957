// The parmap binary end to end: job files, exit codes, plan, SIGKILL and resume.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <memory>

#include "support/mixed_source_suite.h"
#include "support/test_support.h"

namespace parmap {
namespace {

using test::run_parmap;
using test::sqlite_checksum;
using test::sqlite_scalar;
using test::TempDir;

constexpr const char* kAll = test::kMixedColumns;

class CliTest : public test::MixedSourceSuite {
 protected:
  static void SetUpTestSuite() { make_source(test::test_rows()); }

  /// A run into `target`'s table dst (created here, with no unique key so that a chunk
  /// loaded twice could not hide) in about 50 chunks whatever the row count, so that an
  /// interruption lands mid-run.
  std::vector<std::string> interrupted_run_args(const std::string& target) const {
    test::sqlite_exec(target,
                      "CREATE TABLE dst (id INTEGER, grp INTEGER, amount REAL, label TEXT, "
                      "note TEXT, day TEXT, payload BLOB)");
    return {"run",
            "--source",
            src_url(),
            "--target",
            "sqlite://" + target,
            "--query",
            "SELECT * FROM src ORDER BY id",
            "--target-table",
            "dst",
            "--workers",
            "2",
            "--chunk-size",
            std::to_string(std::max<int64_t>(100, rows_ / 50)),
            "-q"};
  }

  /// Chunks the target's ledger holds (0 before the ledger exists).
  static int64_t committed_chunks(const std::string& target) {
    if (!test::sqlite_has_table(target, "parmap_ledger")) return 0;
    return std::stoll(sqlite_scalar(target, "SELECT count(*) FROM parmap_ledger"));
  }

};

TEST_F(CliTest, KilledRunsResumeToExactlyTheSourceRows) {
  const std::string t = work_.file("t.db");
  const std::vector<std::string> args = interrupted_run_args(t);
  auto committed = [&] { return committed_chunks(t); };
  // Kill it at growing points (by committed chunks); each time the ledger and the table
  // must agree, and no chunk may be there twice.
  int killed = 0;
  bool finished = false;
  for (int64_t at : {1, 5, 12, 20}) {
    const auto r = run_parmap(args, {}, [&] { return committed() >= at; });
    if (r.signal == SIGKILL) ++killed;
    finished = finished || r.exit_code == 0;
    if (test::sqlite_has_table(t, "parmap_ledger")) {
      EXPECT_EQ(sqlite_scalar(t, "SELECT count(*) FROM dst"),
                sqlite_scalar(t, "SELECT coalesce(sum(rows_written), 0) FROM parmap_ledger"));
    }
  }
  EXPECT_GE(killed, 3) << "the job finished before the kills";
  if (!finished) {
    const auto done = run_parmap(args);
    ASSERT_EQ(done.exit_code, 0) << done.err;
    EXPECT_NE(done.out.find("(resumed run 1)"), std::string::npos) << done.out;
  }
  EXPECT_EQ(sqlite_checksum(t, std::string(kAll) + "dst"), source_sum_);
  EXPECT_EQ(sqlite_scalar(t, "SELECT count(*) FROM dst"), std::to_string(rows_));
  // The same command after the job finished is the next run (a nightly append job): it
  // appends the rows once more, and says so.
  const auto again = run_parmap(args);
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("(new run 2)"), std::string::npos) << again.out;
  EXPECT_EQ(sqlite_scalar(t, "SELECT count(*) FROM dst"), std::to_string(2 * rows_));
  EXPECT_EQ(sqlite_scalar(t, "SELECT count(DISTINCT id) FROM dst"), std::to_string(rows_));
}

TEST_F(CliTest, StatusListsEachRunWithItsState) {
  const std::string t = work_.file("t.db");
  const std::vector<std::string> args = interrupted_run_args(t);
  const auto stopped = run_parmap(args, {}, [&] { return committed_chunks(t) >= 3; }, SIGINT);
  ASSERT_EQ(stopped.exit_code, 130) << stopped.err;
  auto status = [&](const std::vector<std::string>& more = {}) {
    std::vector<std::string> a{"status", "--target", "sqlite://" + t, "--output", "json"};
    a.insert(a.end(), more.begin(), more.end());
    const auto r = run_parmap(a);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out);
  };
  auto j = status();
  ASSERT_EQ(j.size(), 1u) << j.dump();
  EXPECT_EQ(j[0]["state"], "unfinished");
  EXPECT_EQ(j[0]["run"], 1);
  EXPECT_EQ(j[0]["chunks_done"].get<int64_t>(), committed_chunks(t));
  EXPECT_EQ(std::to_string(j[0]["rows"].get<int64_t>()),
            sqlite_scalar(t, "SELECT count(*) FROM dst"));
  const std::string job = j[0]["job_id"];

  ASSERT_EQ(run_parmap(args).exit_code, 0);  // resumes run 1
  ASSERT_EQ(run_parmap(args).exit_code, 0);  // run 2
  j = status({job});
  ASSERT_EQ(j.size(), 2u) << j.dump();
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(j[i]["run"], i + 1);
    EXPECT_EQ(j[i]["state"], "finished");
    EXPECT_EQ(j[i]["rows"].get<int64_t>(), rows_);
    EXPECT_EQ(j[i]["chunks_done"], j[i]["chunks_planned"]);
    EXPECT_NE(j[i]["finished_at"], "");
  }
  const auto text = run_parmap({"status", "--target", "sqlite://" + t});
  EXPECT_EQ(text.exit_code, 0);
  EXPECT_NE(text.out.find(job), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("finished"), std::string::npos) << text.out;
  // Nothing to list is a usage error that says why.
  const auto unknown = run_parmap({"status", "--target", "sqlite://" + t, "no-such-job"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("no-such-job"), std::string::npos) << unknown.err;
  const std::string empty = work_.file("empty.db");
  test::sqlite_exec(empty, "CREATE TABLE x (a)");
  const auto none = run_parmap({"status", "--target", "sqlite://" + empty});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.err.find("no parmap ledger"), std::string::npos) << none.err;
}

TEST_F(CliTest, SigintRollsBackChunksInFlightAndTheRerunCompletes) {
  const std::string t = work_.file("t.db");
  const std::vector<std::string> args = interrupted_run_args(t);
  auto committed = [&] { return committed_chunks(t); };
  const auto r = run_parmap(
      args, {}, [&] { return committed() >= 3; }, SIGINT);
  EXPECT_EQ(r.exit_code, 130) << r.err;
  EXPECT_NE(r.err.find("rerun"), std::string::npos) << r.err;
  // Only whole chunks: the table holds exactly what the ledger says was committed.
  EXPECT_EQ(sqlite_scalar(t, "SELECT count(*) FROM dst"),
            sqlite_scalar(t, "SELECT sum(rows_written) FROM parmap_ledger"));
  EXPECT_LT(committed(), 50);
  const auto done = run_parmap(args);
  ASSERT_EQ(done.exit_code, 0) << done.err;
  EXPECT_EQ(sqlite_checksum(t, std::string(kAll) + "dst"), source_sum_);
}

TEST_F(CliTest, JobFileWithColumnMapping) {
  const std::string job = work_.file("job.yaml");
  test::write_file(job,
                   "job: mapped\n"
                   "source: " +
                       src_url() +
                       "\n"
                       "target: " +
                       work_.url("t.db") +
                       "\n"
                       "query: SELECT * FROM src WHERE id <= 30000 ORDER BY id\n"
                       "target_table: mapped\n"
                       "mode: create\n"
                       "columns:\n"
                       "  - id\n"
                       "  - {name: amount_text, from: amount, type: text}\n"
                       "  - {name: group_id, from: grp}\n"
                       "  - {name: origin, value: sqlite-demo}\n"
                       "params:\n"
                       "  max_workers: 2\n"
                       "  chunk_size: 1000\n"
                       "  min_rows_for_parallel: 10\n");
  const auto r = run_parmap({"run", job, "--output", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"job_id\": \"mapped\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"parallel\": true"), std::string::npos) << r.out;
  const std::string t = work_.file("t.db");
  // The text form of a double reads back as exactly the same double.
  EXPECT_EQ(sqlite_checksum(t,
                            "SELECT id, CAST(amount_text AS REAL), group_id, origin "
                            "FROM mapped"),
            sqlite_checksum(dir_->file("src.db"),
                            "SELECT id, amount, grp, 'sqlite-demo' FROM src WHERE id <= 30000"));
  EXPECT_EQ(sqlite_scalar(t, "SELECT typeof(amount_text) FROM mapped LIMIT 1"), "text");
}

TEST_F(CliTest, PlanWritesNothingAndListsChunks) {
  const auto r = run_parmap({"plan", "--source", src_url(), "--target", work_.url("t.db"),
                             "--table", "src", "--target-table", "dst", "--mode", "create",
                             "--workers", "4", "--chunk-size", "100000"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("partition   id"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("chunk 0 (-inf"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("+inf)"), std::string::npos) << r.out;
  EXPECT_FALSE(test::sqlite_has_table(work_.file("t.db"), "dst"));
  EXPECT_FALSE(test::sqlite_has_table(work_.file("t.db"), "parmap_jobs"));
}

// A source table with no target table named is loaded into the table of its own name.
TEST_F(CliTest, ASourceTableIsLoadedIntoTheTableOfItsNameWhenNoTargetTableIsGiven) {
  const std::string t = work_.file("same_name.db");
  const auto r = run_parmap({"run", "--source", src_url(), "--target", "sqlite://" + t,
                             "--table", "src", "--mode", "create", "--workers", "2", "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(sqlite_checksum(t, std::string(kAll) + "src"), source_sum_);
  EXPECT_EQ(sqlite_scalar(t, "SELECT count(*) FROM src"), std::to_string(rows_));
}

// A second run in mode append into a keyed table meets its own rows: exit 1, the table as the
// first run left it, and a hint that does not promise that a plain rerun would help.
TEST_F(CliTest, AppendRunAgainIntoAKeyedTableSaysWhyARerunWouldNotHelp) {
  const std::string t = work_.file("t.db");
  test::sqlite_exec(t,
                    "CREATE TABLE dst (id INTEGER PRIMARY KEY, grp INTEGER, amount REAL, label "
                    "TEXT, note TEXT, day TEXT, payload BLOB)");
  const std::vector<std::string> args{"run", "--source", src_url(), "--target", "sqlite://" + t,
                                      "--query", "SELECT * FROM src ORDER BY id",
                                      "--target-table", "dst", "--mode", "append", "-q"};
  ASSERT_EQ(run_parmap(args).exit_code, 0);
  const auto first = sqlite_checksum(t, std::string(kAll) + "dst");
  EXPECT_EQ(first, source_sum_);
  const auto again = run_parmap(args);
  EXPECT_EQ(again.exit_code, 1) << again.err;
  EXPECT_NE(again.err.find("UNIQUE constraint failed"), std::string::npos) << again.err;
  EXPECT_NE(again.err.find("stopped by a row the target refused"), std::string::npos) << again.err;
  EXPECT_NE(again.err.find("Mode append adds every row again in each new run (this is run 2)"),
            std::string::npos)
      << again.err;
  EXPECT_EQ(sqlite_checksum(t, std::string(kAll) + "dst"), first);
}

TEST_F(CliTest, BadInputExitsTwoAndLeavesTargetUntouched) {
  const std::string t = work_.file("t.db");
  test::sqlite_exec(t,
                    "CREATE TABLE dst (id INTEGER, grp INTEGER, amount REAL, label TEXT, "
                    "note TEXT, day TEXT, payload BLOB); INSERT INTO dst (id) VALUES (7);");
  const auto before = sqlite_checksum(t, "SELECT * FROM dst");
  const std::vector<std::string> base{"run",      "--source",       src_url(),
                                      "--target", "sqlite://" + t,  "--table",
                                      "src",      "--target-table", "dst"};
  auto check = [&](std::vector<std::string> extra, const std::string& words,
                   std::vector<std::string> env = {}) {
    std::vector<std::string> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    const auto r = run_parmap(args, env);
    EXPECT_EQ(r.exit_code, 2) << words << "\n" << r.err << r.out;
    EXPECT_NE(r.err.find(words), std::string::npos) << "expected '" << words << "' in: " << r.err;
    EXPECT_EQ(sqlite_checksum(t, "SELECT * FROM dst"), before);
    EXPECT_FALSE(test::sqlite_has_table(t, "parmap_jobs"));
  };
  check({"--workers", "abc"}, "max_workers");
  check({"--workers", "-3"}, "max_workers");
  check({"--chunk-size", "0"}, "chunk_size");
  check({}, "MAPPER_MAX_WORKERS", {"MAPPER_MAX_WORKERS=abc"});
  check({}, "MAPPER_PARALLEL_ENABLED", {"MAPPER_PARALLEL_ENABLED=maybe"});
  check({"--set", "max_worker=3"}, "did you mean 'max_workers'");
  check({"--mode", "replace"}, "mode");
  check({"--partition-column", "nope"}, "partition_column");

  const std::string job = work_.file("bad.yaml");
  test::write_file(job, "source: " + src_url() + "\ntarget: sqlite://" + t +
                            "\ntable: src\ntarget_table: dst\nchunk_sise: 5\n");
  auto r = run_parmap({"run", job});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("chunk_sise"), std::string::npos) << r.err;
  test::write_file(job, "source: [unclosed\n");
  r = run_parmap({"run", job});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("YAML"), std::string::npos) << r.err;
  test::write_file(job, "source: " + src_url() + "\ntarget: sqlite://" + t +
                            "\ntable: src\ntarget_table: dst\nparams:\n  chunk_size: 0\n");
  r = run_parmap({"run", job});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("chunk_size"), std::string::npos) << r.err;
  r = run_parmap({"run", "--source", "mongodb://x/y", "--target", "sqlite://" + t, "--table", "src",
                  "--target-table", "dst"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("mongodb"), std::string::npos) << r.err;
  EXPECT_EQ(sqlite_checksum(t, "SELECT * FROM dst"), before);
}

TEST_F(CliTest, HelpNamesEveryOptionAndItsEnvironmentVariable) {
  const auto r = run_parmap({"run", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* word : {"--workers", "MAPPER_MAX_WORKERS", "--chunk-size", "MAPPER_CHUNK_SIZE",
                           "MAPPER_MIN_ROWS_FOR_PARALLEL", "MAPPER_PARALLEL_ENABLED", "--mode",
                           "--partition-column", "--job-id", "--fresh", "--output"}) {
    EXPECT_NE(r.out.find(word), std::string::npos) << word;
  }
  const auto usage = run_parmap({"run", "--no-such-flag"});
  EXPECT_EQ(usage.exit_code, 2);
}

}  // namespace
}  // namespace parmap
