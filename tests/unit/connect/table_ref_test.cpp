// Unit tests for table references, TableSchema::find, quote_table and the driver registry.
#include <gtest/gtest.h>

#include "parmap/connection.h"
#include "parmap/error.h"

namespace parmap {
namespace {

TEST(TableRefTest, PlainNames) {
  TableRef t = parse_table_ref("orders");
  EXPECT_EQ(t.schema, "");
  EXPECT_EQ(t.name, "orders");
  EXPECT_EQ(t.display(), "orders");

  t = parse_table_ref("sales.orders");
  EXPECT_EQ(t.schema, "sales");
  EXPECT_EQ(t.name, "orders");
  EXPECT_EQ(t.display(), "sales.orders");

  t = parse_table_ref("  Sales . Orders  ");
  EXPECT_EQ(t.schema, "Sales");  // case is kept as written
  EXPECT_EQ(t.name, "Orders");
}

TEST(TableRefTest, QuotedNames) {
  TableRef t = parse_table_ref("\"Mixed Case\".\"my table\"");
  EXPECT_EQ(t.schema, "Mixed Case");
  EXPECT_EQ(t.name, "my table");
  EXPECT_EQ(t.display(), "Mixed Case.my table");

  t = parse_table_ref("\"a.b\".\"c.d\"");
  EXPECT_EQ(t.schema, "a.b");
  EXPECT_EQ(t.name, "c.d");

  t = parse_table_ref("\"say \"\"hi\"\"\"");
  EXPECT_EQ(t.schema, "");
  EXPECT_EQ(t.name, "say \"hi\"");

  t = parse_table_ref("public.\"Odd.Name\"");
  EXPECT_EQ(t.schema, "public");
  EXPECT_EQ(t.name, "Odd.Name");

  t = parse_table_ref("\"S\" . t");
  EXPECT_EQ(t.schema, "S");
  EXPECT_EQ(t.name, "t");
}

TEST(TableRefTest, UnquotedPartsAreReadAsTheEngineReadsThem) {
  TableRef t = parse_table_ref("MySchema.\"MyTable\"", UnquotedNames::Lower);
  EXPECT_EQ(t.schema, "myschema");
  EXPECT_EQ(t.name, "MyTable");
  t = parse_table_ref("Straße", UnquotedNames::Lower);  // PostgreSQL folds ASCII only
  EXPECT_EQ(t.name, "straße");
  t = parse_table_ref("MySchema.MyTable");
  EXPECT_EQ(t.display(), "MySchema.MyTable");
  EXPECT_EQ(unquoted_names_of("postgresql://h/db"), UnquotedNames::Lower);
  EXPECT_EQ(unquoted_names_of("postgres://h/db"), UnquotedNames::Lower);
  EXPECT_EQ(unquoted_names_of("mysql://h/db"), UnquotedNames::AsWritten);
  EXPECT_EQ(unquoted_names_of("sqlite:///x.db"), UnquotedNames::AsWritten);
}

TEST(TableRefTest, NamesQuotedAsMariadbAndSqlServerDo) {
  TableRef t = parse_table_ref("`Odd Out`");
  EXPECT_EQ(t.schema, "");
  EXPECT_EQ(t.name, "Odd Out");

  t = parse_table_ref("`my db`.`a``b.c`");
  EXPECT_EQ(t.schema, "my db");
  EXPECT_EQ(t.name, "a`b.c");

  t = parse_table_ref("[dbo].[Order Lines]");
  EXPECT_EQ(t.schema, "dbo");
  EXPECT_EQ(t.name, "Order Lines");

  t = parse_table_ref("[a]]b]");
  EXPECT_EQ(t.name, "a]b");
}

TEST(TableRefTest, MalformedNamesAreConfigErrorsNamingTheText) {
  for (const std::string bad : {"", "   ", ".", "a.", ".a", "a..b", "a.b.c", "\"unterminated",
                                "\"\"", "\"a\"x", "a\"b\"", "\"a\".", "s.\"\"", "`open", "a`b`", "[x", "``", "x.[]"}) {
    try {
      parse_table_ref(bad);
      ADD_FAILURE() << "no error for [" << bad << "]";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Config);
      EXPECT_NE(std::string(e.what()).find("'" + bad + "'"), std::string::npos) << e.what();
    }
  }
}

TEST(TableSchemaTest, FindIsCaseInsensitiveExactFirst) {
  TableSchema s;
  s.columns.push_back(ColumnInfo{"Id", ColumnType::Int64, "INTEGER", true, true});
  s.columns.push_back(ColumnInfo{"name", ColumnType::Text, "TEXT", false, false});
  s.columns.push_back(ColumnInfo{"NAME", ColumnType::Text, "TEXT", false, false});
  EXPECT_EQ(s.find("Id"), 0);
  EXPECT_EQ(s.find("id"), 0);
  EXPECT_EQ(s.find("ID"), 0);
  EXPECT_EQ(s.find("NAME"), 2);
  EXPECT_EQ(s.find("name"), 1);
  EXPECT_EQ(s.find("Name"), 1);
  EXPECT_EQ(s.find("missing"), -1);
  EXPECT_EQ(TableSchema{}.find("x"), -1);
}

/// A connection that only quotes: every other call is unreachable in these tests.
class QuotingConnection : public Connection {
 public:
  std::string engine() const override { return "fake"; }
  Capabilities capabilities() const override { return {}; }
  std::string quote_identifier(std::string_view name) const override {
    std::string out = "\"";
    for (char c : name) {
      if (c == '"') out += '"';
      out += c;
    }
    return out + "\"";
  }
  void execute(std::string_view) override {}
  std::vector<std::vector<Value>> query(std::string_view, const std::vector<Value>&) override {
    return {};
  }
  void begin() override {}
  void commit() override {}
  void rollback() noexcept override {}
  TableSchema describe_query(std::string_view) override { return {}; }
  std::optional<TableSchema> describe_table(const TableRef&) override { return std::nullopt; }
  std::optional<std::string> integer_primary_key(const TableRef&) override { return std::nullopt; }
  int64_t estimate_rows(std::string_view) override { return 0; }
  KeyStats key_stats(std::string_view, std::string_view, int) override { return {}; }
  void create_table(const TableRef&, const TableSchema&) override {}
  std::unique_ptr<RowSource> open_source(std::string_view, const std::vector<Value>&, size_t,
                                         size_t) override {
    return nullptr;
  }
  std::unique_ptr<RowSink> open_sink(const TableRef&, const std::vector<std::string>&) override {
    return nullptr;
  }
  void close() noexcept override {}
};

TEST(ConnectionTest, QuoteTable) {
  QuotingConnection c;
  EXPECT_EQ(c.quote_table(parse_table_ref("t")), "\"t\"");
  EXPECT_EQ(c.quote_table(parse_table_ref("s.t")), "\"s\".\"t\"");
  EXPECT_EQ(c.quote_table(parse_table_ref("\"Mixed Case\".\"a\"\"b\"")),
            "\"Mixed Case\".\"a\"\"b\"");
}

TEST(DriverRegistryTest, AddOpenHas) {
  DriverRegistry registry;  // a private registry: the process-wide one stays untouched
  EXPECT_FALSE(registry.has("unit-fake"));
  int opened = 0;
  registry.add("unit-fake", [&](const ConnectionUrl& url) -> std::unique_ptr<Connection> {
    ++opened;
    EXPECT_EQ(url.host, "h");
    return std::make_unique<QuotingConnection>();
  });
  EXPECT_TRUE(registry.has("unit-fake"));
  ConnectionUrl url;
  url.scheme = "unit-fake";
  url.host = "h";
  auto c = registry.open(url);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->engine(), "fake");
  EXPECT_EQ(opened, 1);
}

TEST(DriverRegistryTest, MissingDriverIsConfigErrorWithoutPassword) {
  DriverRegistry registry;
  ConnectionUrl url = parse_url("mysql://u:Sw0rdfish@h/db");
  try {
    registry.open(url);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("no driver for scheme 'mysql'"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("Sw0rdfish"), std::string::npos) << msg;
  }
}

TEST(DriverRegistryTest, FactoryReportsMissingDriverUpFront) {
  // The factory fails at creation, not at the first connection.
  try {
    connection_factory("nosuch://u:Sw0rdfish@h/db");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config);
    EXPECT_EQ(std::string(e.what()).find("Sw0rdfish"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace parmap
