// The SQLite driver against real database files: types, schema, statistics, batches, errors,
// and parallel writers sharing a file.
#include "connect/sqlite/sqlite_driver.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "connect/sqlite/sqlite_connection.h"
#include "parmap/error.h"
#include "support/test_support.h"

namespace parmap::sqlite {
namespace {

using Rows = std::vector<std::vector<Value>>;

class SqliteDriverTest : public ::testing::Test {
 protected:
  std::unique_ptr<SqliteConnection> open(const std::string& name,
                                         std::map<std::string, std::string> params = {}) {
    ConnectionUrl url;
    url.scheme = "sqlite";
    url.database = name == ":memory:" ? name : dir_.file(name);
    url.params = std::move(params);
    return SqliteConnection::open(url);
  }

  // Rows rendered as "typeof:quote" text, for readable diffs.
  static std::vector<std::string> render(Connection& conn, const std::string& sql) {
    std::vector<std::string> out;
    for (const auto& row : conn.query(sql)) {
      std::string line;
      for (const Value& v : row) line += v.to_display() + " | ";
      out.push_back(line);
    }
    return out;
  }

  // Copies a query's rows into a new table through describe_query, a source and a sink.
  static int64_t copy(Connection& from, const std::string& sql, Connection& to,
                      const std::string& table, size_t batch_rows = 1000) {
    const TableSchema schema = from.describe_query(sql);
    to.create_table(TableRef{"", table}, schema);
    std::vector<std::string> names;
    for (const ColumnInfo& c : schema.columns) names.push_back(c.name);
    auto source = from.open_source(sql, {}, batch_rows, 0);
    to.begin();
    auto sink = to.open_sink(TableRef{"", table}, names);
    Batch batch;
    while (source->next(batch)) sink->write(batch);
    const int64_t rows = sink->finish();
    to.commit();
    return rows;
  }

