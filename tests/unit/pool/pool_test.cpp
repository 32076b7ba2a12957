// ConnectionPoolManager: one connection per thread, created lazily, closed on release.
#include "parmap/pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <stdexcept>
#include <thread>

#include "parmap/error.h"

namespace parmap {
namespace {

struct Counting {
  std::atomic<int> opened{0};
  ConnectionFactory factory() {
    return [this] {
      ++opened;
      return connection_factory("sqlite://:memory:")();
    };
  }
};

TEST(PoolTest, EachThreadGetsItsOwnConnectionsOnFirstUse) {
  Counting src, tgt;
  ConnectionPoolManager pool(src.factory(), tgt.factory());
  EXPECT_EQ(pool.open_connections(), 0u);
  Connection* a = &pool.get_source_connection();
  EXPECT_EQ(a, &pool.get_source_connection());  // same thread, same connection
  EXPECT_EQ(src.opened, 1);
  EXPECT_EQ(tgt.opened, 0);  // not used yet

  std::mutex mu;
  std::set<Connection*> seen{a};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      Connection* mine = &pool.get_source_connection();
      Connection* target = &pool.get_target_connection();
      EXPECT_EQ(mine, &pool.get_source_connection());
      mine->execute("CREATE TABLE t (x INTEGER)");  // in-memory: private to this connection
      std::lock_guard lock(mu);
      EXPECT_TRUE(seen.insert(mine).second);
      EXPECT_TRUE(seen.insert(target).second);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(src.opened, 5);
  EXPECT_EQ(tgt.opened, 4);
  EXPECT_EQ(pool.open_connections(), 9u);  // threads ended without releasing
  pool.close_all_connections();
  EXPECT_EQ(pool.open_connections(), 0u);
}

TEST(PoolTest, AWorkerThatThrowsReleasesOnlyItsOwnConnections) {
  Counting src, tgt;
  ConnectionPoolManager pool(src.factory(), tgt.factory());
  Connection& mine = pool.get_source_connection();
  mine.execute("CREATE TABLE keep (x INTEGER)");
  std::thread failing([&] {
    try {
      pool.get_source_connection();
      pool.get_target_connection();
      throw std::runtime_error("worker failed");
    } catch (...) {
      pool.release_thread_connections();
    }
  });
  failing.join();
  EXPECT_EQ(pool.open_connections(), 1u);
  // The main thread's connection is untouched and still works.
  EXPECT_NO_THROW(mine.execute("INSERT INTO keep VALUES (1)"));
  EXPECT_EQ(mine.query("SELECT count(*) FROM keep")[0][0].as_int(), 1);
}

TEST(PoolTest, DiscardReplacesABrokenConnection) {
  Counting src, tgt;
  ConnectionPoolManager pool(src.factory(), tgt.factory());
  Connection* first = &pool.get_target_connection();
  first->execute("CREATE TABLE t (x INTEGER)");
  pool.discard_target_connection();
  Connection& second = pool.get_target_connection();
  EXPECT_EQ(tgt.opened, 2);
  // A new in-memory database: the old connection's table is gone, so it really is new.
  EXPECT_THROW(second.execute("INSERT INTO t VALUES (1)"), Error);
}

TEST(PoolTest, AFailingFactoryDoesNotPoisonOtherThreads) {
  std::atomic<int> calls{0};
  ConnectionPoolManager pool(
      [&]() -> std::unique_ptr<Connection> {
        if (calls++ == 0) throw Error(ErrorKind::Connect, "first open fails");
        return connection_factory("sqlite://:memory:")();
      },
      connection_factory("sqlite://:memory:"));
  EXPECT_THROW(pool.get_source_connection(), Error);
  std::thread other([&] { EXPECT_NO_THROW(pool.get_source_connection()); });
  other.join();
  EXPECT_NO_THROW(pool.get_source_connection());  // a retry on this thread opens anew
}

}  // namespace
}  // namespace parmap
