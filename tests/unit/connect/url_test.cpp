// Unit tests for connection URL parsing, percent-decoding and password masking.
#include <gtest/gtest.h>

#include "parmap/connection.h"
#include "parmap/error.h"

namespace parmap {
namespace {

std::string error_of(const std::string& url) {
  try {
    parse_url(url);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config) << url;
    return e.what();
  }
  ADD_FAILURE() << "no error for " << url;
  return {};
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(UrlTest, SchemesAreNormalised) {
  EXPECT_EQ(parse_url("postgres://h/db").scheme, "postgresql");
  EXPECT_EQ(parse_url("postgresql://h/db").scheme, "postgresql");
  EXPECT_EQ(parse_url("PostgreSQL://h/db").scheme, "postgresql");
  EXPECT_EQ(parse_url("mysql://h/db").scheme, "mysql");
  EXPECT_EQ(parse_url("mariadb://h/db").scheme, "mysql");
  EXPECT_EQ(parse_url("sqlite:///a.db").scheme, "sqlite");
  EXPECT_EQ(parse_url("sqlite3:///a.db").scheme, "sqlite");
  EXPECT_EQ(parse_url("odbc://MyDsn").scheme, "odbc");
  EXPECT_EQ(parse_url("odbc://MyDsn").host, "MyDsn");
}

TEST(UrlTest, UnknownOrMissingScheme) {
  const std::string msg = error_of("oracle://u:pw@h/db");
  EXPECT_TRUE(contains(msg, "unsupported scheme 'oracle'")) << msg;
  EXPECT_TRUE(contains(msg, "postgresql")) << msg;
  EXPECT_TRUE(contains(msg, "mysql")) << msg;
  EXPECT_TRUE(contains(msg, "sqlite")) << msg;
  EXPECT_TRUE(contains(msg, "odbc")) << msg;
  EXPECT_TRUE(contains(error_of("just-a-file.db"), "no scheme"));
  EXPECT_TRUE(contains(error_of("://h/db"), "no scheme"));
  EXPECT_TRUE(contains(error_of("http://h/db"), "'http'"));
}

TEST(UrlTest, SqliteForms) {
  ConnectionUrl u = parse_url("sqlite:///abs/path.db");
  EXPECT_EQ(u.database, "/abs/path.db");
  EXPECT_EQ(u.host, "");
  EXPECT_EQ(u.masked(), "sqlite:///abs/path.db");

  u = parse_url("sqlite://rel/path.db");
  EXPECT_EQ(u.database, "rel/path.db");
  EXPECT_EQ(u.masked(), "sqlite://rel/path.db");

  EXPECT_EQ(parse_url("sqlite://:memory:").database, ":memory:");
  EXPECT_EQ(parse_url("sqlite::memory:").database, ":memory:");
  EXPECT_EQ(parse_url("sqlite::memory:").masked(), "sqlite://:memory:");

  u = parse_url("sqlite:///tmp/a.db?journal_mode=wal&busy_timeout=5000");
  EXPECT_EQ(u.database, "/tmp/a.db");
  EXPECT_EQ(u.params.at("journal_mode"), "wal");
  EXPECT_EQ(u.params.at("busy_timeout"), "5000");
  EXPECT_EQ(u.masked(), "sqlite:///tmp/a.db?busy_timeout=5000&journal_mode=wal");

  EXPECT_EQ(parse_url("sqlite:///tmp/my%20file.db").database, "/tmp/my file.db");
  EXPECT_EQ(parse_url("sqlite:///tmp/my%20file.db").masked(), "sqlite:///tmp/my%20file.db");

  EXPECT_TRUE(contains(error_of("sqlite://"), "no database file"));
  EXPECT_TRUE(contains(error_of("sqlite:a.db"), "sqlite:///absolute/path.db"));
}

TEST(UrlTest, ServerForms) {
  ConnectionUrl u =
      parse_url("postgresql://alice:s3cret@db.example.com:5433/sales?sslmode=require");
  EXPECT_EQ(u.user, "alice");
  EXPECT_EQ(u.password, "s3cret");
  EXPECT_EQ(u.host, "db.example.com");
  EXPECT_EQ(u.port, 5433);
  EXPECT_EQ(u.database, "sales");
  EXPECT_EQ(u.params.at("sslmode"), "require");

  u = parse_url("mysql://bob@localhost/shop");
  EXPECT_EQ(u.user, "bob");
  EXPECT_EQ(u.password, "");
  EXPECT_EQ(u.host, "localhost");
  EXPECT_FALSE(u.port.has_value());
  EXPECT_EQ(u.database, "shop");

  u = parse_url("postgres://h");
  EXPECT_EQ(u.host, "h");
  EXPECT_EQ(u.database, "");
  EXPECT_EQ(u.user, "");

  u = parse_url("postgres:///db");  // empty host: local socket
  EXPECT_EQ(u.host, "");
  EXPECT_EQ(u.database, "db");

  u = parse_url("postgres://:pw@h/db");
  EXPECT_EQ(u.user, "");
  EXPECT_EQ(u.password, "pw");

  u = parse_url("mysql://u:@h:3306/");
  EXPECT_EQ(u.password, "");
  EXPECT_EQ(u.port, 3306);
  EXPECT_EQ(u.database, "");

  u = parse_url("postgres://h/db?a=1&b&&c=x=y");
  EXPECT_EQ(u.params.at("a"), "1");
  EXPECT_EQ(u.params.at("b"), "");
  EXPECT_EQ(u.params.at("c"), "x=y");
  EXPECT_EQ(u.params.size(), 3u);
}

TEST(UrlTest, Ipv6Hosts) {
  ConnectionUrl u = parse_url("postgresql://u:pw@[::1]:6543/db");
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, 6543);
  EXPECT_EQ(u.database, "db");
  EXPECT_EQ(u.masked(), "postgresql://u:****@[::1]:6543/db");

