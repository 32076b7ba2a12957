// The chunk watchdog: interrupts the connections of a chunk attempt that runs past chunk_timeout_s.
#include "exec/watchdog.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace parmap {

namespace {

/// The limit as chunk_timeout_s shows it: whole seconds, or a fraction in tests.
double seconds(std::chrono::milliseconds limit) {
  return static_cast<double>(limit.count()) / 1000.0;
}

}  // namespace

Watchdog::Watchdog(std::chrono::milliseconds limit) : limit_(limit) {}

Watchdog::~Watchdog() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

uint64_t Watchdog::begin(const std::string& what, std::initializer_list<Connection*> connections) {
  Attempt attempt;
  attempt.deadline = std::chrono::steady_clock::now() + limit_;
  attempt.chunk = what;
  attempt.connections.assign(connections.begin(), connections.end());
  uint64_t id = 0;
  {
    std::lock_guard lock(mu_);
    id = next_id_++;
    attempts_.emplace(id, std::move(attempt));
    if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
  }
  // The thread may be sleeping with no attempt to wait for.
  wake_.notify_one();
  return id;
}

bool Watchdog::end(uint64_t id) noexcept {
  std::lock_guard lock(mu_);
  const auto it = attempts_.find(id);
  if (it == attempts_.end()) return false;
  const bool interrupted = it->second.interrupted;
  attempts_.erase(it);
  return interrupted;
}

int64_t Watchdog::interrupted_count() const {
  std::lock_guard lock(mu_);
  return interrupted_count_;
}

Error Watchdog::timeout_error(const std::string& what, const std::exception_ptr& cause) const {
  std::string said;
  if (cause) {
    try {
      std::rethrow_exception(cause);
    } catch (const std::exception& e) {
      said = fmt::format("; the interrupted call said: {}", e.what());
    } catch (...) {
    }
  }
  ErrorContext context;
  context.chunk = what;
  // The chunk's name is added by whoever reports the error.
  return Error(ErrorKind::Transient,
               fmt::format("the attempt ran longer than chunk_timeout_s={:g} s, so its "
                           "connections were interrupted and are discarded (did a connection or "
                           "the server stop answering?){}",
                           seconds(limit_), said),
               {}, std::move(context));
}

void Watchdog::loop() {
  // An interrupt that lands between two statements is lost (SQLite forgets it when no
  // statement runs), so an interrupted attempt that has not ended is interrupted again every
  // kRepeat until its owner unregisters it.
  constexpr auto kRepeat = std::chrono::milliseconds(100);
  std::unique_lock lock(mu_);
  while (!stopping_) {
    auto next = std::chrono::steady_clock::time_point::max();
    for (const auto& [id, a] : attempts_) next = std::min(next, a.deadline);
    if (next == std::chrono::steady_clock::time_point::max()) {
      wake_.wait(lock);
    } else {
      wake_.wait_until(lock, next);
    }
    if (stopping_) break;
    const auto now = std::chrono::steady_clock::now();
    for (auto& [id, a] : attempts_) {
      if (now < a.deadline) continue;
      // Under mu_: the owner cannot unregister, close or replace these connections meanwhile.
      if (!a.interrupted) {
        a.interrupted = true;
        ++interrupted_count_;
        spdlog::warn("{} ran longer than chunk_timeout_s={:g} s: interrupting its connections",
                     a.chunk, seconds(limit_));
      }
      for (Connection* c : a.connections) c->interrupt();
      a.deadline = now + kRepeat;
    }
  }
}

}  // namespace parmap
