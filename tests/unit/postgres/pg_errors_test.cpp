// The PostgreSQL driver's pure edges: SQLSTATE table, error messages, URL and `?` translation.
#include "connect/postgres/pg_errors.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "connect/postgres/pg_connection.h"
#include "parmap/connection.h"

namespace parmap::pg {
namespace {

struct StateCase {
  const char* sqlstate;
  ErrorKind kind;
};

TEST(PgErrorsTest, ClassifiesEverySqlstateInTheTable) {
  const std::vector<StateCase> cases = {
      // Connection exceptions and server going away: retry.
      {"08000", ErrorKind::Transient},
      {"08003", ErrorKind::Transient},
      {"08006", ErrorKind::Transient},
      {"08001", ErrorKind::Transient},
      {"57P01", ErrorKind::Transient},
      {"57P02", ErrorKind::Transient},
      {"57P03", ErrorKind::Transient},
      {"40001", ErrorKind::Transient},
      {"40P01", ErrorKind::Transient},
      {"53300", ErrorKind::Transient},
      {"55P03", ErrorKind::Transient},
      // Rows the target refuses.
      {"23505", ErrorKind::Data},
      {"23502", ErrorKind::Data},
      {"23503", ErrorKind::Data},
      {"23514", ErrorKind::Data},
      {"22001", ErrorKind::Data},
      {"22003", ErrorKind::Data},
      {"22P02", ErrorKind::Data},
      {"22012", ErrorKind::Data},
      // Schema.
      {"42P01", ErrorKind::Schema},
      {"42703", ErrorKind::Schema},
      {"42P07", ErrorKind::Schema},
      {"3F000", ErrorKind::Schema},
      {"42P06", ErrorKind::Schema},
      // Statements from the job.
      {"42601", ErrorKind::Config},
      {"42883", ErrorKind::Config},
      {"42501", ErrorKind::Config},
      {"42804", ErrorKind::Config},
      {"0A000", ErrorKind::Config},
      // Logging in.
      {"28000", ErrorKind::Connect},
      {"28P01", ErrorKind::Connect},
      {"3D000", ErrorKind::Connect},
      // A statement the server ended (a timeout setting or another session) is retried, and
      // is never the user's own cancel (exit 130).
      {"57014", ErrorKind::Timeout},
      {"25P03", ErrorKind::Timeout},
      {"57P05", ErrorKind::Timeout},
      // Everything else stops the run.
      {"XX000", ErrorKind::Internal},
      {"58030", ErrorKind::Internal},
      {"53100", ErrorKind::Internal},
      {"53200", ErrorKind::Internal},
      {"57000", ErrorKind::Internal},
      {"25P02", ErrorKind::Internal},
  };
  for (const StateCase& c : cases) {
    EXPECT_EQ(classify_sqlstate(c.sqlstate), c.kind)
        << c.sqlstate << " -> " << to_string(classify_sqlstate(c.sqlstate)) << ", want "
        << to_string(c.kind);
  }
}

TEST(PgErrorsTest, MalformedSqlstateIsInternal) {
  EXPECT_EQ(classify_sqlstate(""), ErrorKind::Internal);
  EXPECT_EQ(classify_sqlstate("08"), ErrorKind::Internal);
  EXPECT_EQ(classify_sqlstate("0800"), ErrorKind::Internal);
  EXPECT_EQ(classify_sqlstate("080000"), ErrorKind::Internal);
  EXPECT_EQ(classify_sqlstate("08p01"), ErrorKind::Internal);
}

TEST(PgErrorsTest, LostConnectionIsTransientOrInDoubtWhileCommitting) {
  // libpq's own failures carry no SQLSTATE.
  EXPECT_EQ(classify_failure("", false, false), ErrorKind::Transient);
  EXPECT_EQ(classify_failure("", true, false), ErrorKind::Transient);
  EXPECT_EQ(classify_failure("42P01", true, false), ErrorKind::Transient);
  EXPECT_EQ(classify_failure("", true, true), ErrorKind::InDoubt);
  EXPECT_EQ(classify_failure("", false, true), ErrorKind::InDoubt);
  EXPECT_EQ(classify_failure("08006", false, true), ErrorKind::InDoubt);
  EXPECT_EQ(classify_failure("57P01", false, true), ErrorKind::InDoubt);
  // The server answered: the transaction is rolled back, so the kind is the SQLSTATE's.
  EXPECT_EQ(classify_failure("40001", false, true), ErrorKind::Transient);
  EXPECT_EQ(classify_failure("23505", false, true), ErrorKind::Data);
  EXPECT_EQ(classify_failure("23505", false, false), ErrorKind::Data);
  EXPECT_EQ(classify_failure("57014", false, false), ErrorKind::Timeout);
}

TEST(PgErrorsTest, NamesTheSettingThatEndedAStatement) {
  EXPECT_NE(server_cancel_hint("57014", "ERROR:  canceling statement due to statement timeout")
                .find("statement_timeout"),
            std::string::npos);
  EXPECT_NE(server_cancel_hint("57014", "canceling statement due to lock timeout")
                .find("options=-c%20lock_timeout%3D0"),
            std::string::npos);
  const std::string idle = server_cancel_hint(
      "25P03", "FATAL:  terminating connection due to idle-in-transaction timeout");
  EXPECT_NE(idle.find("idle_in_transaction_session_timeout"), std::string::npos) << idle;
  EXPECT_NE(server_cancel_hint("57014", "canceling statement due to user request")
                .find("pg_cancel_backend"),
            std::string::npos);
  EXPECT_EQ(server_cancel_hint("23505", "duplicate key value violates unique constraint"), "");
  const Error e = make_pg_error(ErrorKind::Timeout, "57014",
                                "canceling statement due to statement timeout", "postgresql://h/d",
                                "read chunk", "SELECT 1", "");
  EXPECT_NE(std::string(e.what()).find("raise it for parmap's sessions"), std::string::npos)
      << e.what();
}

TEST(PgErrorsTest, ClassifiesConnectionFailureMessages) {
  EXPECT_EQ(classify_connect_message("invalid connection option \"sslmod\""), ErrorKind::Config);
  EXPECT_EQ(classify_connect_message("invalid sslmode value: \"maybe\""), ErrorKind::Config);
  EXPECT_EQ(classify_connect_message(
                "connection to server at \"127.0.0.1\", port 1 failed: FATAL:  sorry, too many "
                "clients already"),
            ErrorKind::Transient);
  EXPECT_EQ(classify_connect_message("FATAL:  the database system is starting up"),
            ErrorKind::Transient);
  EXPECT_EQ(classify_connect_message("FATAL:  the database system is shutting down"),
            ErrorKind::Transient);
  EXPECT_EQ(classify_connect_message(
                "connection to server at \"127.0.0.1\", port 1 failed: Connection refused"),
            ErrorKind::Connect);
  EXPECT_EQ(classify_connect_message("FATAL:  database \"nope\" does not exist"),
            ErrorKind::Connect);
  EXPECT_EQ(classify_connect_message("FATAL:  password authentication failed for user \"x\""),
            ErrorKind::Connect);
}

TEST(PgErrorsTest, ErrorNamesEngineStatementAndSqlstateOnOneLine) {
  const std::string sql = "SELECT * FROM nope";
  const Error e = make_pg_error(classify_sqlstate("42P01"), "42P01",
                                "ERROR:  relation \"nope\" does not exist\nLINE 1: SELECT * FROM "
                                "nope\n                      ^\n",
                                "postgresql://u:****@h:5432/db", "query", sql, "nope");
  EXPECT_EQ(e.kind(), ErrorKind::Schema);
  EXPECT_EQ(e.native_code(), "42P01");
  EXPECT_EQ(e.context().engine, "postgresql");
  EXPECT_EQ(e.context().statement, sql);
  EXPECT_EQ(e.context().table, "nope");
  const std::string what = e.what();
  EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  EXPECT_NE(what.find("postgresql postgresql://u:****@h:5432/db: query failed"), std::string::npos)
      << what;
  EXPECT_NE(what.find("relation \"nope\" does not exist"), std::string::npos) << what;
  EXPECT_NE(what.find("[42P01]"), std::string::npos) << what;
  EXPECT_NE(what.find("(statement: SELECT * FROM nope)"), std::string::npos) << what;
}

TEST(PgErrorsTest, StatementIsCutAt200Characters) {
  const std::string sql = "SELECT " + std::string(400, 'x');
  const Error e = make_pg_error(ErrorKind::Config, "42601", "ERROR:  syntax error",
                                "postgresql://h", "query", sql);
  EXPECT_EQ(e.context().statement.size(), 200u);
  EXPECT_NE(std::string(e.what()).find("...)"), std::string::npos);
}

TEST(PgErrorsTest, MasksPasswordsQuotedInServerMessages) {
  const Error e = make_pg_error(ErrorKind::Connect, "", "cannot use postgresql://u:secret@h/db",
                                "postgresql://u:****@h/db", "connect");
  EXPECT_EQ(std::string(e.what()).find("secret"), std::string::npos) << e.what();
}

TEST(PgErrorsTest, OneLineFoldsNewlinesAndTrims) {
  EXPECT_EQ(one_line("ERROR:  boom\nDETAIL:  why\n\tmore\n"), "ERROR:  boom DETAIL:  why more");
  EXPECT_EQ(one_line("\n\n"), "");
}

// --- helpers of pg_connection (pure) --------------------------------------------------------

std::string numbered(std::string_view sql, size_t* count = nullptr) {
  size_t n = 0;
  std::string out =
      rewrite_placeholders(sql, n, [](size_t i) { return "$" + std::to_string(i + 1); });
  if (count != nullptr) *count = n;
  return out;
}

TEST(PgPlaceholderTest, RewritesQuestionMarksOutsideQuotesAndComments) {
  size_t count = 0;
  EXPECT_EQ(numbered("SELECT * FROM t WHERE a >= ? AND b < ?", &count),
            "SELECT * FROM t WHERE a >= $1 AND b < $2");
  EXPECT_EQ(count, 2u);
  EXPECT_EQ(numbered("SELECT '?', 'it''s ?', ? FROM t", &count),
            "SELECT '?', 'it''s ?', $1 FROM t");
  EXPECT_EQ(count, 1u);
  EXPECT_EQ(numbered("SELECT \"a?\" FROM \"t\"\"?\" WHERE x = ?", &count),
            "SELECT \"a?\" FROM \"t\"\"?\" WHERE x = $1");
  EXPECT_EQ(count, 1u);
  EXPECT_EQ(numbered("SELECT ? -- what?\n, ? /* a /* nested? */ ? */ FROM t", &count),
            "SELECT $1 -- what?\n, $2 /* a /* nested? */ ? */ FROM t");
  EXPECT_EQ(count, 2u);
  EXPECT_EQ(numbered("SELECT $$a?b$$, $tag$ ? $$ ? $tag$, ?", &count),
            "SELECT $$a?b$$, $tag$ ? $$ ? $tag$, $1");
  EXPECT_EQ(count, 1u);
  EXPECT_EQ(numbered("SELECT E'\\' ?', ?", &count), "SELECT E'\\' ?', $1");
  EXPECT_EQ(count, 1u);
  // A backslash ends nothing in a standard string.
  EXPECT_EQ(numbered("SELECT '\\', ?", &count), "SELECT '\\', $1");
  EXPECT_EQ(count, 1u);
  EXPECT_EQ(numbered("SELECT $1, a$b, ?", &count), "SELECT $1, a$b, $1");
  EXPECT_EQ(count, 1u);
  EXPECT_EQ(numbered("SELECT 'unterminated ?", &count), "SELECT 'unterminated ?");
  EXPECT_EQ(count, 0u);
}

TEST(PgConnectParamsTest, MapsUrlFieldsAndParamsWithDefaults) {
  ConnectionUrl url;
  url.scheme = "postgresql";
  url.host = "db.example";
  url.port = 6543;
  url.database = "sales";
  url.user = "alice";
  url.password = "s3cret";
  url.params = {{"sslmode", "require"}, {"application_name", "nightly"}};
  const auto params = connect_params(url);
  auto value = [&](const std::string& key) -> std::string {
    for (const auto& [k, v] : params) {
      if (k == key) return v;
    }
    return "<absent>";
  };
  EXPECT_EQ(value("host"), "db.example");
  EXPECT_EQ(value("port"), "6543");
  EXPECT_EQ(value("dbname"), "sales");
  EXPECT_EQ(value("user"), "alice");
  EXPECT_EQ(value("password"), "s3cret");
  EXPECT_EQ(value("sslmode"), "require");
  EXPECT_EQ(value("application_name"), "nightly");
  EXPECT_EQ(value("keepalives"), "1");
  EXPECT_EQ(value("keepalives_idle"), "30");
  EXPECT_EQ(value("keepalives_interval"), "10");
  EXPECT_EQ(value("keepalives_count"), "3");
  EXPECT_EQ(value("connect_timeout"), "10");
  EXPECT_EQ(value("client_encoding"), "UTF8");
}

TEST(PgConnectParamsTest, UrlTimeoutsAndKeepalivesBeatTheDefaults) {
  ConnectionUrl url;
  url.scheme = "postgresql";
  url.host = "h";
  url.params = {{"connect_timeout", "0"}, {"keepalives_count", "9"}};
  const auto params = connect_params(url);
  int timeouts = 0;
  for (const auto& [k, v] : params) {
    if (k == "connect_timeout") {
      ++timeouts;
      EXPECT_EQ(v, "0");
    }
    if (k == "keepalives_count") {
      EXPECT_EQ(v, "9");
    }
  }
  EXPECT_EQ(timeouts, 1);
}

TEST(PgConnectParamsTest, LeavesOutEmptyFieldsForLibpqDefaults) {
  ConnectionUrl url;
  url.scheme = "postgresql";
  url.host = "h";
  url.params = {{"keepalives_idle", "5"}};
  const auto params = connect_params(url);
  for (const auto& [k, v] : params) {
    EXPECT_NE(k, "password");
    EXPECT_NE(k, "user");
    EXPECT_NE(k, "port");
    EXPECT_FALSE(v.empty()) << k;
    if (k == "keepalives_idle") {
      EXPECT_EQ(v, "5");
    }
    if (k == "application_name") {
      EXPECT_EQ(v, "parmap");
    }
  }
}

}  // namespace
}  // namespace parmap::pg
