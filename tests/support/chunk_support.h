// Chunk-size checks shared by the engines' tests: what a plan cut from the estimate alone
// would have held.
#pragma once

#include <cstdint>
#include <string>

namespace parmap::test {

/// The largest chunk, in real rows, of the plan the estimate alone gives: the planner as it
/// was before it probed real rows (chunks from estimate_rows and key_stats through
/// plan_chunks, min_rows_for_parallel reached). Counts each chunk on `url`.
int64_t largest_estimated_chunk(const std::string& url, const std::string& sql,
                                const std::string& key, int64_t chunk_size);

}  // namespace parmap::test
