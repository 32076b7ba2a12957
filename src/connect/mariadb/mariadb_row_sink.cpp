// Writes batches into a MariaDB table: LOAD DATA LOCAL INFILE from memory, or multi-row INSERT.
#include "connect/mariadb/mariadb_row_sink.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <mysql.h>

#include <algorithm>
#include <cmath>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "common/temporal.h"
#include "connect/mariadb/mariadb_errors.h"

namespace parmap::mariadb {
namespace {

// A date or timestamp MariaDB's DATE and DATETIME hold: years 0000 to 9999, no infinities.
bool fits_mariadb_calendar(const std::string& text) {
  return text.size() >= 10 && text[4] == '-' && text.find(" BC") == std::string::npos &&
         text.find("infinity") == std::string::npos;
}

int infile_init(void** ptr, const char* /*filename*/, void* userdata) {
  *ptr = userdata;
  // No stream: a request the sink did not make (a hostile server asking for a file) is refused.
  return userdata == nullptr ? 1 : 0;
}

int infile_read(void* ptr, char* buf, unsigned int len);

void infile_end(void* /*ptr*/) {}

int infile_error(void* /*ptr*/, char* message, unsigned int len) {
  std::snprintf(message, len, "parmap stopped streaming the rows");
  return 2000;
}

// Escapes a field for LOAD DATA's default format: backslash, tab, newline, carriage return
// and NUL are written as backslash sequences; every other byte passes as it is.
void append_escaped_field(std::string& out, std::string_view bytes) {
  // Runs of plain bytes are appended whole: most fields have nothing to escape.
  size_t start = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    const char* escape = nullptr;
    switch (bytes[i]) {
      case '\\':
        escape = "\\\\";
        break;
      case '\t':
        escape = "\\t";
        break;
      case '\n':
        escape = "\\n";
        break;
      case '\r':
        escape = "\\r";
        break;
      case '\0':
        escape = "\\0";
        break;
      default:
        continue;
    }
    out.append(bytes.data() + start, i - start);
    out.append(escape, 2);
    start = i + 1;
  }
  out.append(bytes.data() + start, bytes.size() - start);
}

void append_int(std::string& out, int64_t v) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, v).ptr;
  out.append(digits, static_cast<size_t>(end - digits));
}

/// Batches formatted and waiting to be sent, at most: one being formatted, these, and one
/// being sent bound the sink's memory.
constexpr size_t kQueuedBatches = 2;

}  // namespace

struct LoadStream {
  MYSQL* mysql = nullptr;
  std::string statement;
  std::vector<bool> bytes;  // which columns travel as hex
  std::thread thread;       // runs the statement, which reads the rows through infile_read
  std::mutex mu;
  std::condition_variable cv;
  // Under mu:
  std::deque<std::string> queue;  // formatted batches not yet sent
  std::string spare;              // a sent batch's buffer, for the next batch's text
  bool closed = false;            // no more batches: the statement's file ends after the queue
  bool aborted = false;           // the sink is dropped: the file ends with an error
  bool done = false;              // the statement returned
  int failed = 0;                 // mysql_real_query's answer
  size_t rows = 0;                // rows queued
  // The statement's thread's own:
  std::string current;  // the batch being sent
  size_t pos = 0;
};

namespace {

// The "file" of a sink's LOAD DATA: its batches' text as write() queues them.
int infile_read(void* ptr, char* buf, unsigned int len) {
  auto* s = static_cast<LoadStream*>(ptr);
  if (s == nullptr) return -1;
  if (s->pos == s->current.size()) {
    std::unique_lock lock(s->mu);
    s->cv.wait(lock, [s] { return !s->queue.empty() || s->closed || s->aborted; });
    if (s->aborted) return -1;
    if (s->queue.empty()) return 0;  // closed and sent: the end of the file
    // The batch sent is kept for the next one's text: a large string freed and allocated
    // again costs fresh pages (page faults) each time.
    s->current.swap(s->queue.front());
    s->spare = std::move(s->queue.front());
    s->queue.pop_front();
    s->pos = 0;
    s->cv.notify_all();
  }
  const size_t n = std::min<size_t>(len, s->current.size() - s->pos);
  std::memcpy(buf, s->current.data() + s->pos, n);
  s->pos += n;
  return static_cast<int>(n);
}

}  // namespace

