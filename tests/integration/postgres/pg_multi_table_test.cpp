// Many tables in one run: a 30-table schema of mixed sizes copied by one parmap process with
// one pool of workers and one snapshot, checked table by table; a kill and a rerun; a table
// whose target refuses rows; rows inserted during the run.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "parmap/parmap.h"
#include "support/pg_support.h"
#include "support/test_support.h"

namespace parmap {
namespace {

using namespace std::chrono_literals;

using test::pg_checksum;

/// The 30 tables of schema "sales" (t00 .. t29) and their sizes: t00 holds half the rows,
/// t01-t03 are empty, t04 has no key at all, t05 a uuid key, the rest shrink from table to
/// table.
struct Shape {
  std::string name;
  int64_t rows;
  enum Kind { IntKey, NoKey, UuidKey } kind;
};

std::vector<Shape> shapes(int64_t total) {
  std::vector<Shape> out;
  out.push_back({"t00", total / 2, Shape::IntKey});
  for (const char* empty : {"t01", "t02", "t03"}) out.push_back({empty, 0, Shape::IntKey});
  const int64_t rest = total - total / 2;
  out.push_back({"t04", rest / 6, Shape::NoKey});
  out.push_back({"t05", rest / 6, Shape::UuidKey});
  // t06..t29 share the other two thirds of the rest, each about 0.8 of the one before.
  int64_t left = rest - 2 * (rest / 6);
  double share = 0.2;
  for (int i = 6; i < 30; ++i) {
    const int64_t n = i == 29 ? std::max<int64_t>(left, 1)
                              : std::max<int64_t>(1, static_cast<int64_t>(left * share));
    out.push_back({fmt::format("t{:02}", i), n, Shape::IntKey});
    left = std::max<int64_t>(0, left - n);
    share = std::min(0.5, share * 1.05);
  }
  return out;
}

/// Rows of the whole schema: PARMAP_TEST_ROWS, at most 200,000 (30 tables' plans and
/// coordinators dominate a small run; a larger one only makes the test slower).
int64_t schema_rows() { return std::min<int64_t>(test::test_rows(), 200000); }

std::string create_sql(const Shape& s, const std::string& schema) {
  const std::string t = schema + "." + s.name;
  const std::string n = std::to_string(s.rows);
  switch (s.kind) {
    case Shape::NoKey:
      return fmt::format(
          "CREATE TABLE {0} (a int8, b text); INSERT INTO {0} SELECT g % 1000, 'r' || g FROM "
          "generate_series(1, {1}) g; ANALYZE {0};",
          t, n);
    case Shape::UuidKey:
      return fmt::format(
          "CREATE TABLE {0} (id uuid PRIMARY KEY, note text, at timestamptz); INSERT INTO {0} "
          "SELECT md5(g::text)::uuid, CASE WHEN g % 9 = 0 THEN NULL ELSE 'n' || g END, "
          "timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute' FROM "
          "generate_series(1, {1}) g; ANALYZE {0};",
          t, n);
    case Shape::IntKey:
      break;
  }
  return fmt::format(
      "CREATE TABLE {0} (id int8 PRIMARY KEY, grp int4, amount numeric(12,2), label text); "
      "INSERT INTO {0} SELECT g * 3, (g % 17) - 8, round((g * 1.37)::numeric, 2), "
      "CASE WHEN g % 7 = 0 THEN NULL ELSE 'label ' || g END FROM generate_series(1, {1}) g; "
      "ANALYZE {0};",
      t, n);
}

class PgMultiTableTest : public test::PgTwoDatabasesTest {
 protected:
  void make_schema() {
    tables_ = shapes(schema_rows());
    std::string sql = "CREATE SCHEMA sales;";
    for (const auto& s : tables_) sql += create_sql(s, "sales");
    // Left out by the job's exclude pattern.
    sql += "CREATE TABLE sales.skip_me (id int8 PRIMARY KEY); INSERT INTO sales.skip_me "
           "VALUES (1);";
    src_->exec(sql);
    dst_->exec("CREATE SCHEMA sales");
  }

  std::string job_file(const std::string& extra = "") {
    const std::string path = dir_.file("schema.yaml");
    test::write_file(path, fmt::format("source: {}\n"
                                       "target: {}\n"
                                       "mode: create\n"
                                       "tables: [sales.*]\n"
                                       "exclude: [sales.skip*]\n"
                                       "params:\n"
                                       "  max_workers: 3\n"
                                       "  chunk_size: 4000\n"
                                       "  min_rows_for_parallel: 1000\n{}",
                                       src_url(), dst_url(), extra));
    return path;
  }

