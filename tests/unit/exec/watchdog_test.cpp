// The chunk watchdog on in-memory SQLite connections: interrupts late attempts, only those.
#include "exec/watchdog.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "parmap/connection.h"
#include "parmap/error.h"

namespace parmap {
namespace {

using namespace std::chrono_literals;

/// A query that never ends on its own.
constexpr const char* kEndless =
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";

std::unique_ptr<Connection> open_memory() {
  register_builtin_drivers();
  return connection_factory("sqlite://:memory:")();
}

Chunk chunk(uint32_t index) {
  Chunk c;
  c.index = index;
  c.key = "id";
  c.range.lo = Value(int64_t{index} * 10);
  c.range.hi = Value(int64_t{index} * 10 + 10);
  return c;
}

TEST(WatchdogTest, AnAttemptPastTheLimitIsInterruptedAndReportedAsTransient) {
  Watchdog watchdog(300ms);
  auto src = open_memory();
  auto tgt = open_memory();
  bool interrupted = false;
  const auto t0 = std::chrono::steady_clock::now();
  try {
    watchdog.guard(chunk(3), {src.get(), tgt.get()}, interrupted, [&] { src->query(kEndless); });
    FAIL() << "the endless query returned";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Transient) << e.what();
    const std::string what = e.what();
    EXPECT_NE(what.find("chunk_timeout_s=0.3 s"), std::string::npos) << what;
    // What the interrupted call said is kept.
    EXPECT_NE(what.find("SQLITE_INTERRUPT"), std::string::npos) << what;
    EXPECT_EQ(e.context().chunk, chunk(3).describe());
  }
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_TRUE(interrupted);
  EXPECT_GE(waited, 300ms);
  EXPECT_LT(waited, 10s);
  EXPECT_EQ(watchdog.interrupted_count(), 1);
  // Both connections refuse further work: the owner discards them.
  for (Connection* c : {src.get(), tgt.get()}) {
    try {
      c->query("SELECT 1");
      ADD_FAILURE() << "an interrupted connection answered";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Transient) << e.what();
    }
  }
}

TEST(WatchdogTest, AttemptsWithinTheLimitAreLeftAlone) {
  Watchdog watchdog(2s);
  auto src = open_memory();
  auto tgt = open_memory();
  for (uint32_t i = 0; i < 50; ++i) {
    bool interrupted = true;
    const auto rows = watchdog.guard(chunk(i), {src.get(), tgt.get()}, interrupted,
                                     [&] { return src->query("SELECT 1"); });
    EXPECT_FALSE(interrupted);
    EXPECT_EQ(rows.size(), 1u);
  }
  // Errors pass through unchanged.
  bool interrupted = true;
  try {
    watchdog.guard(chunk(0), {src.get(), tgt.get()}, interrupted,
                   [&] { src->query("SELECT * FROM no_such_table"); });
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(e.kind(), ErrorKind::Transient);
    EXPECT_EQ(std::string(e.what()).find("chunk_timeout_s"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(interrupted);
  EXPECT_EQ(watchdog.interrupted_count(), 0);
  EXPECT_NO_THROW(src->query("SELECT 1"));
}

TEST(WatchdogTest, ZeroMeansNoLimit) {
  Watchdog watchdog(0ms);
  auto src = open_memory();
  bool interrupted = true;
  const auto rows = watchdog.guard(chunk(1), {src.get()}, interrupted, [&] {
    std::this_thread::sleep_for(50ms);
    return src->query("SELECT 2");
  });
  EXPECT_FALSE(interrupted);
  EXPECT_EQ(rows[0][0].as_int(), 2);
}

// Workers that close and reopen their connections as soon as an attempt ends, while the
// watchdog interrupts some of them: under ThreadSanitizer/ASan this is the race that must not
// exist (an interrupt reaching a connection being closed or freed).
TEST(WatchdogTest, ManyWorkersReplacingConnectionsWhileTheWatchdogFires) {
  Watchdog watchdog(20ms);
  std::atomic<int> timed_out{0}, finished{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&, w] {
      std::mt19937 rng(static_cast<unsigned>(w));
      auto src = open_memory();
      auto tgt = open_memory();
      for (uint32_t i = 0; i < 40; ++i) {
        // Some attempts end well before the limit, some around it, some never on their own.
        const int pick = static_cast<int>(rng() % 3);
        bool interrupted = false;
        try {
          watchdog.guard(chunk(i), {src.get(), tgt.get()}, interrupted, [&] {
            if (pick == 0) return src->query("SELECT 1");
            if (pick == 1) std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 40));
            return (pick == 2 ? tgt : src)->query(pick == 2 ? kEndless : "SELECT 1");
          });
          ++finished;
        } catch (const Error& e) {
          EXPECT_EQ(e.kind(), ErrorKind::Transient) << e.what();
          EXPECT_TRUE(interrupted);
          ++timed_out;
        }
        if (interrupted) {
          // As the executor does: the watchdog has let go, so close and replace at once.
          src->close();
          tgt->close();
          src = open_memory();
          tgt = open_memory();
        }
      }
    });
  }
  for (auto& t : workers) t.join();
  EXPECT_EQ(timed_out + finished, 160);
  EXPECT_GT(timed_out, 0);
  EXPECT_GT(finished, 0);
  EXPECT_GE(watchdog.interrupted_count(), timed_out.load());
}

}  // namespace
}  // namespace parmap