void serve_no_local_files(MYSQL* mysql) {
  mysql_set_local_infile_handler(mysql, infile_init, infile_read, infile_end, infile_error,
                                 nullptr);
}

MariadbRowSink::MariadbRowSink(MariadbConnection& conn, std::string table,
                               std::string quoted_table, std::vector<std::string> quoted_columns,
                               bool load)
    : conn_(conn),
      table_(std::move(table)),
      quoted_table_(std::move(quoted_table)),
      quoted_columns_(std::move(quoted_columns)),
      load_(load),
      ncols_(quoted_columns_.size()) {
  insert_head_ = fmt::format("INSERT INTO {} ({}) VALUES ", quoted_table_,
                             fmt::join(quoted_columns_, ","));
}

const std::string& MariadbRowSink::load_statement(const std::vector<bool>& bytes) {
  if (!load_head_.empty() && bytes == load_bytes_) return load_head_;
  // The text is read as UTF-8, which MariaDB's own types (UUID, INET6) need; bytes come as
  // hex and are unhexed, so that no byte sequence is taken for a character.
  std::vector<std::string> targets, sets;
  for (size_t c = 0; c < ncols_; ++c) {
    if (bytes[c]) {
      targets.push_back(fmt::format("@b{}", c));
      sets.push_back(fmt::format("{} = UNHEX(@b{})", quoted_columns_[c], c));
    } else {
      targets.push_back(quoted_columns_[c]);
    }
  }
  load_head_ = fmt::format(
      "LOAD DATA LOCAL INFILE 'parmap-batch' INTO TABLE {} CHARACTER SET utf8mb4 "
      "FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ({}){}{}",
      quoted_table_, fmt::join(targets, ","), sets.empty() ? "" : " SET ",
      fmt::join(sets, ", "));
  load_bytes_ = bytes;
  return load_head_;
}

void MariadbRowSink::refuse(const Column& column, const std::string& value,
                            const char* why) const {
  throw Error(ErrorKind::Data,
              fmt::format("mariadb {}: insert into {}: column {}: value {} {}", conn_.where(),
                          table_, column.name, value, why),
              {}, ErrorContext{"mariadb", table_, {}, {}});
}

std::string MariadbRowSink::temporal_text(const Column& column, size_t row) const {
  if (column.type == ColumnType::Time) return format_time(column.ints[row]);
  // TIMESTAMP WITH TIME ZONE values are UTC, and so is the session's time zone.
  const std::string text = column.type == ColumnType::Date
                               ? format_date(column.ints[row])
                               : format_timestamp(column.ints[row], false);
  if (!fits_mariadb_calendar(text)) {
    refuse(column, text, "is outside MariaDB's calendar (years 0000 to 9999, no infinity)");
  }
  return text;
}

std::string MariadbRowSink::double_text(const Column& column, double v) const {
  if (!std::isfinite(v)) {
    refuse(column, fmt::format("{}", v), "cannot be stored: MariaDB has no NaN or infinity");
  }
  return fmt::format("{}", v);  // the shortest text that reads back as the same double
}

