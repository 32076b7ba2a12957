// ODBC test helpers (see odbc_support.h).
#include "support/odbc_support.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace parmap::test {
namespace {

std::string hex(const unsigned char* p, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 15];
  }
  return out;
}

std::string canonical_double(double d) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "r:%.17g", d);
  return buf;
}

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

std::vector<std::string> sqlite_rows(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) {
    sqlite3_close(db);
    throw std::runtime_error("cannot open " + path);
  }
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
    const std::string msg = sqlite3_errmsg(db);
    sqlite3_close(db);
    throw std::runtime_error(msg + " in: " + sql);
  }
  std::vector<std::string> out;
  while (sqlite3_step(st) == SQLITE_ROW) {
    std::string line;
    for (int c = 0; c < sqlite3_column_count(st); ++c) {
      if (c) line += " | ";
      switch (sqlite3_column_type(st, c)) {
        case SQLITE_NULL:
          line += "NULL";
          break;
        case SQLITE_INTEGER:
          line += "i:" + std::to_string(sqlite3_column_int64(st, c));
          break;
        case SQLITE_FLOAT:
          line += canonical_double(sqlite3_column_double(st, c));
          break;
        case SQLITE_TEXT:
          line += "t:" + std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, c)),
                                     static_cast<size_t>(sqlite3_column_bytes(st, c)));
          break;
        default: {
          const auto* p = static_cast<const unsigned char*>(sqlite3_column_blob(st, c));
          line += "b:" + hex(p, static_cast<size_t>(sqlite3_column_bytes(st, c)));
        }
      }
    }
    out.push_back(line);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> pg_rows(Pg& db, const std::string& sql, const std::string& kinds) {
  std::vector<std::string> out;
  for (const auto& row : db.rows(sql)) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      if (c) line += " | ";
      if (!row[c]) {
        line += "NULL";
      } else if (kinds.at(c) == 'r') {
        line += canonical_double(std::strtod(row[c]->c_str(), nullptr));
      } else {
        line += std::string(1, kinds.at(c)) + ":" + *row[c];
      }
    }
    out.push_back(line);
  }
  std::sort(out.begin(), out.end());
  return out;
}

void expect_same_rows(const std::vector<std::string>& want, const std::vector<std::string>& got) {
  EXPECT_EQ(want.size(), got.size());
  const size_t n = std::min(want.size(), got.size());
  size_t differ = 0;
  for (size_t i = 0; i < n; ++i) {
    if (want[i] == got[i]) continue;
    if (differ++ == 0) {
      ADD_FAILURE() << "first different row (sorted position " << i << "):\n  want: " << want[i]
                    << "\n  got:  " << got[i];
    }
  }
  EXPECT_EQ(differ, 0u) << "rows differ";
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