  /// Every table of the schema in the target, exact by count and checksum.
  void expect_every_table_exact(const std::string& except = "") {
    for (const auto& s : tables_) {
      if (s.name == except) continue;
      const std::string t = "sales." + s.name;
      EXPECT_EQ(pg_checksum(*dst_, t), pg_checksum(*src_, t)) << t;
    }
  }

  test::TempDir dir_;
  std::vector<Shape> tables_;
};

TEST_F(PgMultiTableTest, SchemaCopiedInOneRunEveryTableExact) {
  make_schema();
  const std::string file = job_file();
  const auto plan = test::run_parmap({"plan", file});
  ASSERT_EQ(plan.exit_code, 0) << plan.out << plan.err;
  EXPECT_NE(plan.out.find("sales.t00"), std::string::npos) << plan.out;
  EXPECT_NE(plan.out.find("sales.t29"), std::string::npos) << plan.out;
  EXPECT_EQ(plan.out.find("skip_me"), std::string::npos) << plan.out;

  const auto run = test::run_parmap({"run", file});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("one snapshot shared by every table of the run"), std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("complete: all 30 tables"), std::string::npos) << run.out;
  expect_every_table_exact();
  EXPECT_EQ(dst_->scalar("SELECT to_regclass('sales.skip_me') IS NULL"), "t");
  EXPECT_EQ(dst_->scalar("SELECT count(DISTINCT job_id) FROM parmap_jobs"), "30");
  // Each table is its own job with its own run, stamped finished.
  EXPECT_EQ(dst_->scalar("SELECT count(*) FROM parmap_runs WHERE finished_at IS NOT NULL"), "30");
}

TEST_F(PgMultiTableTest, KilledRunResumesOnlyWhatIsMissing) {
  make_schema();
  const std::string file = job_file();
  test::Pg watch(dst_url());
  auto committed = [&]() -> int64_t {
    try {
      return std::stoll(watch.scalar("SELECT count(*) FROM parmap_ledger"));
    } catch (const std::exception&) {
      return 0;  // the ledger does not exist yet
    }
  };
  const auto killed = test::run_parmap({"run", file}, {}, [&] { return committed() >= 6; });
  ASSERT_EQ(killed.signal, 9) << "the run ended before it could be killed: " << killed.out;
  const int64_t before = committed();

  const auto rerun = test::run_parmap({"run", file});
  ASSERT_EQ(rerun.exit_code, 0) << rerun.out << rerun.err;
  expect_every_table_exact();
  // Each chunk is in the ledger once, and the rerun did not copy again what it found there.
  EXPECT_EQ(dst_->scalar("SELECT count(*) FROM (SELECT job_id, chunk_id FROM parmap_ledger "
                         "GROUP BY 1, 2 HAVING count(*) > 1) d"),
            "0");
  EXPECT_GT(before, 0);
  int64_t planned = 0;
  for (const RunStatus& r : job_status(dst_url())) {
    EXPECT_EQ(r.run, 1) << r.job_id << ": the rerun started a new run instead of resuming";
    EXPECT_EQ(r.state, "finished") << r.job_id;
    EXPECT_EQ(r.chunks_done, r.chunks_planned) << r.job_id;
    planned += r.chunks_planned;
  }
  EXPECT_EQ(std::stoll(dst_->scalar("SELECT count(*) FROM parmap_ledger")), planned);
}

TEST_F(PgMultiTableTest, TableWhoseTargetRefusesRowsFailsAloneAndIsNamed) {
  make_schema();
  // sales.t07 exists in the target with a check that refuses negative groups.
  dst_->exec("CREATE TABLE sales.t07 (id int8 PRIMARY KEY, grp int4 CHECK (grp >= 0), "
             "amount numeric(12,2), label text)");
  const auto run = test::run_parmap({"run", job_file()});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_NE(run.out.find("sales.t07"), std::string::npos) << run.out;
  EXPECT_NE(run.err.find("sales.t07"), std::string::npos) << run.err;
  EXPECT_NE(run.out.find("29 of 30 tables complete"), std::string::npos) << run.out;
  expect_every_table_exact("t07");

  // Once the target takes the rows, a rerun copies only t07: the 29 tables complete before
  // are not appended a second time.
  dst_->exec("ALTER TABLE sales.t07 DROP CONSTRAINT t07_grp_check");
  const auto rerun = test::run_parmap({"run", job_file()});
  ASSERT_EQ(rerun.exit_code, 0) << rerun.out << rerun.err;
  EXPECT_NE(rerun.out.find("done before"), std::string::npos) << rerun.out;
  expect_every_table_exact();
}

TEST_F(PgMultiTableTest, OnErrorStopStopsTheOtherTables) {
  make_schema();
  dst_->exec("CREATE TABLE sales.t00 (id int8 PRIMARY KEY, grp int4 CHECK (grp >= 0), "
             "amount numeric(12,2), label text)");
  const auto run = test::run_parmap({"run", job_file("on_error: stop\n")});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_NE(run.out.find("on_error: stop"), std::string::npos) << run.out;
  // The tables left are resumed by a rerun once the target accepts the rows.
  dst_->exec("ALTER TABLE sales.t00 DROP CONSTRAINT t00_grp_check");
  const auto rerun = test::run_parmap({"run", job_file("on_error: stop\n")});
  ASSERT_EQ(rerun.exit_code, 0) << rerun.out << rerun.err;
  expect_every_table_exact();
}

TEST_F(PgMultiTableTest, RowsInsertedDuringTheRunAppearInNoTable) {
  make_schema();
  std::vector<std::string> before;
  for (const auto& s : tables_) before.push_back(pg_checksum(*src_, "sales." + s.name));

  std::vector<JobDefinition> jobs;
  for (const auto& s : tables_) {
    JobDefinition job;
    job.source_url = src_url();
    job.source_sql = "SELECT * FROM sales." + s.name;
    job.target_url = dst_url();
    job.target_schema = "sales";
    job.target_table = s.name;
    job.options.config = resolve_config(
        {{"max_workers", "3"}, {"chunk_size", "4000"}, {"min_rows_for_parallel", "1000"}}, {}, 8);
    job.options.mode = TargetMode::Create;
    jobs.push_back(std::move(job));
  }
  // While the jobs are being planned (the first one has recorded its run, so its snapshot is
  // exported; t29, planned last, has not), rows go into the largest table (keys past its last
  // chunk's open upper bound) and into t29. Without one shared snapshot, t29's own would be
  // taken after them.
  std::atomic<bool> inserted{false}, in_time{false};
  std::thread writer([&, source = src_url(), target = dst_url()] {
    test::Pg watch(target), db(source);
    auto runs = [&](const std::string& where) -> int64_t {
      try {
        return std::stoll(watch.scalar("SELECT count(*) FROM parmap_runs" + where));
      } catch (const std::exception&) {
        return 0;  // no ledger yet
      }
    };
    for (int i = 0; i < 60000 && runs("") < 1; ++i) std::this_thread::sleep_for(1ms);
    db.exec("INSERT INTO sales.t00 SELECT g * 3, 1, 1, 'late' FROM generate_series(10000000, "
            "10000099) g; INSERT INTO sales.t29 SELECT g * 3, 1, 1, 'late' FROM "
            "generate_series(10000000, 10000099) g");
    inserted = true;
    in_time = runs(" WHERE target_table = 'sales.t29'") == 0;
  });
  MultiOptions multi;
  multi.max_workers = 3;
  const MultiResult r = execute_jobs_parallel(jobs, multi);
  writer.join();
  ASSERT_TRUE(inserted);
  if (!in_time) GTEST_SKIP() << "the rows went in only after every job was planned";
  ASSERT_TRUE(r.ok()) << (r.jobs.front().result.errors.empty()
                              ? r.snapshot
                              : r.jobs.front().result.errors.front());
  EXPECT_EQ(r.snapshot, "one snapshot shared by every table of the run");
  EXPECT_EQ(src_->scalar("SELECT count(*) FROM sales.t00 WHERE label = 'late'"), "100");
  EXPECT_EQ(dst_->scalar("SELECT count(*) FROM sales.t00 WHERE label = 'late'"), "0");
  EXPECT_EQ(dst_->scalar("SELECT count(*) FROM sales.t29 WHERE label = 'late'"), "0");
  for (size_t i = 0; i < tables_.size(); ++i) {
    EXPECT_EQ(pg_checksum(*dst_, "sales." + tables_[i].name), before[i]) << tables_[i].name;
  }
  EXPECT_GT(r.workers_used, 0);
  EXPECT_GE(r.idle_share, 0.0);
  EXPECT_LE(r.idle_share, 1.0);
}

/// The primary key's columns of `table` in key order ("a,b"), "" when it has none.
std::string pk_of(test::Pg& db, const std::string& table) {
  return db.scalar(fmt::format(
      "SELECT string_agg(a.attname, ',' ORDER BY k.n) FROM pg_index i, unnest(i.indkey) WITH "
      "ORDINALITY k(attnum, n) JOIN pg_attribute a ON a.attnum = k.attnum WHERE i.indisprimary "
      "AND a.attrelid = i.indrelid AND i.indrelid = '{}'::regclass",
      table));
}

/// A small shop: two tables with keys (one composite, not in column order), a unique
/// constraint, a CHECK, two plain indexes and a foreign key between them.
void make_shop(test::Pg& db) {
  db.exec(
      "CREATE SCHEMA shop;"
      "CREATE TABLE shop.customers (id int8 PRIMARY KEY, email text NOT NULL, region text, "
      "CONSTRAINT customers_email_key UNIQUE (email));"
      "CREATE INDEX customers_region_idx ON shop.customers (region);"
      "CREATE TABLE shop.orders (region text, id int8, customer_id int8 NOT NULL REFERENCES "
      "shop.customers (id), qty int4 CHECK (qty > 0), PRIMARY KEY (id, region));"
      "CREATE INDEX orders_customer_idx ON shop.orders (customer_id, qty DESC);"
      "INSERT INTO shop.customers SELECT g, 'c' || g || '@example.com', 'r' || (g % 7) FROM "
      "generate_series(1, 3000) g;"
      "INSERT INTO shop.orders SELECT 'r' || (g % 5), g, 1 + g % 3000, 1 + g % 9 FROM "
      "generate_series(1, 20000) g;"
      "ANALYZE shop.customers; ANALYZE shop.orders;");
}

/// Indexes (besides the keys) and constraints of the shop's two tables, by name.
std::string shop_catalog(test::Pg& db) {
  return db.scalar(
             "SELECT string_agg(indexrelid::regclass::text, ',' ORDER BY "
             "indexrelid::regclass::text) FROM pg_index WHERE indrelid IN "
             "('shop.customers'::regclass, 'shop.orders'::regclass) AND NOT indisprimary") +
         " / " +
         db.scalar("SELECT string_agg(conname || ':' || contype::text || ':' || "
                   "convalidated::text, ',' ORDER BY conname) FROM pg_constraint WHERE conrelid "
                   "IN ('shop.customers'::regclass, 'shop.orders'::regclass)");
}

TEST_F(PgMultiTableTest, CreateMakesKeysIndexesAndConstraintsAfterTheData) {
  make_shop(*src_);
  const std::string file = dir_.file("shop.yaml");
  // The target has no schema "shop": create mode makes it.
  test::write_file(file, fmt::format("source: {}\ntarget: {}\nmode: create\ntables: [shop.*]\n"
                                     "params:\n  max_workers: 2\n  chunk_size: 2000\n"
                                     "  min_rows_for_parallel: 1000\n",
                                     src_url(), dst_url()));
  const auto run = test::run_parmap({"run", file});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("2 index(es) and 3 constraint(s) made after the data"),
            std::string::npos)
      << run.out;
  EXPECT_EQ(pk_of(*dst_, "shop.customers"), "id");
  EXPECT_EQ(pk_of(*dst_, "shop.orders"), "id,region");
  // NOT NULL columns stay NOT NULL, the others nullable, as in the source.
  const std::string not_null =
      "SELECT string_agg(attrelid::regclass::text || '.' || attname, ',' ORDER BY "
      "attrelid::regclass::text, attname) FROM pg_attribute WHERE attrelid IN "
      "('shop.customers'::regclass, 'shop.orders'::regclass) AND attnum > 0 AND attnotnull";
  EXPECT_EQ(dst_->scalar(not_null), src_->scalar(not_null));
  EXPECT_EQ(dst_->scalar(not_null),
            "shop.customers.email,shop.customers.id,shop.orders.customer_id,shop.orders.id,"
            "shop.orders.region");
  const std::string want =
      "shop.customers_email_key,shop.customers_region_idx,shop.orders_customer_idx / "
      "customers_email_key:u:true,customers_pkey:p:true,orders_customer_id_fkey:f:true,"
      "orders_pkey:p:true,orders_qty_check:c:true";
  EXPECT_EQ(shop_catalog(*dst_), want);
  // The index is the source's, column for column.
  EXPECT_EQ(dst_->scalar("SELECT pg_get_indexdef('shop.orders_customer_idx'::regclass)"),
            src_->scalar("SELECT pg_get_indexdef('shop.orders_customer_idx'::regclass)"));
  for (const char* t : {"shop.customers", "shop.orders"}) {
    EXPECT_EQ(pg_checksum(*dst_, t), pg_checksum(*src_, t)) << t;
  }
  EXPECT_EQ(dst_->scalar("SELECT count(*) FROM shop.orders"), "20000");
  // The constraints hold on the copy: a row they refuse is refused.
  EXPECT_THROW(dst_->exec("INSERT INTO shop.orders VALUES ('r1', 999999, 424242, 1)"),
               std::exception);

