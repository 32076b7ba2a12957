// The executor on real SQLite files: parallel and serial copies, reruns, modes, transforms.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>

#include <algorithm>
#include <fstream>
#include <memory>
#include <set>
#include <thread>

#include "parmap/parmap.h"
#include "support/test_support.h"

namespace parmap {
namespace {

using test::Checksum;
using test::sqlite_checksum;
using test::sqlite_scalar;
using test::TempDir;

constexpr const char* kAll = "SELECT id, grp, amount, label, note, day, payload FROM ";

/// One big mixed-type source shared by the suite (made once: it takes a few seconds).
class ExecutorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    register_builtin_drivers();
    dir_ = std::make_unique<TempDir>();
    rows_ = test::test_rows();
    test::make_mixed_table(dir_->file("src.db"), "src", rows_);
    source_sum_ = sqlite_checksum(dir_->file("src.db"), std::string(kAll) + "src");
  }
  static void TearDownTestSuite() { dir_.reset(); }

  static ParallelOptions options(ParamMap params) {
    ParallelOptions o;
    o.config = resolve_config(params, {}, 4);
    return o;
  }
  std::string src_url() const { return dir_->url("src.db"); }

  static std::unique_ptr<TempDir> dir_;
  static int64_t rows_;
  static Checksum source_sum_;
  TempDir work_;
};
std::unique_ptr<TempDir> ExecutorTest::dir_;
int64_t ExecutorTest::rows_ = 0;
Checksum ExecutorTest::source_sum_;

TEST_F(ExecutorTest, ParallelCopyEqualsSourceAndRerunAddsNothing) {
  // About 20 chunks at any PARMAP_TEST_ROWS (50,000 rows each at the default 1,000,000).
  const int64_t chunk = std::max<int64_t>(1, rows_ / 20);
  auto opts = options({{"max_workers", "3"},
                       {"chunk_size", std::to_string(chunk)},
                       {"min_rows_for_parallel", "1000"}});
  opts.mode = TargetMode::Create;
  // A table mode create finds is used as it is: here one with no key, so that the second run
  // below can append the same rows again (a created table would have the source's key).
  test::sqlite_exec(work_.file("t.db"),
                    "CREATE TABLE dst (id INTEGER, grp INTEGER, amount REAL, label TEXT, "
                    "note TEXT, day TEXT, payload BLOB)");
  const auto r = execute_query_parallel(src_url(), "SELECT * FROM src ORDER BY id",
                                        work_.url("t.db"), "", "dst", opts);
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.parallel) << r.reason;
  EXPECT_EQ(r.partition_column, "id");
  EXPECT_EQ(r.workers_used, 3);
  EXPECT_GE(r.chunks_planned, 15);
  EXPECT_EQ(r.chunks_done, r.chunks_planned);
  EXPECT_EQ(r.total_rows_processed, rows_);
  EXPECT_EQ(sqlite_checksum(work_.file("t.db"), std::string(kAll) + "dst"), source_sum_);
  // The ledger holds one row per chunk, and the rows add up.
  EXPECT_EQ(sqlite_scalar(work_.file("t.db"), "SELECT count(*) FROM parmap_ledger"),
            std::to_string(r.chunks_planned));
  EXPECT_EQ(sqlite_scalar(work_.file("t.db"), "SELECT sum(rows_written) FROM parmap_ledger"),
            std::to_string(rows_));

  EXPECT_TRUE(r.finished);
  EXPECT_EQ(r.run, 1);
  EXPECT_FALSE(r.resumed);
  // After a finished run the same call is a new run: in append mode it appends once more.
  const auto again = execute_query_parallel(src_url(), "SELECT * FROM src ORDER BY id",
                                            work_.url("t.db"), "", "dst", opts);
  EXPECT_TRUE(again.ok());
  EXPECT_FALSE(again.resumed);
  EXPECT_EQ(again.run, 2);
  EXPECT_EQ(again.total_rows_processed, rows_);
  EXPECT_EQ(again.chunks_skipped, 0);
  EXPECT_EQ(sqlite_scalar(work_.file("t.db"), "SELECT count(*) FROM dst"),
            std::to_string(2 * rows_));
  EXPECT_EQ(sqlite_checksum(work_.file("t.db"),
                            std::string(kAll) + "dst WHERE rowid IN (SELECT min(rowid) FROM dst "
                                                "GROUP BY id)"),
            source_sum_);
  // The ledger holds the last run's chunks; parmap_runs both runs.
  EXPECT_EQ(sqlite_scalar(work_.file("t.db"), "SELECT count(*) FROM parmap_ledger"),
            std::to_string(again.chunks_planned));
  EXPECT_EQ(sqlite_scalar(work_.file("t.db"),
                          "SELECT group_concat(run || ':' || rows_written, ',') FROM "
                          "(SELECT * FROM parmap_runs ORDER BY run)"),
            fmt::format("1:{0},2:{0}", rows_));
}

