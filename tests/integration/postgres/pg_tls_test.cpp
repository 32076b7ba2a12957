// PostgreSQL over TLS: sslmode=require and verify-full against the test server's self-signed
// certificate (PARMAP_PG_SSL_ROOT), through a Connection and through the parmap binary.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "parmap/connection.h"
#include "parmap/error.h"
#include "support/pg_support.h"
#include "support/test_support.h"

namespace parmap {
namespace {

using test::run_parmap;

// The role scripts/pg_test_server.sh lets in over TLS only (hostssl; hostnossl rejects it).
constexpr const char* kTlsRole = "parmap_tls";
constexpr const char* kTlsPassword = "tls-secret-pw";

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

/// Percent-encodes a URL query value; unreserved characters and '/' stay as they are.
std::string encode_param(std::string_view value) {
  static const char* digits = "0123456789ABCDEF";
  std::string out;
  for (const char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~' || c == '/') {
      out += ch;
    } else {
      out += '%';
      out += digits[c >> 4];
      out += digits[c & 15];
    }
  }
  return out;
}

using test::Pg;
using test::pg_checksum;

/// The first column of the first row of a query run through a parmap Connection, as text.
std::string scalar(Connection& conn, const std::string& sql) {
  const auto rows = conn.query(sql);
  if (rows.empty() || rows[0].empty() || rows[0][0].is_null()) return "";
  const Value& v = rows[0][0];
  return v.is_text() ? v.as_text() : v.to_display();
}

/// Whether the server sees this session as encrypted: "true" or "false".
std::string session_ssl(Connection& conn) {
  return scalar(conn, "SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
}

/// Each test makes its own databases (owned by parmap_tls, so that it may create parmap's
/// ledger tables), dropped at the end.
class PgTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string base = test::server_url("PARMAP_PG_URL");
    if (base.empty()) GTEST_SKIP() << "PARMAP_PG_URL is not set (scripts/pg_test_server.sh)";
    const char* root = std::getenv("PARMAP_PG_SSL_ROOT");
    if (root == nullptr || *root == '\0') {
      const char* require = std::getenv("PARMAP_REQUIRE_SERVERS");
      if (require != nullptr && std::string(require) == "1") {
        FAIL() << "PARMAP_PG_SSL_ROOT is not set and PARMAP_REQUIRE_SERVERS=1: the server has "
               << "no TLS certificate (start it with scripts/pg_test_server.sh and eval its env)";
      }
      GTEST_SKIP() << "PARMAP_PG_SSL_ROOT is not set: the test server was started without TLS "
                   << "(eval \"$(scripts/pg_test_server.sh env DIR)\")";
    }
    root_cert_ = root;
    ASSERT_TRUE(std::filesystem::is_regular_file(root_cert_))
        << "PARMAP_PG_SSL_ROOT names no file: " << root_cert_;
    const ConnectionUrl parsed = parse_url(base);
    super_user_ = parsed.user;
    super_host_ = parsed.host;
    port_ = std::to_string(parsed.port.value_or(5432));
    register_builtin_drivers();
    admin_ = std::make_unique<Pg>(base);
  }

  void TearDown() override {
    for (const std::string& db : created_) {
      try {
        // FORCE: a parmap that just failed may leave a backend behind for a moment.
        admin_->exec("DROP DATABASE IF EXISTS " + db + " WITH (FORCE)");
      } catch (const std::exception& e) {
        ADD_FAILURE() << "cleanup: " << e.what();
      }
    }
  }

  /// A new database owned by parmap_tls; returns its name.
  std::string create_database(const std::string& suffix) {
    static int counter = 0;
    const std::string name =
        "parmap_tls" + std::to_string(getpid()) + "_" + std::to_string(counter++) + "_" + suffix;
    admin_->exec("CREATE DATABASE " + name + " OWNER " + kTlsRole);
    created_.push_back(name);
    return name;
  }

  /// postgresql://[userinfo@]host:port/database[?params]
  std::string url(const std::string& userinfo, const std::string& host, const std::string& db,
                  const std::string& params = {}) const {
    return "postgresql://" + (userinfo.empty() ? "" : userinfo + "@") + host + ":" + port_ + "/" +
           db + (params.empty() ? "" : "?" + params);
  }

  /// The superuser (trusted over plain and TLS connections alike).
  std::string super_url(const std::string& db, const std::string& params = {}) const {
    return url(super_user_, super_host_, db, params);
  }

  /// The TLS-only role with its password, and any params.
  std::string tls_role_url(const std::string& host, const std::string& db,
                           const std::string& params) const {
    return url(std::string(kTlsRole) + ":" + kTlsPassword, host, db, params);
  }

  /// verify-full against `root` (default: the server's own certificate).
  std::string verify_full_params(const std::string& root = {}) const {
    return "sslmode=verify-full&sslrootcert=" + encode_param(root.empty() ? root_cert_ : root);
  }