  test::TempDir dir_;
};

TEST_F(SqliteDriverTest, RoundTripsEveryStorageClassExactly) {
  auto src = open("src.db");
  src->execute(
      "CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB);"
      "INSERT INTO t VALUES (-9223372036854775808, -1.5, 'h\u00e9llo \u2713 \u65e5\u672c', "
      "  x'00ff00');"
      "INSERT INTO t VALUES (9223372036854775807, 1e308, '', x'');"
      "INSERT INTO t VALUES (NULL, NULL, NULL, NULL);"
      "INSERT INTO t VALUES (0, 4.9e-324, 'a' || char(0) || 'b', x'0000');");
  auto dst = open("dst.db");
  EXPECT_EQ(copy(*src, "SELECT * FROM t ORDER BY rowid", *dst, "t"), 4);

  const std::string check =
      "SELECT typeof(i), quote(i), typeof(r), quote(r), typeof(s), hex(s), typeof(b), hex(b) "
      "FROM t ORDER BY rowid";
  EXPECT_EQ(render(*src, check), render(*dst, check));

  // The values themselves, as a source yields them.
  auto source = dst->open_source("SELECT i, s, b FROM t ORDER BY rowid", {}, 100, 0);
  Batch batch;
  ASSERT_TRUE(source->next(batch));
  ASSERT_EQ(batch.num_rows(), 4u);
  EXPECT_EQ(batch.columns[0].type, ColumnType::Int64);
  EXPECT_EQ(batch.columns[0].get(0), Value(std::numeric_limits<int64_t>::min()));
  EXPECT_EQ(batch.columns[0].get(1), Value(std::numeric_limits<int64_t>::max()));
  EXPECT_TRUE(batch.columns[0].get(2).is_null());
  EXPECT_EQ(batch.columns[1].get(0), Value("h\u00e9llo \u2713 \u65e5\u672c"));
  EXPECT_EQ(batch.columns[1].get(1), Value(""));  // empty text is not NULL
  EXPECT_TRUE(batch.columns[1].get(2).is_null());
  EXPECT_EQ(batch.columns[1].get(3), Value(std::string("a\0b", 3)));
  EXPECT_EQ(batch.columns[2].get(0), Value(Blob{std::string("\0\xff\0", 3)}));
  EXPECT_EQ(batch.columns[2].get(1), Value(Blob{}));  // empty blob is not NULL
  EXPECT_EQ(batch.columns[2].get(3), Value(Blob{std::string(2, '\0')}));
  EXPECT_FALSE(source->next(batch));
  EXPECT_EQ(batch.num_rows(), 0u);
}

TEST_F(SqliteDriverTest, MixedTypeColumnsSurviveExactly) {
  auto src = open("src.db");
  src->execute(
      "CREATE TABLE untyped (c);"
      "INSERT INTO untyped VALUES (1), (2.5), ('007'), (x'0102'), (NULL), (''), ('abc'),"
      "  (9223372036854775807), (x''), ('1e3');"
      "CREATE TABLE typed (c INTEGER);"
      "INSERT INTO typed VALUES (1), ('abc'), (3.5), (NULL), (4), (x'00');");
  auto dst = open("dst.db");
  // Batches of 3 rows: columns turn Any mid-stream and start typed again in the next batch.
  copy(*src, "SELECT c FROM untyped ORDER BY rowid", *dst, "untyped", 3);
  copy(*src, "SELECT c FROM typed ORDER BY rowid", *dst, "typed", 3);

  const std::string untyped = "SELECT typeof(c), quote(c) FROM untyped ORDER BY rowid";
  const std::string typed = "SELECT typeof(c), quote(c) FROM typed ORDER BY rowid";
  EXPECT_EQ(render(*src, untyped), render(*dst, untyped));
  EXPECT_EQ(render(*src, typed), render(*dst, typed));
  EXPECT_EQ(dst->query("SELECT c FROM untyped WHERE rowid = 3"), (Rows{{Value("007")}}));

  // An untyped column is created with no declared type (BLOB affinity, values kept as is).
  const auto schema = dst->describe_table(TableRef{"", "untyped"});
  ASSERT_TRUE(schema.has_value());
  EXPECT_EQ(schema->columns[0].declared_type, "");
  EXPECT_EQ(dst->describe_table(TableRef{"", "typed"})->columns[0].declared_type, "INTEGER");

  // Order-independent content check computed by SQLite itself.
  EXPECT_EQ(test::sqlite_checksum(dir_.file("src.db"), "SELECT c FROM untyped"),
            test::sqlite_checksum(dir_.file("dst.db"), "SELECT c FROM untyped"));
}

TEST_F(SqliteDriverTest, DescribesQueriesByAffinity) {
  auto conn = open("a.db");
  conn->execute(
      "CREATE TABLE d (id INTEGER PRIMARY KEY, name VARCHAR(20) NOT NULL, price DOUBLE "
      "PRECISION, ratio FLOAT, flag BOOLEAN, data BLOB, note CLOB, created DATETIME, n NUMERIC, "
      "big BIGINT, u)");
  const TableSchema schema = conn->describe_query(
      "SELECT id, name, price, ratio, flag, data, note, created, n, big, u, id + 1 AS expr "
      "FROM (SELECT * FROM d) AS inner_q;");
  const std::vector<ColumnType> expected = {
      ColumnType::Int64, ColumnType::Text,  ColumnType::Double, ColumnType::Double,
      ColumnType::Bool,  ColumnType::Blob,  ColumnType::Text,   ColumnType::Timestamp,
      ColumnType::Any,   ColumnType::Int64, ColumnType::Any,    ColumnType::Any};
  ASSERT_EQ(schema.columns.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(schema.columns[i].type, expected[i])
        << schema.columns[i].name << " declared '" << schema.columns[i].declared_type << "'";
  }
  EXPECT_EQ(schema.columns[11].name, "expr");
  EXPECT_EQ(schema.columns[1].declared_type, "VARCHAR(20)");

  const auto table = conn->describe_table(TableRef{"", "d"});
  ASSERT_TRUE(table.has_value());
  ASSERT_EQ(table->columns.size(), 11u);
  EXPECT_TRUE(table->columns[0].primary_key);
  EXPECT_FALSE(table->columns[1].primary_key);
  EXPECT_TRUE(table->columns[1].not_null);
  EXPECT_FALSE(table->columns[2].not_null);
  EXPECT_EQ(table->columns[2].type, ColumnType::Double);
  EXPECT_TRUE(conn->describe_table(TableRef{"main", "d"}).has_value());
  EXPECT_FALSE(conn->describe_table(TableRef{"", "missing"}).has_value());
  EXPECT_FALSE(conn->describe_table(TableRef{"temp", "d"}).has_value());
}

TEST_F(SqliteDriverTest, CreateTableMapsTypesAndKeys) {
  auto conn = open("a.db");
  TableSchema schema;
  schema.columns = {{"id", ColumnType::Int64, "", true, true},
                    {"r", ColumnType::Double, "", false, false},
                    {"t", ColumnType::Text, "", true, false},
                    {"b", ColumnType::Blob, "", false, false},
                    {"f", ColumnType::Bool, "", false, false},
                    {"a", ColumnType::Any, "", false, false},
                    {"odd \"name\"", ColumnType::Text, "", false, false}};
  conn->create_table(TableRef{"main", "made"}, schema);
  const auto made = conn->describe_table(TableRef{"", "made"});
  ASSERT_TRUE(made.has_value());
  const std::vector<std::string> declared = {"INTEGER", "REAL", "TEXT", "BLOB",
                                             "BOOLEAN", "",     "TEXT"};
  ASSERT_EQ(made->columns.size(), declared.size());
  for (size_t i = 0; i < declared.size(); ++i) {
    EXPECT_EQ(made->columns[i].declared_type, declared[i]) << made->columns[i].name;
  }
  EXPECT_EQ(made->columns[6].name, "odd \"name\"");
  EXPECT_TRUE(made->columns[0].primary_key);
  EXPECT_TRUE(made->columns[2].not_null);
  EXPECT_EQ(conn->integer_primary_key(TableRef{"", "made"}), "id");
  // "ANY" would have NUMERIC affinity; no declared type keeps '007' as text.
  conn->execute("INSERT INTO made (id, t, a) VALUES (1, 'x', '007')");
  EXPECT_EQ(conn->query("SELECT typeof(a) FROM made"), (Rows{{Value("text")}}));
}

TEST_F(SqliteDriverTest, FindsTheIntegerPrimaryKey) {
  auto conn = open("a.db");
  conn->execute(
      "CREATE TABLE rowid_alias (id INTEGER PRIMARY KEY, v TEXT);"
      "CREATE TABLE big (v TEXT, k BIGINT NOT NULL, PRIMARY KEY (k));"
      "CREATE TABLE text_key (k TEXT PRIMARY KEY);"
      "CREATE TABLE composite (a INTEGER, b INTEGER, PRIMARY KEY (a, b));"
      "CREATE TABLE no_key (a INTEGER);");
  EXPECT_EQ(conn->integer_primary_key(TableRef{"", "rowid_alias"}), "id");
  EXPECT_EQ(conn->integer_primary_key(TableRef{"main", "big"}), "k");
  EXPECT_EQ(conn->integer_primary_key(TableRef{"", "text_key"}), std::nullopt);
  EXPECT_EQ(conn->integer_primary_key(TableRef{"", "composite"}), std::nullopt);
  EXPECT_EQ(conn->integer_primary_key(TableRef{"", "no_key"}), std::nullopt);
  EXPECT_EQ(conn->integer_primary_key(TableRef{"", "missing"}), std::nullopt);
}

TEST_F(SqliteDriverTest, KeyStatsCountsNullsAndSamplesSortedKeys) {
  auto conn = open("a.db");
  conn->execute(
      "CREATE TABLE k (v INTEGER, w TEXT);"
      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) "
      "INSERT INTO k SELECT (1001 - i) * 2, printf('key%04d', i) FROM n;"
      "INSERT INTO k SELECT NULL, NULL FROM k LIMIT 50;");
  EXPECT_EQ(conn->estimate_rows("SELECT * FROM k"), 1050);

