// The PostgreSQL RowSink: batches encoded for COPY FROM STDIN (binary, else text).
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "connect/postgres/pg_copy.h"
#include "connect/postgres/pg_copy_in_stream.h"
#include "parmap/batch.h"
#include "parmap/connection.h"
#include "parmap/error.h"

namespace parmap::pg {

/// Encodes batches for COPY FROM STDIN: binary when the encoder can, else text; a batch
/// needing the other format ends the running COPY and starts one in that format.
class PgRowSink final : public RowSink {
 public:
  PgRowSink(const std::shared_ptr<Session>& session, std::string copy_head, std::string table,
            std::vector<PgColumn> target)
      : ncols_(target.size()),
        encoder_(std::move(target)),
        copy_(session, table),
        copy_head_(std::move(copy_head)),
        table_(std::move(table)) {}

  void write(const Batch& batch) override {
    if (batch.num_columns() != ncols_) {
      throw Error(ErrorKind::Schema,
                  fmt::format("postgresql: copy into {}: the batch has {} columns, the sink {}",
                              table_, batch.num_columns(), ncols_),
                  {}, pg_context({}, table_));
    }
    if (batch.num_rows() == 0) return;
    const Mode want = encoder_.binary_ok(batch) ? Mode::Binary : Mode::Text;
    if (copy_.active() && want != mode_) end_copy();
    if (!copy_.active()) {
      mode_ = want;
      copy_.start(copy_head_ + (want == Mode::Binary ? " (FORMAT binary)" : " (FORMAT text)"));
      if (want == Mode::Binary) CopyEncoder::binary_header(buffer_);
    }
    if (mode_ == Mode::Binary) {
      encoder_.encode_binary(batch, buffer_);
    } else {
      encoder_.encode_text(batch, buffer_);
    }
    if (buffer_.size() >= kCopyBufferBytes) flush();
  }

  int64_t finish() override {
    if (copy_.active()) end_copy();
    return rows_;
  }

 private:
  enum class Mode { Binary, Text };

  void flush() {
    copy_.put(buffer_);
    buffer_.clear();
  }

  void end_copy() {
    if (mode_ == Mode::Binary) CopyEncoder::binary_trailer(buffer_);
    flush();
    rows_ += copy_.end();
  }

  size_t ncols_;
  CopyEncoder encoder_;
  CopyInStream copy_;
  std::string copy_head_;
  std::string table_;
  Mode mode_ = Mode::Binary;
  std::string buffer_;
  int64_t rows_ = 0;
};

}  // namespace parmap::pg
