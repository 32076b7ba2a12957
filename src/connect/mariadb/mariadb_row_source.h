// Streams a query's rows off a MariaDB session, a batch at a time (mysql_use_result).
#pragma once

#include <string>

#include "connect/mariadb/mariadb_connection.h"

namespace parmap::mariadb {

/// Reads an unbuffered result: the server sends rows as they are fetched, so memory holds one
/// batch. The session takes no other statement until the stream ends; a stream dropped
/// before its end drops the session (MariadbConnection::abandon) rather than read the rest.
class MariadbRowSource final : public RowSource {
 public:
  MariadbRowSource(MariadbConnection& conn, ResultPtr result, std::string sql, size_t batch_rows,
                   size_t max_batch_bytes);
  ~MariadbRowSource() override;
  MariadbRowSource(const MariadbRowSource&) = delete;
  MariadbRowSource& operator=(const MariadbRowSource&) = delete;

  bool next(Batch& out) override;

 private:
  MariadbConnection& conn_;
  ResultPtr result_;  // null once every row is read
  std::string sql_;
  TableSchema schema_;
  size_t batch_rows_;
  size_t max_batch_bytes_;
};

}  // namespace parmap::mariadb
