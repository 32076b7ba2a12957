// Writes batches into a MariaDB table with multi-row INSERT statements.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "connect/mariadb/mariadb_connection.h"

namespace parmap::mariadb {

/// One LOAD DATA statement running on a thread of its own while a sink adds batches to it.
struct LoadStream;

/// Makes the session refuse every LOCAL INFILE request, which a server may send in answer to
/// any statement: only a sink's own LOAD DATA is answered, with its batch. Called at connect.
void serve_no_local_files(st_mysql* mysql);

/// Writes rows in the session's open transaction, by one of two statements:
///  - LOAD DATA LOCAL INFILE fed from memory (when the server allows local infile), one
///    statement for the sink's batches, streamed as they come: the server parses
///    tab-separated text, far cheaper than INSERT's SQL.
///    With LOCAL the server turns a refused value into a warning and a changed or skipped row,
///    so a statement with any warning, or fewer rows taken than sent, fails as Error(Data)
///    with the first warning (at the write after it, or at finish()), and the caller's
///    transaction or savepoint undoes it;
///  - multi-row INSERT statements of escaped literals, kStatementBytes each, otherwise.
/// A refused row fails its whole statement; the caller isolates the row. A value MariaDB
/// cannot hold (a date before year 0 or infinity, a NaN or infinite double) is refused here
/// with Error(Data) naming the column and the value, before anything is sent.
class MariadbRowSink final : public RowSink {
 public:
  /// Bytes of statement text per INSERT: far below max_allowed_packet's default (16 MiB), and
  /// large enough that the round trips cost little.
  static constexpr size_t kStatementBytes = 1 << 20;

  /// `quoted_table` and `quoted_columns` as the statements name them; `load`: the server
  /// allows LOAD DATA LOCAL INFILE.
  MariadbRowSink(MariadbConnection& conn, std::string table, std::string quoted_table,
                 std::vector<std::string> quoted_columns, bool load);

  ~MariadbRowSink() override;
  void write(const Batch& batch) override;
  int64_t finish() override;

 private:
  void insert(const Batch& batch);
  /// Adds the batch to the open LOAD DATA statement, or opens one: the server parses and
  /// stores each batch while the next is formatted, instead of waiting for one statement a
  /// batch.
  void load(const Batch& batch);
  /// Ends the open LOAD DATA statement (if any): waits for the server to take every row and
  /// refuses a statement that changed or skipped any (Error(Data), the first warning).
  void end_load();
  /// How a value is written: a SQL literal of an INSERT, or a field of LOAD DATA's text.
  enum class Form { Sql, Field };
  void append_value(std::string& out, const Column& column, size_t row, Form form) const;
  /// A finite double's text; refuses NaN and infinities.
  std::string double_text(const Column& column, double v) const;
  /// A date, time or timestamp's text; refuses what MariaDB's calendar does not hold.
  std::string temporal_text(const Column& column, size_t row) const;
  [[noreturn]] void refuse(const Column& column, const std::string& value, const char* why) const;
  void send(std::string& sql, size_t first, size_t rows);

  MariadbConnection& conn_;
  std::string table_;
  /// The LOAD DATA statement for a batch whose bytes columns are `bytes` (they travel as hex).
  const std::string& load_statement(const std::vector<bool>& bytes);

  std::string quoted_table_;
  std::vector<std::string> quoted_columns_;
  std::string insert_head_;  // "INSERT INTO `t` (`a`,`b`) VALUES "
  bool load_;
  std::vector<bool> load_bytes_;  // which columns load_head_ unhexes
  std::string load_head_;         // "LOAD DATA LOCAL INFILE ... (`a`,@v1) SET `b` = UNHEX(@v1)"
  size_t ncols_;
  int64_t written_ = 0;
  std::string buffer_;  // reused between statements
  size_t last_load_bytes_ = 0;  // the last batch's text, to reserve the next one's
  std::unique_ptr<LoadStream> stream_;  // the open LOAD DATA statement, if any
};

}  // namespace parmap::mariadb
