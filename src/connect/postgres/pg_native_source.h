// The PostgreSQL NativeSource: a binary COPY stream's bytes as they come, rows counted, hashed.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "connect/postgres/pg_copy.h"
#include "connect/postgres/pg_copy_out_stream.h"
#include "parmap/connection.h"
#include "parmap/error.h"

namespace parmap::pg {

/// Yields a binary COPY stream's messages as they come, counting and hashing tuples.
class PgNativeSource final : public NativeSource {
 public:
  PgNativeSource(const std::shared_ptr<Session>& session, std::string sql)
      : stream_(session, std::move(sql)) {}

  bool next(std::string_view& data) override {
    if (!stream_.next(data)) return false;
    hasher_.feed(data);
    // The server sends the header with the first tuple and the trailer's two bytes at once,
    // after the last tuple: both are cut here from whole messages when not wanted.
    if (!keep_header_ && !header_cut_) {
      if (data.size() < kBinaryHeaderSize ||
          data.substr(kBinaryHeaderSize - 4, 4) != std::string_view("\0\0\0\0", 4)) {
        throw Error(ErrorKind::Internal,
                    "COPY stream: the first message does not start with a plain binary header");
      }
      data.remove_prefix(kBinaryHeaderSize);
      header_cut_ = true;
    }
    if (!keep_trailer_ && hasher_.at_trailer() && data.size() >= 2) data.remove_suffix(2);
    return true;
  }
  void set_framing(bool keep_header, bool keep_trailer) override {
    keep_header_ = keep_header;
    keep_trailer_ = keep_trailer;
  }
  int64_t rows() const override { return hasher_.rows(); }
  uint64_t row_hash() const override { return hasher_.hash(); }

 private:
  /// Signature, flags and an empty header extension: what the server sends.
  static constexpr size_t kBinaryHeaderSize = 19;
  CopyOutStream stream_;
  TupleHasher hasher_;
  bool keep_header_ = true, keep_trailer_ = true, header_cut_ = false;
};

}  // namespace parmap::pg
