// ODBC test helpers (see odbc_support.h).
#include "support/odbc_support.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "support/test_support.h"

namespace parmap::test {
namespace {

std::string percent_encode(const std::string& s) {
  static const char* digits = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '/') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += digits[c >> 4];
      out += digits[c & 15];
    }
  }
  return out;
}

}  // namespace

std::string odbc_sqlite_url(const std::string& path) {
  return "odbc:///?driver=SQLite3&database=" + percent_encode(path);
}

std::string odbc_pg_url(const std::string& pg_url, const std::string& database) {
  const ConnectionUrl url = parse_url(pg_url);
  std::string userinfo = percent_encode(url.user);
  if (!url.password.empty()) userinfo += ":" + percent_encode(url.password);
  return "odbc://" + userinfo + "@/?driver=PostgreSQL%20Unicode&server=" + url.host +
         "&port=" + std::to_string(url.port.value_or(5432)) + "&database=" + database;
}

std::string odbc_mariadb_url(const std::string& mysql_url, const std::string& database) {
  const ConnectionUrl url = parse_url(mysql_url);
  std::string userinfo = percent_encode(url.user);
  if (!url.password.empty()) userinfo += ":" + percent_encode(url.password);
  return "odbc://" + userinfo + "@/?driver=MariaDB%20Unicode&server=" + url.host +
         "&port=" + std::to_string(url.port.value_or(3306)) + "&database=" + database +
         "&charset=utf8mb4";
}

ParallelOptions odbc_options(int workers, int64_t chunk_size) {
  ParallelOptions o;
  o.config = resolve_config({{"max_workers", std::to_string(workers)},
                             {"chunk_size", std::to_string(chunk_size)},
                             {"min_rows_for_parallel", "10"}},
                            {}, 8);
  return o;
}

std::optional<ParallelResult> run_job(const std::string& source, const std::string& sql,
                                      const std::string& target, const std::string& table,
                                      const ParallelOptions& opts) {
  try {
    return execute_query_parallel(source, sql, target, "", table, opts);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "execute_query_parallel threw: " << e.what();
    return std::nullopt;
  }
}

void expect_complete(const ParallelResult& r, int64_t rows) {
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front());
  EXPECT_TRUE(r.parallel) << r.reason;
  EXPECT_EQ(r.total_rows_processed, rows);
  EXPECT_EQ(r.chunks_done, r.chunks_planned);
  EXPECT_GE(r.chunks_planned, 2) << r.reason;
}

}  // namespace parmap::test