TEST_F(ExecutorTest, SerialCopyEqualsSource) {
  auto opts = options({{"enable_parallel", "N"}});
  opts.mode = TargetMode::Create;
  const auto r =
      execute_query_parallel(src_url(), "SELECT * FROM src", work_.url("t.db"), "", "dst", opts);
  EXPECT_TRUE(r.ok());
  EXPECT_FALSE(r.parallel);
  EXPECT_EQ(r.workers_used, 1);
  EXPECT_NE(r.reason.find("disabled"), std::string::npos) << r.reason;
  EXPECT_EQ(r.total_rows_processed, rows_);
  EXPECT_EQ(sqlite_checksum(work_.file("t.db"), std::string(kAll) + "dst"), source_sum_);
}

TEST_F(ExecutorTest, TransformChangesValuesDropsRowsAndAddsAColumn) {
  auto opts = options({{"max_workers", "2"}, {"chunk_size", "100000"}});
  opts.mode = TargetMode::Create;
  opts.transform = [](Batch& b) {
    Column& grp = b.columns[b.find("grp")];
    for (auto& v : grp.ints) v *= 2;
    const Column& id = b.columns[b.find("id")];
    std::vector<uint8_t> keep(b.num_rows());
    for (size_t r = 0; r < keep.size(); ++r) keep[r] = id.ints[r] % 10 != 0;
    b.filter(keep);
    Column tag;
    tag.name = "tag";
    tag.type = ColumnType::Text;
    for (size_t r = 0; r < b.num_rows(); ++r) tag.append_string("copied");
    b.columns.push_back(std::move(tag));
  };
  const auto r = execute_query_parallel(src_url(), "SELECT * FROM src ORDER BY id",
                                        work_.url("t.db"), "", "dst", opts);
  ASSERT_TRUE(r.ok());
  const auto expected =
      sqlite_checksum(dir_->file("src.db"),
                      "SELECT id, grp * 2, amount, label, note, day, payload, 'copied' FROM src "
                      "WHERE id % 10 != 0");
  EXPECT_EQ(sqlite_checksum(work_.file("t.db"),
                            "SELECT id, grp, amount, label, note, day, payload, tag FROM dst"),
            expected);
  EXPECT_EQ(r.total_rows_processed, expected.rows);
}

TEST_F(ExecutorTest, TruncateModeReplacesRowsAndAppendAdds) {
  const std::string t = work_.file("t.db");
  test::sqlite_exec(t,
                    "CREATE TABLE dst (id INTEGER, grp INTEGER, amount REAL, label TEXT, note TEXT,"
                    " day TEXT, payload BLOB); INSERT INTO dst (id) VALUES (-1), (-2);");
  const std::string q = "SELECT * FROM src WHERE id < 3000 ORDER BY id";
  auto opts =
      options({{"chunk_size", "100"}, {"max_workers", "2"}, {"min_rows_for_parallel", "0"}});
  opts.mode = TargetMode::Truncate;
  opts.job_id = "trunc";
  ASSERT_TRUE(execute_query_parallel(src_url(), q, work_.url("t.db"), "", "dst", opts).ok());
  const std::string src_q = std::string(kAll) + "src WHERE id < 3000";
  EXPECT_EQ(sqlite_checksum(t, std::string(kAll) + "dst"),
            sqlite_checksum(dir_->file("src.db"), src_q));
  // A rerun of a finished truncate job is a new run: it empties the table and loads it again
  // (a nightly reload), exactly the source's rows.
  test::sqlite_exec(t, "INSERT INTO dst (id) VALUES (-3)");
  const auto again = execute_query_parallel(src_url(), q, work_.url("t.db"), "", "dst", opts);
  EXPECT_TRUE(again.ok());
  EXPECT_EQ(again.run, 2);
  EXPECT_EQ(again.total_rows_processed, 999);
  EXPECT_EQ(sqlite_checksum(t, std::string(kAll) + "dst"),
            sqlite_checksum(dir_->file("src.db"), src_q));
  // --fresh in truncate mode starts over: still exactly the source's rows.
  opts.fresh = true;
  const auto fresh = execute_query_parallel(src_url(), q, work_.url("t.db"), "", "dst", opts);
  EXPECT_EQ(fresh.total_rows_processed, 999);
  EXPECT_EQ(fresh.run, 3);
  EXPECT_EQ(sqlite_scalar(t, "SELECT count(*) FROM dst"), "999");
  // Append under its own job id adds the rows once more, and so does its next run.
  opts.fresh = false;
  opts.mode = TargetMode::Append;
  opts.job_id = "append-2";
  EXPECT_EQ(
      execute_query_parallel(src_url(), q, work_.url("t.db"), "", "dst", opts).total_rows_processed,
      999);
  EXPECT_EQ(sqlite_scalar(t, "SELECT count(*) FROM dst"), "1998");
  const auto next = execute_query_parallel(src_url(), q, work_.url("t.db"), "", "dst", opts);
  EXPECT_EQ(next.run, 2);
  EXPECT_EQ(next.total_rows_processed, 999);
  EXPECT_EQ(sqlite_scalar(t, "SELECT count(*) FROM dst"), "2997");
}

