// The typed path's RowSource over rows already read in PostgreSQL's binary COPY format (the
// one pass's): no session, no libpq.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "connect/postgres/pg_copy.h"
#include "connect/postgres/pg_wire.h"
#include "parmap/batch.h"
#include "parmap/connection.h"

namespace parmap::pg {

// Per-row bookkeeping for the batch byte bound, on top of the COPY bytes: a null-mask byte
// and a value slot per column.
constexpr size_t kPerValueBytes = sizeof(int64_t) + 1;

/// Decodes rows already read in binary COPY format (the one pass's), a batch at a time.
class PgBytesRowSource final : public RowSource {
 public:
  PgBytesRowSource(std::vector<PgColumn> columns, std::string_view header, std::string_view rows,
                   size_t batch_rows, size_t max_batch_bytes)
      : ncols_(columns.size()),
        decoder_(std::move(columns)),
        rows_(rows),
        batch_rows_(batch_rows),
        max_batch_bytes_(max_batch_bytes) {
    Batch none = decoder_.make_batch();
    decoder_.feed(header, none);
  }

  bool next(Batch& out) override {
    // Whole rows up to the batch's bounds, decoded in place in one call.
    out = decoder_.make_batch();
    const size_t start = at_;
    size_t rows = 0;
    while (at_ < rows_.size() && rows < batch_rows_ &&
           (max_batch_bytes_ == 0 ||
            (at_ - start) + rows * ncols_ * kPerValueBytes < max_batch_bytes_)) {
      at_ = row_end(at_);
      ++rows;
    }
    if (at_ > start && decoder_.feed(rows_.substr(start, at_ - start), out) != rows) {
      wire::malformed("the pass's rows did not decode as whole rows");
    }
    return out.num_rows() > 0;
  }

 private:
  /// Where the row starting at `at` ends: its field count, then each field's length (-1 for
  /// NULL) and bytes.
  size_t row_end(size_t at) const {
    auto need = [&](size_t bytes) {
      if (rows_.size() - at < bytes) wire::malformed("the pass's rows end inside a row");
    };
    need(2);
    const auto fields = static_cast<int16_t>(wire::ld16(rows_.data() + at));
    if (fields < 0) wire::malformed("the pass's rows hold a trailer");
    at += 2;
    for (int16_t f = 0; f < fields; ++f) {
      need(4);
      const auto length = static_cast<int32_t>(wire::ld32(rows_.data() + at));
      at += 4;
      if (length > 0) {
        need(static_cast<size_t>(length));
        at += static_cast<size_t>(length);
      }
    }
    return at;
  }

  size_t ncols_;
  CopyDecoder decoder_;
  std::string_view rows_;
  size_t at_ = 0;
  size_t batch_rows_;
  size_t max_batch_bytes_;
};

}  // namespace parmap::pg
