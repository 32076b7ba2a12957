// A following rank's chunk feed (rank_feed.h).
#include "dist/rank_feed.h"

#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "dist/wire.h"

namespace parmap::dist {

using Clock = std::chrono::steady_clock;

void RankFeed::post(int tag, std::string body) {
  std::lock_guard lock(mu_);
  out_.push_back({tag, std::move(body)});
  cv_.notify_all();
}

std::optional<uint32_t> RankFeed::next() {
  Waiter me;
  const auto asked = Clock::now();
  std::unique_lock lock(mu_);
  out_.push_back({kTagAsk, ""});
  waiting_.push_back(&me);
  cv_.notify_all();
  cv_.wait(lock, [&] { return me.answered; });
  waited_ += Clock::now() - asked;
  return me.index;
}

void RankFeed::committed(uint32_t index, int64_t rows, int attempt) {
  post(kTagDone, nlohmann::json{{"chunk", index}, {"rows", rows}, {"attempt", attempt}}.dump());
}

void RankFeed::failed(uint32_t index, const std::string& error, bool refused) {
  post(kTagDone, nlohmann::json{{"chunk", index}, {"error", error}, {"refused", refused}}.dump());
}

void RankFeed::close() {
  std::lock_guard lock(mu_);
  closed_ = true;
  cv_.notify_all();
}

double RankFeed::wait_ms() const {
  std::lock_guard lock(mu_);
  return std::chrono::duration<double, std::milli>(waited_).count();
}

void RankFeed::pump() {
  for (;;) {
    std::vector<Outgoing> sending;
    bool asking = false;
    {
      std::unique_lock lock(mu_);
      // Idle (no ask unanswered, nothing to send): sleep until a worker posts.
      cv_.wait_for(lock, std::chrono::milliseconds(50),
                   [&] { return !out_.empty() || !waiting_.empty() || closed_; });
      sending.assign(out_.begin(), out_.end());
      out_.clear();
      asking = !waiting_.empty();
      if (sending.empty() && !asking && closed_) return;
    }
    for (const Outgoing& m : sending) {
      send_text(m.body, 0, m.tag);
      ++messages_;
    }
    if (!asking) continue;
    int ready = 0;
    MPI_Status status;
    MPI_Iprobe(0, kTagChunk, MPI_COMM_WORLD, &ready, &status);
    if (!ready) {
      // An answer is due: poll closely rather than sleep on the workers.
      std::this_thread::sleep_for(std::chrono::microseconds(50));
      continue;
    }
    const long long index = std::stoll(receive_text(status));
    ++messages_;
    std::lock_guard lock(mu_);
    Waiter* w = waiting_.front();
    waiting_.pop_front();
    if (index >= 0) w->index = static_cast<uint32_t>(index);
    w->answered = true;
    cv_.notify_all();
  }
}

}  // namespace parmap::dist