  const KeyStats stats = conn->key_stats("SELECT * FROM k;", "V", 100);
  EXPECT_EQ(stats.column, "v");
  EXPECT_EQ(stats.type, ColumnType::Int64);
  EXPECT_EQ(stats.min, Value(2));
  EXPECT_EQ(stats.max, Value(2000));
  EXPECT_EQ(stats.rows, 1000);
  EXPECT_EQ(stats.null_rows, 50);
  // Read in one pass, the sample is every k-th of the sorted keys, k the power of two that
  // keeps it within 100: every 16th, 2, 34, 66, ... (63 keys).
  ASSERT_EQ(stats.sample.size(), 63u);
  EXPECT_EQ(stats.sample.front(), Value(2));
  EXPECT_EQ(stats.sample[1], Value(34));
  EXPECT_EQ(stats.sample.back(), Value(1986));
  EXPECT_TRUE(std::is_sorted(stats.sample.begin(), stats.sample.end()));

  const KeyStats odd = conn->key_stats("SELECT * FROM k", "v", 300);
  EXPECT_LE(odd.sample.size(), 300u);  // every 4th key: 250
  EXPECT_EQ(odd.sample.size(), 250u);

  const KeyStats text = conn->key_stats("SELECT w FROM k WHERE v > 1000", "w", 0);
  EXPECT_EQ(text.type, ColumnType::Text);
  EXPECT_EQ(text.min, Value("key0001"));
  EXPECT_EQ(text.rows, 500);
  EXPECT_EQ(text.null_rows, 0);
  EXPECT_TRUE(text.sample.empty());

