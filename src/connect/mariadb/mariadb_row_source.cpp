// Streams a query's rows off a MariaDB session, a batch at a time.
#include "connect/mariadb/mariadb_row_source.h"

#include <mysql.h>

#include <algorithm>

#include "connect/driver_helpers.h"

namespace parmap::mariadb {
namespace {

constexpr size_t kReserveRows = 4096;
constexpr size_t kCellOverhead = sizeof(std::string) + 1;

}  // namespace

MariadbRowSource::MariadbRowSource(MariadbConnection& conn, ResultPtr result, std::string sql,
                                   size_t batch_rows, size_t max_batch_bytes)
    : conn_(conn),
      result_(std::move(result)),
      sql_(std::move(sql)),
      batch_rows_(batch_rows),
      max_batch_bytes_(max_batch_bytes) {
  schema_ = schema_of_result(result_.get(), conn_.read_options());
}

MariadbRowSource::~MariadbRowSource() {
  if (result_) {
    // Freeing an unfinished stream reads every remaining row off the socket first: the
    // session is dropped, and the free then ends at once on the closed socket.
    conn_.abandon();
    result_.reset();
  }
}

bool MariadbRowSource::next(Batch& out) {
  start_batch(out, schema_, std::min(batch_rows_, kReserveRows));
  if (!result_) return false;
  const size_t ncols = schema_.columns.size();
  const ZeroDates zero_dates = conn_.read_options().zero_dates;
  size_t rows = 0;
  size_t bytes = 0;
  while (rows < batch_rows_) {
    MYSQL_ROW row = mysql_fetch_row(result_.get());
    if (row == nullptr) {
      MYSQL* m = conn_.handle();
      if (mysql_errno(m) != 0) {
        Error e = conn_.last_error("reading rows", sql_);
        result_.reset();
        throw e;
      }
      result_.reset();
      break;
    }
    const unsigned long* lengths = mysql_fetch_lengths(result_.get());
    for (size_t i = 0; i < ncols; ++i) {
      append_cell(out.columns[i], row[i], lengths[i], zero_dates);
      bytes += kCellOverhead + lengths[i];
    }
    ++rows;
    if (max_batch_bytes_ != 0 && bytes >= max_batch_bytes_) break;
  }
  return rows > 0;
}

}  // namespace parmap::mariadb
