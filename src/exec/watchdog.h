// The chunk watchdog: interrupts the connections of a chunk attempt that runs past chunk_timeout_s.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "parmap/connection.h"
#include "parmap/error.h"

namespace parmap {

/// Bounds how long one attempt at a chunk may run, so that a connection that stops answering
/// without closing (a network partition, a stuck server or middlebox) cannot hang a worker:
/// past the limit, counted from the attempt's start, the watchdog calls interrupt() on the
/// attempt's connections, the blocked call fails, and guard() reports the attempt as
/// Error(Transient) so that the chunk is retried on new connections.
///
/// Race-freedom: every access to a registered attempt, including each interrupt() call, happens
/// under one mutex, and an attempt is unregistered under that mutex before guard() returns or
/// throws. A worker therefore only closes or replaces its connections once the watchdog can no
/// longer reach them, and an interrupt() is never in flight on a connection being destroyed.
///
/// Thread-safe. The checking thread starts with the first watched attempt and is joined by the
/// destructor, which must run after every guard() has returned (the executor's workers are
/// joined first).
class Watchdog {
 public:
  /// `limit` 0: no limit; guard() then only runs its function.
  explicit Watchdog(std::chrono::milliseconds limit);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  /// Runs fn() as one watched attempt at `chunk` on `connections` (alive for the whole call).
  /// When the watchdog interrupted the attempt, `interrupted` is set and whatever fn() threw
  /// becomes timeout_error(); fn() may also have returned normally just as the limit passed,
  /// and then its connections are still unusable: the caller discards them. When guard()
  /// returns or throws, the watchdog has let go of the connections.
  template <typename Fn>
  auto guard(const Chunk& chunk, std::initializer_list<Connection*> connections, bool& interrupted,
             Fn&& fn) -> decltype(fn()) {
    return guard(chunk.describe(), connections, interrupted, std::forward<Fn>(fn));
  }
  /// The same for a phase of the run that is not a chunk (planning, preparing the target, the
  /// finished stamp), named by `what` ("planning") in the log and the error.
  template <typename Fn>
  auto guard(const std::string& what, std::initializer_list<Connection*> connections,
             bool& interrupted, Fn&& fn) -> decltype(fn());

  /// The Error of an attempt at `what` (a chunk's or a phase's name) that ran past the limit;
  /// `cause` is what the interrupted call threw (for the message), or null.
  Error timeout_error(const std::string& what, const std::exception_ptr& cause) const;

  /// The limit; 0 when there is none.
  std::chrono::milliseconds limit() const { return limit_; }
  /// Attempts interrupted so far.
  int64_t interrupted_count() const;

 private:
  struct Attempt {
    std::chrono::steady_clock::time_point deadline;  // then the time to interrupt it again
    std::string chunk;  // Chunk::describe(), for the log
    std::vector<Connection*> connections;
    bool interrupted = false;
  };

  /// Registers an attempt and returns its id (starts the thread on first use).
  uint64_t begin(const std::string& what, std::initializer_list<Connection*> connections);
  /// Unregisters it; true when it was interrupted. Never throws.
  bool end(uint64_t id) noexcept;
  /// The checking thread: sleeps until the earliest deadline, interrupts what is past it.
  void loop();

  const std::chrono::milliseconds limit_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::map<uint64_t, Attempt> attempts_;  // under mu_
  uint64_t next_id_ = 0;                  // under mu_
  int64_t interrupted_count_ = 0;         // under mu_
  bool stopping_ = false;                 // under mu_
  std::thread thread_;                    // started under mu_, joined by the destructor
};

template <typename Fn>
auto Watchdog::guard(const std::string& what, std::initializer_list<Connection*> connections,
                     bool& interrupted, Fn&& fn) -> decltype(fn()) {
  interrupted = false;
  if (limit_.count() == 0) return fn();
  const uint64_t id = begin(what, connections);
  try {
    if constexpr (std::is_void_v<decltype(fn())>) {
      fn();
      interrupted = end(id);
    } else {
      auto result = fn();
      interrupted = end(id);
      return result;
    }
  } catch (...) {
    interrupted = end(id);
    if (interrupted) throw timeout_error(what, std::current_exception());
    throw;
  }
}

}  // namespace parmap
