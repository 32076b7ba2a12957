// The PostgreSQL driver against a real server (PARMAP_PG_URL), from connecting to COPY.
#include "connect/postgres/pg_driver.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "parmap/batch.h"
#include "parmap/connection.h"
#include "parmap/error.h"
#include "support/test_support.h"

namespace parmap {
namespace {

using Rows = std::vector<std::vector<Value>>;

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

/// Each test works in a schema of its own (named after the test), reached through the URL's
/// `options` param, so that tests can run in parallel against one server.
class PgDriverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = test::server_url("PARMAP_PG_URL");
    if (base_.empty()) GTEST_SKIP() << "PARMAP_PG_URL is not set (scripts/pg_test_server.sh)";
    register_builtin_drivers();
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    schema_ = ("pmt_" + name).substr(0, 40);
    mixed_ = "Mixed Case " + schema_.substr(4);
    admin_ = open();
    admin_->execute(
        fmt("DROP SCHEMA IF EXISTS {0} CASCADE; CREATE SCHEMA {0};"
            "DROP SCHEMA IF EXISTS {1} CASCADE",
            schema_, quoted_mixed()));
  }

  void TearDown() override {
    if (admin_ && !HasFailure()) {
      admin_->execute(fmt("DROP SCHEMA IF EXISTS {0} CASCADE; DROP SCHEMA IF EXISTS {1} CASCADE",
                          schema_, quoted_mixed()));
    }
  }

  /// A schema name that needs quoting, unique to the test.
  std::string quoted_mixed() const { return "\"" + mixed_ + "\""; }

  static std::string fmt(std::string text, const std::string& a, const std::string& b = {}) {
    // Tiny "{0}"/"{}"/"{1}" substitution, so that the test reads like SQL.
    auto replace_all = [&text](const std::string& from, const std::string& to) {
      for (size_t p = text.find(from); p != std::string::npos; p = text.find(from, p + to.size())) {
        text.replace(p, from.size(), to);
      }
    };
    replace_all("{0}", a);
    replace_all("{1}", b);
    replace_all("{}", a);
    return text;
  }

  /// The server URL with this test's schema first on the search_path.
  std::string url(const std::string& extra = {}) const {
    const char sep = base_.find('?') == std::string::npos ? '?' : '&';
    return base_ + sep + "options=-c%20search_path%3D" + schema_ + extra;
  }

  std::unique_ptr<Connection> open(const std::string& extra = {}) const {
    return DriverRegistry::instance().open(parse_url(url(extra)));
  }

  static std::string scalar(Connection& conn, const std::string& sql) {
    const Rows rows = conn.query(sql);
    if (rows.empty() || rows[0].empty() || rows[0][0].is_null()) return "";
    const Value& v = rows[0][0];
    if (v.is_text()) return v.as_text();
    if (v.is_int()) return std::to_string(v.as_int());
    return v.to_display();
  }

  /// "count:md5" of a table's rows rendered as text by PostgreSQL, order-independent.
  static std::string checksum(Connection& conn, const std::string& table) {
    return scalar(conn,
                  "SELECT count(*)::text || ':' || coalesce(md5(string_agg(t::text, ',' "
                  "ORDER BY t::text)), '') FROM " +
                      table + " AS t");
  }

  /// Copies a query into a new table through describe_query, create_table, a source and a
  /// sink inside one transaction; returns the rows the sink reported.
  static int64_t copy(Connection& from, const std::string& sql, Connection& to,
                      const TableRef& table, size_t batch_rows = 500) {
    const TableSchema schema = from.describe_query(sql);
    to.create_table(table, schema);
    std::vector<std::string> names;
    for (const ColumnInfo& c : schema.columns) names.push_back(c.name);
    auto source = from.open_source(sql, {}, batch_rows, 0);
    to.begin();
    auto sink = to.open_sink(table, names);
    Batch batch;
    while (source->next(batch)) {
      EXPECT_LE(batch.num_rows(), batch_rows);
      sink->write(batch);
    }
    const int64_t rows = sink->finish();
    to.commit();
    return rows;
  }

