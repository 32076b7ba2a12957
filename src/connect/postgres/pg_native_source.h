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
#include "common/hash.h"
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

/// A table's rows in block order, from `COPY (SELECT ctid, * FROM table) TO STDOUT (FORMAT
/// binary)`: each row as the table's own binary COPY row, with its block number.
class PgPositionScan final : public PositionScan {
 public:
  PgPositionScan(const std::shared_ptr<Session>& session, std::string sql)
      : stream_(session, std::move(sql)) {}

  bool next(std::string_view& row, int64_t& position) override {
    std::string_view message;
    while (stream_.next(message)) {
      const PositionedRow cut = cut_positioned_row(stream_.owned(), message.size(), header_done_);
      if (cut.row.empty()) continue;  // the trailer
      row = cut.row;
      position = cut.block;
      return true;
    }
    return false;
  }
  std::string_view header() const override { return header_; }
  std::string_view trailer() const override { return trailer_; }
  uint64_t row_hash(std::string_view row) const override { return hash_bytes(row); }

 private:
  CopyOutStream stream_;
  bool header_done_ = false;
  std::string header_ = [] {
    std::string h;
    CopyEncoder::binary_header(h);
    return h;
  }();
  std::string trailer_ = [] {
    std::string t;
    CopyEncoder::binary_trailer(t);
    return t;
  }();
};

}  // namespace parmap::pg
