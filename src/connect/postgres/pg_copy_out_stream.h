// The output side of one COPY ... TO STDOUT, message by message.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "connect/postgres/pg_libpq.h"
#include "connect/postgres/pg_session.h"

namespace parmap::pg {

/// The output side of one COPY ... TO STDOUT: yields each CopyData message in turn, checks the
/// command's final result, and cancels the COPY when abandoned half-way.
class CopyOutStream {
 public:
  CopyOutStream(const std::shared_ptr<Session>& session, std::string sql)
      : session_(session), url_(session->url), sql_(std::move(sql)) {}
  ~CopyOutStream() {
    buffer_.reset();
    if (done_) return;
    if (const std::shared_ptr<Session> s = session_.lock(); s && s->conn) {
      abandon_command(s->conn.get());
    }
  }
  CopyOutStream(const CopyOutStream&) = delete;
  CopyOutStream& operator=(const CopyOutStream&) = delete;

  /// Points `piece` at the next message (valid until the next call); false at the end.
  bool next(std::string_view& piece) {
    buffer_.reset();
    if (done_) return false;
    const std::shared_ptr<Session> s = session_.lock();
    if (!s || !s->conn) {
      done_ = true;
      throw_closed(url_);
    }
    PGconn* conn = s->conn.get();
    char* raw = nullptr;
    const int n = PQgetCopyData(conn, &raw, 0);
    if (n > 0) {
      buffer_.reset(raw);
      piece = std::string_view(raw, static_cast<size_t>(n));
      return true;
    }
    done_ = true;
    // -1: the COPY ended; its result says whether it succeeded. -2: an error.
    ResultPtr result(PQgetResult(conn));
    const bool ok = n == -1 && result && PQresultStatus(result.get()) == PGRES_COMMAND_OK;
    // Leave the session ready for the next command (also before throwing).
    drain_results(conn);
    if (!ok) {
      if (result && !is_error_status(PQresultStatus(result.get()))) result.reset();
      throw_result_error(conn, result.get(), url_, "reading rows", sql_);
    }
    return false;
  }

  /// The last message's bytes, which this stream owns until the next call: a reader may
  /// rewrite them in place.
  char* owned() { return buffer_.get(); }

 private:
  std::weak_ptr<Session> session_;
  std::string url_;
  std::string sql_;
  PqBuffer buffer_;
  bool done_ = false;
};

}  // namespace parmap::pg
