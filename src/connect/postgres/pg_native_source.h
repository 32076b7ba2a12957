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

namespace parmap::pg {

/// Yields a binary COPY stream's messages as they come, counting and hashing tuples.
class PgNativeSource final : public NativeSource {
 public:
  PgNativeSource(const std::shared_ptr<Session>& session, std::string sql)
      : stream_(session, std::move(sql)) {}

  bool next(std::string_view& data) override {
    if (!stream_.next(data)) return false;
    hasher_.feed(data);
    return true;
  }
  int64_t rows() const override { return hasher_.rows(); }
  uint64_t row_hash() const override { return hasher_.hash(); }

 private:
  CopyOutStream stream_;
  TupleHasher hasher_;
};

}  // namespace parmap::pg