void MariadbRowSink::append_value(std::string& out, const Column& column, size_t row,
                                  Form form) const {
  const bool sql = form == Form::Sql;
  const char* null = sql ? "NULL" : "\\N";
  auto text = [&](std::string_view t) {
    if (sql) {
      out += '\'';
      conn_.append_escaped(out, t);
      out += '\'';
    } else {
      append_escaped_field(out, t);
    }
  };
  auto bytes = [&](std::string_view b) {
    if (sql) {
      out += "_binary'";
      conn_.append_escaped(out, b);
      out += '\'';
    } else {
      // Unhexed by the statement (load_statement), so that no byte is taken for a character.
      static constexpr char kHex[] = "0123456789ABCDEF";
      const size_t at = out.size();
      out.resize(at + 2 * b.size());
      char* hex = out.data() + at;
      for (const unsigned char c : b) {
        *hex++ = kHex[c >> 4];
        *hex++ = kHex[c & 15];
      }
    }
  };
  if (column.is_null(row)) {
    out += null;
    return;
  }
  switch (column.type) {
    case ColumnType::Bool:
    case ColumnType::Int64:
      append_int(out, column.ints[row]);
      return;
    case ColumnType::Double:
      out += double_text(column, column.doubles[row]);
      return;
    case ColumnType::Date:
    case ColumnType::Timestamp:
    case ColumnType::TimestampTz:
    case ColumnType::Time:
      text(temporal_text(column, row));
      return;
    case ColumnType::Blob:
      bytes(column.strings[row]);
      return;
    case ColumnType::Any: {
      // write() never loads a batch whose mixed-type column holds bytes: those go as SQL.
      const Value& v = column.values[row];
      if (v.is_null()) {
        out += null;
      } else if (v.is_int()) {
        append_int(out, v.as_int());
      } else if (v.is_double()) {
        out += double_text(column, v.as_double());
      } else if (v.is_text()) {
        text(v.as_text());
      } else {
        bytes(v.as_blob().bytes);
      }
      return;
    }
    case ColumnType::Text:
    case ColumnType::Numeric:
    case ColumnType::Uuid:
    case ColumnType::Json:
    case ColumnType::Interval:
    case ColumnType::Array:
      text(column.strings[row]);
      return;
  }
}

void MariadbRowSink::write(const Batch& batch) {
  if (batch.num_columns() != ncols_) {
    throw Error(ErrorKind::Schema,
                fmt::format("mariadb {}: insert into {}: the batch has {} columns, the sink {}",
                            conn_.where(), table_, batch.num_columns(), ncols_),
                {}, ErrorContext{"mariadb", table_, {}, {}});
  }
  if (batch.num_rows() == 0) return;
  // A mixed-type column holding bytes has no one form in a text file: those batches insert.
  bool mixed_bytes = false;
  for (const Column& c : batch.columns) {
    if (c.type != ColumnType::Any) continue;
    for (const Value& v : c.values) mixed_bytes = mixed_bytes || v.is_blob();
  }
  if (load_ && !mixed_bytes) {
    load(batch);
  } else {
    end_load();  // the rows before these first
    insert(batch);
  }
}

MariadbRowSink::~MariadbRowSink() {
  if (!stream_) return;
  // Dropped with its statement open (a failed read, a cancel): the file ends with an error and
  // the caller's rollback undoes what the server took.
  {
    std::lock_guard lock(stream_->mu);
    stream_->aborted = true;
  }
  stream_->cv.notify_all();
  stream_->thread.join();
  serve_no_local_files(stream_->mysql);
}

int64_t MariadbRowSink::finish() {
  end_load();
  return written_;
}

