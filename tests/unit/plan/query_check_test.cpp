// Query checks: which queries may be split by key range, their ORDER BY key, simple tables.
#include <gtest/gtest.h>

#include <string>

#include "plan/plan.h"

namespace parmap {
namespace {

void expect_splittable(const std::string& sql) {
  QueryCheck c = check_query_splittable(sql);
  EXPECT_TRUE(c.splittable) << sql << "\n  reason: " << c.reason;
  EXPECT_TRUE(c.reason.empty()) << sql;
}

// Not splittable, with a reason that names `what`.
void expect_unsplittable(const std::string& sql, const std::string& what) {
  QueryCheck c = check_query_splittable(sql);
  EXPECT_FALSE(c.splittable) << sql;
  EXPECT_NE(c.reason.find(what), std::string::npos)
      << sql << "\n  reason: " << c.reason << "\n  expected it to name: " << what;
}

TEST(QueryCheck, PlainQueriesAreSplittable) {
  expect_splittable("SELECT * FROM t");
  expect_splittable("select id, name from t where id > 10 order by id");
  expect_splittable("SELECT a.id, b.x FROM a JOIN b ON a.id = b.a_id WHERE b.x IS NOT NULL");
  expect_splittable("SELECT DISTINCT id FROM t");
  expect_splittable("");
}

TEST(QueryCheck, TopLevelLimitOffsetFetch) {
  QueryCheck c = check_query_splittable("SELECT * FROM t ORDER BY id LIMIT 10");
  EXPECT_FALSE(c.splittable);
  EXPECT_EQ(c.reason,
            "the query has LIMIT at its top level: a key-range filter would change which rows "
            "it returns");
  expect_unsplittable("select * from t limit 5 offset 10", "LIMIT");
  expect_unsplittable("SELECT * FROM t ORDER BY id OFFSET 10 ROWS", "OFFSET");
  expect_unsplittable("SELECT * FROM t ORDER BY id FETCH FIRST 10 ROWS ONLY", "FETCH FIRST");
  expect_unsplittable("SELECT * FROM t ORDER BY id fetch next 1 row only", "FETCH NEXT");
  expect_unsplittable("SELECT TOP 10 * FROM t", "TOP");
  expect_unsplittable("SELECT TOP (10) id FROM t", "TOP");
}

TEST(QueryCheck, LimitInsideSubqueryOrCteIsFine) {
  expect_splittable("SELECT * FROM t WHERE id IN (SELECT id FROM u ORDER BY id LIMIT 10)");
  expect_splittable("WITH x AS (SELECT * FROM t LIMIT 100) SELECT * FROM x");
}

TEST(QueryCheck, VolatileFunctions) {
  QueryCheck c = check_query_splittable("SELECT id, random() AS r FROM t");
  EXPECT_FALSE(c.splittable);
  EXPECT_EQ(c.reason,
            "the query calls random(), a volatile function: every chunk would see different "
            "values");
  for (const char* f :
       {"randomblob", "rand", "random_uuid", "gen_random_uuid", "uuid", "newid", "clock_timestamp",
        "timeofday", "nextval", "setseed", "sys_guid", "changes", "last_insert_rowid"}) {
    expect_unsplittable(std::string("SELECT ") + f + "() FROM t", std::string(f) + "()");
  }
  expect_unsplittable("SELECT * FROM t WHERE x < (SELECT RANDOM ( ))", "random()");
  expect_unsplittable("SELECT nextval('seq'), id FROM t", "nextval()");
  expect_unsplittable("SELECT pg_catalog.random() FROM t", "random()");
}

TEST(QueryCheck, WindowFunctions) {
  expect_unsplittable("SELECT id, row_number() OVER (ORDER BY id) FROM t", "OVER");
  expect_unsplittable("SELECT id, rank() OVER w FROM t WINDOW w AS (ORDER BY x)", "OVER");
  expect_unsplittable("SELECT lag(x) over(partition by g order by id) FROM t", "OVER");
}

TEST(QueryCheck, Aggregates) {
  expect_unsplittable("SELECT g, x FROM t GROUP BY g, x", "GROUP BY");
  QueryCheck c = check_query_splittable("SELECT count(*) FROM t");
  EXPECT_FALSE(c.splittable);
  EXPECT_EQ(c.reason,
            "the query calls count(), an aggregate function: a key-range filter over an "
            "aggregate would recompute the whole aggregate for every chunk");
  for (const char* f : {"sum", "avg", "min", "max", "group_concat", "string_agg", "array_agg",
                        "json_group_array", "total"}) {
    expect_unsplittable(std::string("SELECT ") + f + "(x) FROM t", std::string(f) + "()");
  }
  expect_unsplittable("SELECT id FROM t WHERE x > (SELECT AVG(x) FROM t)", "avg()");
  expect_unsplittable("SELECT 1 FROM t HAVING 1 = 1", "HAVING");
}

TEST(QueryCheck, ScalarMinMaxWithSeveralArgumentsIsNotAnAggregate) {
  expect_splittable("SELECT id, max(a, b) AS m, min(a, b, 0) FROM t");
  expect_unsplittable("SELECT max(coalesce(a, b)) FROM t", "max()");
}

TEST(QueryCheck, WordsInLiteralsCommentsAndIdentifiersAreIgnored) {
  expect_splittable("SELECT 'LIMIT 10', 'random()', 'count(*)' FROM t");
  expect_splittable("SELECT 'it''s LIMIT 5 group by x' FROM t");
  expect_splittable("SELECT id FROM t -- LIMIT 10\nWHERE id > 0");
  expect_splittable("SELECT id /* random() OVER (x) GROUP BY 1 */ FROM t");
  expect_splittable("SELECT \"random\", \"limit\", \"count\" FROM t");
  expect_splittable("SELECT \"random\"(x) FROM t");
  expect_splittable("SELECT `limit`, `count` FROM t");
  expect_splittable("SELECT limit_value, count_total, random_seed, offset_x FROM t");
  expect_splittable("SELECT t.count, t.total, random FROM t");
  expect_splittable("SELECT $$ LIMIT 3 random() $$, $fn$ it's count(x) $fn$ FROM t");
  expect_splittable("SELECT E'\\' LIMIT 1' FROM t");
  expect_splittable("SELECT x FROM t WHERE id = $1");
  expect_splittable("SELECT x AS over FROM t");
  expect_splittable("SELECT \"a\"\"limit\" FROM t");
}

TEST(QueryCheck, UnterminatedTextDoesNotThrow) {
  expect_splittable("SELECT 'abc");
  expect_splittable("SELECT /* abc");
  expect_splittable("SELECT $$ abc");
  expect_splittable("SELECT ) ) LIMIT_x");
  expect_unsplittable("SELECT x) FROM t LIMIT 1", "LIMIT");
}

TEST(QueryOrderByKey, PlainColumns) {
  EXPECT_EQ(order_by_key("SELECT * FROM t ORDER BY id"), "id");
  EXPECT_EQ(order_by_key("select * from t order by t.id desc"), "id");
  EXPECT_EQ(order_by_key("SELECT * FROM t ORDER BY \"Mixed Id\""), "Mixed Id");
  EXPECT_EQ(order_by_key("SELECT * FROM t ORDER BY t.\"Id\" DESC"), "Id");
  EXPECT_EQ(order_by_key("SELECT * FROM t ORDER BY `Id`, name"), "Id");
  EXPECT_EQ(order_by_key("SELECT * FROM t ORDER BY s.t.created_at NULLS LAST"), "created_at");
  EXPECT_EQ(order_by_key("SELECT * FROM t ORDER BY id ASC;"), "id");
  EXPECT_EQ(order_by_key("SELECT * FROM t ORDER BY name COLLATE \"C\""), "name");
  EXPECT_EQ(order_by_key("SELECT * FROM t ORDER BY \"a\"\"b\""), "a\"b");
  EXPECT_EQ(order_by_key("SELECT * FROM t ORDER BY id LIMIT 3"), "id");
  // A position: the planner takes that column of the query.
  EXPECT_EQ(order_by_key("SELECT * FROM t ORDER BY 1"), "1");
  EXPECT_EQ(order_by_key("SELECT a, b FROM t ORDER BY 2 DESC, 1"), "2");
}

TEST(QueryOrderByKey, ExpressionsAndMissingOrderBy) {
  EXPECT_EQ(order_by_key("SELECT * FROM t"), std::nullopt);
  EXPECT_EQ(order_by_key("SELECT * FROM t ORDER BY lower(name)"), std::nullopt);
  EXPECT_EQ(order_by_key("SELECT * FROM t ORDER BY 1 + a"), std::nullopt);
  EXPECT_EQ(order_by_key("SELECT * FROM t ORDER BY 1.5"), std::nullopt);
  EXPECT_EQ(order_by_key("SELECT * FROM t ORDER BY a + b"), std::nullopt);
  EXPECT_EQ(order_by_key("SELECT * FROM t ORDER BY a || 'x'"), std::nullopt);
  EXPECT_EQ(order_by_key("SELECT * FROM t ORDER BY CASE WHEN a THEN 1 END"), std::nullopt);
  EXPECT_EQ(order_by_key("SELECT * FROM t ORDER BY"), std::nullopt);
  EXPECT_EQ(order_by_key("SELECT * FROM t ORDER BY t."), std::nullopt);
}

TEST(QueryWithoutOrderBy, TheTrailingTopLevelOrderByGoes) {
  EXPECT_EQ(without_order_by("SELECT * FROM t ORDER BY id"), "SELECT * FROM t ");
  EXPECT_EQ(without_order_by("SELECT a FROM t WHERE b = 'ORDER BY' ORDER BY a DESC, b"),
            "SELECT a FROM t WHERE b = 'ORDER BY' ");
  // A comment before it keeps its line break.
  EXPECT_EQ(without_order_by("SELECT * FROM t -- all\nORDER BY id"), "SELECT * FROM t -- all\n");
  // Nothing to take away: none, or only inside parentheses.
  EXPECT_EQ(without_order_by("SELECT * FROM t"), "SELECT * FROM t");
  EXPECT_EQ(without_order_by("SELECT row_number() OVER (ORDER BY id) FROM t"),
            "SELECT row_number() OVER (ORDER BY id) FROM t");
  // The ordering decides which rows a limit keeps, or which rows are locked.
  EXPECT_EQ(without_order_by("SELECT * FROM t ORDER BY id LIMIT 5"),
            "SELECT * FROM t ORDER BY id LIMIT 5");
  EXPECT_EQ(without_order_by("SELECT * FROM t ORDER BY id OFFSET 5"),
            "SELECT * FROM t ORDER BY id OFFSET 5");
  EXPECT_EQ(without_order_by("SELECT * FROM t ORDER BY id FETCH FIRST 5 ROWS ONLY"),
            "SELECT * FROM t ORDER BY id FETCH FIRST 5 ROWS ONLY");
  EXPECT_EQ(without_order_by("SELECT * FROM t ORDER BY id FOR UPDATE"),
            "SELECT * FROM t ORDER BY id FOR UPDATE");
}

TEST(QueryOrderByKey, OnlyTheTopLevelCounts) {
  EXPECT_EQ(order_by_key("SELECT * FROM (SELECT * FROM t ORDER BY id) x"), std::nullopt);
  EXPECT_EQ(order_by_key("SELECT row_number() OVER (ORDER BY id) FROM t"), std::nullopt);
  EXPECT_EQ(order_by_key("SELECT string_agg(x, ',' ORDER BY y) FROM t"), std::nullopt);
  EXPECT_EQ(order_by_key("SELECT * FROM (SELECT * FROM t ORDER BY a) x ORDER BY b"), "b");
  EXPECT_EQ(order_by_key("SELECT 'ORDER BY x' FROM t -- ORDER BY y"), std::nullopt);
  EXPECT_EQ(order_by_key("SELECT a FROM t UNION ALL SELECT a FROM u ORDER BY a"), "a");
}

TEST(QuerySimpleTable, Recognised) {
  auto t = simple_table_of("SELECT * FROM tbl");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->schema, "");
  EXPECT_EQ(t->name, "tbl");