TEST_F(ExecutorTest, TheDerivedJobIdDependsOnTheMode) {
  const std::string t = work_.file("t.db");
  const std::string q = "SELECT * FROM src WHERE id < 3000 ORDER BY id";
  auto opts = options({{"chunk_size", "300"}});
  opts.mode = TargetMode::Create;
  const auto created = execute_query_parallel(src_url(), q, work_.url("t.db"), "", "dst", opts);
  ASSERT_TRUE(created.ok());
  // create, then truncate: another job (the mode is part of its id), and it truly reloads.
  opts.mode = TargetMode::Truncate;
  const auto truncated = execute_query_parallel(src_url(), q, work_.url("t.db"), "", "dst", opts);
  EXPECT_NE(truncated.job_id, created.job_id);
  EXPECT_EQ(truncated.run, 1);
  EXPECT_EQ(truncated.total_rows_processed, 999);
  EXPECT_EQ(sqlite_checksum(t, std::string(kAll) + "dst"),
            sqlite_checksum(dir_->file("src.db"), std::string(kAll) + "src WHERE id < 3000"));
  // The id never holds the user or the password, and the same databases give the same id.
  EXPECT_EQ(derive_job_id(identity_of(parse_url("postgresql://a:secret@h/db")), q,
                          identity_of(parse_url("postgresql://b@h:5432/db?sslmode=require")),
                          "dst", TargetMode::Append),
            derive_job_id(identity_of(parse_url("postgresql://h:5432/db")), q,
                          identity_of(parse_url("postgresql://h/db")), "dst", TargetMode::Append));
  EXPECT_NE(derive_job_id("postgresql://h:5432/db", q, "postgresql://h:5432/db2", "dst",
                          TargetMode::Append),
            derive_job_id("postgresql://h:5432/db", q, "postgresql://h:5432/db3", "dst",
                          TargetMode::Append));
}

TEST_F(ExecutorTest, AJobIdBelongsToOneQuery) {
  auto opts = options({{"chunk_size", "500"}});
  opts.mode = TargetMode::Create;
  opts.job_id = "nightly";
  const std::string q = "SELECT * FROM src WHERE id < 3000 ORDER BY id";
  // A run stopped after its first chunk (the caller's cancel flag) is left unfinished.
  std::atomic<bool> stop{false};
  opts.cancel = &stop;
  opts.on_progress = [&stop](const ProgressEvent& ev) {
    if (ev.kind == ProgressKind::ChunkDone) stop = true;
  };
  try {
    execute_query_parallel(src_url(), q, work_.url("t.db"), "", "dst", opts);
    ADD_FAILURE() << "the cancelled run did not say so";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Cancelled) << e.what();
  }
  const std::string part = sqlite_scalar(work_.file("t.db"), "SELECT count(*) FROM dst");
  EXPECT_LT(std::stoi(part), 999);
  opts.cancel = nullptr;
  opts.on_progress = nullptr;
  // Resuming that run with another query would skip chunks the new query needs: refused.
  try {
    execute_query_parallel(src_url(), "SELECT * FROM src WHERE id < 6000 ORDER BY id",
                           work_.url("t.db"), "", "dst", opts);
    ADD_FAILURE() << "another query under the same job id was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config);
    EXPECT_NE(std::string(e.what()).find("--fresh"), std::string::npos) << e.what();
  }
  EXPECT_EQ(sqlite_scalar(work_.file("t.db"), "SELECT count(*) FROM dst"), part);
  const auto resumed = execute_query_parallel(src_url(), q, work_.url("t.db"), "", "dst", opts);
  EXPECT_TRUE(resumed.ok());
  EXPECT_TRUE(resumed.resumed);
  EXPECT_EQ(resumed.run, 1);
  EXPECT_EQ(sqlite_scalar(work_.file("t.db"), "SELECT count(*) FROM dst"), "999");
  // Once it finished, the next run may have another query (an incremental nightly query).
  const auto next = execute_query_parallel(
      src_url(), "SELECT * FROM src WHERE id >= 3000 AND id < 6000 ORDER BY id",
      work_.url("t.db"), "", "dst", opts);
  EXPECT_TRUE(next.ok());
  EXPECT_EQ(next.run, 2);
  EXPECT_EQ(next.total_rows_processed, 1000);
  EXPECT_EQ(sqlite_checksum(work_.file("t.db"), std::string(kAll) + "dst"),
            sqlite_checksum(dir_->file("src.db"), std::string(kAll) + "src WHERE id < 6000"));
}

