// PostgreSQL faults in every phase of a run: worker queries cancelled by another session, a
// statement_timeout at planning, backends terminated while planning, exporting the snapshot,
// preparing the target and stamping the run finished; and finished jobs run again.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "parmap/parmap.h"
#include "support/faulty_connection.h"
#include "support/pg_support.h"
#include "support/test_support.h"

namespace parmap {
namespace {

using Clock = std::chrono::steady_clock;

using test::Call;
using test::FaultPlan;
using test::Pg;
using test::pg_checksum;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

/// Cancels, from a session of its own, every COPY running in database `db`, again and again
/// every `min_ms`..`max_ms` milliseconds, until stopped or until `max_cancels` backends were
/// signalled (0: no limit).
class CopyCanceller {
 public:
  CopyCanceller(const std::string& admin_url, const std::string& db, int min_ms, int max_ms,
                int max_cancels = 0)
      : thread_([=, this] { loop(admin_url, db, min_ms, max_ms, max_cancels); }) {}
  ~CopyCanceller() { stop(); }
  CopyCanceller(const CopyCanceller&) = delete;
  CopyCanceller& operator=(const CopyCanceller&) = delete;

  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  /// Backends pg_cancel_backend signalled (a signal reaching an idle session cancels nothing).
  int cancels() const { return cancels_.load(); }
  int rounds() const { return rounds_.load(); }
  /// The canceller's own failure, "" when none.
  std::string error() {
    std::lock_guard lock(mu_);
    return error_;
  }

 private:
  void loop(const std::string& admin_url, const std::string& db, int min_ms, int max_ms,
            int max_cancels) {
    try {
      Pg admin(admin_url);
      std::mt19937 rng(std::random_device{}());
      std::uniform_int_distribution<int> pause(min_ms, max_ms);
      const std::string sql =
          "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE datname = '" + db +
          "' AND pid <> pg_backend_pid() AND state = 'active' AND query ILIKE 'COPY%'";
      while (!stop_) {
        for (const auto& row : admin.rows(sql)) {
          if (row.at(0) && *row.at(0) == "t") ++cancels_;
        }
        ++rounds_;
        if (max_cancels > 0 && cancels_ >= max_cancels) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(pause(rng)));
      }
    } catch (const std::exception& e) {
      std::lock_guard lock(mu_);
      error_ = e.what();
    }
  }

  std::atomic<bool> stop_{false};
  std::atomic<int> cancels_{0}, rounds_{0};
  std::mutex mu_;
  std::string error_;
  std::thread thread_;  ///< last: started once the members above exist
};

/// What the text summary of a `parmap run` says.
struct Summary {
  int64_t planned = -1, done = -1, skipped = -1, failed = -1, retries = -1;
};

Summary parse_summary(const std::string& out) {
  Summary s;
  std::smatch m;
  static const std::regex chunks(
      R"(chunks\s+(\d+) planned, (\d+) done, (\d+) skipped \(already committed\), (\d+) failed)");
  static const std::regex retries(R"(worker\(s\), (\d+) retries)");
  if (std::regex_search(out, m, chunks)) {
    s.planned = std::stoll(m[1]);
    s.done = std::stoll(m[2]);
    s.skipped = std::stoll(m[3]);
    s.failed = std::stoll(m[4]);
  }
  if (std::regex_search(out, m, retries)) s.retries = std::stoll(m[1]);
  return s;
}

size_t occurrences(const std::string& text, const std::string& what) {
  size_t count = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++count;
  return count;
}

class PgPhaseFaultTest : public test::PgTwoDatabasesTest {
 protected:
  void SetUp() override {
    test::PgTwoDatabasesTest::SetUp();
    n_ = std::min<int64_t>(200000, test::test_rows());
    chunk_size_ = std::max<int64_t>(100, n_ / 16);
  }

  /// At least `rows` rows whatever PARMAP_TEST_ROWS says: a canceller polling every few
  /// milliseconds needs COPYs that last longer than that to be sure to meet one, and a 1 ms
  /// statement_timeout needs statistics that take longer.
  void use_rows_at_least(int64_t rows) {
    n_ = std::max(n_, rows);
    chunk_size_ = std::max<int64_t>(100, n_ / 16);
  }

  /// Source table k with rows [first, last] (wide enough that a chunk's COPY takes a while).
  void add_source_rows(int64_t first, int64_t last) {
    src_->exec("INSERT INTO k SELECT g, g * 3, 'row ' || g || ' ' || md5(g::text) || "
               "md5((g * 7)::text) FROM generate_series(" +
               std::to_string(first) + ", " + std::to_string(last) + ") g; ANALYZE k");
  }
  /// Source k with n_ rows; target k with the same columns and no unique key, so that a chunk
  /// loaded twice shows in the count.
  void make_tables() {
    src_->exec("CREATE TABLE k (id int8 PRIMARY KEY, v int8, s text)");
    add_source_rows(1, n_);
    dst_->exec("CREATE TABLE k (id int8, v int8, s text)");
  }

