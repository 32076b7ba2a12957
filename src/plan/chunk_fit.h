// Fitting chunks to the real rows, the pure part: which chunks to check, where to cut a key
// range from keys read at known positions, and how to group physical-position pieces.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "parmap/batch.h"
#include "parmap/connection.h"

namespace parmap {

/// A key read at a known place in the sorted rows of one key range: `first` is the 0-based
/// position of the first row holding `key` (its rank), `rows` how many rows hold it (0 when
/// unknown).
struct KeyMark {
  Value key;
  int64_t first = 0;
  int64_t rows = 0;
};

/// A part of a key range, with its exact row count. `single` marks a part that holds one key
/// value only (`value`), as a heavy hitter does.
struct RangePiece {
  KeyRange range;
  int64_t rows = 0;
  bool single = false;
  Value value;
};

/// Cuts `range` (which holds `total` rows with a non-null key) at the keys of `marks` (in
/// any order; marks at position 0 or sharing a position are ignored as boundaries), then
/// merges neighbouring parts while the merged part holds at most `chunk_size` rows. A part
/// is `single` when its mark's rows reach exactly the next mark (or the end), so a key
/// value holding more rows than a chunk comes out as a part of its own. The parts cover
/// `range` with no gap and no overlap: the first keeps range.lo, the last range.hi.
/// chunk_size must be > 0.
std::vector<RangePiece> cut_range(const KeyRange& range, std::vector<KeyMark> marks, int64_t total,
                                  int64_t chunk_size);

/// A half-open range [lo, hi) of physical positions and the rows of one key value in it
/// (-1: not counted yet).
struct PositionPiece {
  int64_t lo = 0, hi = 0;
  int64_t rows = -1;
};

/// [lo, hi) in `parts` pieces of about equal width (at least one position each; fewer
/// pieces when the range is narrower). Empty when hi <= lo.
std::vector<PositionPiece> even_pieces(int64_t lo, int64_t hi, int64_t parts);

/// Groups neighbouring counted pieces while a group holds at most `chunk_size` rows (a
/// piece above it stays alone). The groups cover the pieces' span with no gap.
std::vector<PositionPiece> merge_pieces(const std::vector<PositionPiece>& pieces,
                                        int64_t chunk_size);

/// The chunks worth counting to tell whether estimated chunk sizes can be trusted: the
/// first and the last (open-ended, where keys beyond the sampled ones land), up to `spread`
/// chunks evenly between them, and every chunk estimated above `chunk_size` (a hot key the
/// sample saw). Indexes into `chunks`, increasing.
std::vector<size_t> chunks_to_check(const std::vector<Chunk>& chunks, int64_t chunk_size,
                                    size_t spread);

/// Whether the checked chunks' real row counts (`counted[i]` for chunks_to_check's i, in
/// the same order) say that the estimates hold: no chunk estimated at most `chunk_size`
/// holds more than 1.5 times `chunk_size`.
bool estimates_hold(const std::vector<Chunk>& chunks, const std::vector<size_t>& checked,
                    const std::vector<int64_t>& counted, int64_t chunk_size);

/// Numbers chunks 0..n-1 in order (ids are the index in the plan).
void renumber(std::vector<Chunk>& chunks);

}  // namespace parmap