TEST_F(ExecutorTest, ARunStoredWithItsQueryAsTypedResumes) {
  // Earlier versions stored the query as given: a YAML block's trailing newline, a semicolon.
  // Their unfinished runs resume; the derived job id still hashes the query as given.
  auto opts = options({{"chunk_size", "500"}, {"enable_parallel", "N"}});
  opts.mode = TargetMode::Create;
  const std::string q = "SELECT * FROM src WHERE id < 6000 ORDER BY id\n";
  std::atomic<bool> stop{false};
  opts.cancel = &stop;
  opts.on_progress = [&stop](const ProgressEvent& ev) {
    if (ev.kind == ProgressKind::ChunkDone) stop = true;
  };
  const std::string t = work_.file("t.db");
  EXPECT_THROW(execute_query_parallel(src_url(), q, work_.url("t.db"), "", "dst", opts), Error);
  const std::string job = sqlite_scalar(t, "SELECT job_id FROM parmap_jobs");
  EXPECT_EQ(job, derive_job_id(identity_of(parse_url(src_url())), q,
                               identity_of(parse_url(work_.url("t.db"))), "dst",
                               TargetMode::Create));
  test::sqlite_exec(t, "UPDATE parmap_jobs SET plan = json_set(plan, '$.source_sql', "
                       "json_extract(plan, '$.source_sql') || ';' || char(10))");
  opts.cancel = nullptr;
  opts.on_progress = nullptr;
  const auto r = execute_query_parallel(src_url(), q, work_.url("t.db"), "", "dst", opts);
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.resumed) << r.reason;
  EXPECT_EQ(r.job_id, job);
  EXPECT_EQ(sqlite_checksum(t, std::string(kAll) + "dst"),
            sqlite_checksum(dir_->file("src.db"), std::string(kAll) + "src WHERE id < 6000"));
}

