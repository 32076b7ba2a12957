// Planning as pure functions: is a query safe to split, on which key, and into which chunks.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parmap/batch.h"
#include "parmap/connection.h"

namespace parmap {

/// Whether wrapping a query in a key-range filter is safe and cheap.
struct QueryCheck {
  bool splittable = true;
  std::string reason;  ///< why not, in words a user understands; empty when splittable
};

/// Scans the SQL text (comments and string literals skipped, not parsed) for what a
/// key-range filter could change or slow down: LIMIT/OFFSET, volatile functions
/// (random(), ...), aggregates (GROUP BY, count(), ...) and window functions (OVER).
QueryCheck check_query_splittable(std::string_view sql);

/// The first column of the query's top-level ORDER BY, unquoted and without a table
/// qualifier ("ORDER BY t.\"Id\" DESC" -> "Id"), or its position as written ("ORDER BY 2"
/// -> "2"); nullopt when there is none or it is an expression.
std::optional<std::string> order_by_key(std::string_view sql);

/// Whether the text's last line holds `--` (a comment to its end, as far as a wrapper that
/// puts SQL after the query must assume): such a query needs a line break after it.
bool ends_in_line_comment(std::string_view sql);

/// The query without its trailing top-level ORDER BY, for a wrapper that orders or filters
/// the rows itself: the same rows, and nothing that keeps the server from reading an index
/// the other way (PostgreSQL reads a whole ordered subquery for its last row). The query as
/// it is when no ORDER BY ends it, or one is followed by LIMIT, OFFSET, FETCH or FOR.
std::string_view without_order_by(std::string_view sql);

/// If the query is exactly "SELECT * FROM <table>" (optionally with ORDER BY), the table.
std::optional<TableRef> simple_table_of(std::string_view sql);

/// Whether the query's text names the table: a word or quoted name equal to its name (case
/// folded), unless written with another schema in front. A text scan that may say yes for a
/// column of the same name; for refusing what would destroy the rows a query reads.
bool query_names_table(std::string_view sql, const TableRef& table);

/// Cuts the key space into chunks of about `chunk_size` rows. The chunks cover every
/// non-null key with no gap and no overlap: the first chunk's lower bound and the last
/// chunk's upper bound are open, so keys outside the sampled [min, max] still arrive.
/// Boundaries come from the sample's quantiles (the sample must be sorted in the engine's
/// own order, which is kept) when it is large enough (skew,
/// duplicates, text and dates), else from an even split of [min, max] for numbers.
/// Rows whose key is NULL get a chunk of their own when stats.null_rows > 0.
/// chunk_size must be > 0.
std::vector<Chunk> plan_chunks(const KeyStats& stats, int64_t chunk_size);

/// One chunk covering the whole query (serial or unsplittable runs).
Chunk whole_query_chunk();

}  // namespace parmap
