// MariaDB test helpers (see mariadb_support.h).
#include "support/mariadb_support.h"

#include <mysql.h>
#include <unistd.h>

#include <stdexcept>

#include "parmap/connection.h"
#include "support/pg_support.h"
#include "support/test_support.h"

namespace parmap::test {

My::My(const std::string& url) : conn_(mysql_init(nullptr)) {
  const ConnectionUrl u = parse_url(url);
  if (mysql_real_connect(conn_, u.host.c_str(), u.user.c_str(),
                         u.password.empty() ? nullptr : u.password.c_str(),
                         u.database.empty() ? nullptr : u.database.c_str(),
                         static_cast<unsigned int>(u.port.value_or(3306)), nullptr,
                         CLIENT_MULTI_STATEMENTS) == nullptr) {
    const std::string msg = mysql_error(conn_);
    mysql_close(conn_);
    throw std::runtime_error("cannot connect: " + msg);
  }
  exec("SET SESSION time_zone = '+00:00', group_concat_max_len = 1073741824");
}

My::~My() { mysql_close(conn_); }

MyRows My::rows(const std::string& sql) {
  if (mysql_real_query(conn_, sql.data(), sql.size()) != 0) {
    throw std::runtime_error(std::string(mysql_error(conn_)) + " in: " + sql.substr(0, 300));
  }
  MyRows out;
  for (;;) {
    MYSQL_RES* res = mysql_store_result(conn_);
    if (res != nullptr) {
      out.clear();
      const unsigned int n = mysql_num_fields(res);
      while (MYSQL_ROW row = mysql_fetch_row(res)) {
        const unsigned long* lengths = mysql_fetch_lengths(res);
        auto& r = out.emplace_back();
        for (unsigned int i = 0; i < n; ++i) {
          if (row[i] == nullptr) {
            r.emplace_back();
          } else {
            r.emplace_back(std::string(row[i], lengths[i]));
          }
        }
      }
      mysql_free_result(res);
    } else if (mysql_field_count(conn_) != 0) {
      throw std::runtime_error(std::string(mysql_error(conn_)) + " in: " + sql.substr(0, 300));
    }
    const int status = mysql_next_result(conn_);
    if (status > 0) {
      throw std::runtime_error(std::string(mysql_error(conn_)) + " in: " + sql.substr(0, 300));
    }
    if (status < 0) break;
  }
  return out;
}

std::string My::scalar(const std::string& sql) {
  const MyRows r = rows(sql);
  return r.empty() || r[0].empty() || !r[0][0] ? std::string() : *r[0][0];
}

void MariadbTest::SetUp() {
  base_ = server_url("PARMAP_MARIADB_URL");
  if (base_.empty()) GTEST_SKIP() << "PARMAP_MARIADB_URL is not set (scripts/mariadb_test_server.sh)";
  register_builtin_drivers();
  admin_ = std::make_unique<My>(base_);
  static int counter = 0;
  db_ = "parmap_t" + std::to_string(getpid()) + "_" + std::to_string(counter++);
  admin_->exec("DROP DATABASE IF EXISTS " + db_ + "; CREATE DATABASE " + db_);
  url_ = url_with(base_, db_);
  my_ = std::make_unique<My>(url_);
}

void MariadbTest::TearDown() {
  my_.reset();
  if (admin_) {
    try {
      admin_->exec("DROP DATABASE IF EXISTS " + db_);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "cleanup: " << e.what();
    }
  }
}

}  // namespace parmap::test
