// ODBC test helpers: URLs of the installed ODBC drivers for the test databases, and rows of
// SQLite and PostgreSQL queries in one canonical text form for value-by-value comparison.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "parmap/parmap.h"
#include "support/pg_support.h"
#include "support/test_support.h"

namespace parmap::test {

/// "odbc:///?driver=SQLite3&database=<path>": the SQLite ODBC driver on a file.
std::string odbc_sqlite_url(const std::string& path);

/// The psqlODBC ("PostgreSQL Unicode") URL of `database` on the server of `pg_url` (a
/// postgresql:// URL: its host, port, user and password are carried over).
std::string odbc_pg_url(const std::string& pg_url, const std::string& database);

/// The MariaDB Connector/ODBC ("MariaDB Unicode") URL of `database` on the server of
/// `mysql_url` (a mysql:// URL: its host, port, user and password are carried over).
std::string odbc_mariadb_url(const std::string& mysql_url, const std::string& database);

/// Options for a parallel run of `workers` workers and chunks of `chunk_size` rows, parallel
/// from 10 rows on.
ParallelOptions odbc_options(int workers, int64_t chunk_size);

/// Runs a job; an exception becomes a test failure with its message, and nullopt.
std::optional<ParallelResult> run_job(const std::string& source, const std::string& sql,
                                      const std::string& target, const std::string& table,
                                      const ParallelOptions& opts);

/// Checks that a run committed every planned chunk and `rows` rows in parallel.
void expect_complete(const ParallelResult& r, int64_t rows);

}  // namespace parmap::test