  std::vector<std::string> cli_args(const std::string& job_id, const std::string& source) const {
    return {"run",           "--source",     source,
            "--query",       "SELECT * FROM k ORDER BY id",
            "--target",      dst_url(),      "--target-table",
            "k",             "--workers",    "3",
            "--chunk-size",  std::to_string(chunk_size_),
            "--min-rows-for-parallel",       "10",
            "--job-id",      job_id};
  }

  ParallelOptions library_options(const std::string& job_id) const {
    ParallelOptions opts;
    opts.config = resolve_config({{"max_workers", "3"},
                                  {"chunk_size", std::to_string(chunk_size_)},
                                  {"min_rows_for_parallel", "10"},
                                  {"retry_backoff_ms", "50"},
                                  {"max_retries", "3"}},
                                 {}, 8);
    opts.job_id = job_id;
    return opts;
  }

  std::string ledger_scalar(const std::string& what, const std::string& table,
                            const std::string& job_id) {
    return dst_->scalar("SELECT " + what + " FROM " + table + " WHERE job_id = '" + job_id + "'");
  }

  /// The target holds exactly the source's rows, one ledger row per planned chunk, and the
  /// job is stamped finished.
  void expect_exact(const std::string& job_id, int64_t chunks_planned) {
    EXPECT_EQ(pg_checksum(*dst_, "k"), pg_checksum(*src_, "k"));
    EXPECT_EQ(ledger_scalar("count(*)", "parmap_ledger", job_id), std::to_string(chunks_planned));
    EXPECT_NE(ledger_scalar("finished_at", "parmap_jobs", job_id), "");
  }

  /// Runs the copy through factories that terminate one backend before the first call of
  /// `call` (on the source or the target side) whose SQL contains `sql`, and checks that the
  /// job still finishes exactly, after a retry.
  void terminate_before(const char* phase, bool source_side, Call call, const std::string& sql);

  /// Copies with the binary while a canceller cancels the source's COPYs; returns the run.
  test::RunResult run_while_cancelling(const std::string& job_id,
                                       const std::vector<std::string>& extra_args,
                                       CopyCanceller& canceller);