  /// A table of every type the driver maps, with NULLs in every nullable column.
  void make_typed_table(Connection& conn, const std::string& name, int rows) {
    conn.execute(
        fmt("CREATE TABLE {0} (id int4 PRIMARY KEY, a int2, b int8, f float8, n numeric(12,3), "
            "s text, ok bool, d date, ts timestamptz, u uuid, j jsonb, by bytea, arr int4[]);"
            "INSERT INTO {0} SELECT i, "
            "  CASE WHEN i % 7 = 1 THEN NULL ELSE (i % 32000)::int2 END, "
            "  CASE WHEN i % 7 = 2 THEN NULL ELSE i::int8 * 1000000007 * (CASE WHEN i % 2 = 0 "
            "    THEN -1 ELSE 1 END) END, "
            "  CASE WHEN i % 7 = 3 THEN NULL WHEN i % 11 = 0 THEN 'NaN' WHEN i % 13 = 0 THEN "
            "    '-Infinity' ELSE i * 1.0e-3 + 0.1 END, "
            "  CASE WHEN i % 7 = 4 THEN NULL ELSE (i * 12.345 - 5000)::numeric(12,3) END, "
            "  CASE WHEN i % 7 = 5 THEN NULL WHEN i % 5 = 0 THEN '' ELSE 'h\u00e9 ' || i || "
            "    E' tab\\t nl\\n bs\\\\ q'' \u65e5' END, "
            "  CASE WHEN i % 7 = 6 THEN NULL ELSE i % 2 = 0 END, "
            "  CASE WHEN i % 9 = 0 THEN NULL ELSE date '2024-02-29' + (i - 500) END, "
            "  CASE WHEN i % 10 = 0 THEN NULL ELSE timestamptz '2024-03-10 01:59:59.123456+00' "
            "    + i * interval '37 minutes 1.000001 seconds' END, "
            "  CASE WHEN i % 8 = 0 THEN NULL ELSE md5(i::text)::uuid END, "
            "  CASE WHEN i % 6 = 0 THEN NULL ELSE jsonb_build_object('i', i, 's', 'x\"y', 'a', "
            "    jsonb_build_array(1, 2.5, NULL)) END, "
            "  CASE WHEN i % 4 = 0 THEN NULL WHEN i % 4 = 1 THEN ''::bytea ELSE "
            "    decode(lpad(to_hex(i), 8, '0') || '00ff', 'hex') END, "
            "  CASE WHEN i % 3 = 0 THEN NULL WHEN i % 3 = 1 THEN ARRAY[i, NULL, -i] ELSE "
            "    ARRAY[]::int4[] END "
            "FROM generate_series(1, " +
                std::to_string(rows) + ") AS i",
            name));
  }

  std::string base_;
  std::string schema_;
  std::string mixed_;
  std::unique_ptr<Connection> admin_;
};

TEST_F(PgDriverTest, RegistersAsPostgresql) {
  EXPECT_EQ(admin_->engine(), "postgresql");
  EXPECT_TRUE(admin_->capabilities().concurrent_writers);
  EXPECT_TRUE(admin_->capabilities().snapshot_export);
  EXPECT_EQ(admin_->native_format(), "postgresql-binary-copy");
  EXPECT_EQ(admin_->quote_identifier("a\"b"), "\"a\"\"b\"");
  EXPECT_EQ(scalar(*admin_, "SELECT current_setting('application_name')"), "parmap");
  EXPECT_EQ(scalar(*admin_, "SELECT current_schema()"), schema_);
  auto custom = open("&application_name=nightly");
  EXPECT_EQ(scalar(*custom, "SELECT current_setting('application_name')"), "nightly");
}

TEST_F(PgDriverTest, ConnectErrorsAreClassifiedAndMaskThePassword) {
  const ConnectionUrl good = parse_url(base_);
  const std::string host = good.host.empty() ? "127.0.0.1" : good.host;
  auto expect_error = [](const std::string& url, std::vector<ErrorKind> kinds,
                         const std::string& must_contain) {
    try {
      DriverRegistry::instance().open(parse_url(url));
      ADD_FAILURE() << "no error for " << mask_password(url);
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(std::find(kinds.begin(), kinds.end(), e.kind()), kinds.end())
          << to_string(e.kind()) << ": " << what;
      EXPECT_FALSE(contains(what, "hunter2")) << what;
      EXPECT_TRUE(contains(what, must_contain)) << what;
      EXPECT_EQ(e.context().engine, "postgresql");
    }
  };
  // Nothing listens on port 1.
  expect_error("postgresql://parmap:hunter2@" + host + ":1/postgres?connect_timeout=5",
               {ErrorKind::Connect, ErrorKind::Transient}, "postgresql://parmap:****@");
  // A database that does not exist.
  std::string no_db = base_;
  {
    ConnectionUrl u = good;
    u.password = "hunter2";
    u.database = "parmap_no_such_db";
    no_db = u.masked();
    // masked() hides the password; put it back in the URL we connect with.
    no_db.replace(no_db.find("****"), 4, "hunter2");
  }
  expect_error(no_db, {ErrorKind::Connect}, "parmap_no_such_db");
  // A keyword libpq does not know, named in the message.
  expect_error(url("&sslmod=require"), {ErrorKind::Config}, "sslmod");
  // A bad value for a known keyword.
  expect_error(url("&sslmode=maybe"), {ErrorKind::Config}, "sslmode");
}

