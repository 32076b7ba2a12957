// The PostgreSQL NativeSink: a binary COPY stream passed straight into COPY FROM STDIN.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "connect/postgres/pg_copy_in_stream.h"
#include "parmap/connection.h"

namespace parmap::pg {

/// Passes a binary COPY stream straight into COPY FROM STDIN.
class PgNativeSink final : public NativeSink {
 public:
  PgNativeSink(const std::shared_ptr<Session>& session, std::string table, std::string sql)
      : copy_(session, std::move(table)) {
    copy_.start(std::move(sql));
  }

  void write(std::string_view data) override { copy_.put(data); }
  int64_t finish() override { return copy_.active() ? copy_.end() : 0; }

 private:
  CopyInStream copy_;
};

}  // namespace parmap::pg
