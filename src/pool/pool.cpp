// ConnectionPoolManager: per-thread source and target connections, opened on first use.
#include "parmap/pool.h"

#include <utility>
#include <vector>

namespace parmap {

ConnectionPoolManager::ConnectionPoolManager(ConnectionFactory source, ConnectionFactory target)
    : source_factory_(std::move(source)), target_factory_(std::move(target)) {}

ConnectionPoolManager::ConnectionPoolManager(const std::string& source_url,
                                             const std::string& target_url)
    : ConnectionPoolManager(connection_factory(source_url), connection_factory(target_url)) {}

ConnectionPoolManager::~ConnectionPoolManager() { close_all_connections(); }

Connection& ConnectionPoolManager::get(bool source) {
  const auto me = std::this_thread::get_id();
  {
    std::lock_guard lock(mu_);
    auto& slot = slots_[me];
    auto& conn = source ? slot.source : slot.target;
    if (conn) return *conn;
  }
  // Open outside the lock: connecting can take seconds and must not stall other workers.
  auto opened = source ? source_factory_() : target_factory_();
  std::lock_guard lock(mu_);
  auto& slot = slots_[me];
  auto& conn = source ? slot.source : slot.target;
  conn = std::move(opened);
  return *conn;
}

Connection& ConnectionPoolManager::get_source_connection() { return get(true); }
Connection& ConnectionPoolManager::get_target_connection() { return get(false); }

void ConnectionPoolManager::release_thread_connections() noexcept {
  Slot slot;
  {
    std::lock_guard lock(mu_);
    auto it = slots_.find(std::this_thread::get_id());
    if (it == slots_.end()) return;
    slot = std::move(it->second);
    slots_.erase(it);
  }
  if (slot.source) slot.source->close();
  if (slot.target) slot.target->close();
}

void ConnectionPoolManager::discard_target_connection() noexcept {
  std::unique_ptr<Connection> conn;
  {
    std::lock_guard lock(mu_);
    auto it = slots_.find(std::this_thread::get_id());
    if (it == slots_.end()) return;
    conn = std::move(it->second.target);
  }
  if (conn) conn->close();
}

void ConnectionPoolManager::discard_source_connection() noexcept {
  std::unique_ptr<Connection> conn;
  {
    std::lock_guard lock(mu_);
    auto it = slots_.find(std::this_thread::get_id());
    if (it == slots_.end()) return;
    conn = std::move(it->second.source);
  }
  if (conn) conn->close();
}

void ConnectionPoolManager::close_all_connections() noexcept {
  std::map<std::thread::id, Slot> all;
  {
    std::lock_guard lock(mu_);
    all.swap(slots_);
  }
  for (auto& [id, slot] : all) {
    if (slot.source) slot.source->close();
    if (slot.target) slot.target->close();
  }
}

size_t ConnectionPoolManager::open_connections() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& [id, slot] : slots_) n += (slot.source ? 1 : 0) + (slot.target ? 1 : 0);
  return n;
}

}  // namespace parmap
