// A TCP proxy for fault tests: forwards to a server, and can freeze the connections it holds.
#include "support/tcp_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <utility>
#include <vector>

namespace parmap::test {

namespace {

/// Bytes buffered one way before the proxy stops reading that side (back-pressure).
constexpr size_t kMaxPending = size_t{1} << 20;

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error("tcp proxy: " + what + ": " + std::strerror(errno));
}

void set_nonblocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

/// A blocking connect to host:port (any address family), then non-blocking; -1 on failure.
int connect_to(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) return -1;
  int fd = -1;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  if (fd >= 0) {
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    set_nonblocking(fd);
  }
  return fd;
}

}  // namespace

/// One proxied connection: the client's socket, the server's, and what is on its way.
struct TcpProxy::Link {
  int client = -1, server = -1;
  std::string to_server, to_client;
  bool frozen = false;
  bool done = false;  // one side ended or failed: closed at the end of the loop pass

  ~Link() {
    if (client >= 0) close(client);
    if (server >= 0) close(server);
  }
};

TcpProxy::TcpProxy(const std::string& host, int port) : host_(host), server_port_(port) {
  if (pipe2(wake_pipe_, O_CLOEXEC | O_NONBLOCK) != 0) fail("pipe");
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (listen_fd_ < 0) fail("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) fail("bind");
  if (listen(listen_fd_, 64) != 0) fail("listen");
  socklen_t len = sizeof addr;
  if (getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) fail("getsockname");
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { loop(); });
}

TcpProxy::~TcpProxy() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake();
  thread_.join();
  close(listen_fd_);
  close(wake_pipe_[0]);
  close(wake_pipe_[1]);
}

void TcpProxy::wake() {
  const char byte = 'w';
  // A full pipe already holds a wake-up.
  [[maybe_unused]] const ssize_t n = write(wake_pipe_[1], &byte, 1);
}

size_t TcpProxy::freeze() {
  std::unique_lock lock(mu_);
  const uint64_t ticket = ++freeze_asked_;
  lock.unlock();
  wake();
  lock.lock();
  done_.wait(lock, [&] { return freeze_done_ >= ticket || stop_; });
  return frozen_now_;
}

void TcpProxy::loop() {
  std::vector<std::unique_ptr<Link>> links;  // owned by this thread only
  std::vector<pollfd> fds;
  std::vector<std::pair<Link*, bool>> owners;  // per fds[i + 2]: its link, client side?
  std::vector<char> buf(64 * 1024);
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stop_) break;
      if (freeze_done_ < freeze_asked_) {
        size_t n = 0;
        for (auto& l : links) {
          if (!l->frozen) {
            l->frozen = true;
            ++n;
          }
        }
        frozen_now_ = n;
        freeze_done_ = freeze_asked_;
        done_.notify_all();
      }
    }
    fds.clear();
    owners.clear();
    fds.push_back({wake_pipe_[0], POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    for (auto& l : links) {
      if (l->frozen) continue;  // frozen: neither read nor written, left open
      short client_events = 0, server_events = 0;
      if (l->to_server.size() < kMaxPending) client_events |= POLLIN;
      if (!l->to_client.empty()) client_events |= POLLOUT;
      if (l->to_client.size() < kMaxPending) server_events |= POLLIN;
      if (!l->to_server.empty()) server_events |= POLLOUT;
      fds.push_back({l->client, client_events, 0});
      owners.emplace_back(l.get(), true);
      fds.push_back({l->server, server_events, 0});
      owners.emplace_back(l.get(), false);
    }
    if (poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents != 0) {
      while (read(wake_pipe_[0], buf.data(), buf.size()) > 0) {
      }
    }
    if ((fds[1].revents & POLLIN) != 0) {
      const int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (client >= 0) {
        ++accepted_;
        const int one = 1;
        setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        auto link = std::make_unique<Link>();
        link->client = client;
        link->server = connect_to(host_, server_port_);
        // A server that cannot be reached: the client sees its connection closed.
        if (link->server >= 0) links.push_back(std::move(link));
      }
    }
    for (size_t i = 0; i < owners.size(); ++i) {
      Link& l = *owners[i].first;
      if (l.done) continue;
      const bool client_side = owners[i].second;
      const int fd = client_side ? l.client : l.server;
      const int other = client_side ? l.server : l.client;
      std::string& from_fd = client_side ? l.to_server : l.to_client;
      std::string& to_fd = client_side ? l.to_client : l.to_server;
      const short events = fds[i + 2].revents;
      if ((events & (POLLIN | POLLHUP | POLLERR)) != 0) {
        const ssize_t n = read(fd, buf.data(), buf.size());
        if (n > 0) {
          from_fd.append(buf.data(), static_cast<size_t>(n));
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
          // One side ended: pass on what it said last (a server's FATAL message, a client's
          // Terminate) as far as the other side takes it now, then close both.
          if (!from_fd.empty()) {
            [[maybe_unused]] const ssize_t sent =
                send(other, from_fd.data(), from_fd.size(), MSG_NOSIGNAL);
          }
          l.done = true;
          continue;
        }
      }
      if ((events & POLLOUT) != 0 && !to_fd.empty()) {
        const ssize_t n = send(fd, to_fd.data(), to_fd.size(), MSG_NOSIGNAL);
        if (n > 0) {
          to_fd.erase(0, static_cast<size_t>(n));
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
          l.done = true;
        }
      }
    }
    std::erase_if(links, [](const std::unique_ptr<Link>& l) { return l->done; });
  }
  // Stopping: every link closes with `links`; a freeze() still waiting is told.
  std::lock_guard lock(mu_);
  done_.notify_all();
}

}  // namespace parmap::test