TEST_F(ExecutorTest, AResumeIntoATableWhoseRowsWereRemovedIsRefused) {
  // The ledger says which chunks the run committed; rows deleted from the target since, or a
  // table dropped and made again, no longer hold them, and skipping those chunks would lose
  // them: the resume is refused and writes nothing; mode truncate starts the run over.
  const std::string t = work_.file("t.db");
  auto opts = options({{"chunk_size", "500"}, {"enable_parallel", "N"}});
  opts.mode = TargetMode::Create;
  opts.job_id = "emptied";
  const std::string q = "SELECT * FROM src WHERE id < 6000 ORDER BY id";
  std::atomic<bool> stop{false};
  opts.cancel = &stop;
  opts.on_progress = [&stop](const ProgressEvent& ev) {
    if (ev.kind == ProgressKind::ChunkDone && ev.chunk_index >= 1) stop = true;
  };
  EXPECT_THROW(execute_query_parallel(src_url(), q, work_.url("t.db"), "", "dst", opts), Error);
  opts.cancel = nullptr;
  opts.on_progress = nullptr;
  const int held = std::stoi(sqlite_scalar(t, "SELECT count(*) FROM dst"));
  ASSERT_GT(held, 0);
  auto refused = [&](const std::string& change, const std::string& left) {
    try {
      execute_query_parallel(src_url(), q, work_.url("t.db"), "", "dst", opts);
      ADD_FAILURE() << "the run was resumed after " << change;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Config) << e.what();
      const std::string what = e.what();
      EXPECT_NE(what.find("cannot resume run 1: table dst holds " + left + " row(s), fewer than"),
                std::string::npos)
          << what;
      EXPECT_NE(what.find("--fresh --mode truncate"), std::string::npos) << what;
    }
    EXPECT_EQ(sqlite_scalar(t, "SELECT count(*) FROM dst"), left)
        << "the refused resume wrote rows after " << change;
  };
  test::sqlite_exec(t, "DELETE FROM dst WHERE id % 10 = 7");
  const std::string left = sqlite_scalar(t, "SELECT count(*) FROM dst");
  ASSERT_LT(std::stoi(left), held);
  refused("a DELETE of some rows", left);
  test::sqlite_exec(t, "DELETE FROM dst");
  refused("a DELETE of every row", "0");
  test::sqlite_exec(t, "DROP TABLE dst");
  try {  // mode create would make the table again and skip the chunks it held
    execute_query_parallel(src_url(), q, work_.url("t.db"), "", "dst", opts);
    ADD_FAILURE() << "the run was resumed into a table made again";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("table dst holds 0 row(s)"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(sqlite_scalar(t, "SELECT count(*) FROM sqlite_master WHERE name = 'dst'"), "0");

  // Mode truncate starts the run over, and it is exact.
  opts.mode = TargetMode::Truncate;
  test::sqlite_exec(t, "ATTACH '" + dir_->file("src.db") + "' AS s; "
                       "CREATE TABLE dst AS SELECT * FROM s.src WHERE 0");
  const auto r = execute_query_parallel(src_url(), q, work_.url("t.db"), "", "dst", opts);
  EXPECT_TRUE(r.ok());
  EXPECT_FALSE(r.resumed);
  EXPECT_EQ(r.total_rows_processed, 1999);
  EXPECT_EQ(sqlite_checksum(t, std::string(kAll) + "dst"),
            sqlite_checksum(dir_->file("src.db"), std::string(kAll) + "src WHERE id < 6000"));
}

TEST_F(ExecutorTest, AChunkAnEarlierAttemptCommittedIsDoneNotARefusedRow) {
  // A commit whose answer was lost can land while the retry writes the same chunk: the retry's
  // ledger row then meets the committed one's key. That chunk is done; it is not a data error.
  const std::string t = work_.file("t.db");
  auto opts = options({{"chunk_size", "300"}, {"enable_parallel", "N"}});  // chunks in plan order
  opts.mode = TargetMode::Create;
  opts.job_id = "in-doubt";
  const std::string q = "SELECT * FROM src WHERE id < 6000 ORDER BY id";
  std::atomic<bool> injected{false};
  opts.on_progress = [&](const ProgressEvent& ev) {
    if (ev.kind != ProgressKind::ChunkDone || ev.chunk_index != 0 || injected.exchange(true))
      return;
    // Chunk 1 as another attempt committed it: its rows and its ledger row, in one transaction.
    const std::string lo = "substr(json_extract(plan, '$.chunks[1].lo'), 3)";
    const std::string hi = "substr(json_extract(plan, '$.chunks[1].hi'), 3)";
    const std::string range = "id >= (SELECT " + lo + " FROM parmap_jobs) AND id < (SELECT " + hi +
                              " FROM parmap_jobs)";
    test::sqlite_exec(t, "ATTACH '" + dir_->file("src.db") + "' AS s; BEGIN; "
                         "INSERT INTO dst SELECT * FROM s.src WHERE " + range + "; "
                         "INSERT INTO parmap_ledger (job_id, chunk_id, lo, hi, rows_read, "
                         "rows_written, row_hash, committed_at) SELECT 'in-doubt', 1, NULL, NULL, "
                         "count(*), count(*), 'v:0', 'now' FROM s.src WHERE " + range + "; "
                         "COMMIT;");
  };
  const auto r = execute_query_parallel(src_url(), q, work_.url("t.db"), "", "dst", opts);
  ASSERT_TRUE(injected);
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front());
  EXPECT_EQ(r.chunks_done, r.chunks_planned);
  EXPECT_GE(r.chunks_planned, 4);
  EXPECT_EQ(r.rows_rejected, 0);
  EXPECT_EQ(r.total_rows_processed, 1999);
  EXPECT_EQ(sqlite_checksum(t, std::string(kAll) + "dst"),
            sqlite_checksum(dir_->file("src.db"), std::string(kAll) + "src WHERE id < 6000"));
}

