// Fitting chunks to the real rows, the pure part: cut points from ranked keys, position
// pieces, and which chunks to check.
#include "plan/chunk_fit.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <utility>

#include "parmap/error.h"

namespace parmap {
namespace {

void require_chunk_size(int64_t chunk_size, const char* who) {
  if (chunk_size <= 0) {
    throw Error(ErrorKind::Internal,
                fmt::format("{}: chunk_size must be > 0, got {}", who, chunk_size));
  }
}

}  // namespace

std::vector<RangePiece> cut_range(const KeyRange& range, std::vector<KeyMark> marks, int64_t total,
                                  int64_t chunk_size) {
  require_chunk_size(chunk_size, "cut_range");
  std::stable_sort(marks.begin(), marks.end(),
                   [](const KeyMark& a, const KeyMark& b) { return a.first < b.first; });
  // One mark per position: marks at one position hold one key (the rank says so).
  std::vector<KeyMark> distinct;
  for (KeyMark& m : marks) {
    if (!distinct.empty() && distinct.back().first == m.first) {
      distinct.back().rows = std::max(distinct.back().rows, m.rows);
      continue;
    }
    distinct.push_back(std::move(m));
  }

  // Parts between consecutive marks; the part starting at a mark holds that mark's key only
  // when the key's rows end exactly where the next part starts.
  std::vector<RangePiece> parts;
  Value lo = range.lo;
  int64_t start = 0;
  const KeyMark* head = nullptr;
  auto close_part = [&](Value hi, int64_t end) {
    RangePiece p;
    p.range.lo = lo;
    p.range.hi = std::move(hi);
    p.rows = std::max<int64_t>(0, end - start);
    if (head != nullptr && head->rows > 0 && head->first + head->rows == end) {
      p.single = true;
      p.value = head->key;
    }
    parts.push_back(std::move(p));
  };
  for (const KeyMark& m : distinct) {
    if (m.first <= 0) {
      head = &m;  // the range's first key: not a boundary, but the first part's value
      continue;
    }
    close_part(m.key, m.first);
    lo = m.key;
    start = m.first;
    head = &m;
  }
  close_part(range.hi, total);

  // Neighbours merge while they fit one chunk; a part above chunk_size stays alone.
  std::vector<RangePiece> merged;
  for (RangePiece& p : parts) {
    if (!merged.empty() && merged.back().rows + p.rows <= chunk_size) {
      RangePiece& g = merged.back();
      g.range.hi = std::move(p.range.hi);
      g.rows += p.rows;
      g.single = false;
      g.value = Value();
      continue;
    }
    merged.push_back(std::move(p));
  }
  return merged;
}

std::vector<PositionPiece> even_pieces(int64_t lo, int64_t hi, int64_t parts) {
  std::vector<PositionPiece> out;
  if (hi <= lo) return out;
  const __int128 width = static_cast<__int128>(hi) - lo;
  const __int128 n = std::clamp<__int128>(parts, 1, width);
  for (__int128 i = 0; i < n; ++i) {
    PositionPiece p;
    p.lo = static_cast<int64_t>(lo + width * i / n);
    p.hi = static_cast<int64_t>(lo + width * (i + 1) / n);
    out.push_back(p);
  }
  return out;
}

std::vector<PositionPiece> merge_pieces(const std::vector<PositionPiece>& pieces,
                                        int64_t chunk_size) {
  require_chunk_size(chunk_size, "merge_pieces");
  std::vector<PositionPiece> out;
  for (const PositionPiece& p : pieces) {
    const int64_t rows = std::max<int64_t>(0, p.rows);
    if (!out.empty() && out.back().rows + rows <= chunk_size) {
      out.back().hi = p.hi;
      out.back().rows += rows;
      continue;
    }
    out.push_back(PositionPiece{p.lo, p.hi, rows});
  }
  return out;
}

std::vector<size_t> chunks_to_check(const std::vector<Chunk>& chunks, int64_t chunk_size,
                                    size_t spread) {
  std::set<size_t> picked;
  std::vector<size_t> keyed;  // chunks of non-null keys, in plan order
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (!chunks[i].range.nulls) keyed.push_back(i);
    // The NULL chunk is checked only when it is thought big: counting IS NULL may scan the
    // whole query when the key has no index.
    if (chunks[i].estimated_rows > chunk_size ||
        (chunks[i].range.nulls && chunks[i].estimated_rows * 2 > chunk_size)) {
      picked.insert(i);
    }
  }
  if (!keyed.empty()) {
    picked.insert(keyed.front());
    picked.insert(keyed.back());
    for (size_t j = 1; j <= spread && keyed.size() > 2; ++j) {
      picked.insert(keyed[j * (keyed.size() - 1) / (spread + 1)]);
    }
  }
  return {picked.begin(), picked.end()};
}

bool estimates_hold(const std::vector<Chunk>& chunks, const std::vector<size_t>& checked,
                    const std::vector<int64_t>& counted, int64_t chunk_size) {
  for (size_t j = 0; j < checked.size() && j < counted.size(); ++j) {
    const Chunk& c = chunks[checked[j]];
    if (c.estimated_rows <= chunk_size && counted[j] * 2 > chunk_size * 3) return false;
  }
  return true;
}

void renumber(std::vector<Chunk>& chunks) {
  for (size_t i = 0; i < chunks.size(); ++i) chunks[i].index = static_cast<uint32_t>(i);
}

}  // namespace parmap
