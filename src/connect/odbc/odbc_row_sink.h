// The ODBC RowSink: a prepared INSERT executed with parameter arrays of a batch's rows.
#pragma once

#include <sql.h>
#include <sqlext.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "connect/odbc/odbc_handles.h"
#include "parmap/connection.h"

namespace parmap::odbc {

/// Rows bound per execution of the INSERT (SQL_ATTR_PARAMSET_SIZE) at most.
inline constexpr size_t kMaxParamsetRows = 1000;

/// Inserts batches with one prepared INSERT ... VALUES (?, ...) executed once per parameter
/// array of up to kMaxParamsetRows rows, bound column-wise from the batch's typed columns:
/// integers, doubles and bools as C integers, doubles and bits; dates and timestamps as
/// ODBC structs (as text for SQLite, which stores them as text, for MySQL, whose driver leaks
/// structs in arrays, and for PostgreSQL's timestamptz, whose offset a struct cannot carry);
/// everything else as text, bytes as
/// binary. A date outside the structs' years 1 to 9999 binds its column as text for that
/// array. On SQLite a batch with a bytes column goes one row per execution: its driver gives
/// every row of an array the first row's byte length. Runs inside the caller's transaction: never
/// begins or commits. A row the target refuses fails the whole write with the driver's classified
/// Error (Data for a constraint). Owns its statement. Not thread-safe.
class OdbcRowSink final : public RowSink {
 public:
  OdbcRowSink(std::unique_ptr<Statement> stmt, std::string sql, std::string table, size_t ncols);

  void write(const Batch& batch) override;
  int64_t finish() override { return written_; }
  /// Rows per execution: kMaxParamsetRows, or 1 when the driver takes no parameter arrays.
  size_t paramset_rows() const { return paramset_rows_; }

 private:
  struct Buffer {
    std::vector<char> data;
    std::vector<SQLLEN> indicators;
  };

  // Binds rows [first, first + rows) of `column` as parameter `number`.
  void bind_column(const Column& column, SQLUSMALLINT number, size_t first, size_t rows,
                   Buffer& buffer);
  void bind_text(const Column& column, SQLUSMALLINT number, size_t first, size_t rows,
                 Buffer& buffer, bool binary);
  void execute(size_t rows, size_t first);

  std::unique_ptr<Statement> stmt_;
  std::string sql_;
  std::string table_;
  size_t ncols_;
  size_t paramset_rows_ = kMaxParamsetRows;
  std::vector<Buffer> buffers_;
  std::vector<SQLUSMALLINT> status_;
  SQLULEN processed_ = 0;
  int64_t written_ = 0;
};

}  // namespace parmap::odbc
