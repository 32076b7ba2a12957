#include "exec/batch_pipe.h"

#include <utility>

namespace parmap {

BatchPipe::BatchPipe(std::function<bool(Batch&)> read)
    : read_(std::move(read)), thread_([this] { run(); }) {}

BatchPipe::~BatchPipe() {
  bool finished = false;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    finished = done_;
  }
  cv_.notify_all();
  if (!finished && on_abandon) on_abandon();
  thread_.join();
}

void BatchPipe::run() {
  try {
    for (;;) {
      Batch batch;
      if (!read_(batch)) break;
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !ready_; });
      if (stop_) break;
      ready_ = std::move(batch);
      cv_.notify_all();
    }
  } catch (...) {
    std::lock_guard lock(mu_);
    error_ = std::current_exception();
  }
  std::lock_guard lock(mu_);
  done_ = true;
  cv_.notify_all();
}

bool BatchPipe::next(Batch& out) {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return ready_.has_value() || done_; });
  if (ready_) {
    out = std::move(*ready_);
    ready_.reset();
    cv_.notify_all();
    return true;
  }
  if (error_) std::rethrow_exception(error_);
  return false;
}

}  // namespace parmap
