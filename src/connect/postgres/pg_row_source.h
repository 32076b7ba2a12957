// The PostgreSQL RowSource: a binary COPY stream decoded into batches.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "connect/postgres/pg_bytes_row_source.h"
#include "connect/postgres/pg_copy.h"
#include "connect/postgres/pg_copy_out_stream.h"
#include "parmap/batch.h"
#include "parmap/connection.h"

namespace parmap::pg {

/// Decodes a binary COPY stream into batches.
class PgRowSource final : public RowSource {
 public:
  PgRowSource(const std::shared_ptr<Session>& session, std::string sql,
              std::vector<PgColumn> columns, size_t batch_rows, size_t max_batch_bytes)
      : ncols_(columns.size()),
        decoder_(std::move(columns)),
        stream_(session, std::move(sql)),
        batch_rows_(batch_rows),
        max_batch_bytes_(max_batch_bytes) {}

  bool next(Batch& out) override {
    out = decoder_.make_batch();
    size_t rows = 0;
    size_t bytes = 0;
    std::string_view piece;
    while (rows < batch_rows_ && (max_batch_bytes_ == 0 || bytes < max_batch_bytes_)) {
      if (!stream_.next(piece)) break;
      const size_t added = decoder_.feed(piece, out);
      rows += added;
      bytes += piece.size() + added * ncols_ * kPerValueBytes;
    }
    return out.num_rows() > 0;
  }

 private:
  size_t ncols_;
  CopyDecoder decoder_;
  CopyOutStream stream_;
  size_t batch_rows_;
  size_t max_batch_bytes_;
};

}  // namespace parmap::pg