  const KeyStats none = conn->key_stats("SELECT * FROM k WHERE v IS NULL", "v", 10);
  EXPECT_TRUE(none.min.is_null());
  EXPECT_EQ(none.rows, 0);
  EXPECT_EQ(none.null_rows, 50);
  EXPECT_TRUE(none.sample.empty());

  try {
    conn->key_stats("SELECT * FROM k", "nope", 10);
    FAIL() << "expected a schema error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Schema);
    const std::string what = e.what();
    EXPECT_NE(what.find("'nope'"), std::string::npos) << what;
    EXPECT_NE(what.find("v, w"), std::string::npos) << what;
  }
}

TEST_F(SqliteDriverTest, SplitsBatchesByRowsAndByBytes) {
  auto conn = open("a.db");
  conn->execute(
      "CREATE TABLE t (id INTEGER, wide TEXT);"
      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1050) "
      "INSERT INTO t SELECT i, printf('%.10000c', 'x') FROM n;");

  auto by_rows = conn->open_source("SELECT id FROM t ORDER BY id", {}, 100, 0);
  Batch batch;
  std::vector<size_t> sizes;
  while (by_rows->next(batch)) sizes.push_back(batch.num_rows());
  ASSERT_EQ(sizes.size(), 11u);
  EXPECT_EQ(sizes.front(), 100u);
  EXPECT_EQ(sizes.back(), 50u);

  // 10 kB rows, 64 kB bound: a batch stops at the first row that passes the bound.
  auto by_bytes = conn->open_source("SELECT id, wide FROM t ORDER BY id", {}, 1000, 64 * 1024);
  size_t total = 0;
  size_t batches = 0;
  int64_t expected_id = 1;
  while (by_bytes->next(batch)) {
    EXPECT_GE(batch.num_rows(), 6u);
    EXPECT_LE(batch.num_rows(), 7u);
    EXPECT_EQ(batch.columns[0].get(0), Value(expected_id));
    EXPECT_EQ(batch.columns[1].get(0).as_text().size(), 10000u);
    expected_id += static_cast<int64_t>(batch.num_rows());
    total += batch.num_rows();
    ++batches;
  }
  EXPECT_EQ(total, 1050u);
  EXPECT_GT(batches, 140u);

  // Parameters bind positionally.
  auto ranged = conn->open_source("SELECT id FROM t WHERE id >= ? AND id < ?", {10, 20}, 100, 0);
  ASSERT_TRUE(ranged->next(batch));
  EXPECT_EQ(batch.num_rows(), 10u);
  EXPECT_EQ(conn->query("SELECT count(*) FROM t WHERE id < ?", {Value(5)}), (Rows{{Value(4)}}));
}