TEST_F(ExecutorTest, RefusedRowsGoToTheRejectFileAndTheRestCommits) {
  const std::string t = work_.file("t.db");
  // grp between -90 and 90 and a non-null note: about 1 row in 10 breaks one or the other.
  const char* ddl =
      "CREATE TABLE dst (id INTEGER, grp INTEGER CHECK (grp BETWEEN -90 AND 90), amount REAL, "
      "label TEXT, note TEXT NOT NULL, day TEXT, payload BLOB)";
  test::sqlite_exec(t, ddl);
  const std::string q = "SELECT * FROM src WHERE id <= 60000 ORDER BY id";
  const std::string good = "id <= 60000 AND grp BETWEEN -90 AND 90 AND note IS NOT NULL";
  const std::string bad = "id <= 60000 AND NOT (grp BETWEEN -90 AND 90 AND note IS NOT NULL)";
  const int64_t bad_rows =
      std::stoll(sqlite_scalar(dir_->file("src.db"), "SELECT count(*) FROM src WHERE " + bad));
  ASSERT_GT(bad_rows, 100);

  auto opts = options({{"chunk_size", "5000"},
                       {"max_workers", "3"},
                       {"min_rows_for_parallel", "1"},
                       {"max_rejects", std::to_string(bad_rows)}});
  opts.reject_file = work_.file("rejects.jsonl");
  const auto r = execute_query_parallel(src_url(), q, work_.url("t.db"), "", "dst", opts);
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0]);
  EXPECT_EQ(r.rows_rejected, bad_rows);
  EXPECT_EQ(r.reject_file, opts.reject_file);
  EXPECT_EQ(sqlite_checksum(t, std::string(kAll) + "dst"),
            sqlite_checksum(dir_->file("src.db"), std::string(kAll) + "src WHERE " + good));
  // The reject file holds exactly the bad rows: one JSON line each, with the row's id.
  std::ifstream in(opts.reject_file);
  std::set<int64_t> ids;
  for (std::string line; std::getline(in, line);) {
    const auto at = line.find("\"id\":");
    ASSERT_NE(at, std::string::npos) << line;
    ids.insert(std::stoll(line.substr(at + 5)));
    EXPECT_NE(line.find("\"error\""), std::string::npos) << line;
  }
  EXPECT_EQ(static_cast<int64_t>(ids.size()), bad_rows);
  EXPECT_EQ(sqlite_scalar(
                dir_->file("src.db"), "SELECT count(*) FROM src WHERE " + bad + " AND id IN (" +
                                          [&] {
                                            std::string list;
                                            for (auto id : ids) {
                                              list +=
                                                  (list.empty() ? "" : ",") + std::to_string(id);
                                            }
                                            return list;
                                          }() +
                                          ")"),
            std::to_string(bad_rows));
}

TEST_F(ExecutorTest, WithoutMaxRejectsTheFirstRefusedRowFailsTheJobNamingIt) {
  const std::string t = work_.file("t.db");
  test::sqlite_exec(t,
                    "CREATE TABLE dst (id INTEGER, grp INTEGER, amount REAL, label TEXT, "
                    "note TEXT NOT NULL, day TEXT, payload BLOB)");
  auto opts = options({{"chunk_size", "100"}, {"enable_parallel", "false"}});
  opts.reject_file = work_.file("rejects.jsonl");
  const auto r = execute_query_parallel(src_url(), "SELECT * FROM src WHERE id <= 3000 ORDER BY id",
                                        work_.url("t.db"), "", "dst", opts);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.chunks_failed, 1);
  ASSERT_EQ(r.errors.size(), 1u);
  // id 21 is the first row whose note is NULL (every 7th row: id = 3 * 7).
  EXPECT_NE(r.errors[0].find("\"id\":21"), std::string::npos) << r.errors[0];
  EXPECT_NE(r.errors[0].find("max_rejects"), std::string::npos) << r.errors[0];
  // The failing chunk left nothing behind, and no chunk after it ran.
  EXPECT_EQ(sqlite_scalar(t, "SELECT count(*) FROM dst"), "0");
  EXPECT_FALSE(std::ifstream(opts.reject_file).good());
}

TEST_F(ExecutorTest, NullAndTextKeysAreNotLost) {
  const std::string s = work_.file("keys.db");
  test::sqlite_exec(s,
                    "CREATE TABLE k (name TEXT, v INTEGER);"
                    "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq "
                    "WHERE i < 20000) INSERT INTO k SELECT CASE WHEN i % 13 = 0 THEN NULL "
                    "WHEN i % 5 = 0 THEN 'hot' ELSE printf('%x', i * 7) END, i FROM seq;"
                    "CREATE INDEX k_name ON k (name);");
  auto opts =
      options({{"chunk_size", "1000"}, {"max_workers", "4"}, {"min_rows_for_parallel", "1"}});
  opts.mode = TargetMode::Create;
  opts.partition_column = "name";
  const auto r =
      execute_query_parallel("sqlite://" + s, "SELECT * FROM k", work_.url("t.db"), "", "k2", opts);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.parallel);
  EXPECT_GT(r.chunks_planned, 10);
  EXPECT_EQ(sqlite_checksum(work_.file("t.db"), "SELECT name, v FROM k2"),
            sqlite_checksum(s, "SELECT name, v FROM k"));
}

TEST_F(ExecutorTest, EmptySourceAndSingleRow) {
  const std::string s = work_.file("small.db");
  test::sqlite_exec(s,
                    "CREATE TABLE e (id INTEGER PRIMARY KEY, v TEXT);"
                    "CREATE TABLE one (id INTEGER PRIMARY KEY, v TEXT);"
                    "INSERT INTO one VALUES (42, 'x');");
  auto opts = options({{"min_rows_for_parallel", "0"}, {"max_workers", "2"}, {"chunk_size", "1"}});
  opts.mode = TargetMode::Create;
  const auto empty = execute_query_parallel("sqlite://" + s, "SELECT * FROM e ORDER BY id",
                                            work_.url("t.db"), "", "e2", opts);
  EXPECT_TRUE(empty.ok());
  EXPECT_EQ(empty.total_rows_processed, 0);
  EXPECT_EQ(sqlite_scalar(work_.file("t.db"), "SELECT count(*) FROM e2"), "0");
  const auto one = execute_query_parallel("sqlite://" + s, "SELECT * FROM one ORDER BY id",
                                          work_.url("t.db"), "", "one2", opts);
  EXPECT_EQ(one.total_rows_processed, 1);
  EXPECT_EQ(sqlite_scalar(work_.file("t.db"), "SELECT v FROM one2 WHERE id = 42"), "x");
}

