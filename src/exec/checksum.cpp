// Content checksums: row count plus the order-independent hash of every row of a query.
#include "parmap/parmap.h"

namespace parmap {

ContentChecksum content_checksum(Connection& db, const std::string& sql) {
  ContentChecksum sum;
  auto source = db.open_source(sql, {}, 10000, 64u << 20);
  Batch batch;
  while (source->next(batch)) {
    sum.rows += static_cast<int64_t>(batch.num_rows());
    sum.hash += hash_rows(batch);
  }
  return sum;
}

}  // namespace parmap
