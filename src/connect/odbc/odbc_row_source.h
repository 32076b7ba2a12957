// The ODBC RowSource: block (array) fetches of an executed statement into typed batches.
#pragma once

#include <sql.h>
#include <sqlext.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "connect/driver_helpers.h"
#include "connect/odbc/odbc_handles.h"
#include "connect/odbc/odbc_params.h"
#include "connect/odbc/odbc_values.h"
#include "parmap/connection.h"

namespace parmap::odbc {

/// Rows a block fetch asks for at most, and the bytes its bound buffers may take.
inline constexpr size_t kMaxRowsetRows = 1024;
inline constexpr size_t kRowsetBytes = 8 * 1024 * 1024;
/// Text and byte columns described as at most this long are bound into the rowset; longer or
/// unbounded ones, and those whose described size a value may exceed (PostgreSQL's text, varchar
/// and numeric, MySQL's TEXT, every SQLite text: SQLite does not enforce a length) are read with
/// SQLGetData, which every driver supports only one row at a time.
inline constexpr size_t kMaxBoundChars = 4000;

/// How the query of a source (OdbcConnection::exact_text_query) presents a column that its driver
/// would change or describe as another type.
struct TextColumn {
  enum class Form {
    None,      ///< as the driver describes it
    Exact,     ///< exact text the query made, parsed into `type` (Double, Date, Timestamp, ...)
    Verbatim,  ///< the driver's text, taken as a value of `type` (Json, Interval, Array)
    Decimal,   ///< SQLite: "r" and the 20-digit text of a REAL, or "t" and any other value's text
  };
  Form form = Form::None;
  ColumnType type = ColumnType::Any;
  /// Decimal into Numeric: the precision and scale every value must fit (no target could
  /// store more digits unchanged).
  int precision = 0, scale = 0;
};

/// Reads an executed statement's rows: every column bound column-wise into arrays of
/// rowset_rows() rows (SQL_ATTR_ROW_ARRAY_SIZE), one SQLFetch per rowset; integers, doubles,
/// dates and timestamps bound as C integers, doubles and ODBC structs, text and bytes as
/// character and binary buffers. A value longer than its bound buffer (a driver that
/// under-reported a column's size) is an Error(Internal) naming the column, never a truncated
/// value. Columns whose `text_columns` entry is Exact (Double, Date, Timestamp or TimestampTz)
/// arrive as text the query made (OdbcConnection::exact_text_query) and are parsed into that
/// type; text that does not parse stays text (the column becomes Any), so that nothing is
/// silently changed. Verbatim columns are the driver's text typed as the catalog says (a
/// PostgreSQL jsonb, interval or array). Decimal columns (a SQLite NUMERIC, which its driver reads
/// as a double) are the shortest decimal of a REAL that reads back as the same double, or the
/// stored text; into numeric(p,s) a value with more digits than it holds (or no decimal) is an
/// Error(Data) naming the column and the value. MySQL dates and datetimes are read as text too
/// (MariaDB Connector/ODBC hands a zero date over as NULL; as text it is refused, or made NULL by
/// `zero_dates`, as natively), and MySQL BIT(n) arrives as its bytes and is read as the integer
/// they spell. Owns the statement and its parameters. Not thread-safe.
class OdbcRowSource final : public RowSource {
 public:
  OdbcRowSource(std::unique_ptr<Statement> stmt, std::unique_ptr<ParamBinder> params,
                std::string sql, size_t batch_rows, size_t max_batch_bytes,
                std::vector<TextColumn> text_columns = {},
                ZeroDates zero_dates = ZeroDates::Refuse);
  ~OdbcRowSource() override;

  bool next(Batch& out) override;
  /// Rows per fetch: 1 when a column is read with SQLGetData.
  size_t rowset_rows() const { return rowset_rows_; }

 private:
  struct Bound {
    ResultColumn column;
    bool bound = false;        // false: read with SQLGetData
    enum class Text { No, Double, Temporal, Bits, Decimal };
    Text text = Text::No;      // what a value carried as text is parsed into
    int precision = 0, scale = 0;  // Text::Decimal into Numeric: the digits a value may have
    SQLSMALLINT c_type = 0;    // the C type bound or read
    size_t width = 0;          // bytes per row in `data`
    std::vector<char> data;
    std::vector<SQLLEN> indicators;
  };

  void bind_columns();
  bool fetch_rowset();
  // Appends row `row` of the rowset's column `index` to `column`; returns the bytes it holds.
  size_t append_cell(Column& column, size_t index, size_t row);
  // Text::Decimal: appends the value `bytes` spell; returns the bytes it holds.
  size_t append_decimal(Column& column, const Bound& b, std::string_view bytes);

  std::unique_ptr<Statement> stmt_;
  std::unique_ptr<ParamBinder> params_;
  std::string sql_;
  size_t batch_rows_;
  size_t max_batch_bytes_;
  std::vector<TextColumn> text_columns_;
  ZeroDates zero_dates_;
  std::vector<Bound> columns_;
  std::string scratch_;  // pieces of values read with SQLGetData
  size_t rowset_rows_ = 1;
  SQLULEN fetched_ = 0;  // rows in the current rowset
  std::vector<SQLUSMALLINT> row_status_;
  size_t position_ = 0;  // next row of the rowset to hand out
  bool done_ = false;
};

}  // namespace parmap::odbc
