// PostgreSQL test helpers (see pg_support.h).
#include "support/pg_support.h"

#include <libpq-fe.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

#include "parmap/connection.h"
#include "support/test_support.h"

namespace parmap::test {

Pg::Pg(const std::string& url) : conn_(PQconnectdb(url.c_str())) {
  if (PQstatus(conn_) != CONNECTION_OK) {
    const std::string msg = PQerrorMessage(conn_);
    PQfinish(conn_);
    throw std::runtime_error("cannot connect: " + msg);
  }
  PQsetNoticeProcessor(
      conn_, [](void*, const char*) {}, nullptr);
}

Pg::~Pg() { PQfinish(conn_); }

PgRows Pg::rows(const std::string& sql) {
  PGresult* res = PQexec(conn_, sql.c_str());
  const ExecStatusType st = PQresultStatus(res);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    const std::string msg = PQresultErrorMessage(res);
    PQclear(res);
    throw std::runtime_error(msg + " in: " + sql.substr(0, 300));
  }
  PgRows out;
  for (int r = 0; r < PQntuples(res); ++r) {
    auto& row = out.emplace_back();
    for (int c = 0; c < PQnfields(res); ++c) {
      if (PQgetisnull(res, r, c)) {
        row.emplace_back();
      } else {
        row.emplace_back(
            std::string(PQgetvalue(res, r, c), static_cast<size_t>(PQgetlength(res, r, c))));
      }
    }
  }
  PQclear(res);
  return out;
}

std::string Pg::scalar(const std::string& sql) {
  const PgRows r = rows(sql);
  return r.empty() || r[0].empty() || !r[0][0] ? std::string() : *r[0][0];
}

std::string pg_checksum(Pg& db, const std::string& table) {
  return db.scalar(
      "SELECT count(*) || ':' || coalesce(md5(string_agg(md5(t::text), '' "
      "ORDER BY md5(t::text))), '-') FROM " +
      table + " t");
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
        line += row_double(std::strtod(row[c]->c_str(), nullptr));
      } else {
        line += std::string(1, kinds.at(c)) + ":" + *row[c];
      }
    }
    out.push_back(line);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string url_with(const std::string& base, const std::string& database,
                     const std::string& userinfo) {
  const size_t scheme_end = base.find("://");
  if (scheme_end == std::string::npos) throw std::runtime_error("not a URL: " + base);
  const size_t auth_begin = scheme_end + 3;
  size_t auth_end = base.find_first_of("/?", auth_begin);
  if (auth_end == std::string::npos) auth_end = base.size();
  const std::string authority = base.substr(auth_begin, auth_end - auth_begin);
  const size_t at = authority.rfind('@');
  const std::string hostport = at == std::string::npos ? authority : authority.substr(at + 1);
  const std::string user = at == std::string::npos ? "" : authority.substr(0, at);
  const size_t query = base.find('?', auth_begin);
  const std::string who = userinfo.empty() ? user : userinfo;
  return base.substr(0, auth_begin) + (who.empty() ? "" : who + "@") + hostport + "/" + database +
         (query == std::string::npos ? "" : base.substr(query));
}

void PgTwoDatabasesTest::SetUp() {
  base_ = server_url("PARMAP_PG_URL");
  if (base_.empty()) GTEST_SKIP() << "PARMAP_PG_URL is not set (scripts/pg_test_server.sh)";
  register_builtin_drivers();
  admin_ = std::make_unique<Pg>(base_);
  static int counter = 0;
  const std::string stem = "parmap_t" + std::to_string(getpid()) + "_" + std::to_string(counter++);
  src_db_ = stem + "_src";
  dst_db_ = stem + "_dst";
  for (const std::string& db : {src_db_, dst_db_}) {
    admin_->exec("CREATE DATABASE " + db);
    created_.push_back(db);
  }
  src_ = std::make_unique<Pg>(src_url());
  dst_ = std::make_unique<Pg>(dst_url());
}

void PgTwoDatabasesTest::TearDown() {
  src_.reset();
  dst_.reset();
  for (const std::string& db : created_) {
    try {
      admin_->exec("DROP DATABASE IF EXISTS " + db + " WITH (FORCE)");
    } catch (const std::exception& e) {
      ADD_FAILURE() << "cleanup: " << e.what();
    }
  }
}

}  // namespace parmap::test