  // A crash while the indexes were being made leaves every chunk committed and the runs not
  // stamped finished: the rerun resumes, makes only what is missing, and ends complete.
  dst_->exec("DROP INDEX shop.customers_region_idx; ALTER TABLE shop.orders DROP CONSTRAINT "
             "orders_customer_id_fkey; UPDATE parmap_jobs SET finished_at = NULL; "
             "UPDATE parmap_runs SET finished_at = NULL");
  const auto rerun = test::run_parmap({"run", file});
  ASSERT_EQ(rerun.exit_code, 0) << rerun.out << rerun.err;
  EXPECT_NE(rerun.out.find("1 index(es) and 1 constraint(s) made after the data"),
            std::string::npos)
      << rerun.out;
  EXPECT_NE(rerun.out.find("3 already there"), std::string::npos) << rerun.out;
  EXPECT_EQ(shop_catalog(*dst_), want);
  EXPECT_EQ(dst_->scalar("SELECT count(*) FROM shop.orders"), "20000");
  EXPECT_EQ(dst_->scalar("SELECT count(*) FROM parmap_runs WHERE finished_at IS NULL"), "0");
  for (const RunStatus& r : job_status(dst_url())) EXPECT_EQ(r.run, 1) << r.job_id;

  // A rerun after success adds nothing: no rows, no index, no constraint, no run.
  const auto again = test::run_parmap({"run", file});
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_NE(again.out.find("done before"), std::string::npos) << again.out;
  EXPECT_EQ(shop_catalog(*dst_), want);
  for (const char* t : {"shop.customers", "shop.orders"}) {
    EXPECT_EQ(pg_checksum(*dst_, t), pg_checksum(*src_, t)) << t;
  }
  EXPECT_EQ(dst_->scalar("SELECT count(*) FROM parmap_runs"), "2");
}

