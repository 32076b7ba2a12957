// Probing the source for the real sizes of planned chunks (see plan_probe.h). Only generic
// SQL goes through the connection: count(*) under LIMIT, row_number()/rank()/count(*) OVER,
// ORDER BY ... LIMIT 1; the engine-specific parts (chunk filters, physical positions) are
// the driver's.
#include "exec/plan_probe.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "parmap/error.h"
#include "plan/chunk_fit.h"

namespace parmap {
namespace {

/// How many evenly spread chunks the cheap check counts besides the first and the last.
constexpr size_t kSpreadChecks = 3;

/// Estimates from every k-th key are trusted without counting when k is at most this
/// share of a chunk (a chunk's estimate is then off by at most a few percent).
constexpr int64_t kExactShare = 16;

/// Rounds of cutting a position piece that still holds more than a chunk.
constexpr int kPositionRounds = 6;

int64_t int_of(const Value& v, std::string_view what) {
  if (!v.is_int()) {
    throw Error(ErrorKind::Internal,
                fmt::format("probing chunk sizes: {} came back as '{}', not an integer", what,
                            v.to_display()));
  }
  return v.as_int();
}

int64_t parts_for(int64_t rows, int64_t chunk_size) {
  // Four pieces per chunk the rows need: pieces land well under chunk_size, so that merging
  // them back up fills chunks (halves of uneven size would often not fit two to a chunk).
  // A piece's count reads only its own positions, so finer pieces cost little more.
  return 4 * std::max<int64_t>(1, (rows + chunk_size - 1) / chunk_size);
}

}  // namespace

int64_t count_rows_upto(Connection& src, std::string_view sql, const Chunk* chunk, int64_t limit) {
  std::vector<Value> params;
  const std::string inner =
      chunk != nullptr ? src.chunk_query(sql, *chunk, params) : std::string(sql);
  const auto rows =
      src.query(fmt::format("SELECT count(*) FROM (SELECT 1 AS one FROM ({}) AS pc LIMIT {}) AS pb",
                            inner, std::max<int64_t>(0, limit)),
                params);
  return rows.empty() || rows[0].empty() ? 0 : int_of(rows[0][0], "a bounded count");
}

PlanProbe::PlanProbe(Connection& src, std::string sql, int64_t chunk_size)
    : src_(src), sql_(std::move(sql)), chunk_size_(chunk_size), limit_(2 * chunk_size) {
  if (chunk_size <= 0) {
    throw Error(ErrorKind::Internal,
                fmt::format("PlanProbe: chunk_size must be > 0, got {}", chunk_size));
  }
}

std::vector<Chunk> PlanProbe::fit(std::vector<Chunk> chunks, bool sampled, int64_t exact_within,
                                  bool every_integer) {
  if (chunks.empty() || chunks.front().key.empty() ||
      chunks.front().key == src_.capabilities().position_key) {
    return chunks;
  }
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<int64_t> counted(chunks.size(), -1);
  if (sampled && exact_within > 0 && exact_within * kExactShare <= chunk_size_) {
    // Every key was read to plan: the estimates are the counts, give or take a sample step.
    exact_within_ = exact_within;
    every_integer_ = every_integer;
    for (size_t i = 0; i < chunks.size(); ++i) counted[i] = chunks[i].estimated_rows;
    return cut_oversized(std::move(chunks), counted, t0);
  }
  auto count = [&](size_t i) {
    ++queries_;
    ++checked_;
    counted[i] = count_rows_upto(src_, sql_, &chunks[i], limit_ + 1);
    return counted[i];
  };

  // The cheap check: a few chunks. When they hold what the sample said, so do the others.
  const std::vector<size_t> checked = chunks_to_check(chunks, chunk_size_, kSpreadChecks);
  std::vector<int64_t> got;
  for (size_t i : checked) got.push_back(count(i));
  trusted_ = sampled && estimates_hold(chunks, checked, got, chunk_size_);
  if (!trusted_) {
    for (size_t i = 0; i < chunks.size(); ++i) {
      if (counted[i] < 0) count(i);
    }
  }
  return cut_oversized(std::move(chunks), counted, t0);
}

std::vector<Chunk> PlanProbe::cut_oversized(std::vector<Chunk> chunks,
                                            const std::vector<int64_t>& counted,
                                            std::chrono::steady_clock::time_point t0) {
  std::vector<Chunk> out;
  out.reserve(chunks.size());
  for (size_t i = 0; i < chunks.size(); ++i) {
    Chunk& c = chunks[i];
    if (counted[i] <= limit_) {
      if (counted[i] >= 0) c.estimated_rows = counted[i];
      out.push_back(std::move(c));
      continue;
    }
    std::vector<Chunk> parts;
    if (c.range.nulls) {
      parts = split_value(c, Value(), count_exact(c));
    } else {
      ++split_;
      parts = split_range(c);
    }
    for (Chunk& p : parts) out.push_back(std::move(p));
  }
  renumber(out);
  seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

std::vector<Chunk> PlanProbe::split_range(const Chunk& chunk) {
  std::vector<Value> params;
  const std::string inner = src_.chunk_query(sql_, chunk, params);
  const std::string key = src_.quote_identifier(chunk.key);
  const int64_t step = std::max<int64_t>(1, chunk_size_ / 2);
  // One sort of the range: the key at every step-th row, where its rows start (rank) and
  // how many there are, and the range's total.
  const std::string marks_sql = fmt::format(
      "SELECT pk, pr, pc, pt FROM (SELECT {0} AS pk, row_number() OVER (ORDER BY {0}) - 1 AS pn, "
      "rank() OVER (ORDER BY {0}) - 1 AS pr, count(*) OVER (PARTITION BY {0}) AS pc, "
      "count(*) OVER () AS pt FROM ({1}) AS pq) AS pw WHERE pn % {2} = 0 ORDER BY pn",
      key, inner, step);
  ++queries_;
  const auto rows = src_.query(marks_sql, params);
  std::vector<KeyMark> marks;
  int64_t total = 0;
  for (const auto& r : rows) {
    marks.push_back(KeyMark{r[0], int_of(r[1], "a rank"), int_of(r[2], "a key's row count")});
    total = int_of(r[3], "a range's row count");
  }
  // A key holding more than a chunk: its successor is a boundary too, so that the key's
  // rows come out as a part of their own.
  const size_t read = marks.size();
  for (size_t i = 0; i < read; ++i) {
    if (marks[i].rows <= limit_) continue;
    std::vector<Value> next_params = params;
    next_params.push_back(marks[i].key);
    ++queries_;
    // ORDER BY ... LIMIT 1, not min(): every orderable type has an order, not every one an
    // aggregate (PostgreSQL has no min(uuid)).
    const auto next = src_.query(
        fmt::format("SELECT {0} FROM ({1}) AS pq WHERE {0} > ? ORDER BY {0} LIMIT 1", key, inner),
        next_params);
    if (!next.empty() && !next[0][0].is_null()) {
      marks.push_back(KeyMark{next[0][0], marks[i].first + marks[i].rows, 0});
    }
  }

  std::vector<Chunk> out;
  for (RangePiece& p : cut_range(chunk.range, std::move(marks), total, chunk_size_)) {
    Chunk c;
    c.key = chunk.key;
    c.range = std::move(p.range);
    c.estimated_rows = p.rows;
    if (p.single && p.rows > limit_) {
      for (Chunk& s : split_value(c, p.value, p.rows)) out.push_back(std::move(s));
    } else {
      out.push_back(std::move(c));
    }
  }
  return out;
}

std::vector<Chunk> PlanProbe::split_value(const Chunk& chunk, const Value& value, int64_t rows) {
  if (!extent_) {
    ++queries_;
    extent_ = src_.physical_extent(sql_);
  }
  const std::string what = value.is_null() ? fmt::format("{} IS NULL", chunk.key)
                                           : fmt::format("{} = {}", chunk.key, value.to_display());
  if (!*extent_) {
    notes_.push_back(fmt::format(
        "{} holds {} rows, more than 2 x chunk_size, but stays one chunk: only a plain "
        "'SELECT * FROM table' query can be split inside one key value (by physical position)",
        what, rows));
    Chunk c = chunk;
    c.estimated_rows = rows;
    return {c};
  }
  const PhysicalExtent& ext = **extent_;
  auto slice_of = [&](int64_t lo, int64_t hi) {
    Chunk c = chunk;
    c.slice = KeySlice{value, ext.column, KeyRange{Value(lo), Value(hi), false}};
    return c;
  };

  std::vector<PositionPiece> pieces = even_pieces(ext.lo, ext.hi, parts_for(rows, chunk_size_));
  for (PositionPiece& p : pieces) p.rows = count_exact(slice_of(p.lo, p.hi));
  // Rows of one value may crowd into part of the table: cut the crowded pieces again.
  for (int round = 0; round < kPositionRounds; ++round) {
    std::vector<PositionPiece> next;
    bool cut = false;
    for (const PositionPiece& p : pieces) {
      if (p.rows <= chunk_size_ || p.hi - p.lo <= 1) {
        next.push_back(p);
        continue;
      }
      cut = true;
      for (PositionPiece& q : even_pieces(p.lo, p.hi, parts_for(p.rows, chunk_size_))) {
        q.rows = count_exact(slice_of(q.lo, q.hi));
        next.push_back(q);
      }
    }
    pieces = std::move(next);
    if (!cut) break;
  }

  std::vector<PositionPiece> groups = merge_pieces(pieces, chunk_size_);
  std::vector<Chunk> out;
  for (size_t i = 0; i < groups.size(); ++i) {
    Chunk c = slice_of(groups[i].lo, groups[i].hi);
    // Open at both ends: a row at a position outside the extent read still has a chunk.
    if (i == 0) c.slice->range.lo = Value();
    if (i + 1 == groups.size()) c.slice->range.hi = Value();
    c.estimated_rows = groups[i].rows;
    out.push_back(std::move(c));
  }
  ++sliced_;
  notes_.push_back(
      fmt::format("{} ({} rows) split into {} chunk(s) by {}", what, rows, out.size(), ext.column));
  return out;
}

int64_t PlanProbe::count_exact(const Chunk& chunk) {
  std::vector<Value> params;
  const std::string inner = src_.chunk_query(sql_, chunk, params);
  ++queries_;
  const auto rows = src_.query(fmt::format("SELECT count(*) FROM ({}) AS pq", inner), params);
  return rows.empty() || rows[0].empty() ? 0 : int_of(rows[0][0], "a count");
}

std::string PlanProbe::summary() const {
  // What was cut again after the count, each part after `sep`.
  auto cuts = [&](std::string_view sep) {
    std::string out;
    if (split_ > 0) out += fmt::format("{}{} cut again at real keys", sep, split_);
    if (sliced_ > 0) out += fmt::format("{}{} key value(s) split by physical position", sep, sliced_);
    return out;
  };
  std::string s;
  if (exact_within_ > 0 && every_integer_) {
    s = fmt::format("chunk sizes from the key's count and ends (every integer between them is a "
                    "key; exact to {} rows), so no key was read and no chunk counted{}",
                    exact_within_, cuts("; "));
  } else if (exact_within_ > 0) {
    s = fmt::format("chunk sizes from reading every key (exact to {} rows), so none was counted "
                    "again{}",
                    exact_within_, cuts("; "));
  } else if (checked_ > 0) {
    s = fmt::format("chunk sizes probed on the real rows: {} chunk(s) counted ({}){}; {} queries, "
                    "{:.0f} ms",
                    checked_,
                    trusted_ ? "they held what the sample said, so the others were trusted"
                             : "the estimates did not hold, so every chunk was counted",
                    cuts(", "), queries_, seconds_ * 1000);
  } else {
    return {};
  }
  for (const std::string& n : notes_) s += "; " + n;
  return s;
}

}  // namespace parmap