  t = simple_table_of("select * from \"S\".\"T\" order by x");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->schema, "S");
  EXPECT_EQ(t->name, "T");

  t = simple_table_of("  SELECT *\n FROM public.orders ORDER BY id DESC, t.x NULLS FIRST ; ");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->schema, "public");
  EXPECT_EQ(t->name, "orders");

  t = simple_table_of("SELECT * FROM `my table`");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->name, "my table");
}

TEST(QuerySimpleTable, AnythingElseIsNotATable) {
  for (const char* sql : {
           "SELECT id FROM t",
           "SELECT * FROM t WHERE id > 1",
           "SELECT * FROM a JOIN b ON a.id = b.id",
           "SELECT * FROM a, b",
           "SELECT * FROM (SELECT * FROM t) x",
           "SELECT * FROM t x",
           "SELECT * FROM t AS x",
           "SELECT * FROM t LIMIT 5",
           "SELECT * FROM t ORDER BY id LIMIT 5",
           "SELECT * FROM t ORDER BY lower(x)",
           "SELECT * FROM a.b.c",
           "SELECT * FROM",
           "SELECT * FROM where",
           "SELECT * FROM t UNION SELECT * FROM u",
           "SELECT * FROM t; DROP TABLE t",
           "",
       }) {
    EXPECT_EQ(simple_table_of(sql), std::nullopt) << sql;
  }
}

TEST(QueryNamesTable, FindsTheTableHoweverItIsWritten) {
  const TableRef dst{"", "dst"};
  EXPECT_TRUE(query_names_table("SELECT * FROM dst", dst));
  EXPECT_TRUE(query_names_table("select a.id from src a join \"DST\" b on a.id = b.id", dst));
  EXPECT_TRUE(query_names_table("SELECT * FROM main.dst ORDER BY id", dst));
  EXPECT_TRUE(query_names_table("SELECT * FROM `dst`", dst));
  EXPECT_FALSE(query_names_table("SELECT * FROM dst_archive", dst));
  EXPECT_FALSE(query_names_table("SELECT 'dst' AS t FROM src -- dst\n", dst));
  const TableRef qualified{"sales", "dst"};
  EXPECT_TRUE(query_names_table("SELECT * FROM sales.dst", qualified));
  EXPECT_TRUE(query_names_table("SELECT * FROM dst", qualified));  // the search path may find it
  EXPECT_FALSE(query_names_table("SELECT * FROM archive.dst", qualified));
}

}  // namespace
}  // namespace parmap