TEST_F(PgMultiTableTest, FailedIndexIsNamedDataStaysAndRerunMakesIt) {
  make_shop(*src_);
  // A relation of the index's name in the target schema: CREATE INDEX fails.
  dst_->exec("CREATE SCHEMA shop; CREATE TABLE shop.orders_customer_idx (x int)");
  const std::string file = dir_.file("shop.yaml");
  test::write_file(file, fmt::format("source: {}\ntarget: {}\nmode: create\ntables: [shop.*]\n"
                                     "params:\n  max_workers: 2\n",
                                     src_url(), dst_url()));
  const auto run = test::run_parmap({"run", file});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_NE(run.err.find("table shop.orders: index orders_customer_idx not made"),
            std::string::npos)
      << run.err;
  EXPECT_NE(run.err.find("CREATE INDEX \"orders_customer_idx\" ON \"shop\".\"orders\""),
            std::string::npos)
      << run.err;
  for (const char* t : {"shop.customers", "shop.orders"}) {
    EXPECT_EQ(pg_checksum(*dst_, t), pg_checksum(*src_, t)) << t;
  }
  dst_->exec("DROP TABLE shop.orders_customer_idx");
  const auto rerun = test::run_parmap({"run", file});
  ASSERT_EQ(rerun.exit_code, 0) << rerun.out << rerun.err;
  EXPECT_EQ(dst_->scalar("SELECT count(*) FROM pg_index WHERE indexrelid = "
                         "to_regclass('shop.orders_customer_idx')"),
            "1");
  EXPECT_EQ(dst_->scalar("SELECT count(*) FROM shop.orders"), "20000");
}