TEST_F(PgDriverTest, QueryBindsEveryParameterType) {
  const Rows rows = admin_->query(
      "SELECT ?::int8, ?::float8, ?::float8, ?::float8, ?::text, ?::bytea, ?::int4 IS NULL, "
      "'?', ?::int2, ?::bool, ?::numeric, ? = 'x?'",
      {Value(std::numeric_limits<int64_t>::min()), Value(0.1), Value(std::nan("")),
       Value(-std::numeric_limits<double>::infinity()), Value("h\u00e9'llo\\"),
       Value(Blob{std::string("\0\xff\x01", 3)}), Value(), Value(-7), Value(1),
       Value("12345678901234567890.000001"), Value("x?")});
  ASSERT_EQ(rows.size(), 1u);
  const std::vector<Value>& r = rows[0];
  ASSERT_EQ(r.size(), 12u);
  EXPECT_EQ(r[0], Value(std::numeric_limits<int64_t>::min()));
  ASSERT_TRUE(r[1].is_double());
  EXPECT_EQ(r[1].as_double(), 0.1);  // shortest round-trip text, exact
  ASSERT_TRUE(r[2].is_double());
  EXPECT_TRUE(std::isnan(r[2].as_double()));
  EXPECT_EQ(r[3], Value(-std::numeric_limits<double>::infinity()));
  EXPECT_EQ(r[4], Value("h\u00e9'llo\\"));
  EXPECT_EQ(r[5], Value(Blob{std::string("\0\xff\x01", 3)}));
  EXPECT_EQ(r[6], Value(1));  // bool -> 0/1
  EXPECT_EQ(r[7], Value("?"));
  EXPECT_EQ(r[8], Value(-7));
  EXPECT_EQ(r[9], Value(1));
  EXPECT_EQ(r[10], Value("12345678901234567890.000001"));  // numeric stays exact text
  EXPECT_EQ(r[11], Value(1));

  // Too few parameters is a usage error; a statement error is classified by SQLSTATE.
  try {
    admin_->query("SELECT ?, ?", {Value(1)});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config) << e.what();
  }
  try {
    admin_->query("SELECT * FROM no_such_table WHERE x = ?", {Value(1)});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Schema) << e.what();
    EXPECT_EQ(e.native_code(), "42P01");
    EXPECT_TRUE(contains(e.what(), "no_such_table")) << e.what();
  }
  try {
    admin_->query("SELECT 1/0");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Data) << e.what();
    EXPECT_EQ(e.native_code(), "22012");
  }
  // Without parameters a `?` is left alone (jsonb's operator).
  EXPECT_EQ(scalar(*admin_, "SELECT ('{\"a\": 1}'::jsonb ? 'a')::text"), "true");
}

TEST_F(PgDriverTest, DescribesQueriesAndTablesWithDeclaredTypes) {
  admin_->execute(fmt(
      "CREATE TABLE t (id bigint PRIMARY KEY, price numeric(12,2) NOT NULL, "
      "name varchar(20), tags integer[], at timestamptz, flag boolean, raw bytea, x real);"
      "CREATE SCHEMA {0}; CREATE TABLE {0}.\"my table\" (\"Key\" int PRIMARY KEY, \"Value\" text)",
      quoted_mixed()));
  const TableSchema q = admin_->describe_query(
      "SELECT id, price, name, tags, at, flag, raw, x, "
      "price * 2 AS doubled FROM t;");
  ASSERT_EQ(q.columns.size(), 9u);
  EXPECT_EQ(q.columns[0].name, "id");
  EXPECT_EQ(q.columns[0].type, ColumnType::Int64);
  EXPECT_EQ(q.columns[0].declared_type, "bigint");
  EXPECT_EQ(q.columns[1].type, ColumnType::Numeric);
  EXPECT_EQ(q.columns[1].declared_type, "numeric(12,2)");
  EXPECT_EQ(q.columns[2].type, ColumnType::Text);
  EXPECT_EQ(q.columns[2].declared_type, "character varying(20)");
  EXPECT_EQ(q.columns[3].type, ColumnType::Array);
  EXPECT_EQ(q.columns[3].declared_type, "integer[]");
  EXPECT_EQ(q.columns[4].type, ColumnType::TimestampTz);
  EXPECT_EQ(q.columns[4].declared_type, "timestamp with time zone");
  EXPECT_EQ(q.columns[5].type, ColumnType::Bool);
  EXPECT_EQ(q.columns[6].type, ColumnType::Blob);
  EXPECT_EQ(q.columns[7].type, ColumnType::Double);
  EXPECT_EQ(q.columns[7].declared_type, "real");
  EXPECT_EQ(q.columns[8].name, "doubled");
  EXPECT_EQ(q.columns[8].declared_type, "numeric");

  const std::optional<TableSchema> t = admin_->describe_table(TableRef{"", "t"});
  ASSERT_TRUE(t.has_value());
  ASSERT_EQ(t->columns.size(), 8u);
  EXPECT_TRUE(t->columns[0].primary_key);
  EXPECT_TRUE(t->columns[0].not_null);
  EXPECT_TRUE(t->columns[1].not_null);
  EXPECT_FALSE(t->columns[1].primary_key);
  EXPECT_EQ(t->columns[1].declared_type, "numeric(12,2)");
  EXPECT_EQ(t->columns[3].declared_type, "integer[]");
  // The same table through its schema, and a quoted schema and table.
  EXPECT_TRUE(admin_->describe_table(TableRef{schema_, "t"}).has_value());
  const auto mixed = admin_->describe_table(parse_table_ref(quoted_mixed() + ".\"my table\""));
  ASSERT_TRUE(mixed.has_value());
  ASSERT_EQ(mixed->columns.size(), 2u);
  EXPECT_EQ(mixed->columns[0].name, "Key");
  EXPECT_EQ(mixed->columns[1].declared_type, "text");
  // Missing: table, schema, or the table in another schema.
  EXPECT_FALSE(admin_->describe_table(TableRef{"", "nope"}).has_value());
  EXPECT_FALSE(admin_->describe_table(TableRef{"no_such_schema", "t"}).has_value());
  EXPECT_FALSE(admin_->describe_table(TableRef{"public", "t"}).has_value());
  EXPECT_FALSE(admin_->describe_table(TableRef{"", "my table"}).has_value());
}