TEST_F(ExecutorTest, UnsplittableQueryStreamsAndSaysWhy) {
  auto opts = options({{"min_rows_for_parallel", "0"}, {"max_workers", "4"}, {"chunk_size", "10"}});
  opts.mode = TargetMode::Create;
  const auto r =
      execute_query_parallel(src_url(), "SELECT * FROM src WHERE id < 600 ORDER BY id LIMIT 150",
                             work_.url("t.db"), "", "lim", opts);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.chunks_planned, 1);
  EXPECT_TRUE(r.partition_column.empty());
  EXPECT_NE(r.reason.find("LIMIT"), std::string::npos) << r.reason;
  EXPECT_EQ(sqlite_scalar(work_.file("t.db"), "SELECT count(*) FROM lim"), "150");
}

TEST_F(ExecutorTest, BadInputLeavesTargetUntouched) {
  const std::string t = work_.file("t.db");
  test::sqlite_exec(t,
                    "CREATE TABLE dst (id INTEGER, other TEXT); INSERT INTO dst VALUES (1, 'a');");
  const auto before = sqlite_checksum(t, "SELECT * FROM dst");
  auto opts = options({});
  auto expect_error = [&](const std::string& q, const std::string& table, ErrorKind kind,
                          const std::string& words) {
    try {
      execute_query_parallel(src_url(), q, work_.url("t.db"), "", table, opts);
      ADD_FAILURE() << "no error for " << q;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), kind) << e.what();
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
    EXPECT_EQ(sqlite_checksum(t, "SELECT * FROM dst"), before);
    EXPECT_FALSE(test::sqlite_has_table(t, "parmap_jobs"));
  };
  expect_error("SELECT * FROM src", "dst", ErrorKind::Schema, "grp");  // columns differ
  expect_error("SELECT * FROM src", "missing", ErrorKind::Schema, "missing");
  expect_error("SELEC * FROM src", "dst", ErrorKind::Config, "syntax");
  expect_error("SELECT * FROM nope", "dst", ErrorKind::Schema, "nope");
  opts.partition_column = "nope";
  expect_error("SELECT id FROM src", "dst", ErrorKind::Config, "partition_column");
}

}  // namespace
TEST_F(ExecutorTest, ModeTruncateNeverEmptiesTheTableItsQueryReads) {
  // Source and target are one SQLite file, which keeps no snapshot for a run: emptying the
  // table the query reads would copy nothing and lose every row. Refused before any write.
  const std::string t = work_.file("t.db");
  test::make_mixed_table(t, "dst", 3000);
  const Checksum before = sqlite_checksum(t, std::string(kAll) + "dst");
  auto opts = options({{"chunk_size", "500"}, {"max_workers", "2"}});
  opts.mode = TargetMode::Truncate;
  for (const std::string q : {"SELECT * FROM dst ORDER BY id",
                              "SELECT d.* FROM \"DST\" d WHERE d.id > 0 ORDER BY d.id"}) {
    try {
      execute_query_parallel(work_.url("t.db"), q, work_.url("./t.db"), "", "dst", opts);
      ADD_FAILURE() << "mode truncate ran on the table its query reads: " << q;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Config) << e.what();
      EXPECT_NE(std::string(e.what()).find("mode truncate would empty table dst"),
                std::string::npos)
          << e.what();
    }
    EXPECT_EQ(sqlite_checksum(t, std::string(kAll) + "dst"), before) << q;
  }
  // Another table of the same file is emptied and loaded as usual.
  test::sqlite_exec(t, "CREATE TABLE dst2 AS SELECT * FROM dst WHERE id < 300");
  const auto r = execute_query_parallel(work_.url("t.db"), "SELECT * FROM dst ORDER BY id",
                                        work_.url("t.db"), "", "dst2", opts);
  EXPECT_EQ(r.total_rows_processed, 3000);
  EXPECT_EQ(sqlite_checksum(t, std::string(kAll) + "dst2"), before);
}

