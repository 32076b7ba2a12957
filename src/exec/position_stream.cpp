// One pass over a table cut by physical positions, handed to the writers chunk by chunk.
#include "exec/position_stream.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "parmap/error.h"

namespace parmap {

namespace {

/// A chunk's position bound; an open bound is the lowest or highest position.
int64_t bound_of(const Value& v, int64_t open) { return v.is_null() ? open : v.as_int(); }

}  // namespace

StreamedChunk& StreamedChunk::operator=(StreamedChunk&& other) noexcept {
  if (this != &other) {
    if (owner) owner->give_back(std::move(rows));
    rows = std::move(other.rows);
    count = other.count;
    hash = other.hash;
    owner = other.owner;
    other.owner = nullptr;
  }
  return *this;
}

StreamedChunk::~StreamedChunk() {
  if (owner) owner->give_back(std::move(rows));
}

PositionStream::PositionStream(std::unique_ptr<Connection> source,
                               std::unique_ptr<PositionScan> scan,
                               std::vector<const Chunk*> chunks, int64_t chunk_bytes,
                               int writers, bool hash_rows)
    : most_buffers_(std::clamp(writers + 2, 3, 4)),
      source_(std::move(source)),
      scan_(std::move(scan)),
      header_(scan_->header()),
      trailer_(scan_->trailer()),
      chunk_limit_(std::max<int64_t>(chunk_bytes, 1)),
      hash_rows_(hash_rows) {
  uint32_t most = 0;
  for (const Chunk* c : chunks) {
    Slot& slot = slots_.emplace_back();
    slot.chunk = c;
    most = std::max(most, c->index);
  }
  by_index_.assign(static_cast<size_t>(most) + 1, -1);
  for (size_t i = 0; i < slots_.size(); ++i) by_index_[slots_[i].chunk->index] = static_cast<int>(i);
  thread_ = std::thread([this] { read(); });
}

PositionStream::Slot* PositionStream::find(uint32_t index) {
  if (index >= by_index_.size() || by_index_[index] < 0) return nullptr;
  return &slots_[static_cast<size_t>(by_index_[index])];
}

void PositionStream::publish(Slot& slot, StreamedChunk rows, bool kept) {
  if (!kept) ++too_large_;
  if (kept && !slot.forgotten) {
    slot.rows = std::move(rows);
    slot.state = State::Ready;
  } else {
    slot.state = State::Gone;
    spare_.push_back(std::move(rows.rows));
    rows.owner = nullptr;
  }
  cv_.notify_all();
}

void PositionStream::read() {
  size_t current = 0;
  StreamedChunk rows;
  bool kept = true;
  // The next chunk's buffer: one given back, or a new one while fewer than allowed exist.
  // Publishing a chunk hands its buffer on under mu_, so `rows` never gives it back itself.
  auto fresh = [&] {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return stopping_ || !spare_.empty() || buffers_ < most_buffers_; });
    rows = StreamedChunk{};
    kept = true;
    if (!spare_.empty()) {
      rows.rows = std::move(spare_.back());
      spare_.pop_back();
      rows.rows.clear();
    } else {
      ++buffers_;
    }
  };
  // Chunks too large to keep, in a row: two of them say the plan's estimate of the rows'
  // size was low, and the rest are read by their writers rather than by the pass as well.
  int too_large_in_a_row = 0;
  auto finish_current = [&] {
    {
      std::lock_guard lock(mu_);
      rows.owner = this;
      publish(slots_[current], std::move(rows), kept);
    }
    too_large_in_a_row = kept ? 0 : too_large_in_a_row + 1;
    if (too_large_in_a_row == 2) {
      throw Error(ErrorKind::Internal,
                  fmt::format("two chunks in a row were larger than the {} bytes it holds for a "
                              "writer",
                              chunk_limit_));
    }
    ++current;
    if (current < slots_.size()) fresh();
  };
  try {
    if (!slots_.empty()) fresh();
    std::string_view row;
    int64_t position = 0;
    int64_t last = -1;
    while (scan_->next(row, position)) {
      if (stopping_) break;
      if (position < last) {
        throw Error(ErrorKind::Internal,
                    fmt::format("the pass read position {} after {}: not in position order",
                                position, last));
      }
      last = position;
      while (current < slots_.size() &&
             position >= bound_of(slots_[current].chunk->range.hi,
                                  std::numeric_limits<int64_t>::max())) {
        finish_current();
      }
      if (current == slots_.size() || position < bound_of(slots_[current].chunk->range.lo, 0)) {
        throw Error(ErrorKind::Internal,
                    fmt::format("the pass read position {}, in none of the planned chunks",
                                position));
      }
      if (!kept) continue;
      if (static_cast<int64_t>(rows.rows.size() + row.size()) > chunk_limit_) {
        kept = false;  // its buffer stays with `rows`, emptied, for the next chunk
        rows.rows.clear();
        continue;
      }
      // Grown by a quarter at a time up to the limit, not doubled past it.
      if (rows.rows.size() + row.size() > rows.rows.capacity()) {
        rows.rows.reserve(static_cast<size_t>(std::min<int64_t>(
            chunk_limit_, static_cast<int64_t>(rows.rows.capacity() + rows.rows.capacity() / 4 +
                                              row.size() + (1 << 20)))));
      }
      rows.rows.append(row);
      ++rows.count;
      if (hash_rows_) rows.hash += scan_->row_hash(row);
    }
    if (!stopping_) {
      while (current < slots_.size()) finish_current();
    }
  } catch (const std::exception& e) {
    std::lock_guard lock(mu_);
    if (!stopping_) error_ = e.what();  // not stop()'s own interruption
  }
  {
    std::lock_guard lock(mu_);
    // What the pass did not read in full, its writers read themselves.
    for (Slot& slot : slots_) {
      if (slot.state == State::Reading) slot.state = State::Gone;
    }
    ended_ = true;
    cv_.notify_all();
  }
  rows.owner = this;  // a buffer still being filled goes back with the others
  // The session is not held until the job ends (a run of many tables has many passes); stop()
  // no longer touches it once ended_ is set.
  scan_.reset();
  source_->close();
}

