// Probing the source for the real sizes of planned chunks: bounded counts, ranked keys and
// physical-position counts, in generic SQL through one Connection.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parmap/connection.h"

namespace parmap {

/// Counts the rows of `sql` (of one chunk of it when `chunk` is given) but stops at `limit`:
/// returns min(real rows, limit). Reads at most `limit` rows.
int64_t count_rows_upto(Connection& src, std::string_view sql, const Chunk* chunk, int64_t limit);

/// Fits a plan cut from estimates to the rows the source really has, so that no chunk holds
/// more than about twice `chunk_size` rows because statistics were wrong.
///
/// Cheap first: the chunks the sample calls big, the first and last and a few between are
/// counted (bounded at 2 * chunk_size + 1 rows); when those agree with the estimates the
/// others are trusted. Otherwise every chunk is counted. A chunk above 2 * chunk_size is cut
/// again at keys read at every chunk_size / 2-th row with their rank (one window-function
/// pass over that chunk), and a key value still holding more than 2 * chunk_size rows is
/// split by physical position (Connection::physical_extent) when the query is a plain table,
/// or stays one chunk, said in notes().
///
/// Runs on the caller's connection (the coordinator's source session, so on PostgreSQL the
/// probes read the exported snapshot). Not thread-safe; throws what the connection throws.
class PlanProbe {
 public:
  PlanProbe(Connection& src, std::string sql, int64_t chunk_size);

  /// The chunks, refit and renumbered. Plans on no key or on the source's position_key come back unchanged.
  /// `sampled`: the chunk bounds came from a sample of the real keys (else from an even
  /// split of [min, max], which is never trusted unchecked). `exact_within` > 0: the sample
  /// was every exact_within-th key of all of them (KeyStats::sample_every), so the estimates
  /// are counts to within that many rows; when that is a small part of a chunk, nothing is
  /// counted again, and only chunks estimated above the bound are cut. `every_integer`: that
  /// sample was known without reading the keys (KeyStats::every_integer), for the summary.
  std::vector<Chunk> fit(std::vector<Chunk> chunks, bool sampled, int64_t exact_within = 0,
                         bool every_integer = false);

  /// What probing did, for the plan's reason ("checked 5 chunks: estimates hold; 1.2 ms").
  std::string summary() const;

 private:
  /// The chunks with those counted (or trusted) above the bound cut again, renumbered.
  std::vector<Chunk> cut_oversized(std::vector<Chunk> chunks, const std::vector<int64_t>& counted,
                                   std::chrono::steady_clock::time_point t0);
  /// The parts of one oversized non-null range, cut at ranked keys.
  std::vector<Chunk> split_range(const Chunk& chunk);
  /// One key value's rows (a NULL chunk's when `value` is null) by physical position.
  std::vector<Chunk> split_value(const Chunk& chunk, const Value& value, int64_t rows);
  int64_t count_exact(const Chunk& chunk);

  Connection& src_;
  const std::string sql_;
  const int64_t chunk_size_;
  const int64_t limit_;  ///< a chunk above this many rows is cut again
  std::optional<std::optional<PhysicalExtent>> extent_;  ///< asked once
  int64_t checked_ = 0, queries_ = 0, split_ = 0, sliced_ = 0;
  bool trusted_ = true;
  int64_t exact_within_ = 0;  ///< > 0: the estimates were counts to within this many rows
  bool every_integer_ = false;  ///< and known from the key's count and ends
  double seconds_ = 0;
  std::vector<std::string> notes_;
};

}  // namespace parmap
