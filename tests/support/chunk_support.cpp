// Chunk-size checks shared by the engines' tests.
#include "support/chunk_support.h"

#include <algorithm>
#include <limits>
#include <memory>

#include "exec/plan_probe.h"
#include "parmap/connection.h"
#include "plan/plan.h"

namespace parmap::test {

int64_t largest_estimated_chunk(const std::string& url, const std::string& sql,
                                const std::string& key, int64_t chunk_size) {
  std::unique_ptr<Connection> db = connection_factory(url)();
  const int64_t estimate = db->estimate_rows(sql);
  const int64_t n = std::max<int64_t>(1, (estimate + chunk_size - 1) / chunk_size);
  const int max_sample = static_cast<int>(std::clamp<int64_t>(n * 32, 1024, 200000));
  int64_t largest = 0;
  for (const Chunk& c : plan_chunks(db->key_stats(sql, key, max_sample), chunk_size)) {
    largest = std::max(largest, count_rows_upto(*db, sql, &c, std::numeric_limits<int64_t>::max()));
  }
  return largest;
}

}  // namespace parmap::test
