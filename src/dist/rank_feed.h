// A following rank's chunk feed: its workers ask for chunks and report them through a mailbox
// that the rank's MPI thread carries to rank 0 and back.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

#include "exec/chunk_feed.h"

namespace parmap::dist {

/// Workers call next(), committed() and failed() (ChunkFeed); the rank's MPI thread calls
/// pump() until close() has been called and everything is sent. Thread-safe.
class RankFeed : public ChunkFeed {
 public:
  std::optional<uint32_t> next() override;
  void committed(uint32_t index, int64_t rows, int attempt) override;
  void failed(uint32_t index, const std::string& error, bool refused) override;

  /// No worker will call again (the rank's run is over): pump() returns once all is sent.
  void close();
  /// On the MPI thread: sends what the workers posted to rank 0 and hands its answers to the
  /// workers waiting, in the order they asked, until close(). Returns when done.
  void pump();

  /// Messages sent to and received from rank 0 by pump().
  int64_t messages() const { return messages_; }
  /// Total time workers waited in next(), in milliseconds.
  double wait_ms() const;

 private:
  struct Outgoing {
    int tag;
    std::string body;
  };
  struct Waiter {
    bool answered = false;
    std::optional<uint32_t> index;
  };
  void post(int tag, std::string body);

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Outgoing> out_;                      ///< under mu_: to send, in order
  std::deque<Waiter*> waiting_;                   ///< under mu_: asks sent or to send, oldest first
  bool closed_ = false;                           ///< under mu_
  std::chrono::steady_clock::duration waited_{};  ///< under mu_
  int64_t messages_ = 0;                          ///< the MPI thread's own
};

}  // namespace parmap::dist