TEST_F(PgDriverTest, FindsTheIntegerPrimaryKey) {
  admin_->execute(
      "CREATE TABLE k_int (id integer PRIMARY KEY, v text);"
      "CREATE TABLE k_small (\"Id\" smallint PRIMARY KEY);"
      "CREATE TABLE k_big (a text, id bigint PRIMARY KEY);"
      "CREATE TABLE k_text (id text PRIMARY KEY);"
      "CREATE TABLE k_pair (a int, b int, PRIMARY KEY (a, b));"
      "CREATE TABLE k_none (a int)");
  EXPECT_EQ(admin_->integer_primary_key(TableRef{"", "k_int"}), "id");
  EXPECT_EQ(admin_->integer_primary_key(TableRef{"", "k_small"}), "Id");
  EXPECT_EQ(admin_->integer_primary_key(TableRef{schema_, "k_big"}), "id");
  EXPECT_EQ(admin_->integer_primary_key(TableRef{"", "k_text"}), std::nullopt);
  EXPECT_EQ(admin_->integer_primary_key(TableRef{"", "k_pair"}), std::nullopt);
  EXPECT_EQ(admin_->integer_primary_key(TableRef{"", "k_none"}), std::nullopt);
  EXPECT_EQ(admin_->integer_primary_key(TableRef{"", "k_missing"}), std::nullopt);
}

TEST_F(PgDriverTest, EstimatesRowsFromThePlanner) {
  admin_->execute(
      "CREATE TABLE e (id int PRIMARY KEY, g int);"
      "INSERT INTO e SELECT i, i % 10 FROM generate_series(1, 20000) AS i; ANALYZE e");
  const int64_t all = admin_->estimate_rows("SELECT * FROM e;");
  EXPECT_GE(all, 19000);
  EXPECT_LE(all, 21000);
  const int64_t some = admin_->estimate_rows("SELECT * FROM e WHERE id <= 1000");
  EXPECT_GE(some, 500);
  EXPECT_LE(some, 2000);
}

