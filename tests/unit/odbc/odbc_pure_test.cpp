// Unit tests for the ODBC driver's pure parts: SQLSTATE classification, error messages,
// connection strings, identities, engine names, DDL types and calendar conversions.
#include <gtest/gtest.h>
#include <sql.h>
#include <sqlext.h>

#include <optional>
#include <string>
#include <utility>

#include "connect/odbc/odbc_errors.h"
#include "connect/odbc/odbc_types.h"
#include "connect/odbc/odbc_url.h"
#include "parmap/connection.h"

namespace parmap::odbc {
namespace {

struct ClassifyCase {
  const char* sqlstate;
  int native;
  Dbms dbms;
  Phase phase;
  ErrorKind want;
};

TEST(OdbcErrorsTest, ClassifiesByStateNativeCodeAndPhase) {
  const ClassifyCase cases[] = {
      // Connection failures and the transactions they end.
      {"08S01", 0, Dbms::PostgreSQL, Phase::Statement, ErrorKind::Transient},
      {"08006", 0, Dbms::Other, Phase::Statement, ErrorKind::Transient},
      {"08S01", 0, Dbms::PostgreSQL, Phase::Commit, ErrorKind::InDoubt},
      {"40003", 0, Dbms::Other, Phase::Commit, ErrorKind::InDoubt},
      {"", 0, Dbms::Other, Phase::Commit, ErrorKind::InDoubt},
      {"", 0, Dbms::Other, Phase::Statement, ErrorKind::Transient},
      // Deadlocks and serialization failures are retried; so is a commit that hit one.
      {"40001", 0, Dbms::PostgreSQL, Phase::Statement, ErrorKind::Transient},
      {"40P01", 0, Dbms::PostgreSQL, Phase::Statement, ErrorKind::Transient},
      {"40001", 0, Dbms::PostgreSQL, Phase::Commit, ErrorKind::Transient},
      // Timeouts and cancels.
      {"HYT00", 0, Dbms::Other, Phase::Statement, ErrorKind::Timeout},
      {"HYT01", 0, Dbms::Other, Phase::Statement, ErrorKind::Timeout},
      {"57014", 0, Dbms::PostgreSQL, Phase::Statement, ErrorKind::Timeout},
      {"HY008", 0, Dbms::Other, Phase::Statement, ErrorKind::Transient},
      // Rows the target refuses.
      {"22001", 0, Dbms::Other, Phase::Statement, ErrorKind::Data},
      {"22P02", 0, Dbms::PostgreSQL, Phase::Statement, ErrorKind::Data},
      {"23505", 0, Dbms::PostgreSQL, Phase::Statement, ErrorKind::Data},
      {"23000", 1062, Dbms::MySQL, Phase::Statement, ErrorKind::Data},
      // Missing tables and columns, and bad SQL.
      {"42S02", 0, Dbms::Other, Phase::Statement, ErrorKind::Schema},
      {"42S22", 0, Dbms::Other, Phase::Statement, ErrorKind::Schema},
      {"42P01", 0, Dbms::PostgreSQL, Phase::Statement, ErrorKind::Schema},
      {"42703", 0, Dbms::PostgreSQL, Phase::Statement, ErrorKind::Schema},
      {"42000", 0, Dbms::MySQL, Phase::Statement, ErrorKind::Config},
      {"42601", 0, Dbms::PostgreSQL, Phase::Statement, ErrorKind::Config},
      // Engines that report under HY000 with their own code.
      {"HY000", 1, Dbms::SQLite, Phase::Statement, ErrorKind::Config},
      {"HY000", 19, Dbms::SQLite, Phase::Statement, ErrorKind::Data},
      {"HY000", 5, Dbms::SQLite, Phase::Statement, ErrorKind::Transient},
      {"HY000", 1205, Dbms::MySQL, Phase::Statement, ErrorKind::Transient},
      {"HY000", 1146, Dbms::MySQL, Phase::Statement, ErrorKind::Schema},
      {"HY000", 2013, Dbms::MySQL, Phase::Statement, ErrorKind::Transient},
      {"40001", 1213, Dbms::MySQL, Phase::Statement, ErrorKind::Transient},
      {"HY000", 0, Dbms::Other, Phase::Statement, ErrorKind::Internal},
      // Logging in.
      {"08001", 101, Dbms::Other, Phase::Connect, ErrorKind::Connect},
      {"28000", 0, Dbms::Other, Phase::Connect, ErrorKind::Connect},
      {"IM002", 0, Dbms::Other, Phase::Connect, ErrorKind::Config},
      {"IM003", 0, Dbms::Other, Phase::Connect, ErrorKind::Config},
      {"HY024", 0, Dbms::Other, Phase::Connect, ErrorKind::Config},
      {"HYT00", 0, Dbms::Other, Phase::Connect, ErrorKind::Connect},
  };
  for (const ClassifyCase& c : cases) {
    const Diagnostic diagnostic{c.sqlstate, c.native, "a message"};
    EXPECT_EQ(classify_diagnostic(diagnostic, c.dbms, c.phase), c.want)
        << c.sqlstate << " native " << c.native << " dbms " << static_cast<int>(c.dbms) << " phase "
        << static_cast<int>(c.phase);
  }
}

TEST(OdbcErrorsTest, SqliteMessagesDecideItsGenericError) {
  const Diagnostic missing{"HY000", 1, "[SQLite]no such table: nosuch (1)"};
  EXPECT_EQ(classify_diagnostic(missing, Dbms::SQLite, Phase::Statement), ErrorKind::Schema);
}

TEST(OdbcErrorsTest, MessagesNeverHoldThePassword) {
  const Diagnostic diagnostic{
      "08001", 101, "connect failed for DSN=x;UID=etl;PWD=hunter22;\nFATAL: bad hunter22"};
  const Error e =
      make_odbc_error(ErrorKind::Connect, diagnostic, "odbc://etl:****@x", "hunter22", "connect");
  const std::string what = e.what();
  EXPECT_EQ(what.find("hunter22"), std::string::npos) << what;
  EXPECT_NE(what.find("odbc odbc://etl:****@x: connect failed"), std::string::npos) << what;
  EXPECT_NE(what.find("[08001]"), std::string::npos) << what;
  EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  EXPECT_EQ(e.native_code(), "08001");
  EXPECT_EQ(e.context().engine, "odbc");
}

TEST(OdbcUrlTest, DataSourceNameForm) {
  const ConnectionUrl url = parse_url("odbc://etl:s3cret@warehouse");
  EXPECT_EQ(connection_string(url), "DSN=warehouse;UID=etl;PWD=s3cret;");
  EXPECT_EQ(url.masked().find("s3cret"), std::string::npos);
  EXPECT_EQ(connection_string(parse_url("odbc://warehouse/sales?Timeout=5")),
            "DSN=warehouse;DATABASE=sales;Timeout=5;");
}

TEST(OdbcUrlTest, ConnectionStringFormTakesEveryParameterDriverFirst) {
  const ConnectionUrl url = parse_url(
      "odbc://etl:pw@/?server=127.0.0.1&port=5432&driver=PostgreSQL%20Unicode&database=x");
  EXPECT_EQ(connection_string(url),
            "driver=PostgreSQL Unicode;UID=etl;PWD=pw;database=x;port=5432;server=127.0.0.1;");
  // A password given as a parameter is masked like one in the user info.
  const ConnectionUrl with_pwd = parse_url("odbc:///?driver=SQLite3&pwd=hidden&database=/a.db");
  EXPECT_EQ(with_pwd.masked().find("hidden"), std::string::npos) << with_pwd.masked();
  EXPECT_NE(connection_string(with_pwd).find("pwd=hidden;"), std::string::npos);
}

TEST(OdbcUrlTest, ValuesThatNeedBracesGetThem) {
  EXPECT_EQ(attribute_value("plain value"), "plain value");
  EXPECT_EQ(attribute_value("a;b"), "{a;b}");
  EXPECT_EQ(attribute_value("x}y"), "{x}}y}");
  EXPECT_EQ(attribute_value(" padded"), "{ padded}");
  EXPECT_EQ(connection_string(parse_url("odbc://u:p%3Bq@dsn")), "DSN=dsn;UID=u;PWD={p;q};");
}

TEST(OdbcUrlTest, IdentityNamesTheDatabaseNotTheLogin) {
  EXPECT_EQ(identity_of(parse_url("odbc://etl:pw@warehouse")), "odbc://warehouse/");
  const std::string id = identity_of(
      parse_url("odbc://etl:pw@/?driver=PostgreSQL%20Unicode&Server=db1&port=5432&database=sales&"
                "uid=other&pwd=secret&sslmode=require"));
  EXPECT_EQ(id, "odbc:///?database=sales&driver=PostgreSQL Unicode&port=5432&server=db1");
  EXPECT_EQ(id.find("secret"), std::string::npos);
  EXPECT_EQ(id.find("etl"), std::string::npos);
}

TEST(OdbcTypesTest, EnginesByTheirDbmsName) {
  EXPECT_EQ(dbms_from_name("PostgreSQL"), Dbms::PostgreSQL);
  EXPECT_EQ(dbms_from_name("MariaDB"), Dbms::MySQL);
  EXPECT_EQ(dbms_from_name("MySQL"), Dbms::MySQL);
  EXPECT_EQ(dbms_from_name("SQLite"), Dbms::SQLite);
  EXPECT_EQ(dbms_from_name("Microsoft SQL Server"), Dbms::Other);
}

TEST(OdbcTypesTest, DdlTypesPerEngine) {
  EXPECT_EQ(ddl_type(ColumnType::Int64, Dbms::PostgreSQL, false), "bigint");
  EXPECT_EQ(ddl_type(ColumnType::Blob, Dbms::PostgreSQL, false), "bytea");
  EXPECT_EQ(ddl_type(ColumnType::Text, Dbms::MySQL, false), "LONGTEXT");
  // MySQL cannot key an unbounded text.
  EXPECT_EQ(ddl_type(ColumnType::Text, Dbms::MySQL, true), "VARCHAR(255)");
  EXPECT_EQ(ddl_type(ColumnType::Timestamp, Dbms::MySQL, false), "DATETIME(6)");
  EXPECT_EQ(ddl_type(ColumnType::Numeric, Dbms::SQLite, false), "TEXT");
  EXPECT_EQ(ddl_type(ColumnType::Any, Dbms::SQLite, false), "");
  EXPECT_EQ(ddl_type(ColumnType::Double, Dbms::Other, false), "DOUBLE PRECISION");
}

TEST(OdbcTypesTest, DeclaredTypesAreCanonicalExceptPostgresOwn) {
  // MariaDB Connector/ODBC calls ENUM, SET and UUID "char": never a declared type (PostgreSQL
  // would make it char(1)).
  EXPECT_EQ(declared_type_for(SQL_CHAR, "char", 5, 0, false, Dbms::MySQL), "");
  EXPECT_EQ(declared_type_for(SQL_VARCHAR, "varchar", 10, 0, false, Dbms::MySQL), "");
  EXPECT_EQ(declared_type_for(SQL_DECIMAL, "decimal", 65, 30, false, Dbms::MySQL),
            "decimal(65,30)");
  EXPECT_EQ(declared_type_for(SQL_BIGINT, "bigint", 20, 0, true, Dbms::MySQL), "numeric(20)");
  // Integers get the narrowest type every engine names alike that holds each value.
  EXPECT_EQ(declared_type_for(SQL_BIGINT, "bigint", 19, 0, false, Dbms::MySQL), "bigint");
  EXPECT_EQ(declared_type_for(SQL_TINYINT, "tinyint", 3, 0, false, Dbms::MySQL), "smallint");
  EXPECT_EQ(declared_type_for(SQL_SMALLINT, "smallint", 5, 0, true, Dbms::MySQL), "integer");
  EXPECT_EQ(declared_type_for(SQL_SMALLINT, "year", 4, 0, true, Dbms::MySQL), "smallint");
  EXPECT_EQ(declared_type_for(SQL_INTEGER, "integer", 10, 0, true, Dbms::MySQL), "bigint");
  EXPECT_EQ(declared_type_for(SQL_TYPE_TIME, "time", 15, 6, false, Dbms::MySQL), "time(6)");
  EXPECT_EQ(declared_type_for(SQL_TYPE_TIMESTAMP, "datetime", 26, 6, false, Dbms::MySQL),
            "datetime(6)");
  EXPECT_EQ(declared_type_for(SQL_TYPE_TIME, "time", 8, 0, false, Dbms::MySQL), "");
  EXPECT_EQ(declared_type_for(SQL_DOUBLE, "NUMERIC", 10, 0, false, Dbms::SQLite), "");
  EXPECT_EQ(declared_type_for(SQL_NUMERIC, "NUMBER", 12, 2, false, Dbms::Other), "numeric(12,2)");
  EXPECT_EQ(declared_type_for(SQL_VARCHAR, "VARCHAR2", 20, 0, false, Dbms::Other), "");
  EXPECT_EQ(declared_type_for(SQL_NUMERIC, "numeric", 38, 10, false, Dbms::PostgreSQL), "numeric");
  EXPECT_EQ(declared_type_for(SQL_VARCHAR, "unknown", 255, 0, false, Dbms::PostgreSQL), "");
}

TEST(OdbcTypesTest, DecimalPrecisionOfDeclaredTypes) {
  using PS = std::optional<std::pair<int, int>>;
  EXPECT_EQ(decimal_precision("NUMERIC(10,2)"), PS(std::make_pair(10, 2)));
  EXPECT_EQ(decimal_precision("decimal( 12 , 4 )"), PS(std::make_pair(12, 4)));
  EXPECT_EQ(decimal_precision("DECIMAL(7)"), PS(std::make_pair(7, 0)));
  EXPECT_EQ(decimal_precision("NUMERIC"), PS());
  EXPECT_EQ(decimal_precision("NUMERIC(2,5)"), PS());
  EXPECT_EQ(decimal_precision("NUMERIC(0)"), PS());
  EXPECT_EQ(decimal_precision("NUMERIC(10,2"), PS());
  EXPECT_EQ(decimal_precision("REAL(10,2)"), PS());
}

TEST(OdbcTypesTest, PostgresCatalogTypesPsqlodbcCallsUnknown) {
  EXPECT_EQ(pg_catalog_column_type("jsonb", 'U'), ColumnType::Json);
  EXPECT_EQ(pg_catalog_column_type("json", 'U'), ColumnType::Json);
  EXPECT_EQ(pg_catalog_column_type("interval", 'T'), ColumnType::Interval);
  EXPECT_EQ(pg_catalog_column_type("integer[]", 'A'), ColumnType::Array);
  EXPECT_EQ(pg_catalog_column_type("numeric(38,10)", 'N'), ColumnType::Any);
  EXPECT_EQ(pg_catalog_column_type("character varying(5)", 'S'), ColumnType::Any);
}

TEST(OdbcTypesTest, CalendarConversionsRoundTrip) {
  EXPECT_EQ(days_from_civil(1970, 1, 1), 0);
  EXPECT_EQ(days_from_civil(2000, 1, 1), 10957);
  EXPECT_EQ(days_from_civil(1969, 12, 31), -1);
  EXPECT_EQ(days_from_civil(2024, 2, 29), 19782);
  for (int64_t days = -800000; days <= 3000000; days += 997) {
    int64_t year = 0;
    unsigned month = 0, day = 0;
    civil_from_days(days, year, month, day);
    ASSERT_EQ(days_from_civil(year, month, day), days) << year << "-" << month << "-" << day;
  }
  int64_t year = 0;
  unsigned month = 0, day = 0;
  civil_from_days(days_from_civil(1, 1, 1), year, month, day);
  EXPECT_EQ(year, 1);
  EXPECT_EQ(month, 1u);
  EXPECT_EQ(day, 1u);
}

}  // namespace
}  // namespace parmap::odbc
