// PostgreSQL test helpers: a libpq session of the test's own (independent of parmap's
// driver), a checksum computed by the server, and URLs for other databases or users.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

struct pg_conn;

namespace parmap::test {

using PgRows = std::vector<std::vector<std::optional<std::string>>>;

/// A libpq session opened directly, not through parmap, so that every check is independent
/// of the driver under test. Throws std::runtime_error with the server's message. Notices
/// ("... does not exist, skipping") are not test output and are dropped.
class Pg {
 public:
  explicit Pg(const std::string& url);
  ~Pg();
  Pg(const Pg&) = delete;
  Pg& operator=(const Pg&) = delete;

  /// Runs one or more statements (a multi-statement string is one implicit transaction).
  void exec(const std::string& sql) { rows(sql); }
  /// All rows of the last statement as text (libpq's text format); nullopt for NULL.
  PgRows rows(const std::string& sql);
  /// The first column of the first row ("" for NULL or no row).
  std::string scalar(const std::string& sql);

 private:
  pg_conn* conn_;
};

/// Count and order-independent checksum of a table (or a parenthesised query), computed by
/// PostgreSQL itself: "rows:md5 of the sorted row md5s".
std::string pg_checksum(Pg& db, const std::string& table);

/// Rows of a PostgreSQL query in sqlite_rows' form (test_support.h), sorted; `kinds` has a
/// letter per column: i integer, r double (compared by value), t text, b bytes rendered as
/// hex by the query.
std::vector<std::string> pg_rows(Pg& db, const std::string& sql, const std::string& kinds);

/// `base` with another database and, when given, other user info ("user" or "user:password").
std::string url_with(const std::string& base, const std::string& database,
                     const std::string& userinfo = "");

/// A fixture with a source and a target database of its own on the test server
/// (PARMAP_PG_URL), made for each test and dropped WITH (FORCE) after it (a killed parmap or a
/// frozen proxy may leave a backend behind for a moment). Skips when there is no server (fails
/// under PARMAP_REQUIRE_SERVERS=1). Drivers are registered.
class PgTwoDatabasesTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  std::string src_url() const { return url_with(base_, src_db_); }
  std::string dst_url() const { return url_with(base_, dst_db_); }

  std::string base_, src_db_, dst_db_;
  std::vector<std::string> created_;
  std::unique_ptr<Pg> admin_, src_, dst_;
};

}  // namespace parmap::test
