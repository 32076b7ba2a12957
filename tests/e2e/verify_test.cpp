// `parmap verify`, `run --verify`, `verify --ledger`, the one-run-per-job lock and hostile
// table names, end to end through the binary on SQLite files.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "parmap/connection.h"
#include "parmap/parmap.h"
#include "support/test_support.h"

namespace parmap {
namespace {

using test::run_parmap;
using test::sqlite_exec;
using test::sqlite_scalar;
using test::TempDir;

constexpr int64_t kRows = 30000;

class VerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    register_builtin_drivers();
    test::make_mixed_table(dir_.file("src.db"), "src", kRows);
  }

  /// Flags naming the job: the same for run and verify.
  std::vector<std::string> job(const std::string& command, const std::string& table = "dst",
                               std::vector<std::string> extra = {}) const {
    std::vector<std::string> args{command,     "--source",     dir_.url("src.db"),
                                  "--target",  dir_.url("dst.db"), "--query",
                                  "SELECT * FROM src ORDER BY id", "--target-table",
                                  table,       "--chunk-size", "3000",
                                  "--workers", "2",            "--job-id",
                                  "verified",  "-q"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  std::string dst() const { return dir_.file("dst.db"); }

  TempDir dir_;
};

TEST_F(VerifyTest, RunVerifyPassesAndVerifyFindsEveryTamperedRange) {
  auto r = run_parmap(job("run", "dst", {"--mode", "create", "--verify"}));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("OK: all 10 range(s) match"), std::string::npos) << r.out;

  r = run_parmap(job("verify"));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = run_parmap(job("verify", "dst", {"--ledger"}));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;

  // One row lost, one changed, one extra: three ranges, each named, by both checks. Keys
  // are 3*i, so 3 (chunk 0), 45000 (the middle) and 90001 (the last, open-ended chunk; a key
  // the created table's primary key does not hold yet).
  sqlite_exec(dst(),
              "DELETE FROM dst WHERE id = 3; UPDATE dst SET label = 'changed' WHERE id = 45000; "
              "INSERT INTO dst (id, label) VALUES (90001, 'extra')");
  for (const bool ledger : {false, true}) {
    SCOPED_TRACE(ledger ? "--ledger" : "against the source");
    std::vector<std::string> extra{"--output", "json"};
    if (ledger) extra.push_back("--ledger");
    r = run_parmap(job("verify", "dst", extra));
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_FALSE(j["ok"].get<bool>());
    EXPECT_EQ(j["ranges_checked"].get<int>(), 10);
    EXPECT_EQ(j["ranges_matching"].get<int>(), 7);
    EXPECT_EQ(j["expected_rows"].get<int64_t>(), kRows);
    EXPECT_EQ(j["target_rows"].get<int64_t>(), kRows);
    const auto& diffs = j["differences"];
    ASSERT_EQ(diffs.size(), 3u) << r.out;
    EXPECT_EQ(diffs[0]["index"].get<int>(), 0);
    EXPECT_EQ(diffs[0]["target_rows"].get<int64_t>() + 1, diffs[0]["expected_rows"].get<int64_t>());
    EXPECT_NE(diffs[1]["problem"].get<std::string>().find("different content"), std::string::npos);
    EXPECT_EQ(diffs[2]["index"].get<int>(), 9);
    EXPECT_EQ(diffs[2]["target_rows"].get<int64_t>(), diffs[2]["expected_rows"].get<int64_t>() + 1);
  }
  // The text form names the ranges too.
  r = run_parmap(job("verify"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("differs     chunk 0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("DIFFERENT: 3 of 10"), std::string::npos) << r.out;
}

TEST_F(VerifyTest, LedgerVerifyReadsTheHashesAnEarlierVersionWrote) {
  // parmap before 2026-12-03 hashed values with FNV-1a and wrote "v:<hex>"; its ledgers are
  // verified with that function, chunk by chunk, whatever this version writes.
  ASSERT_EQ(run_parmap(job("run", "dst", {"--mode", "create"})).exit_code, 0);
  ASSERT_EQ(sqlite_scalar(dst(), "SELECT count(*) FROM parmap_ledger WHERE row_hash LIKE 'w:%'"),
            "10");
  auto target = DriverRegistry::instance().open(parse_url(dir_.url("dst.db")));
  for (const auto& row : target->query("SELECT chunk_id, lo, hi FROM parmap_ledger")) {
    // Bounds as the ledger serialises them: "i:<n>", or "n:" (null) for an open end.
    std::vector<Value> params;
    std::string where = "1 = 1";
    for (const auto& [bound, op] : {std::pair{row[1], ">="}, std::pair{row[2], "<"}}) {
      if (bound.as_text() == "n:") continue;
      where += fmt::format(" AND id {} ?", op);
      params.emplace_back(static_cast<int64_t>(std::stoll(bound.as_text().substr(2))));
    }
    const ContentChecksum old = content_checksum(*target, "SELECT * FROM dst WHERE " + where,
                                                 params, {}, nullptr, int64_t{64} << 20,
                                                 RowHashVersion::Fnv1a);
    target->query("UPDATE parmap_ledger SET row_hash = ? WHERE chunk_id = ?",
                  {Value(fmt::format("v:{:016x}", old.hash)), row[0]});
  }
  target.reset();
  auto r = run_parmap(job("verify", "dst", {"--ledger"}));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("OK: all 10 range(s) match"), std::string::npos) << r.out;
  sqlite_exec(dst(), "UPDATE dst SET label = 'changed' WHERE id = 45000");
  r = run_parmap(job("verify", "dst", {"--ledger"}));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("DIFFERENT: 1 of 10"), std::string::npos) << r.out;
}

TEST_F(VerifyTest, LedgerVerifyIgnoresASourceThatMovedOn) {
  ASSERT_EQ(run_parmap(job("run", "dst", {"--mode", "create"})).exit_code, 0);
  sqlite_exec(dir_.file("src.db"), "DELETE FROM src WHERE id < 3000");  // the source moves on
  auto r = run_parmap(job("verify"));
  EXPECT_EQ(r.exit_code, 1) << r.out;
  r = run_parmap(job("verify", "dst", {"--ledger"}));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("30000 in the ledger, 30000 in the target"), std::string::npos) << r.out;
}

TEST_F(VerifyTest, VerifyComparesTheRowsAsMapped) {
  const std::string file = dir_.file("job.yaml");
  test::write_file(file, "job: mapped\nsource: " + dir_.url("src.db") + "\ntarget: " +
                             dir_.url("dst.db") +
                             "\nquery: SELECT * FROM src ORDER BY id\ntarget_table: dst\nmode: "
                             "create\ncolumns:\n  - id\n  - {name: title, from: label}\n  - "
                             "{name: amount_text, from: amount, cast: text}\n  - {name: origin, "
                             "value: legacy}\nparams:\n  chunk_size: 4000\n");
  auto r = run_parmap({"run", file, "-q", "--verify"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("OK: all 8 range(s) match"), std::string::npos) << r.out;
  sqlite_exec(dst(), "UPDATE dst SET origin = 'other' WHERE id = 300");
  EXPECT_EQ(run_parmap({"verify", file, "-q"}).exit_code, 1);
  EXPECT_EQ(run_parmap({"verify", file, "-q", "--ledger"}).exit_code, 1);
}

TEST_F(VerifyTest, AWholeTableLedgerVerifyOfHashesOfTwoVersionsCountsRows) {
  // Without its key in the target, verify --ledger compares the sum of the chunks' hashes
  // with the table's: a run resumed across the change of hash function (2026-12-03) holds
  // both kinds, whose sum means nothing, so the rows are counted and the scope says so.
  const std::string file = dir_.file("job.yaml");
  test::write_file(file, "job: keyless\nsource: " + dir_.url("src.db") + "\ntarget: " +
                             dir_.url("dst.db") +
                             "\nquery: SELECT * FROM src ORDER BY id\ntarget_table: dst\nmode: "
                             "create\ncolumns:\n  - grp\n  - label\nparams:\n  chunk_size: "
                             "4000\n");
  ASSERT_EQ(run_parmap({"run", file, "-q"}).exit_code, 0);
  auto r = run_parmap({"verify", file, "--ledger"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("the whole table"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("rows counted only"), std::string::npos) << r.out;
  sqlite_exec(dst(), "UPDATE parmap_ledger SET row_hash = 'v:0123456789abcdef' WHERE chunk_id = 0");
  r = run_parmap({"verify", file, "--ledger"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("rows counted only"), std::string::npos) << r.out;
  sqlite_exec(dst(), "DELETE FROM dst WHERE rowid = 7");  // a row fewer still shows
  r = run_parmap({"verify", file, "--ledger"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
}

TEST_F(VerifyTest, RowsTheTargetRefusedAreNamedAsTheReason) {
  sqlite_exec(dst(), "CREATE TABLE dst (id INTEGER, grp INTEGER, amount REAL, label TEXT, "
                     "note TEXT, day TEXT, payload BLOB, CHECK (id <> 300 AND id <> 600))");
  auto r = run_parmap(job("run", "dst", {"--max-rejects", "5", "--reject-file",
                                         dir_.file("rejects.jsonl")}));
  // Every chunk is in, two rows are not: exit 3, and the summary says where they are.
  ASSERT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("complete but for 2 row(s) the target refused"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(dir_.file("rejects.jsonl")), std::string::npos) << r.out;
  r = run_parmap(job("verify"));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("the run rejected 2 row(s) of this chunk"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("DIFFERENT: 1 of 10"), std::string::npos) << r.out;
  // The ledger recorded the rows as written: against it, the target is complete.
  r = run_parmap(job("verify", "dst", {"--ledger"}));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST_F(VerifyTest, ARunResumedAfterRowsWereRefusedIsNotComplete) {
  // A row of chunk 0 is refused within max_rejects; chunk 6's two are one too many, so that
  // chunk fails and the run is left unfinished. Then chunk 6's rows are allowed and the run is
  // resumed: its own rows all go in, but chunk 0's refused row is still only in the file.
  sqlite_exec(dst(), "CREATE TABLE dst (id INTEGER, grp INTEGER, amount REAL, label TEXT, "
                     "note TEXT, day TEXT, payload BLOB); CREATE TABLE bad (id INTEGER); "
                     "INSERT INTO bad VALUES (300), (60000), (60003); "
                     "CREATE TRIGGER refuse BEFORE INSERT ON dst WHEN NEW.id IN (SELECT id "
                     "FROM bad) BEGIN SELECT RAISE(ABORT, 'refused by the test'); END");
  const std::string rejects = dir_.file("rejects.jsonl");
  auto r = run_parmap(job("run", "dst", {"--max-rejects", "1", "--reject-file", rejects}));
  ASSERT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("INCOMPLETE"), std::string::npos) << r.out;
  sqlite_exec(dst(), "DELETE FROM bad WHERE id <> 300");

  std::vector<std::string> resume = job("run", "dst", {"--max-rejects", "1", "--reject-file",
                                                      rejects, "--output", "json"});
  resume.erase(std::find(resume.begin(), resume.end(), "-q"));
  r = run_parmap(resume);
  ASSERT_EQ(r.exit_code, 3) << r.out << r.err;
  const auto summary = nlohmann::json::parse(r.out);
  EXPECT_EQ(summary["rows_rejected"], 1) << r.out;
  EXPECT_EQ(summary["rows_rejected_before"], 1) << r.out;
  EXPECT_EQ(summary["complete"], false) << r.out;
  EXPECT_EQ(sqlite_scalar(dst(), "SELECT count(*) FROM dst"), std::to_string(kRows - 1));
  EXPECT_EQ(sqlite_scalar(dst(), "SELECT count(*) FROM dst WHERE id = 300"), "0");
}

TEST_F(VerifyTest, NothingToVerifyIsAClearError) {
  auto r = run_parmap(job("verify", "dst", {"--ledger"}));
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("has no ledger"), std::string::npos) << r.err;
  r = run_parmap(job("verify"));
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("dst does not exist"), std::string::npos) << r.err;
}

TEST_F(VerifyTest, AJobThatIsRunningRefusesASecondRun) {
  sqlite_exec(dst(), "CREATE TABLE dst (id INTEGER, grp INTEGER, amount REAL, label TEXT, "
                     "note TEXT, day TEXT, payload BLOB)");
  {
    // Another run of the job holds its lock (here: this test, through the same API).
    auto holder = connection_factory(dir_.url("dst.db"))();
    ASSERT_TRUE(holder->try_lock_job(job_lock_key("verified", "dst")));
    auto r = run_parmap(job("run"));
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_NE(r.err.find("job 'verified' is already running into dst"), std::string::npos)
        << r.err;
    EXPECT_EQ(sqlite_scalar(dst(), "SELECT count(*) FROM dst"), "0");
    EXPECT_FALSE(test::sqlite_has_table(dst(), "parmap_ledger"));
    // Another job on the same target is not blocked.
    auto other = job("run", "dst2", {"--mode", "create"});
    ASSERT_EQ(other[14], "verified");
    other[14] = "another-job";
    EXPECT_EQ(run_parmap(other).exit_code, 0);
  }
  // The lock goes with its holder.
  auto r = run_parmap(job("run"));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(sqlite_scalar(dst(), "SELECT count(*) FROM dst"), std::to_string(kRows));
}

TEST_F(VerifyTest, AHostileTableNameIsJustAName) {
  sqlite_exec(dst(), "CREATE TABLE y (v INTEGER); INSERT INTO y VALUES (42)");
  // Unquoted, the name is refused before anything runs.
  auto r = run_parmap(job("run", "x\"; DROP TABLE y; --", {"--mode", "create"}));
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("invalid table name"), std::string::npos) << r.err;
  // Quoted as an identifier (quotes doubled), it is a table of that name.
  const std::string name = "\"x\"\"; DROP TABLE y; --\"";
  r = run_parmap(job("run", name, {"--mode", "create", "--verify"}));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(sqlite_scalar(dst(), "SELECT count(*) FROM \"x\"\"; DROP TABLE y; --\""),
            std::to_string(kRows));
  EXPECT_EQ(sqlite_scalar(dst(), "SELECT v FROM y"), "42");
  // And again in truncate mode, whose DELETE names the table too.
  r = run_parmap(job("run", name, {"--mode", "truncate", "--fresh"}));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(sqlite_scalar(dst(), "SELECT count(*) FROM \"x\"\"; DROP TABLE y; --\""),
            std::to_string(kRows));
  EXPECT_EQ(sqlite_scalar(dst(), "SELECT v FROM y"), "42");
}

}  // namespace
}  // namespace parmap