void MariadbRowSink::load(const Batch& batch) {
  std::vector<bool> bytes(ncols_);
  for (size_t c = 0; c < ncols_; ++c) bytes[c] = batch.columns[c].type == ColumnType::Blob;
  if (stream_ && stream_->bytes != bytes) end_load();
  std::string text;
  if (stream_) {
    std::lock_guard lock(stream_->mu);
    text = std::move(stream_->spare);
    text.clear();
  }
  text.reserve(last_load_bytes_);
  const size_t rows = batch.num_rows();
  for (size_t r = 0; r < rows; ++r) {
    for (size_t c = 0; c < ncols_; ++c) {
      if (c > 0) text += '\t';
      append_value(text, batch.columns[c], r, Form::Field);
    }
    text += '\n';
  }
  last_load_bytes_ = text.size();
  if (!stream_) {
    auto s = std::make_unique<LoadStream>();
    s->mysql = conn_.handle();
    s->statement = load_statement(bytes);
    s->bytes = std::move(bytes);
    mysql_set_local_infile_handler(s->mysql, infile_init, infile_read, infile_end, infile_error,
                                   s.get());
    LoadStream* raw = s.get();
    s->thread = std::thread([raw] {
      const int failed = mysql_real_query(raw->mysql, raw->statement.data(), raw->statement.size());
      {
        std::lock_guard lock(raw->mu);
        raw->failed = failed;
        raw->done = true;
      }
      raw->cv.notify_all();
    });
    stream_ = std::move(s);
  }
  {
    std::unique_lock lock(stream_->mu);
    stream_->cv.wait(lock, [this] { return stream_->queue.size() < kQueuedBatches || stream_->done; });
    if (!stream_->done) {
      stream_->queue.push_back(std::move(text));
      stream_->rows += rows;
      lock.unlock();
      stream_->cv.notify_all();
      return;
    }
  }
  // The statement ended before its file did: the server refused it, or the connection broke.
  end_load();
  throw Error(ErrorKind::Internal,
              fmt::format("mariadb {}: load into {} ended before its rows were sent",
                          conn_.where(), table_));
}

void MariadbRowSink::end_load() {
  if (!stream_) return;
  const std::unique_ptr<LoadStream> s = std::move(stream_);
  {
    std::lock_guard lock(s->mu);
    s->closed = true;
  }
  s->cv.notify_all();
  s->thread.join();
  serve_no_local_files(s->mysql);
  const std::string what = fmt::format("load into {} ({} rows)", table_, s->rows);
  if (s->failed != 0) throw conn_.last_error(what, s->statement, table_);
  const uint64_t taken = mysql_affected_rows(s->mysql);
  if (mysql_warning_count(s->mysql) > 0 || taken != s->rows) {
    // LOCAL made a refusal a warning: the first one says which value.
    std::string message = fmt::format("{} of {} rows taken", taken, s->rows);
    std::string code;
    try {
      const auto warnings = conn_.query("SHOW WARNINGS LIMIT 1");
      if (!warnings.empty() && warnings[0].size() >= 3) {
        code = warnings[0][1].is_int() ? std::to_string(warnings[0][1].as_int()) : "";
        message = warnings[0][2].is_text() ? warnings[0][2].as_text() : message;
      }
    } catch (const Error&) {
      // The refusal is the error to report; the warning text only explains it.
    }
    throw Error(ErrorKind::Data,
                fmt::format("mariadb {}: {} failed: {}{}", conn_.where(), what, message,
                            refused_value_hint(message)),
                code,
                ErrorContext{"mariadb", table_, {}, s->statement.substr(0, 200)});
  }
  written_ += static_cast<int64_t>(s->rows);
}

void MariadbRowSink::insert(const Batch& batch) {
  const size_t rows = batch.num_rows();
  size_t first = 0;
  buffer_.assign(insert_head_);
  for (size_t r = 0; r < rows; ++r) {
    if (r > first) buffer_ += ',';
    buffer_ += '(';
    for (size_t c = 0; c < ncols_; ++c) {
      if (c > 0) buffer_ += ',';
      append_value(buffer_, batch.columns[c], r, Form::Sql);
    }
    buffer_ += ')';
    if (buffer_.size() >= kStatementBytes) {
      send(buffer_, first, r + 1 - first);
      first = r + 1;
      buffer_.assign(insert_head_);
    }
  }
  if (rows > first) send(buffer_, first, rows - first);
}

void MariadbRowSink::send(std::string& sql, size_t first, size_t rows) {
  MYSQL* m = conn_.handle();
  if (mysql_real_query(m, sql.data(), sql.size()) != 0) {
    throw conn_.last_error(
        fmt::format("insert into {} (batch rows {}..{})", table_, first, first + rows - 1),
        sql, table_);
  }
  // The rows the server inserted, as it counts them: the caller compares them with those sent.
  written_ += static_cast<int64_t>(mysql_affected_rows(m));
}

}  // namespace parmap::mariadb