TEST_F(PgDriverTest, KeyStatisticsOfTablesQueriesAndCtid) {
  admin_->execute(
      "CREATE TABLE ks (id int PRIMARY KEY, k int, name text);"
      "INSERT INTO ks SELECT i, CASE WHEN i % 50 = 0 THEN NULL ELSE i * 3 END, 'n' || i "
      "FROM generate_series(1, 50000) AS i; ANALYZE ks");
  // A plain table: min/max exact, nulls from pg_stats, a sorted sample (every k-th key of a
  // small table; TABLESAMPLE on a large one).
  KeyStats s = admin_->key_stats("SELECT * FROM ks", "k", 500);
  EXPECT_EQ(s.column, "k");
  EXPECT_EQ(s.type, ColumnType::Int64);
  EXPECT_EQ(s.min, Value(3));
  EXPECT_EQ(s.max, Value(149997));
  EXPECT_NEAR(static_cast<double>(s.null_rows), 1000, 300);
  EXPECT_NEAR(static_cast<double>(s.rows), 49000, 3000);
  EXPECT_FALSE(s.sample.empty());
  EXPECT_LE(s.sample.size(), 500u);
  EXPECT_TRUE(std::is_sorted(s.sample.begin(), s.sample.end()));
  for (const Value& v : s.sample) EXPECT_TRUE(v.is_int());

  // A query that is not a table: nulls counted (small), sample from every k-th key.
  s = admin_->key_stats("SELECT id, k FROM ks WHERE id <= 10000", "K", 100);
  EXPECT_EQ(s.column, "k");
  EXPECT_EQ(s.min, Value(3));
  EXPECT_EQ(s.max, Value(29997));
  EXPECT_EQ(s.null_rows, 200);
  EXPECT_GT(s.sample.size(), 50u);
  EXPECT_LE(s.sample.size(), 100u);
  EXPECT_TRUE(std::is_sorted(s.sample.begin(), s.sample.end()));

  // A NOT NULL key has no NULL rows for certain; a nullable one without NULLs in a small
  // query is counted exactly.
  EXPECT_EQ(admin_->key_stats("SELECT * FROM ks", "id", 10).null_rows, 0);
  EXPECT_EQ(admin_->key_stats("SELECT id, name FROM ks WHERE id < 10", "name", 10).null_rows, 0);

  // Text keys come back as text.
  s = admin_->key_stats("SELECT * FROM ks WHERE id < 100", "name", 10);
  EXPECT_EQ(s.type, ColumnType::Text);
  EXPECT_TRUE(s.min.is_text());

  // ctid: block numbers of the table.
  s = admin_->key_stats("SELECT * FROM ks", "ctid", 100);
  EXPECT_EQ(s.type, ColumnType::Int64);
  EXPECT_EQ(s.min, Value(0));
  const std::string pages = scalar(
      *admin_, "SELECT (pg_relation_size('ks') / current_setting('block_size')::int8)::text");
  EXPECT_EQ(s.max, Value(static_cast<int64_t>(std::stoll(pages))));
  EXPECT_GT(s.max.as_int(), 10);
  EXPECT_NEAR(static_cast<double>(s.rows), 50000, 3000);
  EXPECT_TRUE(s.sample.empty());

  try {
    admin_->key_stats("SELECT * FROM ks", "nope", 10);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Schema) << e.what();
    EXPECT_TRUE(contains(e.what(), "nope")) << e.what();
  }
  try {
    admin_->key_stats("SELECT id FROM ks WHERE id > 5", "ctid", 10);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config) << e.what();
  }
}

TEST_F(PgDriverTest, CtidChunksCoverTheTableExactlyOnce) {
  admin_->execute(
      "CREATE TABLE c (id int PRIMARY KEY, pad text);"
      "INSERT INTO c SELECT i, repeat('x', 100) FROM generate_series(1, 20000) AS i; ANALYZE c");
  const std::string sql = "SELECT * FROM c";
  const KeyStats s = admin_->key_stats(sql, "ctid", 0);
  const int64_t pages = s.max.as_int();
  ASSERT_GT(pages, 20);
  // Chunks as the planner cuts them: open below, [b_i, b_i+1), open above.
  std::vector<Value> bounds(1);  // (no initializer list: GCC 12 warns falsely on it at -O2)
  for (int64_t b = 3; b < pages; b += 7) bounds.emplace_back(b);
  bounds.emplace_back();
  int64_t total = 0;
  int64_t id_sum = 0;
  for (size_t i = 0; i + 1 < bounds.size(); ++i) {
    Chunk chunk;
    chunk.key = "ctid";
    chunk.range.lo = bounds[i];
    chunk.range.hi = bounds[i + 1];
    std::vector<Value> params;
    const std::string q = admin_->chunk_query(sql, chunk, params);
    EXPECT_TRUE(params.empty());
    if (i > 0) {
      EXPECT_TRUE(contains(q, "::tid")) << q;
    }
    const Rows rows =
        admin_->query("SELECT count(*), coalesce(sum(id), 0)::int8 FROM (" + q + ") AS x");
    total += rows[0][0].as_int();
    id_sum += rows[0][1].as_int();
  }
  EXPECT_EQ(total, 20000);
  EXPECT_EQ(id_sum, int64_t{20000} * 20001 / 2);
  // Other keys use the default wrapper.
  Chunk by_id;
  by_id.key = "id";
  by_id.range.lo = Value(10);
  std::vector<Value> params;
  EXPECT_EQ(admin_->chunk_query(sql, by_id, params),
            "SELECT * FROM (SELECT * FROM c) AS src WHERE \"id\" >= ?");
  EXPECT_EQ(params.size(), 1u);
}