TEST_F(PgMultiTableTest, MissingTargetSchemaIsAnErrorInAppendMode) {
  make_shop(*src_);
  const std::string file = dir_.file("append.yaml");
  test::write_file(file, fmt::format("source: {}\ntarget: {}\nmode: append\ntables: [shop.*]\n"
                                     "target_schema: nowhere\n",
                                     src_url(), dst_url()));
  const auto run = test::run_parmap({"run", file});
  EXPECT_NE(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.err.find("target schema 'nowhere'"), std::string::npos) << run.err;
  EXPECT_EQ(dst_->scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'nowhere'"), "0");
}

TEST_F(PgMultiTableTest, JobLocksShareOneSessionPerTarget) {
  make_schema();
  const std::string file = job_file();
  const std::string edited = dir_.file("two.yaml");
  std::string text = test::read_file(file);
  text.replace(text.find("max_workers: 3"), 14, "max_workers: 2");
  test::write_file(edited, text);
  test::Pg watch(dst_url());
  int most = 0;
  const auto run = test::run_parmap({"run", edited}, {}, [&] {
    most = std::max(most, std::stoi(watch.scalar(fmt::format(
                              "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                              "'parmap' AND datname IN ('{}', '{}')",
                              src_db_, dst_db_))));
    return false;
  });
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  expect_every_table_exact();
  // 2 workers with a source and a target session each, the snapshot's, the locks', and a
  // coordinator's planning or stamping; not one per table (30).
  EXPECT_GT(most, 0);
  EXPECT_LE(most, 2 * 2 + 4) << "sessions of parmap at once";
}

/// The same schema from SQLite (no schemas there: the tables go to the target's default one).
TEST_F(PgMultiTableTest, SqliteSchemaToPostgresEveryTableExact) {
  const std::string db = dir_.file("source.db");
  const auto list = shapes(schema_rows());
  std::string sql;
  for (const auto& s : list) {
    const std::string n = std::to_string(s.rows);
    const std::string gen = fmt::format(
        "WITH RECURSIVE g(i) AS (SELECT 1 WHERE {0} > 0 UNION ALL SELECT i + 1 FROM g WHERE i "
        "< {0})",
        n);
    switch (s.kind) {
      case Shape::NoKey:
        sql += fmt::format("CREATE TABLE {0} (a INTEGER, b TEXT); {1} INSERT INTO {0} SELECT "
                           "i % 1000, 'r' || i FROM g;",
                           s.name, gen);
        break;
      case Shape::UuidKey:
        sql += fmt::format(
            "CREATE TABLE {0} (id TEXT PRIMARY KEY, note TEXT); {1} INSERT INTO {0} SELECT "
            "printf('%08x-%04x-4%03x-a%03x-%012x', i * 2654435761 % 4294967296, i % 65536, i "
            "% 4096, (i * 7) % 4096, i * 11), CASE WHEN i % 9 = 0 THEN NULL ELSE 'n' || i END "
            "FROM g;",
            s.name, gen);
        break;
      case Shape::IntKey:
        sql += fmt::format(
            "CREATE TABLE {0} (id INTEGER PRIMARY KEY, grp INTEGER, amount REAL, label TEXT); "
            "{1} INSERT INTO {0} SELECT i * 3, (i % 17) - 8, i * 1.25, CASE WHEN i % 7 = 0 "
            "THEN NULL ELSE 'label ' || i END FROM g;",
            s.name, gen);
        break;
    }
  }
  test::sqlite_exec(db, sql);
  const std::string file = dir_.file("sqlite.yaml");
  test::write_file(file, fmt::format("source: sqlite://{}\n"
                                     "target: {}\n"
                                     "mode: create\n"
                                     "tables: ['*']\n"
                                     "params:\n"
                                     "  max_workers: 3\n"
                                     "  chunk_size: 4000\n"
                                     "  min_rows_for_parallel: 1000\n",
                                     db, dst_url()));
  const auto run = test::run_parmap({"run", file});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("complete: all 30 tables"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("not shared: sqlite"), std::string::npos) << run.out;
  for (const auto& s : list) {
    const std::string kinds = s.kind == Shape::NoKey     ? "it"
                              : s.kind == Shape::UuidKey ? "tt"
                                                         : "iirt";
    test::expect_same_rows(test::sqlite_rows(db, "SELECT * FROM " + s.name),
                           test::pg_rows(*dst_, "SELECT * FROM public." + s.name, kinds));
    EXPECT_EQ(dst_->scalar("SELECT count(*) FROM public." + s.name), std::to_string(s.rows))
        << s.name;
    // The created table has the source's primary key.
    EXPECT_EQ(pk_of(*dst_, "public." + s.name), s.kind == Shape::NoKey ? "" : "id") << s.name;
  }
  EXPECT_NE(run.out.find("primary keys only"), std::string::npos) << run.out;
}

}  // namespace
}  // namespace parmap