  int64_t n_ = 0, chunk_size_ = 0;
  const std::vector<std::string> env_ = {"MAPPER_RETRY_BACKOFF_MS=50"};
};

// --- Worker queries cancelled by the server ---------------------------------------------------

test::RunResult PgPhaseFaultTest::run_while_cancelling(const std::string& job_id,
                                                        const std::vector<std::string>& extra,
                                                        CopyCanceller& canceller) {
  std::vector<std::string> args = cli_args(job_id, src_url());
  args.insert(args.end(), extra.begin(), extra.end());
  const auto t0 = Clock::now();
  test::RunResult r = test::run_parmap(args, env_);
  const double secs = seconds_since(t0);
  canceller.stop();
  EXPECT_EQ(canceller.error(), "");
  const Summary s = parse_summary(r.out);
  std::printf(
      "[ fault    ] %s: exit %d in %.2f s; %d COPY backends cancelled in %d rounds; chunks %lld "
      "planned, %lld done, %lld failed; %lld retries\n",
      job_id.c_str(), r.exit_code, secs, canceller.cancels(), canceller.rounds(),
      static_cast<long long>(s.planned), static_cast<long long>(s.done),
      static_cast<long long>(s.failed), static_cast<long long>(s.retries));
  EXPECT_GE(s.planned, 15) << r.out;
  // Only the user's own cancel is a cancellation.
  EXPECT_NE(r.exit_code, 130) << r.err;
  EXPECT_TRUE(r.exit_code == 0 || r.exit_code == 1) << r.exit_code << "\n" << r.err << r.out;
  if (r.exit_code == 0) {
    EXPECT_EQ(s.done + s.skipped, s.planned) << r.out;
    EXPECT_EQ(s.failed, 0) << r.out;
    expect_exact(job_id, s.planned);
  } else {
    // The failure says who cancelled, and that a rerun resumes.
    EXPECT_NE(r.err.find("pg_cancel_backend"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("rerun the same command"), std::string::npos) << r.err;
    EXPECT_NE(r.out.find("INCOMPLETE"), std::string::npos) << r.out;
    EXPECT_GT(s.failed, 0) << r.out;
  }
  return r;
}

TEST_F(PgPhaseFaultTest, CopiesCancelledInALoopEndCompleteOrInAFailureThatResumesExactly) {
  use_rows_at_least(100000);
  make_tables();
  CopyCanceller canceller(base_, src_db_, 10, 30);
  const test::RunResult first = run_while_cancelling("cancelled-loop", {}, canceller);
  if (first.exit_code == 1) {
    const auto t0 = Clock::now();
    const test::RunResult second = test::run_parmap(cli_args("cancelled-loop", src_url()), env_);
    const Summary s = parse_summary(second.out);
    std::printf("[ fault    ] rerun without the canceller: exit %d in %.2f s, %lld skipped, "
                "%lld done\n",
                second.exit_code, seconds_since(t0), static_cast<long long>(s.skipped),
                static_cast<long long>(s.done));
    ASSERT_EQ(second.exit_code, 0) << second.err << second.out;
    EXPECT_NE(second.out.find("(resumed run 1)"), std::string::npos) << second.out;
    expect_exact("cancelled-loop", s.planned);
  }
}

TEST_F(PgPhaseFaultTest, CopiesCancelledWithNoRetriesLeftFailAndTheRerunResumesExactly) {
  use_rows_at_least(100000);
  make_tables();
  CopyCanceller canceller(base_, src_db_, 5, 15);
  const test::RunResult first =
      run_while_cancelling("cancelled-no-retries", {"--set", "max_retries=0"}, canceller);
  // Every chunk's COPY is cancelled many times over its life: with no retry the run cannot
  // complete, and must not say it did.
  ASSERT_EQ(first.exit_code, 1) << first.err << first.out;
  EXPECT_GT(canceller.cancels(), 0);
  const int64_t committed = std::stoll(ledger_scalar("count(*)", "parmap_ledger",
                                                     "cancelled-no-retries"));
  EXPECT_EQ(dst_->scalar("SELECT count(*) FROM k"),
            ledger_scalar("coalesce(sum(rows_written), 0)", "parmap_ledger",
                          "cancelled-no-retries"));
  EXPECT_EQ(ledger_scalar("finished_at", "parmap_jobs", "cancelled-no-retries"), "");

  const auto t0 = Clock::now();
  const test::RunResult second =
      test::run_parmap(cli_args("cancelled-no-retries", src_url()), env_);
  const Summary s = parse_summary(second.out);
  std::printf("[ fault    ] rerun without the canceller: exit %d in %.2f s, %lld skipped "
              "(%lld committed before), %lld done\n",
              second.exit_code, seconds_since(t0), static_cast<long long>(s.skipped),
              static_cast<long long>(committed), static_cast<long long>(s.done));
  ASSERT_EQ(second.exit_code, 0) << second.err << second.out;
  EXPECT_NE(second.out.find("(resumed run 1)"), std::string::npos) << second.out;
  EXPECT_EQ(s.skipped, committed);
  expect_exact("cancelled-no-retries", s.planned);
}

TEST_F(PgPhaseFaultTest, CopiesCancelledFewerTimesThanMaxRetriesCompleteExactly) {
  use_rows_at_least(100000);
  make_tables();
  constexpr int kCancels = 6;
  CopyCanceller canceller(base_, src_db_, 10, 30, kCancels);
  const test::RunResult r =
      run_while_cancelling("cancelled-retried", {"--set", "max_retries=8"}, canceller);
  // At most kCancels attempts fail, fewer than any one chunk's retries.
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  const Summary s = parse_summary(r.out);
  EXPECT_GT(s.retries, 0) << "no cancel landed on a running COPY";
  EXPECT_LE(s.retries, canceller.cancels());
  EXPECT_EQ(s.done, s.planned);
  EXPECT_NE(r.out.find("complete: run 1 finished"), std::string::npos) << r.out;
}

// --- statement_timeout at planning ---------------------------------------------------------------

TEST_F(PgPhaseFaultTest, StatementTimeoutWhilePlanningFailsNamingTheSettingAndWritesNothing) {
  use_rows_at_least(100000);
  make_tables();
  // v has no index: its bounds and sample read the whole table, far longer than 1 ms.
  std::vector<std::string> args = cli_args("planning-timeout",
                                           src_url() + "?options=-c%20statement_timeout%3D1");
  args[4] = "SELECT * FROM k ORDER BY v";
  const auto t0 = Clock::now();
  const test::RunResult r = test::run_parmap(args, env_);
  const size_t retried = occurrences(r.err, "retrying on new connections");
  std::printf("[ fault    ] statement_timeout=1ms at planning: exit %d in %.2f s, %zu planning "
              "retries\n",
              r.exit_code, seconds_since(t0), retried);
  EXPECT_EQ(r.exit_code, 1) << r.err << r.out;
  EXPECT_NE(r.err.find("statement_timeout"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("cancelled:"), std::string::npos) << r.err;
  // Retried like a transient error, max_retries (3) times, then given up.
  EXPECT_EQ(retried, 3u) << r.err;
  EXPECT_EQ(dst_->scalar("SELECT count(*) FROM k"), "0");
  EXPECT_EQ(dst_->scalar("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'parmap%'"), "0");
}

// --- Backends terminated in each phase ---------------------------------------------------------

void PgPhaseFaultTest::terminate_before(const char* phase, bool source_side, Call call,
                                        const std::string& sql) {
  make_tables();
  auto plan = std::make_shared<FaultPlan>(base_, call, sql);
  ConnectionFactory source = connection_factory(src_url());
  ConnectionFactory target = connection_factory(dst_url());
  if (source_side) {
    source = test::faulty_factory(source, plan);
  } else {
    target = test::faulty_factory(target, plan);
  }
  const std::string job_id = std::string("terminated-") + phase;
  const ParallelOptions opts = library_options(job_id);
  const auto t0 = Clock::now();
  std::optional<ParallelResult> r;
  try {
    r = execute_query_parallel(source, "SELECT * FROM k ORDER BY id", target, "", "k", opts);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "execute_query_parallel threw: " << e.what();
  }
  ASSERT_TRUE(r);
  std::printf("[ fault    ] backend terminated %s: %d terminated, ok %d in %.2f s, run %lld, "
              "%lld of %lld chunks, %lld rows, %lld retries\n",
              phase, plan->struck(), r->ok(), seconds_since(t0), static_cast<long long>(r->run),
              static_cast<long long>(r->chunks_done), static_cast<long long>(r->chunks_planned),
              static_cast<long long>(r->total_rows_processed),
              static_cast<long long>(r->retries));
  EXPECT_EQ(plan->struck(), 1) << "the fault never fired";
  EXPECT_TRUE(r->ok()) << (r->errors.empty() ? "" : r->errors.front());
  EXPECT_TRUE(r->finished);
  EXPECT_TRUE(r->unfinished_chunks.empty());
  EXPECT_GT(r->retries, 0);
  EXPECT_EQ(r->run, 1);
  EXPECT_FALSE(r->resumed);
  EXPECT_GE(r->chunks_planned, 10) << r->reason;
  EXPECT_EQ(r->chunks_done, r->chunks_planned);
  EXPECT_EQ(r->chunks_failed, 0);
  EXPECT_EQ(r->total_rows_processed, n_);
  expect_exact(job_id, r->chunks_planned);
  EXPECT_EQ(ledger_scalar("count(*)", "parmap_runs", job_id), "1");
  EXPECT_NE(ledger_scalar("finished_at", "parmap_runs", job_id), "");
}

TEST_F(PgPhaseFaultTest, BackendTerminatedWhilePlanningIsRetriedAndTheJobFinishesExactly) {
  terminate_before("planning", true, Call::KeyStats, "");
}

TEST_F(PgPhaseFaultTest, BackendTerminatedAtTheSnapshotExportIsRetriedAndTheJobFinishesExactly) {
  terminate_before("exporting-the-snapshot", true, Call::ExportSnapshot, "");
}

TEST_F(PgPhaseFaultTest, BackendTerminatedPreparingTheTargetIsRetriedAndTheJobFinishesExactly) {
  terminate_before("preparing-the-target", false, Call::Execute,
                   "CREATE TABLE IF NOT EXISTS parmap_jobs");
}

TEST_F(PgPhaseFaultTest, BackendTerminatedAtTheFinishedStampIsRetriedAndTheJobFinishesExactly) {
  terminate_before("stamping-finished", false, Call::Query, "UPDATE parmap_jobs SET finished_at");
}

// --- A finished job run again ------------------------------------------------------------------

TEST_F(PgPhaseFaultTest, FinishedJobRerunInTruncateModeEmptiesAndReloadsTheTable) {
  make_tables();
  ParallelOptions opts = library_options("reload");
  opts.mode = TargetMode::Truncate;
  const ParallelResult first =
      execute_query_parallel(src_url(), "SELECT * FROM k ORDER BY id", dst_url(), "", "k", opts);
  ASSERT_TRUE(first.ok()) << (first.errors.empty() ? "" : first.errors.front());
  EXPECT_EQ(first.run, 1);
  expect_exact("reload", first.chunks_planned);

  // Between runs: rows appear in the target that the source never had, and the source grows.
  dst_->exec("INSERT INTO k SELECT -g, 0, 'stray' FROM generate_series(1, 1000) g");
  add_source_rows(n_ + 1, n_ + 5000);
  const auto t0 = Clock::now();
  const test::RunResult second = test::run_parmap(
      {"run", "--source", src_url(), "--query", "SELECT * FROM k ORDER BY id", "--target",
       dst_url(), "--target-table", "k", "--workers", "3", "--chunk-size",
       std::to_string(chunk_size_), "--min-rows-for-parallel", "10", "--job-id", "reload",
       "--mode", "truncate"},
      env_);
  std::printf("[ rerun    ] truncate: run 1 %lld rows, %lld chunks; run 2 exit %d in %.2f s\n",
              static_cast<long long>(first.total_rows_processed),
              static_cast<long long>(first.chunks_planned), second.exit_code, seconds_since(t0));
  ASSERT_EQ(second.exit_code, 0) << second.err << second.out;
  EXPECT_NE(second.out.find("(new run 2)"), std::string::npos) << second.out;
  const Summary s = parse_summary(second.out);
  EXPECT_EQ(s.skipped, 0) << second.out;
  EXPECT_EQ(dst_->scalar("SELECT count(*) FROM k WHERE s = 'stray'"), "0");
  expect_exact("reload", s.planned);
  EXPECT_EQ(ledger_scalar("count(*)", "parmap_runs", "reload"), "2");
  EXPECT_EQ(ledger_scalar("run", "parmap_jobs", "reload"), "2");
  EXPECT_EQ(dst_->scalar("SELECT count(*) FROM parmap_runs WHERE job_id = 'reload' AND "
                         "finished_at IS NOT NULL"),
            "2");

  // The library says the same for a third run.
  const ParallelResult third =
      execute_query_parallel(src_url(), "SELECT * FROM k ORDER BY id", dst_url(), "", "k", opts);
  ASSERT_TRUE(third.ok()) << (third.errors.empty() ? "" : third.errors.front());
  EXPECT_EQ(third.run, 3);
  EXPECT_FALSE(third.resumed);
  EXPECT_EQ(third.chunks_skipped, 0);
  EXPECT_EQ(third.total_rows_processed, n_ + 5000);
  expect_exact("reload", third.chunks_planned);
}

TEST_F(PgPhaseFaultTest, FinishedJobRerunInAppendModeWithAnIncrementalQueryAddsOnlyTheNewRows) {
  make_tables();
  ParallelOptions opts = library_options("incremental");
  opts.mode = TargetMode::Append;
  // The job loads what is past the last run's high-water mark.
  auto query_after = [](int64_t mark) {
    return "SELECT * FROM k WHERE id > " + std::to_string(mark) + " ORDER BY id";
  };
  const ParallelResult first =
      execute_query_parallel(src_url(), query_after(0), dst_url(), "", "k", opts);
  ASSERT_TRUE(first.ok()) << (first.errors.empty() ? "" : first.errors.front());
  EXPECT_EQ(first.run, 1);
  EXPECT_EQ(first.total_rows_processed, n_);
  expect_exact("incremental", first.chunks_planned);

  const int64_t added = std::max<int64_t>(1000, n_ / 4);
  add_source_rows(n_ + 1, n_ + added);
  const ParallelResult second =
      execute_query_parallel(src_url(), query_after(n_), dst_url(), "", "k", opts);
  std::printf("[ rerun    ] append: run 1 %lld rows in %lld chunks; run %lld %lld rows in %lld "
              "chunks\n",
              static_cast<long long>(first.total_rows_processed),
              static_cast<long long>(first.chunks_planned), static_cast<long long>(second.run),
              static_cast<long long>(second.total_rows_processed),
              static_cast<long long>(second.chunks_planned));
  ASSERT_TRUE(second.ok()) << (second.errors.empty() ? "" : second.errors.front());
  EXPECT_EQ(second.run, 2);
  EXPECT_FALSE(second.resumed);
  EXPECT_EQ(second.chunks_skipped, 0);
  EXPECT_EQ(second.total_rows_processed, added);
  // Run 1's rows stay, run 2's come on top, none twice: the target is the whole source.
  expect_exact("incremental", second.chunks_planned);
  EXPECT_EQ(ledger_scalar("count(*)", "parmap_runs", "incremental"), "2");
  EXPECT_EQ(dst_->scalar("SELECT sum(rows_written) FROM parmap_runs WHERE job_id = "
                         "'incremental'"),
            std::to_string(n_ + added));
}

}  // namespace
}  // namespace parmap