TEST_F(PgDriverTest, RangeFilterProblemOnlyWhenTheFilterCannotReachTheScan) {
  admin_->execute(
      "CREATE TABLE rf (id int PRIMARY KEY, g int, v int);"
      "INSERT INTO rf SELECT i, i % 10, i FROM generate_series(1, 5000) AS i;"
      "CREATE INDEX rf_g ON rf (g); ANALYZE rf;"
      "CREATE VIEW rf_agg AS SELECT g, sum(v) AS total, max(id) AS id FROM rf GROUP BY g;"
      "CREATE VIEW rf_win AS SELECT id, sum(v) OVER (ORDER BY id) AS running FROM rf");
  EXPECT_EQ(admin_->range_filter_problem("SELECT * FROM rf", "id"), std::nullopt);
  EXPECT_EQ(admin_->range_filter_problem("SELECT id, v FROM rf WHERE g = 3", "id"), std::nullopt);
  // Grouping columns are pushed below the aggregate.
  EXPECT_EQ(admin_->range_filter_problem("SELECT * FROM rf_agg", "g"), std::nullopt);
  const auto agg = admin_->range_filter_problem("SELECT * FROM rf_agg", "id");
  ASSERT_TRUE(agg.has_value());
  EXPECT_TRUE(contains(*agg, "on id cannot be pushed")) << *agg;
  EXPECT_TRUE(contains(*agg, "Aggregate")) << *agg;
  const auto win = admin_->range_filter_problem("SELECT * FROM rf_win", "id");
  ASSERT_TRUE(win.has_value());
  EXPECT_TRUE(contains(*win, "Subquery Scan")) << *win;
  // A key no index answers: every chunk would read the whole table.
  const auto unindexed = admin_->range_filter_problem("SELECT * FROM rf", "v");
  ASSERT_TRUE(unindexed.has_value());
  EXPECT_TRUE(contains(*unindexed, "no index on v answers a key range")) << *unindexed;
  EXPECT_TRUE(contains(*unindexed, "rf is read by a sequential scan")) << *unindexed;
  // An index that answers the query's own condition, not the key's: every chunk would read
  // every row of the query.
  const auto other = admin_->range_filter_problem("SELECT * FROM rf WHERE id < 3000", "v");
  ASSERT_TRUE(other.has_value());
  EXPECT_TRUE(contains(*other, "no index on v answers a key range (rf is read by a")) << *other;
  EXPECT_TRUE(contains(*other, "rf_pkey, testing the key on each row it reads")) << *other;
  // An unknown column: the engine cannot tell.
  EXPECT_EQ(admin_->range_filter_problem("SELECT * FROM rf", "nope"), std::nullopt);
  // The session is left clean: no prepared probe, default plan cache mode.
  EXPECT_EQ(scalar(*admin_, "SELECT count(*)::text FROM pg_prepared_statements"), "0");
  EXPECT_EQ(scalar(*admin_, "SELECT current_setting('plan_cache_mode')"), "auto");
  EXPECT_EQ(scalar(*admin_, "SELECT current_setting('enable_seqscan')"), "on");
}

TEST_F(PgDriverTest, ImportedSnapshotDoesNotSeeLaterRows) {
  admin_->execute(
      "CREATE TABLE snap (id int PRIMARY KEY);"
      "INSERT INTO snap SELECT generate_series(1, 100)");
  auto coordinator = open();
  const std::optional<std::string> id = coordinator->export_snapshot();
  ASSERT_TRUE(id.has_value());
  // A failed statement on the coordinator does not end its exported snapshot.
  EXPECT_THROW(coordinator->query("SELECT * FROM no_such_table"), Error);
  EXPECT_EQ(scalar(*coordinator, "SELECT count(*)::text FROM snap"), "100");

  // Planning on the coordinator runs inside its snapshot transaction and keeps it open.
  EXPECT_EQ(coordinator->range_filter_problem("SELECT * FROM snap", "id"), std::nullopt);
  EXPECT_EQ(coordinator->key_stats("SELECT * FROM snap", "id", 10).max, Value(100));
  EXPECT_THROW(coordinator->key_stats("SELECT * FROM snap", "nope", 10), Error);

  admin_->execute("INSERT INTO snap VALUES (101)");  // committed after the export
  EXPECT_EQ(scalar(*admin_, "SELECT count(*)::text FROM snap"), "101");

  auto worker = open();
  worker->import_snapshot(*id);
  EXPECT_EQ(scalar(*worker, "SELECT count(*)::text FROM snap"), "100");
  // A source on the worker reads the same instant.
  auto source = worker->open_source("SELECT * FROM snap WHERE id > ?", {Value(90)}, 3, 0);
  Batch batch;
  int64_t rows = 0;
  while (source->next(batch)) rows += static_cast<int64_t>(batch.num_rows());
  EXPECT_EQ(rows, 10);
  source.reset();
  // A failed read restarts the snapshot's transaction with the same snapshot.
  EXPECT_THROW(worker->query("SELECT 1/0"), Error);
  EXPECT_EQ(scalar(*worker, "SELECT count(*)::text FROM snap"), "100");
  // Native sources too.
  auto native = worker->open_native_source("SELECT * FROM snap", {});
  std::string_view piece;
  while (native->next(piece)) {
  }
  EXPECT_EQ(native->rows(), 100);

  // A second worker imports after the first has been reading.
  auto late = open();
  late->import_snapshot(*id);
  EXPECT_EQ(scalar(*late, "SELECT count(*)::text FROM snap"), "100");

  // Once the coordinator's transaction ends, importing fails loudly.
  coordinator->rollback();
  auto orphan = open();
  orphan->import_snapshot(*id);
  try {
    orphan->query("SELECT 1");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Internal) << e.what();
    EXPECT_TRUE(contains(e.what(), "snapshot")) << e.what();
  }
}