  /// Opens a parmap Connection; an Error becomes nullopt with its message in `error`.
  static std::unique_ptr<Connection> try_open(const std::string& u, std::string& error,
                                              std::optional<ErrorKind>* kind = nullptr) {
    try {
      return connection_factory(u)();
    } catch (const Error& e) {
      error = e.what();
      if (kind != nullptr) *kind = e.kind();
    }
    return nullptr;
  }

  std::string root_cert_;
  std::string super_user_, super_host_, port_;
  std::unique_ptr<Pg> admin_;
  std::vector<std::string> created_;
};

TEST_F(PgTlsTest, SslmodeRequireEncryptsTheSessionAndDisableDoesNot) {
  std::string error;
  auto tls = try_open(super_url("postgres", "sslmode=require"), error);
  ASSERT_TRUE(tls) << error;
  EXPECT_EQ(session_ssl(*tls), "true");
  const std::string version =
      scalar(*tls, "SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
  EXPECT_TRUE(contains(version, "TLS")) << version;

  // The same query on a plain session says false: the check above can fail.
  auto plain = try_open(super_url("postgres", "sslmode=disable"), error);
  ASSERT_TRUE(plain) << error;
  EXPECT_EQ(session_ssl(*plain), "false");

  // The TLS-only role gets in with sslmode=require (encrypted, certificate not checked).
  auto role = try_open(tls_role_url("127.0.0.1", "postgres", "sslmode=require"), error);
  ASSERT_TRUE(role) << error;
  EXPECT_EQ(session_ssl(*role), "true");
  EXPECT_EQ(scalar(*role, "SELECT current_user"), kTlsRole);
}

TEST_F(PgTlsTest, VerifyFullAcceptsTheServerCertificateByNameAndByIp) {
  std::string error;
  // localhost is the certificate's CN and a DNS name in its subjectAltName.
  auto by_name = try_open(tls_role_url("localhost", "postgres", verify_full_params()), error);
  ASSERT_TRUE(by_name) << error;
  EXPECT_EQ(session_ssl(*by_name), "true");
  // 127.0.0.1 matches only through the certificate's IP subjectAltName.
  auto by_ip = try_open(tls_role_url("127.0.0.1", "postgres", verify_full_params()), error);
  ASSERT_TRUE(by_ip) << error;
  EXPECT_EQ(session_ssl(*by_ip), "true");
}

TEST_F(PgTlsTest, VerifyFullRefusesAnotherRootAndAnotherHostName) {
  // A second self-signed certificate with the same names, which did not sign the server's.
  test::TempDir tmp;
  const std::string other = tmp.file("other-root.crt");
  const std::string make_other =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost "
      "-addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' "
      "-addext 'basicConstraints=critical,CA:TRUE' -keyout '" +
      tmp.file("other-root.key") + "' -out '" + other + "' >'" + tmp.file("openssl.log") + "' 2>&1";
  ASSERT_EQ(std::system(make_other.c_str()), 0) << make_other;
  ASSERT_TRUE(std::filesystem::is_regular_file(other));

  for (const std::string host : {"localhost", "127.0.0.1"}) {
    SCOPED_TRACE("host " + host);
    std::string error;
    std::optional<ErrorKind> kind;
    auto conn = try_open(tls_role_url(host, "postgres", verify_full_params(other)), error, &kind);
    EXPECT_FALSE(conn) << "connected with a root that did not sign the server certificate";
    EXPECT_TRUE(contains(lower(error), "certificate verify failed")) << error;
    EXPECT_TRUE(kind == ErrorKind::Connect) << (kind ? to_string(*kind) : "no error");
    EXPECT_FALSE(contains(error, kTlsPassword)) << error;
  }

  // The right root, but a host name the certificate does not name (the address is still
  // 127.0.0.1, through hostaddr): verify-full checks the name, not only the signature.
  std::string error;
  auto conn = try_open(
      tls_role_url("wrong-name.invalid", "postgres", verify_full_params() + "&hostaddr=127.0.0.1"),
      error);
  EXPECT_FALSE(conn) << "connected to a server whose certificate names another host";
  EXPECT_TRUE(contains(error, "does not match host name")) << error;
  EXPECT_FALSE(contains(error, kTlsPassword)) << error;
}

TEST_F(PgTlsTest, CliCopiesOverVerifiedTlsWithTheTlsOnlyRole) {
  constexpr int kRows = 50000;
  const std::string src_db = create_database("src");
  const std::string dst_db = create_database("dst");
  Pg src(super_url(src_db));
  Pg dst(super_url(dst_db));
  const std::string columns =
      "grp int4, amount numeric(14,2), ratio float8, label text, day date, at timestamptz, "
      "flag bool, payload bytea, tags text[], ref uuid";
  src.exec("CREATE TABLE tls_src (id int8 PRIMARY KEY, " + columns + ")");
  src.exec(
      "INSERT INTO tls_src SELECT g * 3, g % 201 - 100, (g::int8 * 7919 % 1000003) / 100.0, "
      "g / 7.0, CASE WHEN g % 9 = 0 THEN NULL ELSE 'row ' || g || repeat('ü', g % 5) END, "
      "date '1969-12-01' + g % 40000, "
      "timestamptz '2000-01-01 00:00+00' + g * interval '61.5 seconds', "
      "CASE WHEN g % 4 = 0 THEN NULL ELSE g % 2 = 0 END, "
      "CASE WHEN g % 11 = 0 THEN NULL ELSE decode(md5(g::text) || '00', 'hex') END, "
      "ARRAY['t' || g % 10, NULL, ''], md5(g::text)::uuid "
      "FROM generate_series(1, " +
      std::to_string(kRows) + ") g");
  src.exec("ANALYZE tls_src; GRANT SELECT ON tls_src TO parmap_tls");
  // No unique key on the target, so a duplicated chunk could not hide.
  dst.exec("CREATE TABLE tls_copy (id int8, " + columns +
           "); ALTER TABLE tls_copy OWNER TO parmap_tls");
  const std::string want = pg_checksum(src, "tls_src");
  ASSERT_EQ(want.substr(0, want.find(':')), std::to_string(kRows));

  // The source by name, the target by address; both verified against the server's root.
  const auto r =
      run_parmap({"run", "--source", tls_role_url("localhost", src_db, verify_full_params()),
                  "--target", tls_role_url("127.0.0.1", dst_db, verify_full_params()), "--query",
                  "SELECT * FROM tls_src ORDER BY id", "--target-table", "tls_copy", "--workers",
                  "4", "--chunk-size", "5000", "--min-rows-for-parallel", "1000", "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(contains(r.out, kTlsPassword)) << r.out;
  EXPECT_FALSE(contains(r.err, kTlsPassword)) << r.err;
  EXPECT_EQ(pg_checksum(dst, "tls_copy"), want);
  // Several chunks: the workers' sessions went over TLS too (the role has no other way in).
  EXPECT_GE(std::stoi(dst.scalar("SELECT count(*) FROM parmap_ledger")), 2);
}

TEST_F(PgTlsTest, CliWithoutTlsIsRefusedForTheTlsOnlyRole) {
  const std::string src_db = create_database("src");
  const std::string dst_db = create_database("dst");
  Pg src(super_url(src_db));
  Pg dst(super_url(dst_db));
  src.exec(
      "CREATE TABLE plain_src (id int8 PRIMARY KEY, s text);"
      "INSERT INTO plain_src SELECT g, 'r' || g FROM generate_series(1, 100) g;"
      "GRANT SELECT ON plain_src TO parmap_tls");
  dst.exec("CREATE TABLE plain_dst (id int8, s text); ALTER TABLE plain_dst OWNER TO parmap_tls");
  auto args = [](const std::string& source, const std::string& target) {
    return std::vector<std::string>{"run",
                                    "--source",
                                    source,
                                    "--target",
                                    target,
                                    "--query",
                                    "SELECT * FROM plain_src ORDER BY id",
                                    "--target-table",
                                    "plain_dst"};
  };
  const std::string tls_src = tls_role_url("localhost", src_db, verify_full_params());
  const std::string tls_dst = tls_role_url("localhost", dst_db, verify_full_params());
  const std::string plain_src = tls_role_url("127.0.0.1", src_db, "sslmode=disable");
  const std::string plain_dst = tls_role_url("127.0.0.1", dst_db, "sslmode=disable");

  for (const bool on_target : {false, true}) {
    SCOPED_TRACE(on_target ? "plain connection to the target" : "plain connection to the source");
    const auto r = run_parmap(on_target ? args(tls_src, plain_dst) : args(plain_src, tls_dst));
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_TRUE(contains(r.err, "pg_hba.conf rejects connection")) << r.err;
    EXPECT_TRUE(contains(r.err, "no encryption")) << r.err;
    EXPECT_FALSE(contains(r.out, kTlsPassword)) << r.out;
    EXPECT_FALSE(contains(r.err, kTlsPassword)) << r.err;
    EXPECT_EQ(dst.scalar("SELECT count(*) FROM plain_dst"), "0");
  }

  // The same job over TLS works: the refusals above were the missing encryption, nothing else.
  const auto ok = run_parmap(args(tls_src, tls_dst));
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_FALSE(contains(ok.err, kTlsPassword)) << ok.err;
  EXPECT_EQ(pg_checksum(dst, "plain_dst"), pg_checksum(src, "plain_src"));
}

}  // namespace
}  // namespace parmap
