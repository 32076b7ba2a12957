// The libpq handle of one PostgreSQL session and the parameters it is opened with.
#include "connect/postgres/pg_session.h"

#include <libpq-fe.h>

#include <cstdlib>
#include <string>

namespace parmap::pg {

void ConnCloser::operator()(pg_conn* conn) const noexcept { PQfinish(conn); }
void ResultClearer::operator()(pg_result* result) const noexcept { PQclear(result); }

std::vector<std::pair<std::string, std::string>> connect_params(const ConnectionUrl& url) {
  std::vector<std::pair<std::string, std::string>> out;
  auto set = [&out](const std::string& key, const std::string& value) {
    if (value.empty()) return;
    for (auto& [k, v] : out) {
      if (k == key) {
        v = value;
        return;
      }
    }
    out.emplace_back(key, value);
  };
  set("host", url.host);
  if (url.port) set("port", std::to_string(*url.port));
  set("dbname", url.database);
  set("user", url.user);
  set("password", url.password);
  for (const auto& [key, value] : url.params) set(key, value);
  auto set_default = [&out, &set](const std::string& key, const std::string& value) {
    const bool given =
        std::any_of(out.begin(), out.end(), [&](const auto& kv) { return kv.first == key; });
    if (!given) set(key, value);
  };
  set_default("application_name", "parmap");
  set_default("keepalives", "1");
  set_default("keepalives_idle", "30");
  set_default("keepalives_interval", "10");
  set_default("keepalives_count", "3");
  set_default("connect_timeout", "10");
  // Batches hold UTF-8 text whatever the database's encoding.
  set_default("client_encoding", "UTF8");
  return out;
}

}  // namespace parmap::pg