Batch make_batch(int64_t first_id, size_t rows) {
  Batch batch;
  batch.columns.resize(5);
  const char* names[] = {"id", "amount", "label", "payload", "flag"};
  const ColumnType types[] = {ColumnType::Int64, ColumnType::Double, ColumnType::Text,
                              ColumnType::Blob, ColumnType::Bool};
  for (size_t c = 0; c < 5; ++c) {
    batch.columns[c].name = names[c];
    batch.columns[c].type = types[c];
  }
  for (size_t r = 0; r < rows; ++r) {
    const int64_t id = first_id + static_cast<int64_t>(r);
    batch.columns[0].append_int(id);
    batch.columns[1].append_double(static_cast<double>(id) * 0.25);
    batch.columns[2].append_string("label number " + std::to_string(id));
    if (id % 11 == 0) {
      batch.columns[3].append_null();
    } else {
      batch.columns[3].append_string(std::string("\0\x01payload", 9));
    }
    batch.columns[4].append_int(id % 2);
  }
  return batch;
}

const char* kSinkTable =
    "CREATE TABLE s (id INTEGER, amount REAL, label TEXT, payload BLOB, flag BOOLEAN)";
const std::vector<std::string> kSinkColumns = {"id", "amount", "label", "payload", "flag"};

TEST_F(SqliteDriverTest, SinkWritesFullAndTailStatements) {
  for (int per_statement : {1, 7, kMaxRowsPerInsert}) {
    auto conn = open("sink.db");
    conn->execute("DROP TABLE IF EXISTS s;");
    conn->execute(kSinkTable);
    conn->begin();
    auto sink = conn->open_insert_sink(TableRef{"", "s"}, kSinkColumns, per_statement);
    sink->write(make_batch(0, 1234));
    sink->write(make_batch(1234, 7));
    sink->write(make_batch(1241, 0));
    sink->write(make_batch(1241, 7));
    EXPECT_EQ(sink->finish(), 1248);
    conn->commit();
    EXPECT_EQ(
        conn->query("SELECT count(*), count(DISTINCT id), sum(id), count(payload), "
                    "sum(flag) FROM s"),
        (Rows{{Value(1248), Value(1248), Value(1248 * 1247 / 2), Value(1248 - 114), Value(624)}}))
        << per_statement << " rows per statement";
    EXPECT_EQ(conn->query("SELECT typeof(payload), hex(payload), label, typeof(amount) FROM s "
                          "WHERE id = 1"),
              (Rows{{Value("blob"), Value("00017061796C6F6164"), Value("label number 1"),
                     Value("real")}}));
  }
}

