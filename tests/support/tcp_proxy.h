// A TCP proxy for fault tests: forwards to a server, and can freeze the connections it holds.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace parmap::test {

/// Listens on 127.0.0.1 (an ephemeral port) and forwards every accepted connection to
/// host:port, both ways, from one poll loop. freeze() simulates a network partition that
/// does not close anything: the connections open at that moment stay open but nothing more
/// is read from or written to them, either way; connections accepted afterwards forward
/// normally. The destructor stops the loop and closes every socket. Thread-safe.
class TcpProxy {
 public:
  /// Starts listening and forwarding; throws std::runtime_error when it cannot.
  TcpProxy(const std::string& host, int port);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  /// The port it listens on (127.0.0.1).
  int port() const { return port_; }
  /// Stops forwarding on every connection open now; returns how many it froze. When it
  /// returns, no byte moves on them any more.
  size_t freeze();
  /// Connections accepted so far (frozen or not, open or closed).
  size_t connections() const { return accepted_.load(); }

 private:
  struct Link;
  void loop();
  void wake();

  std::string host_;
  int server_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  int wake_pipe_[2] = {-1, -1};
  std::atomic<size_t> accepted_{0};

  std::mutex mu_;
  std::condition_variable done_;
  uint64_t freeze_asked_ = 0;  // under mu_: freeze() calls so far
  uint64_t freeze_done_ = 0;   // under mu_: those the loop has carried out
  size_t frozen_now_ = 0;      // under mu_: connections the last freeze froze
  bool stop_ = false;          // under mu_
  std::thread thread_;
};

}  // namespace parmap::test
