// The SQLite result-code classifier: every code family maps to the kind the executor expects.
#include "connect/sqlite/sqlite_errors.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>

namespace parmap::sqlite {
namespace {

struct Case {
  int code;
  const char* message;
  ErrorKind kind;
};

class SqliteClassifierTest : public ::testing::TestWithParam<Case> {};

TEST_P(SqliteClassifierTest, MapsCodeToKind) {
  const Case& c = GetParam();
  EXPECT_EQ(classify_sqlite_error(c.code, c.message), c.kind)
      << sqlite_code_name(c.code) << " / " << c.message << " -> " << to_string(c.kind);
}

INSTANTIATE_TEST_SUITE_P(
    Table, SqliteClassifierTest,
    ::testing::Values(
        // Lock contention: retried.
        Case{SQLITE_BUSY, "database is locked", ErrorKind::Transient},
        Case{SQLITE_BUSY_SNAPSHOT, "database is locked", ErrorKind::Transient},
        Case{SQLITE_BUSY_TIMEOUT, "database is locked", ErrorKind::Transient},
        Case{SQLITE_BUSY_RECOVERY, "database is locked", ErrorKind::Transient},
        Case{SQLITE_LOCKED, "database table is locked", ErrorKind::Transient},
        Case{SQLITE_LOCKED_SHAREDCACHE, "database table is locked", ErrorKind::Transient},
        Case{SQLITE_ABORT_ROLLBACK, "abort due to ROLLBACK", ErrorKind::Transient},
        Case{SQLITE_SCHEMA, "database schema has changed", ErrorKind::Transient},
        // Rows the target refuses.
        Case{SQLITE_CONSTRAINT, "constraint failed", ErrorKind::Data},
        Case{SQLITE_CONSTRAINT_NOTNULL, "NOT NULL constraint failed: t.a", ErrorKind::Data},
        Case{SQLITE_CONSTRAINT_UNIQUE, "UNIQUE constraint failed: t.a", ErrorKind::Data},
        Case{SQLITE_CONSTRAINT_PRIMARYKEY, "UNIQUE constraint failed: t.id", ErrorKind::Data},
        Case{SQLITE_CONSTRAINT_CHECK, "CHECK constraint failed: c", ErrorKind::Data},
        Case{SQLITE_CONSTRAINT_FOREIGNKEY, "FOREIGN KEY constraint failed", ErrorKind::Data},
        Case{SQLITE_CONSTRAINT_DATATYPE, "cannot store TEXT value", ErrorKind::Data},
        Case{SQLITE_MISMATCH, "datatype mismatch", ErrorKind::Data},
        Case{SQLITE_TOOBIG, "string or blob too big", ErrorKind::Data},
        Case{SQLITE_RANGE, "column index out of range", ErrorKind::Data},
        // Cannot use the database at all.
        Case{SQLITE_CANTOPEN, "unable to open database file", ErrorKind::Connect},
        Case{SQLITE_CANTOPEN_ISDIR, "unable to open database file", ErrorKind::Connect},
        Case{SQLITE_NOTADB, "file is not a database", ErrorKind::Connect},
        Case{SQLITE_AUTH, "not authorized", ErrorKind::Connect},
        Case{SQLITE_PERM, "access permission denied", ErrorKind::Connect},
        Case{SQLITE_READONLY, "attempt to write a readonly database", ErrorKind::Connect},
        Case{SQLITE_READONLY_DBMOVED, "attempt to write a readonly database", ErrorKind::Connect},
        // Plain SQLITE_ERROR, told apart by its message.
        Case{SQLITE_ERROR, "no such table: t", ErrorKind::Schema},
        Case{SQLITE_ERROR, "no such column: x", ErrorKind::Schema},
        Case{SQLITE_ERROR, "table t has no column named x", ErrorKind::Schema},
        Case{SQLITE_ERROR, "table t already exists", ErrorKind::Schema},
        Case{SQLITE_ERROR, "near \"SELEC\": syntax error", ErrorKind::Config},
        Case{SQLITE_ERROR, "NEAR \"X\": SYNTAX ERROR", ErrorKind::Config},
        Case{SQLITE_ERROR, "no such function: foo", ErrorKind::Config},
        Case{SQLITE_ERROR, "something new", ErrorKind::Config},
        // Stops the run, never retried.
        Case{SQLITE_IOERR, "disk I/O error", ErrorKind::Internal},
        Case{SQLITE_IOERR_WRITE, "disk I/O error", ErrorKind::Internal},
        Case{SQLITE_IOERR_NOMEM, "out of memory", ErrorKind::Internal},
        Case{SQLITE_CORRUPT, "database disk image is malformed", ErrorKind::Internal},
        Case{SQLITE_FULL, "database or disk is full", ErrorKind::Internal},
        Case{SQLITE_NOMEM, "out of memory", ErrorKind::Internal},
        Case{SQLITE_MISUSE, "bad parameter or other API misuse", ErrorKind::Internal},
        Case{SQLITE_INTERNAL, "internal", ErrorKind::Internal},
        Case{0x7fff, "unknown code", ErrorKind::Internal},
        // The user asked to stop.
        Case{SQLITE_INTERRUPT, "interrupted", ErrorKind::Transient}));

TEST(SqliteCodeName, NamesPrimaryAndExtendedCodes) {
  EXPECT_EQ(sqlite_code_name(SQLITE_BUSY), "SQLITE_BUSY");
  EXPECT_EQ(sqlite_code_name(SQLITE_CONSTRAINT_NOTNULL), "SQLITE_CONSTRAINT_NOTNULL");
  EXPECT_EQ(sqlite_code_name(SQLITE_IOERR_FSYNC), "SQLITE_IOERR_FSYNC");
  EXPECT_EQ(sqlite_code_name(0x7fff), std::to_string(0x7fff));
}

TEST(SqliteMakeError, CarriesCodeContextAndTruncatedStatement) {
  const std::string sql = "INSERT INTO t VALUES " + std::string(300, '?');
  const Error error =
      make_sqlite_error(SQLITE_CONSTRAINT_NOTNULL, "NOT NULL constraint failed: t.a", "/tmp/x.db",
                        "insert into t", sql, "t");
  EXPECT_EQ(error.kind(), ErrorKind::Data);
  EXPECT_EQ(error.native_code(), "SQLITE_CONSTRAINT_NOTNULL");
  EXPECT_EQ(error.context().engine, "sqlite");
  EXPECT_EQ(error.context().table, "t");
  EXPECT_EQ(error.context().statement, sql.substr(0, 200));
  const std::string what = error.what();
  EXPECT_NE(what.find("/tmp/x.db"), std::string::npos) << what;
  EXPECT_NE(what.find("insert into t failed"), std::string::npos) << what;
  EXPECT_NE(what.find("NOT NULL constraint failed"), std::string::npos) << what;
}

}  // namespace
}  // namespace parmap::sqlite