TEST_F(PgDriverTest, SourceAndSinkRoundTripEveryType) {
  make_typed_table(*admin_, "src", 3000);
  auto from = open();
  auto to = open();
  // Arrays go through the text format; the other columns through the binary format.
  EXPECT_EQ(copy(*from, "SELECT * FROM src", *to, TableRef{"", "dst"}, 256), 3000);
  EXPECT_EQ(checksum(*admin_, "dst"), checksum(*admin_, "src"));
  const auto dst = admin_->describe_table(TableRef{"", "dst"});
  ASSERT_TRUE(dst.has_value());
  EXPECT_EQ(dst->columns[4].declared_type, "numeric(12,3)");
  EXPECT_EQ(dst->columns[12].declared_type, "integer[]");

  const std::string no_array = "SELECT id, a, b, f, n, s, ok, d, ts, u, j, by FROM src";
  EXPECT_EQ(copy(*from, no_array, *to, TableRef{"", "dst_bin"}, 1000), 3000);
  EXPECT_EQ(checksum(*admin_, "dst_bin"), checksum(*admin_, "(" + no_array + ")"));

  // Parameters are inlined as literals (COPY takes none) and batches obey the byte bound.
  auto source = from->open_source("SELECT * FROM src WHERE s = ? OR by = ? OR id < ?",
                                  {Value("it's"), Value(Blob{"\x01"}), Value(11)}, 1000, 2000);
  Batch batch;
  int64_t rows = 0;
  int batches = 0;
  while (source->next(batch)) {
    rows += static_cast<int64_t>(batch.num_rows());
    ++batches;
    EXPECT_EQ(batch.num_columns(), 13u);
  }
  EXPECT_EQ(rows, 10);
  EXPECT_GT(batches, 1);
}

TEST_F(PgDriverTest, NativeStreamCopiesBytesUnchanged) {
  make_typed_table(*admin_, "nsrc", 2000);
  admin_->execute("CREATE TABLE ndst (LIKE nsrc)");
  auto from = open();
  auto to = open();
  const std::vector<std::string> columns = {"id", "a",  "b", "f", "n",  "s",  "ok",
                                            "d",  "ts", "u", "j", "by", "arr"};
  auto source = from->open_native_source("SELECT * FROM nsrc WHERE id > ?", {Value(0)});
  to->begin();
  auto sink = to->open_native_sink(TableRef{schema_, "ndst"}, columns);
  std::string_view piece;
  while (source->next(piece)) sink->write(piece);
  EXPECT_EQ(sink->finish(), 2000);
  to->commit();
  EXPECT_EQ(source->rows(), 2000);
  EXPECT_NE(source->row_hash(), 0u);
  EXPECT_EQ(checksum(*admin_, "ndst"), checksum(*admin_, "nsrc"));

  // The same rows in another order hash the same.
  auto again = from->open_native_source("SELECT * FROM nsrc ORDER BY id DESC", {});
  while (again->next(piece)) {
  }
  EXPECT_EQ(again->rows(), 2000);
  EXPECT_EQ(again->row_hash(), source->row_hash());
}

TEST_F(PgDriverTest, CreatesTablesWithQuotedSchemaAndTableNames) {
  make_typed_table(*admin_, "qsrc", 100);
  admin_->execute("CREATE SCHEMA " + quoted_mixed());
  const TableRef target = parse_table_ref(quoted_mixed() + ".\"my table\"");
  EXPECT_EQ(target.schema, mixed_);
  auto to = open();
  EXPECT_EQ(
      copy(*admin_, "SELECT id AS \"Id\", n AS \"Amount \"\"x\"\"\", arr FROM qsrc", *to, target),
      100);
  const auto schema = admin_->describe_table(target);
  ASSERT_TRUE(schema.has_value());
  ASSERT_EQ(schema->columns.size(), 3u);
  EXPECT_EQ(schema->columns[0].name, "Id");
  EXPECT_EQ(schema->columns[1].name, "Amount \"x\"");
  EXPECT_EQ(schema->columns[1].declared_type, "numeric(12,3)");
  EXPECT_EQ(schema->columns[2].declared_type, "integer[]");
  EXPECT_EQ(scalar(*admin_, "SELECT count(*)::text FROM " + quoted_mixed() + ".\"my table\""),
            "100");

  // Types from another engine (upper case, unknown here) map from the column type.
  TableSchema foreign;
  foreign.columns.push_back(ColumnInfo{"i", ColumnType::Int64, "INTEGER", true, true});
  foreign.columns.push_back(ColumnInfo{"when", ColumnType::Text, "datetime", false, false});
  foreign.columns.push_back(ColumnInfo{"m", ColumnType::Text, "int(11)", false, false});
  foreign.columns.push_back(ColumnInfo{"b", ColumnType::Blob, "", false, false});
  // Declared as a PostgreSQL type, but the values are of another kind: not used.
  foreign.columns.push_back(ColumnInfo{"x", ColumnType::Double, "integer", false, false});
  admin_->create_table(TableRef{"", "foreign_types"}, foreign);
  const auto made = admin_->describe_table(TableRef{"", "foreign_types"});
  ASSERT_TRUE(made.has_value());
  EXPECT_EQ(made->columns[0].declared_type, "bigint");
  EXPECT_TRUE(made->columns[0].primary_key);
  EXPECT_EQ(made->columns[1].declared_type, "text");
  EXPECT_EQ(made->columns[2].declared_type, "text");
  EXPECT_EQ(made->columns[3].declared_type, "bytea");
  EXPECT_EQ(made->columns[4].declared_type, "double precision");
}

