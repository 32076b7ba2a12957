// MariaDB test helpers: a session of the test's own (libmariadb directly, not parmap's driver)
// and a fixture with a database of its own on the test server.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

struct st_mysql;

namespace parmap::test {

using MyRows = std::vector<std::vector<std::optional<std::string>>>;

/// A MariaDB session opened from a mysql:// URL without parmap. Throws std::runtime_error with
/// the server's message. Multi-statement strings are allowed.
class My {
 public:
  explicit My(const std::string& url);
  ~My();
  My(const My&) = delete;
  My& operator=(const My&) = delete;

  void exec(const std::string& sql) { rows(sql); }
  /// All rows of the last statement that returned rows, as text; nullopt for NULL.
  MyRows rows(const std::string& sql);
  /// The first column of the first row ("" for NULL or no row).
  std::string scalar(const std::string& sql);
  /// This session's connection id (for KILL).
  std::string id() { return scalar("SELECT CONNECTION_ID()"); }

 private:
  st_mysql* conn_;
};

/// A fixture with a database of its own on the MariaDB test server (PARMAP_MARIADB_URL), made
/// for each test and dropped after it, and two PostgreSQL databases (PgTwoDatabasesTest's)
/// when the PostgreSQL server is there too. Skips when there is no MariaDB server (fails under
/// PARMAP_REQUIRE_SERVERS=1). Drivers are registered.
class MariadbTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  /// mysql://parmap@127.0.0.1:port/<this test's database>
  std::string my_url() const { return url_; }

  std::string base_, db_, url_;
  std::unique_ptr<My> admin_, my_;
};

}  // namespace parmap::test
