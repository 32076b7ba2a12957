// ConnectionPoolManager: one source and one target connection per worker thread.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "parmap/connection.h"

namespace parmap {

/// Hands each thread its own source and target connection, created on first use.
/// Thread-safe. A connection belongs to the thread that got it: it is never shared, and
/// a failure in one thread's connection does not touch the others'.
class ConnectionPoolManager {
 public:
  ConnectionPoolManager(ConnectionFactory source, ConnectionFactory target);
  /// Parses both URLs (throws Error(Config)) and opens connections through the registry.
  ConnectionPoolManager(const std::string& source_url, const std::string& target_url);
  ~ConnectionPoolManager();  ///< closes everything still open
  ConnectionPoolManager(const ConnectionPoolManager&) = delete;
  ConnectionPoolManager& operator=(const ConnectionPoolManager&) = delete;

  /// The calling thread's source connection; opens it on first use (throws Error).
  Connection& get_source_connection();
  /// The calling thread's target connection; opens it on first use (throws Error).
  Connection& get_target_connection();
  /// Closes and forgets the calling thread's connections (a worker ending or failing).
  void release_thread_connections() noexcept;
  /// Closes and forgets the calling thread's target connection only (after an error
  /// that may have broken it); the next get_target_connection() opens a new one.
  void discard_target_connection() noexcept;
  void discard_source_connection() noexcept;
  /// Closes every connection of every thread.
  void close_all_connections() noexcept;
  /// Open connections (source + target), for tests and reports.
  size_t open_connections() const;

 private:
  struct Slot {
    std::unique_ptr<Connection> source, target;
  };
  Connection& get(bool source);

  ConnectionFactory source_factory_, target_factory_;
  mutable std::mutex mu_;
  std::map<std::thread::id, Slot> slots_;
};

}  // namespace parmap
