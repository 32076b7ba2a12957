// A Connection decorator that has the server terminate its own PostgreSQL backend just before
// a chosen call, so that the call fails with the server's real error, not a mock's.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "parmap/connection.h"

namespace parmap::test {

class Pg;

/// The Connection calls a fault can precede.
enum class Call {
  Execute,
  Query,
  Begin,
  Commit,
  DescribeQuery,
  DescribeTable,
  EstimateRows,
  KeyStats,
  ExportSnapshot,
  ImportSnapshot,
  OpenNativeSource,
  OpenSource,
  OpenNativeSink,
  OpenSink,
};

/// Which calls are struck, shared by every connection of the factories it is given to: the
/// first `times` calls of `call` (whose SQL, when the call has any, contains `sql_contains`),
/// counted over all those connections. Striking means terminating the calling session's
/// backend with pg_terminate_backend from an admin session of its own, and waiting until the
/// backend is gone, before the call goes on to the real connection. Thread-safe.
class FaultPlan {
 public:
  FaultPlan(const std::string& admin_url, Call call, std::string sql_contains = "",
            int times = 1);
  ~FaultPlan();
  FaultPlan(const FaultPlan&) = delete;
  FaultPlan& operator=(const FaultPlan&) = delete;

  /// Terminates backend `pid` first when this call is one to strike. Throws
  /// std::runtime_error when the admin session fails or the backend outlives the wait.
  void before(Call call, std::string_view sql, int64_t pid);
  /// Backends terminated so far.
  int struck() const { return struck_.load(); }

 private:
  const Call call_;
  const std::string sql_contains_;
  const int times_;
  std::mutex mu_;  ///< guards admin_ and the decision
  std::unique_ptr<Pg> admin_;
  int matched_ = 0;
  std::atomic<int> struck_{0};
};

/// A factory whose connections are `inner`'s, each wrapped so that `plan` may strike it. Each
/// new connection asks its server for its backend's pid (SELECT pg_backend_pid()) first.
ConnectionFactory faulty_factory(ConnectionFactory inner, std::shared_ptr<FaultPlan> plan);

}  // namespace parmap::test