  u = parse_url("mysql://[2001:db8::7]/x");
  EXPECT_EQ(u.host, "2001:db8::7");
  EXPECT_FALSE(u.port.has_value());

  EXPECT_TRUE(contains(error_of("postgres://[::1/db"), "']'"));
  EXPECT_TRUE(contains(error_of("postgres://[::1]x/db"), "']'"));
}

// A host that holds ':' and a character of the URL's structure can only come from %-escapes;
// masked() %-encodes it rather than bracketing it, so that it parses back (a fuzz finding).
TEST(UrlTest, MaskedHostWithStructureCharactersParsesBack) {
  const ConnectionUrl u = parse_url("postgresql://u:pw@a%3A%5Db%2Fc:5/db");
  EXPECT_EQ(u.host, "a:]b/c");
  const std::string masked = u.masked();
  EXPECT_EQ(masked, "postgresql://u:****@a%3A%5Db%2Fc:5/db");
  const ConnectionUrl again = parse_url(masked);
  EXPECT_EQ(again.host, u.host);
  EXPECT_EQ(again.port, 5);
  EXPECT_EQ(again.database, "db");
}

TEST(UrlTest, PercentDecoding) {
  ConnectionUrl u =
      parse_url("postgresql://us%40er:p%40ss%3Aw%2Fo%25rd@h/my%20db?application_name=a%26b");
  EXPECT_EQ(u.user, "us@er");
  EXPECT_EQ(u.password, "p@ss:w/o%rd");
  EXPECT_EQ(u.database, "my db");
  EXPECT_EQ(u.params.at("application_name"), "a&b");
  // '+' is literal, as libpq reads it
  EXPECT_EQ(parse_url("postgres://u:a+b@h/d").password, "a+b");

  const std::string msg = error_of("postgres://u:bad%zzpw@h/db");
  EXPECT_TRUE(contains(msg, "percent-encoding in the password")) << msg;
  EXPECT_FALSE(contains(msg, "bad%zzpw")) << msg;
  EXPECT_TRUE(contains(error_of("postgres://u@h/db%4"), "database name"));
}

TEST(UrlTest, UnencodedSpecialCharactersInPassword) {
  ConnectionUrl u = parse_url("postgres://u:p@ss/w?rd@host:5432/db?x=1");
  EXPECT_EQ(u.user, "u");
  EXPECT_EQ(u.password, "p@ss/w?rd");
  EXPECT_EQ(u.host, "host");
  EXPECT_EQ(u.port, 5432);
  EXPECT_EQ(u.database, "db");
  EXPECT_EQ(u.params.at("x"), "1");
  // An '@' in a query value does not end the user info.
  u = parse_url("postgres://u:pw@host/db?application_name=me@work");
  EXPECT_EQ(u.password, "pw");
  EXPECT_EQ(u.host, "host");
  EXPECT_EQ(u.params.at("application_name"), "me@work");
}

TEST(UrlTest, BadPorts) {
  for (const std::string port : {"abc", "0", "65536", "99999999", "-1", "", "54x"}) {
    const std::string msg = error_of("postgres://u:topsecret@h:" + port + "/db");
    EXPECT_TRUE(contains(msg, "invalid port '" + port + "'")) << msg;
    EXPECT_TRUE(contains(msg, "1 to 65535")) << msg;
    EXPECT_FALSE(contains(msg, "topsecret")) << msg;
  }
  EXPECT_EQ(parse_url("postgres://h:1/db").port, 1);
  EXPECT_EQ(parse_url("postgres://h:65535/db").port, 65535);
}

TEST(UrlTest, PasswordNeverInAnyError) {
  const std::string pw = "Hunter2xyz";
  for (const std::string& url : {
           "oracle://u:" + pw + "@h/db",
           "postgres://u:" + pw + "@h:99999/db",
           "postgres://u:" + pw + "@h:port/db",
           "postgres://u:" + pw + "@[::1/db",
           "postgres://u:" + pw + "@h/db%zz",
           "postgres://u:" + pw + "%zz@h/db",
           "postgres://u:" + pw + "@h/db?=v",
           "mysql:u:" + pw + "@h/db",
           "postgres://u:" + pw + "@h:1:2/db",
           "postgres://u:" + pw + "@h/db?password=" + pw + "&x=%zz",
           "postgres://h/db?password=" + pw + "&x=%zz",
           "sqlite://x.db?password=" + pw + "&=1",
           "alice:" + pw + "@host/db",
           "postgres://u:my " + pw + "@h:x/db",
           "postgres//u:" + pw + "@h/db",
           "postgres://u:" + pw + "?a=b@h/db",
       }) {
    try {
      parse_url(url);
      ADD_FAILURE() << "no error for " << url;
    } catch (const Error& e) {
      EXPECT_FALSE(contains(e.what(), pw)) << e.what();
      EXPECT_EQ(e.kind(), ErrorKind::Config);
    }
  }
}

TEST(UrlTest, Masked) {
  EXPECT_EQ(parse_url("postgres://alice:s3cret@h:5432/db").masked(),
            "postgresql://alice:****@h:5432/db");
  EXPECT_EQ(parse_url("mysql://bob@h/db").masked(), "mysql://bob@h/db");
  EXPECT_EQ(parse_url("postgres://h/db?password=s3cret&sslmode=disable").masked(),
            "postgresql://h/db?password=****&sslmode=disable");
  EXPECT_EQ(parse_url("postgres://u%40x:p%40ss@h/my%20db").masked(),
            "postgresql://u%40x:****@h/my%20db");
  // masked() parses back to the same fields, password aside.
  const ConnectionUrl u = parse_url("postgresql://u%40x:pw@[::1]:7/a%2Fb?k=v%26w");
  const ConnectionUrl back = parse_url(u.masked());
  EXPECT_EQ(back.user, u.user);
  EXPECT_EQ(back.host, u.host);
  EXPECT_EQ(back.port, u.port);
  EXPECT_EQ(back.database, u.database);
  EXPECT_EQ(back.params, u.params);
  EXPECT_EQ(back.password, "****");
}

TEST(UrlTest, MaskPasswordInFreeText) {
  EXPECT_EQ(mask_password("cannot connect to postgres://alice:s3cret@h/db: timeout"),
            "cannot connect to postgres://alice:****@h/db: timeout");
  EXPECT_EQ(mask_password("a mysql://u:p@ss@h/db and odbc://x:y@z"),
            "a mysql://u:****@h/db and odbc://x:****@z");
  EXPECT_EQ(mask_password("'postgres://u:pw@h/db'"), "'postgres://u:****@h/db'");
  EXPECT_EQ(mask_password("postgres://u@h/db"), "postgres://u@h/db");
  EXPECT_EQ(mask_password("sqlite:///tmp/a.db"), "sqlite:///tmp/a.db");
  EXPECT_EQ(mask_password("no url here"), "no url here");
  EXPECT_EQ(mask_password(""), "");
  EXPECT_EQ(mask_password("host=h password=s3cret user=u"), "host=h password=**** user=u");
  EXPECT_EQ(mask_password("Driver=x;PWD=s3cret;UID=u"), "Driver=x;PWD=****;UID=u");
  EXPECT_EQ(mask_password("postgres://h/db?sslmode=require&Password=s3cret&x=1"),
            "postgres://h/db?sslmode=require&Password=****&x=1");
  EXPECT_EQ(mask_password("old_password_hint=abc"), "old_password_hint=abc");
  EXPECT_EQ(mask_password("mypwd=abc"), "mypwd=abc");
  EXPECT_EQ(mask_password("password="), "password=");
}

// Found by fuzzing: a '?' and '=' in the password made the split land inside an Azure-style
// user name ("user@server"), and the bad "port" printed was the start of the password.
TEST(UrlTest, BadPortAfterAWrongSplitDoesNotPrintThePassword) {
  try {
    parse_url("postgresql://myadmin@srv:pw12345?x=1@host.example.com/db");
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find("pw12345"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace parmap
