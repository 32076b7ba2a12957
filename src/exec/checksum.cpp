// Content checksums: row count plus the order-independent hash of every row of a query.
#include "parmap/parmap.h"

namespace parmap {

ContentChecksum content_checksum(Connection& db, const std::string& sql) {
  return content_checksum(db, sql, {}, {});
}

ContentChecksum content_checksum(Connection& db, const std::string& sql,
                                 const std::vector<Value>& params, const Transform& transform,
                                 const std::atomic<bool>* cancel, int64_t max_batch_bytes,
                                 RowHashVersion version) {
  ContentChecksum sum;
  auto source = db.open_source(sql, params, 10000, static_cast<size_t>(max_batch_bytes));
  for (Batch batch; source->next(batch);) {
    if (cancel && cancel->load()) throw Error(ErrorKind::Cancelled, "checksum cancelled");
    if (transform) transform(batch);
    sum.rows += static_cast<int64_t>(batch.num_rows());
    sum.hash += hash_rows(batch, version);
  }
  return sum;
}

}  // namespace parmap
