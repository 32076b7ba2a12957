// The libpq handle of one PostgreSQL session, shared weakly by its sources and sinks, and
// the parameters it is opened with.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "parmap/connection.h"

// libpq's handle types, declared here so that this header does not need <libpq-fe.h>.
struct pg_conn;
struct pg_result;

namespace parmap::pg {

/// Closes a connection with PQfinish.
struct ConnCloser {
  void operator()(pg_conn* conn) const noexcept;
};
/// Frees a result with PQclear.
struct ResultClearer {
  void operator()(pg_result* result) const noexcept;
};
/// An owned libpq connection.
using ConnPtr = std::unique_ptr<pg_conn, ConnCloser>;
/// An owned libpq result.
using ResultPtr = std::unique_ptr<pg_result, ResultClearer>;

/// The libpq handle and what every error message needs. Owned by the connection; its
/// sources and sinks hold weak references, so that one outliving close() fails cleanly
/// instead of touching a freed handle.
struct Session {
  ConnPtr conn;
  std::string url;  ///< masked, for messages
};

/// The keyword/value pairs given to PQconnectdbParams for a URL: host, port, dbname, user,
/// password (when the URL has one), every URL param as a libpq keyword (param names are
/// passed as given; libpq rejects unknown ones), and application_name=parmap, keepalives=1,
/// keepalives_idle=30, keepalives_interval=10, keepalives_count=3 (an idle session whose
/// peer is gone fails within about a minute) and connect_timeout=10 (a connection attempt
/// through a dead path fails instead of hanging) unless the URL sets them. Empty values are left
/// out, so that libpq falls back to PGHOST, PGPASSWORD, ~/.pgpass and the rest. Pure; exposed for
/// tests.
std::vector<std::pair<std::string, std::string>> connect_params(const ConnectionUrl& url);

}  // namespace parmap::pg