std::optional<StreamedChunk> PositionStream::take(uint32_t index,
                                                  std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mu_);
  Slot* slot = find(index);
  if (!slot) return std::nullopt;
  cv_.wait_until(lock, deadline, [&] { return slot->state != State::Reading; });
  if (slot->state != State::Ready) {
    // Not read in time: the writer reads it itself, and the pass drops it when it gets there.
    slot->forgotten = true;
    return std::nullopt;
  }
  slot->state = State::Gone;
  ++handed_;
  return std::move(slot->rows);
}

void PositionStream::give_back(std::string&& buffer) {
  std::lock_guard lock(mu_);
  spare_.push_back(std::move(buffer));
  cv_.notify_all();
}

void PositionStream::forget(uint32_t index) {
  std::lock_guard lock(mu_);
  Slot* slot = find(index);
  if (!slot) return;
  slot->forgotten = true;
  if (slot->state == State::Ready) {
    spare_.push_back(std::move(slot->rows.rows));
    slot->rows.owner = nullptr;
    slot->rows = StreamedChunk{};
    slot->state = State::Gone;
    cv_.notify_all();
  }
}

void PositionStream::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  // A read blocked on the server ends at once; one that already ended is not touched.
  {
    std::unique_lock lock(mu_);
    if (!ended_) source_->interrupt();
  }
  thread_.join();
}

std::string PositionStream::summary() const {
  std::lock_guard lock(mu_);
  std::string out =
      fmt::format("{} of {} chunk(s) read in one pass over the table", handed_, slots_.size());
  if (too_large_ > 0) {
    out += fmt::format(" ({} larger than the pass holds for a writer, {} bytes, read by their "
                       "writers)",
                       too_large_, chunk_limit_);
  }
  if (!error_.empty()) out += fmt::format("; the pass ended early: {}", error_);
  return out;
}

}  // namespace parmap