TEST_F(ExecutorTest, ATableThatIgnoresConflictingRowsFailsTheChunk) {
  // ON CONFLICT IGNORE makes a plain INSERT skip rows whose key is taken: a chunk that lost
  // rows so must fail, in SQLite's own INSERT ... SELECT and on the typed path.
  const std::string t = work_.file("t.db");
  test::sqlite_exec(t, "CREATE TABLE dup (id INTEGER, v TEXT); WITH RECURSIVE s(i) AS (SELECT 1 "
                       "UNION ALL SELECT i + 1 FROM s WHERE i < 1000) INSERT INTO dup SELECT "
                       "i % 900, 'v' || i FROM s; CREATE TABLE dst (id INTEGER PRIMARY KEY ON "
                       "CONFLICT IGNORE, v TEXT)");
  for (const bool typed : {false, true}) {
    SCOPED_TRACE(typed ? "typed path" : "in-engine path");
    auto opts = options({{"enable_parallel", "N"}});
    opts.job_id = typed ? "typed" : "in-engine";
    if (typed) opts.transform = [](Batch&) {};
    const auto r =
        execute_query_parallel(work_.url("t.db"), "SELECT * FROM dup", work_.url("t.db"), "",
                               "dst", opts);
    EXPECT_FALSE(r.ok());
    ASSERT_FALSE(r.errors.empty());
    EXPECT_NE(r.errors.front().find("took 900 of the 1000 rows sent (100 missing)"),
              std::string::npos)
        << r.errors.front();
    EXPECT_EQ(sqlite_scalar(t, "SELECT count(*) FROM dst"), "0");
  }
}

TEST_F(ExecutorTest, ColumnsTheTargetGeneratesAreLeftOutOfTheCopy) {
  // SQLite lists generated columns only in table_xinfo; an INSERT may not name them. The
  // source's own generated column is copied from its values, the target computes its own.
  const std::string s = work_.file("s.db");
  const std::string t = work_.file("t.db");
  test::sqlite_exec(s, "CREATE TABLE g (id INTEGER PRIMARY KEY, a INT, b INT GENERATED ALWAYS "
                       "AS (a * 2) VIRTUAL, c TEXT); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL "
                       "SELECT i + 1 FROM n WHERE i < 6000) INSERT INTO g (id, a, c) SELECT i, "
                       "i % 97, hex(i) FROM n");
  test::sqlite_exec(t, "CREATE TABLE g (id INTEGER PRIMARY KEY, a INT, b INT GENERATED ALWAYS "
                       "AS (a * 3) STORED, c TEXT)");
  const std::string digest =
      "SELECT sum(id * 7 + a) || '/' || (SELECT group_concat(c) FROM (SELECT c FROM g ORDER BY "
      "id)) FROM g";
  auto opts = options({{"chunk_size", "1000"}, {"min_rows_for_parallel", "10"}});
  const auto r =
      execute_query_parallel(work_.url("s.db"), "SELECT * FROM g", work_.url("t.db"), "", "g", opts);
  ASSERT_TRUE(r.complete()) << (r.errors.empty() ? "" : r.errors.front());
  EXPECT_NE(r.path.find("column(s) b not copied: g generates them"), std::string::npos) << r.path;
  EXPECT_EQ(sqlite_scalar(t, digest), sqlite_scalar(s, digest));
  EXPECT_EQ(sqlite_scalar(t, "SELECT count(*) FROM g WHERE b = a * 3"), "6000");
}

TEST_F(ExecutorTest, AnOrderByColumnTheQueryDoesNotReturnIsNamedAndTheRowsStreamOnce) {
  // ORDER BY rowid orders by a column the query does not return: it cannot cut chunks, and
  // the plan says which column and how to select it, rather than that there is no ORDER BY.
  const std::string t = work_.file("t.db");
  test::sqlite_exec(t, "CREATE TABLE r (name TEXT, v INTEGER); WITH RECURSIVE s(i) AS (SELECT 1 "
                       "UNION ALL SELECT i + 1 FROM s WHERE i < 3000) INSERT INTO r SELECT "
                       "'n' || i, i FROM s");
  auto opts = options({{"chunk_size", "500"}, {"min_rows_for_parallel", "10"}});
  opts.mode = TargetMode::Create;
  const auto r = execute_query_parallel(work_.url("t.db"), "SELECT * FROM r ORDER BY rowid",
                                        work_.url("t.db"), "", "copied", opts);
  EXPECT_TRUE(r.complete()) << (r.errors.empty() ? "" : r.errors.front());
  EXPECT_FALSE(r.parallel);
  EXPECT_NE(r.reason.find("the query's ORDER BY rowid is not a column it returns"),
            std::string::npos)
      << r.reason;
  EXPECT_EQ(sqlite_scalar(t, "SELECT count(*) || ':' || sum(v) FROM copied"), "3000:4501500");
}

}  // namespace parmap