TEST_F(PgDriverTest, SinkReportsRefusedRowsAsDataErrors) {
  admin_->execute("CREATE TABLE strict_t (id int PRIMARY KEY, v text NOT NULL)");
  Batch batch;
  batch.columns.resize(2);
  batch.columns[0].name = "id";
  batch.columns[0].type = ColumnType::Int64;
  batch.columns[1].name = "v";
  batch.columns[1].type = ColumnType::Text;
  batch.columns[0].append_int(1);
  batch.columns[1].append_string("a");
  batch.columns[0].append_int(2);
  batch.columns[1].append_null();
  auto conn = open();
  conn->begin();
  try {
    auto sink = conn->open_sink(TableRef{"", "strict_t"}, {"id", "v"});
    sink->write(batch);
    sink->finish();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Data) << e.what();
    EXPECT_EQ(e.native_code(), "23502");
    EXPECT_TRUE(contains(e.what(), "\"v\"")) << e.what();
  }
  conn->rollback();
  // The session is usable again, and committing a failed transaction is not a success.
  EXPECT_EQ(scalar(*conn, "SELECT count(*)::text FROM strict_t"), "0");
  conn->begin();
  EXPECT_THROW(conn->execute("INSERT INTO strict_t VALUES (1, NULL)"), Error);
  try {
    conn->commit();
    ADD_FAILURE() << "commit of a failed transaction succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Transient) << e.what();
  }
  // Missing table or column: Schema, at open.
  try {
    conn->open_sink(TableRef{"", "strict_t"}, {"id", "nope"});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Schema) << e.what();
  }
  try {
    conn->open_sink(TableRef{"", "no_table"}, {"id"});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Schema) << e.what();
  }
}

TEST_F(PgDriverTest, AbandonedSourcesLeaveTheSessionUsable) {
  admin_->execute("CREATE TABLE big AS SELECT i AS id FROM generate_series(1, 200000) AS i");
  auto conn = open();
  {
    auto source = conn->open_source("SELECT * FROM big", {}, 10, 0);
    Batch batch;
    ASSERT_TRUE(source->next(batch));
    EXPECT_EQ(batch.num_rows(), 10u);
  }
  EXPECT_EQ(scalar(*conn, "SELECT count(*)::text FROM big"), "200000");
  {
    auto native = conn->open_native_source("SELECT * FROM big", {});
    std::string_view piece;
    ASSERT_TRUE(native->next(piece));
  }
  EXPECT_EQ(scalar(*conn, "SELECT 'ok'"), "ok");
  // An abandoned sink inside a transaction: rollback still works.
  conn->begin();
  { auto sink = conn->open_native_sink(TableRef{"", "big"}, {"id"}); }
  conn->rollback();
  EXPECT_EQ(scalar(*conn, "SELECT count(*)::text FROM big"), "200000");
  // A source outliving close() fails cleanly; close() is idempotent.
  auto source = conn->open_source("SELECT * FROM big", {}, 10, 0);
  conn->close();
  conn->close();
  Batch batch;
  try {
    source->next(batch);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Connect) << e.what();
  }
  EXPECT_THROW(conn->query("SELECT 1"), Error);
}

TEST_F(PgDriverTest, LostConnectionIsTransient) {
  auto victim = open();
  const std::string pid = scalar(*victim, "SELECT pg_backend_pid()::text");
  admin_->query("SELECT pg_terminate_backend(?::int)", {Value(pid)});
  try {
    victim->query("SELECT 1");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Transient) << e.what();
  }
  victim->rollback();  // never throws on a dead session
}

}  // namespace
}  // namespace parmap
