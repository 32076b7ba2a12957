// Writes batches into a MariaDB table with multi-row INSERT statements.
#pragma once

#include <string>

#include "connect/mariadb/mariadb_connection.h"

namespace parmap::mariadb {

/// Inserts rows as escaped literals, as many rows a statement as fit in kStatementBytes, in
/// the session's open transaction. A refused row fails its whole statement, which InnoDB
/// rolls back alone; the caller isolates the row. A value MariaDB cannot hold (a date before
/// year 0 or infinity, a NaN or infinite double) is refused here with Error(Data) naming the
/// column and the value, before anything is sent.
class MariadbRowSink final : public RowSink {
 public:
  /// Bytes of statement text per INSERT: far below max_allowed_packet's default (16 MiB), and
  /// large enough that the round trips cost little.
  static constexpr size_t kStatementBytes = 1 << 20;

  MariadbRowSink(MariadbConnection& conn, std::string table, std::string insert_head,
                 size_t ncols);

  void write(const Batch& batch) override;
  int64_t finish() override { return written_; }

 private:
  void append_cell(std::string& sql, const Column& column, size_t row) const;
  void send(std::string& sql, size_t first, size_t rows);

  MariadbConnection& conn_;
  std::string table_;
  std::string head_;  // "INSERT INTO `t` (`a`,`b`) VALUES "
  size_t ncols_;
  int64_t written_ = 0;
  std::string sql_;  // reused between statements
};

}  // namespace parmap::mariadb
