// The input side of one COPY ... FROM STDIN: start, send bytes, end.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>

#include "connect/postgres/pg_libpq.h"
#include "connect/postgres/pg_session.h"

namespace parmap::pg {

// Bytes handed to PQputCopyData at a time.
constexpr size_t kCopyBufferBytes = size_t{1} << 20;

/// The input side of COPY ... FROM STDIN: starts it, sends bytes, ends it and returns the
/// rows the server counted; aborts it when abandoned.
class CopyInStream {
 public:
  CopyInStream(const std::shared_ptr<Session>& session, std::string table)
      : session_(session), url_(session->url), table_(std::move(table)) {}
  ~CopyInStream() {
    if (!active_) return;
    if (const std::shared_ptr<Session> s = session_.lock(); s && s->conn) {
      PQputCopyEnd(s->conn.get(), "parmap abandoned the COPY");
      abandon_command(s->conn.get());
    }
  }
  CopyInStream(const CopyInStream&) = delete;
  CopyInStream& operator=(const CopyInStream&) = delete;

  bool active() const { return active_; }

  void start(std::string sql) {
    const std::shared_ptr<Session> s = live();
    sql_ = std::move(sql);
    ResultPtr result(PQexec(s->conn.get(), sql_.c_str()));
    if (!result || PQresultStatus(result.get()) != PGRES_COPY_IN) {
      throw_result_error(s->conn.get(), result.get(), s->url, fmt::format("copy into {}", table_),
                         sql_, table_);
    }
    active_ = true;
  }

  void put(std::string_view data) {
    const std::shared_ptr<Session> s = live();
    while (!data.empty()) {
      const size_t n = std::min(data.size(), kCopyBufferBytes);
      if (PQputCopyData(s->conn.get(), data.data(), static_cast<int>(n)) != 1) fail(*s);
      data.remove_prefix(n);
    }
  }

  /// Ends the COPY; returns the rows the server stored.
  int64_t end() {
    const std::shared_ptr<Session> s = live();
    PGconn* conn = s->conn.get();
    if (PQputCopyEnd(conn, nullptr) != 1) fail(*s);
    active_ = false;
    ResultPtr result(PQgetResult(conn));
    const bool ok = result && PQresultStatus(result.get()) == PGRES_COMMAND_OK;
    drain_results(conn);
    if (!ok) {
      if (result && !is_error_status(PQresultStatus(result.get()))) result.reset();
      throw_result_error(conn, result.get(), s->url, fmt::format("copy into {}", table_), sql_,
                         table_);
    }
    const char* tuples = PQcmdTuples(result.get());
    return tuples != nullptr ? std::strtoll(tuples, nullptr, 10) : 0;
  }

 private:
  std::shared_ptr<Session> live() const {
    std::shared_ptr<Session> s = session_.lock();
    if (!s || !s->conn) throw_closed(url_);
    return s;
  }

  // A refused PQputCopyData/PQputCopyEnd: the server may have ended the COPY with an error
  // (a row it refused), which is the better message; else the connection failed.
  [[noreturn]] void fail(Session& s) {
    active_ = false;
    PGconn* conn = s.conn.get();
    ResultPtr result(PQgetResult(conn));
    drain_results(conn);
    if (result && !is_error_status(PQresultStatus(result.get()))) {
      // Still in the COPY (or done without an error): end it, report the connection's error.
      if (PQresultStatus(result.get()) == PGRES_COPY_IN) abandon_command(conn);
      result.reset();
    }
    throw_result_error(conn, result.get(), s.url, fmt::format("copy into {}", table_), sql_,
                       table_);
  }

  std::weak_ptr<Session> session_;
  std::string url_;
  std::string table_;
  std::string sql_;
  bool active_ = false;
};

}  // namespace parmap::pg