TEST_F(SqliteDriverTest, NanIsARefusedValueNotANull) {
  // SQLite has no NaN: bound, it would be stored as NULL, a changed value.
  auto conn = open("a.db");
  conn->execute("CREATE TABLE n (d REAL)");
  for (ColumnType type : {ColumnType::Double, ColumnType::Any}) {
    Batch batch;
    batch.columns.resize(1);
    batch.columns[0].name = "d";
    batch.columns[0].type = type;
    batch.columns[0].append(Value(1.0));
    batch.columns[0].append(Value(std::nan("")));
    auto sink = conn->open_sink(TableRef{"", "n"}, {"d"});
    try {
      sink->write(batch);
      FAIL() << "NaN was written";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Data) << e.what();
      EXPECT_NE(std::string(e.what()).find("column 'd'"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("NaN"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(conn->query("SELECT count(*) FROM n"), (Rows{{Value(int64_t{0})}}));
}

TEST_F(SqliteDriverTest, NotNullViolationIsADataError) {
  auto conn = open("a.db");
  conn->execute("CREATE TABLE t (a INTEGER NOT NULL, b TEXT)");
  Batch batch;
  batch.columns.resize(2);
  batch.columns[0].name = "a";
  batch.columns[0].type = ColumnType::Int64;
  batch.columns[1].name = "b";
  batch.columns[1].type = ColumnType::Text;
  batch.columns[0].append_int(1);
  batch.columns[1].append_string("ok");
  batch.columns[0].append_null();
  batch.columns[1].append_string("bad");

  conn->begin();
  auto sink = conn->open_sink(TableRef{"", "t"}, {"a", "b"});
  try {
    sink->write(batch);
    FAIL() << "expected a data error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Data) << e.what();
    EXPECT_EQ(e.native_code(), "SQLITE_CONSTRAINT_NOTNULL");
    EXPECT_EQ(e.context().engine, "sqlite");
    EXPECT_EQ(e.context().table, "t");
    EXPECT_EQ(e.context().statement.rfind("INSERT INTO \"t\"", 0), 0u) << e.context().statement;
    const std::string what = e.what();
    EXPECT_NE(what.find(dir_.file("a.db")), std::string::npos) << what;
    EXPECT_NE(what.find("NOT NULL constraint failed: t.a"), std::string::npos) << what;
  }
  // The failed statement undid its own rows; the transaction is still the caller's.
  EXPECT_EQ(conn->query("SELECT count(*) FROM t"), (Rows{{Value(0)}}));
  conn->rollback();
  conn->rollback();  // no transaction: a no-op
  conn->begin();
  conn->commit();
}

TEST_F(SqliteDriverTest, ClassifiesOpenAndStatementErrors) {
  auto expect_kind = [](ErrorKind kind, const std::string& fragment, const auto& fn) {
    try {
      fn();
      ADD_FAILURE() << "expected " << to_string(kind) << " error with " << fragment;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), kind) << e.what();
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  expect_kind(ErrorKind::Connect, "no-such-dir/x.db", [&] { open("no-such-dir/x.db"); });
  test::write_file(dir_.file("junk.db"), std::string(4096, 'j'));
  expect_kind(ErrorKind::Connect, "junk.db", [&] { open("junk.db"); });
  expect_kind(ErrorKind::Config, "colour", [&] { open("p.db", {{"colour", "blue"}}); });
  EXPECT_FALSE(std::filesystem::exists(dir_.file("p.db")));  // rejected before creating it
  expect_kind(ErrorKind::Config, "journal_mode", [&] {
    open("p.db", {{"journal_mode", "wal; DROP TABLE x"}});
  });

  auto conn =
      open("a.db", {{"journal_mode", "wal"}, {"synchronous", "normal"}, {"cache_size", "-4000"}});
  EXPECT_EQ(conn->query("PRAGMA journal_mode"), (Rows{{Value("wal")}}));
  EXPECT_EQ(conn->query("PRAGMA synchronous"), (Rows{{Value(1)}}));
  EXPECT_EQ(conn->query("PRAGMA cache_size"), (Rows{{Value(-4000)}}));

  expect_kind(ErrorKind::Config, "syntax error", [&] { conn->describe_query("SELEC 1"); });
  expect_kind(ErrorKind::Schema, "no such table", [&] { conn->estimate_rows("SELECT * FROM x"); });
  conn->execute("CREATE TABLE t (a INTEGER)");
  expect_kind(ErrorKind::Schema, "has no column named", [&] {
    conn->open_sink(TableRef{"", "t"}, {"nope"});
  });
  expect_kind(ErrorKind::Schema, "already exists", [&] { conn->execute("CREATE TABLE t (b)"); });
  expect_kind(ErrorKind::Config, "parameters", [&] { conn->query("SELECT ?", {}); });
  conn->close();
  conn->close();
  expect_kind(ErrorKind::Connect, "closed", [&] { conn->execute("SELECT 1"); });
}

TEST_F(SqliteDriverTest, WriterLockIsSharedPerFile) {
  auto a = open("w.db");
  auto b = open("w.db");
  std::filesystem::create_symlink(dir_.file("w.db"), dir_.file("link.db"));
  auto via_link = open("link.db");
  auto other = open("other.db");
  auto memory = open(":memory:");
  ASSERT_NE(a->writer_lock(), nullptr);
  EXPECT_EQ(a->writer_lock(), b->writer_lock());
  EXPECT_EQ(a->writer_lock(), via_link->writer_lock());
  EXPECT_NE(a->writer_lock(), other->writer_lock());
  EXPECT_EQ(memory->writer_lock(), nullptr);
  EXPECT_FALSE(a->capabilities().concurrent_writers);
  EXPECT_FALSE(a->capabilities().snapshot_export);
  EXPECT_EQ(a->quote_identifier("a\"b"), "\"a\"\"b\"");
  EXPECT_EQ(a->quote_table(TableRef{"main", "t"}), "\"main\".\"t\"");
}

TEST_F(SqliteDriverTest, ParallelWritersUnderTheWriterLockNeverSeeBusy) {
  {
    auto setup = open("par.db");
    setup->execute(kSinkTable);
  }
  constexpr int kThreads = 4;
  constexpr int kChunks = 25;
  constexpr size_t kRows = 400;
  std::mutex errors_mu;
  std::vector<std::string> errors;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        auto conn = open("par.db");
        auto reader = open("par.db");
        for (int c = 0; c < kChunks; ++c) {
          const int64_t first = (static_cast<int64_t>(t) * kChunks + c) * kRows;
          const Batch batch = make_batch(first, kRows);
          {
            std::lock_guard<std::mutex> hold(*conn->writer_lock());
            conn->begin();
            auto sink = conn->open_sink(TableRef{"", "s"}, kSinkColumns);
            sink->write(batch);
            if (sink->finish() != static_cast<int64_t>(kRows)) throw std::runtime_error("rows");
            conn->commit();
          }
          // Readers take no lock: they run alongside the writers.
          reader->query("SELECT count(*) FROM s");
        }
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> guard(errors_mu);
        errors.push_back(e.what());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_TRUE(errors.empty()) << errors.front();
  const int64_t total = kThreads * kChunks * static_cast<int64_t>(kRows);
  auto check = open("par.db");
  EXPECT_EQ(check->query("SELECT count(*), count(DISTINCT id), sum(id) FROM s"),
            (Rows{{Value(total), Value(total), Value(total * (total - 1) / 2)}}));
}

TEST_F(SqliteDriverTest, RegistersTheSqliteScheme) {
  DriverRegistry registry;
  register_driver(registry);
  ASSERT_TRUE(registry.has("sqlite"));
  ConnectionUrl url;
  url.scheme = "sqlite";
  url.database = dir_.file("reg.db");
  auto conn = registry.open(url);
  EXPECT_EQ(conn->engine(), "sqlite");
  conn->execute("CREATE TABLE t (a); INSERT INTO t VALUES (1), (2);");
  EXPECT_EQ(conn->estimate_rows("SELECT * FROM t"), 2);
}

// Run with --gtest_also_run_disabled_tests; PARMAP_TEST_ROWS sets the row count.
TEST_F(SqliteDriverTest, DISABLED_InsertSpeedSingleVersusMultiRow) {
  const int64_t rows = test::test_rows();
  constexpr size_t kBatch = 10000;
  const Batch batch = make_batch(0, kBatch);
  for (int per_statement : {1, 10, 100, kMaxRowsPerInsert}) {
    auto conn = open("speed.db");
    conn->execute("DROP TABLE IF EXISTS s;");
    conn->execute(kSinkTable);
    const auto start = std::chrono::steady_clock::now();
    conn->begin();
    auto sink = conn->open_insert_sink(TableRef{"", "s"}, kSinkColumns, per_statement);
    for (int64_t done = 0; done < rows; done += kBatch) sink->write(batch);
    const int64_t written = sink->finish();
    conn->commit();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("%4d rows/statement: %lld rows in %.2f s = %.0f rows/s\n", per_statement,
                static_cast<long long>(written), seconds, static_cast<double>(written) / seconds);
  }
  auto conn = open("speed.db");
  const auto start = std::chrono::steady_clock::now();
  auto source = conn->open_source("SELECT * FROM s", {}, kBatch, 0);
  Batch batch_read;
  int64_t read = 0;
  while (source->next(batch_read)) read += static_cast<int64_t>(batch_read.num_rows());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("source: %lld rows in %.2f s = %.0f rows/s\n", static_cast<long long>(read), seconds,
              static_cast<double>(read) / seconds);
}

}  // namespace
}  // namespace parmap::sqlite
