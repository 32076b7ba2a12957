// Bad input through the parmap binary: a clear message, the documented exit code, target untouched.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "parmap/parmap.h"
#include "support/pg_support.h"
#include "support/test_support.h"

namespace parmap {
namespace {

using test::run_parmap;
using test::RunResult;
using test::TempDir;
using Args = std::vector<std::string>;

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
/// The test server's password role (scripts/pg_test_server.sh); must never be printed.
constexpr const char* kPwRole = "parmap_pw";
constexpr const char* kPassword = "secret-pw";

bool has(const std::string& text, const std::string& word) {
  return text.find(word) != std::string::npos;
}

/// `base` followed by `extra`.
Args operator+(Args base, const Args& extra) {
  base.insert(base.end(), extra.begin(), extra.end());
  return base;
}

/// The exit code, every word of `words` in stderr, and no password anywhere.
void expect_message(const RunResult& r, int code, const std::vector<std::string>& words,
                    const std::string& what) {
  EXPECT_EQ(r.exit_code, code) << what << "\nstderr: " << r.err << "\nstdout: " << r.out;
  for (const auto& w : words) {
    EXPECT_TRUE(has(r.err, w)) << what << ": expected '" << w << "' in stderr: " << r.err;
  }
  EXPECT_FALSE(has(r.err + r.out, kPassword)) << what << ": the password was printed";
}

/// Source rows 1..9 (qty is text; row 5 holds 'abc', the others their id).
constexpr int kSourceRows = 9;
constexpr int kBadRow = 5;

// ---------------------------------------------------------------------------------------------
// SQLite

class BadInputSqlite : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string rows;
    for (int i = 1; i <= kSourceRows; ++i) {
      rows += (i > 1 ? ", " : "") + std::string("(") + std::to_string(i) + ", 'n" +
              std::to_string(i) + "', '" + (i == kBadRow ? "abc" : std::to_string(i)) + "')";
    }
    test::sqlite_exec(src_,
                      "CREATE TABLE src (id INTEGER PRIMARY KEY, name TEXT, qty TEXT); "
                      "INSERT INTO src VALUES " +
                          rows + ";");
    test::sqlite_exec(dst_,
                      "CREATE TABLE dst (id INTEGER, name TEXT, qty TEXT); "
                      "INSERT INTO dst VALUES (100, 'kept', '1'); "
                      "CREATE TABLE narrow (id INTEGER, name TEXT); "
                      "INSERT INTO narrow VALUES (101, 'kept too');");
    before_ = state();
  }

  /// Content checksums of every table in the target, and its schema.
  std::vector<test::Checksum> state() const {
    return {test::sqlite_checksum(dst_, "SELECT type, name, sql FROM sqlite_master"),
            test::sqlite_checksum(dst_, "SELECT * FROM dst"),
            test::sqlite_checksum(dst_, "SELECT * FROM narrow")};
  }

  void expect_untouched(const std::string& what) const {
    EXPECT_TRUE(state() == before_) << what << ": the target changed";
    EXPECT_FALSE(test::sqlite_has_table(dst_, "parmap_jobs")) << what;
    EXPECT_FALSE(test::sqlite_has_table(dst_, "parmap_ledger")) << what;
  }

  /// Runs `args` and expects a rejection that leaves the target as it was.
  void expect_rejected(const Args& args, int code, const std::vector<std::string>& words,
                       const std::vector<std::string>& env = {}) {
    std::string what;
    for (const auto& e : env) what += e + " ";
    for (const auto& a : args) what += a + " ";
    const RunResult r = run_parmap(args, env);
    expect_message(r, code, words, what);
    expect_untouched(what);
  }

  /// `parmap run` copying into `target_table`, without the source choice.
  Args base_no_source(const std::string& target_table = "dst") const {
    return {"run",       "--source",         dir_.url("src.db"),
            "--target",  dir_.url("dst.db"), "--target-table",
            target_table};
  }
  Args base() const { return base_no_source() + Args{"--table", "src"}; }

  /// Writes a job file copying src into dst, with `extra` appended; returns its path.
  std::string job(const std::string& extra, const std::string& name = "job.yaml") const {
    const std::string path = dir_.file(name);
    test::write_file(path, "source: " + dir_.url("src.db") + "\ntarget: " + dir_.url("dst.db") +
                               "\ntable: src\ntarget_table: dst\n" + extra);
    return path;
  }

  TempDir dir_;
  const std::string src_ = dir_.file("src.db");
  const std::string dst_ = dir_.file("dst.db");
  std::vector<test::Checksum> before_;
};

TEST_F(BadInputSqlite, MalformedJobFilesAreUsageErrors) {
  struct Case {
    std::string name, text;
    std::vector<std::string> words;
  };
  static const char kBinary[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\xff\xfe source: x\n";
  const std::string binary(kBinary, sizeof(kBinary) - 1);
  const std::vector<Case> cases = {
      {"tabs.yaml", "source: a\n\ttarget: b\n", {"tabs.yaml:2:", "not valid YAML", "tab"}},
      {"bracket.yaml", "source: [a, b\ntarget: x\n", {"bracket.yaml:", "not valid YAML"}},
      {"brace.yaml", "params: {max_workers: 2\n", {"brace.yaml:", "not valid YAML"}},
      {"indent.yaml", "source: a\n  target: b\n", {"indent.yaml:2:", "not valid YAML"}},
      {"anchor.yaml", "source: *nowhere\n", {"anchor.yaml:1:", "not valid YAML", "anchor"}},
      {"list.yaml", "- source: a\n- target: b\n", {"list.yaml", "list", "map of keys", "source"}},
      {"empty.yaml", "", {"empty.yaml", "empty"}},
      {"comments.yaml", "# nothing here\n\n", {"comments.yaml", "empty"}},
      {"scalar.yaml", "just some words\n", {"scalar.yaml", "single value"}},
      {"binary.yaml", binary, {"binary.yaml", "not a text file"}},
      {"twice.yaml", "source: a\nsource: b\n", {"twice.yaml:2", "'source'", "twice"}},
      {"listkey.yaml", "? [a, b]\n: c\n", {"listkey.yaml:1", "must be a name"}},
      {"listvalue.yaml", "source: [a, b]\n", {"listvalue.yaml:1", "'source'", "single value"}},
      {"paramslist.yaml", "params: [max_workers]\n", {"paramslist.yaml:1", "'params'", "map"}},
      {"columnsmap.yaml", "columns: {id: x}\n", {"columnsmap.yaml:1", "'columns'", "list"}},
      {"columnnoname.yaml", "columns:\n  - {from: id}\n", {"columnnoname.yaml:2", "'name'"}},
  };
  for (const auto& c : cases) {
    test::write_file(dir_.file(c.name), c.text);
    expect_rejected({"run", dir_.file(c.name)}, kExitUsage, c.words);
    expect_rejected({"plan", dir_.file(c.name)}, kExitUsage, c.words);
  }
  expect_rejected({"run", dir_.path()}, kExitUsage, {dir_.path(), "folder"});
  expect_rejected({"run", dir_.file("missing.yaml")}, kExitUsage, {"missing.yaml", "no such file"});
}

TEST_F(BadInputSqlite, UnknownKeysSuggestTheRightOne) {
  struct Case {
    std::string yaml;
    std::vector<std::string> words;
  };
  // The job file's first four lines are source, target, table and target_table.
  const std::vector<Case> cases = {
      {"sourse: x\n", {"job.yaml:5", "unknown key 'sourse'", "did you mean 'source'"}},
      {"target_tabel: dst\n", {"unknown key 'target_tabel'", "did you mean 'target_table'"}},
      {"partition_colum: id\n", {"did you mean 'partition_column'"}},
      {"parms:\n  max_workers: 2\n", {"unknown key 'parms'", "did you mean 'params'"}},
      {"columns:\n  - id\n  - {name: q, frm: qty}\n",
       {"job.yaml:7", "unknown key 'frm'", "columns[1]", "did you mean 'from'"}},
      {"columns:\n  - {name: q, typ: int}\n", {"unknown key 'typ'", "did you mean 'type'"}},
      {"columns:\n  - {nam: q}\n", {"unknown key 'nam'", "did you mean 'name'"}},
      {"params:\n  max_worker: 2\n",
       {"job.yaml:6", "unknown job param 'max_worker'", "did you mean 'max_workers'"}},
      {"params:\n  chunksize: 10\n", {"'chunksize'", "did you mean 'chunk_size'"}},
      {"params:\n  retry_backof_ms: 10\n", {"did you mean 'retry_backoff_ms'"}},
      {"params:\n  colour: blue\n", {"unknown job param 'colour'", "accepted: enable_parallel"}},
      // A job param at the top level belongs under params:.
      {"chunk_size: 10\n", {"job.yaml:5", "'chunk_size'", "params:"}},
      {"max_workers: 4\n", {"'max_workers'", "params:"}},
      {"enable_parallel: false\n", {"'enable_parallel'", "params:"}},
  };
  for (const auto& c : cases) {
    expect_rejected({"run", job(c.yaml)}, kExitUsage, c.words);
  }
  expect_rejected(base() + Args{"--set", "max_worker=3"}, kExitUsage,
                  {"max_worker", "did you mean 'max_workers'"});
  expect_rejected(base() + Args{"--set", "tabel=src"}, kExitUsage,
                  {"unknown key 'tabel'", "did you mean 'table'"});
  expect_rejected(base() + Args{"--set", "columns=id"}, kExitUsage, {"columns", "--set"});
  expect_rejected(base() + Args{"--set", "max_workers"}, kExitUsage, {"--set", "key=value"});
  expect_rejected(base() + Args{"--set", "=4"}, kExitUsage, {"--set", "key=value"});
  expect_rejected(base() + Args{"--no-such-flag"}, kExitUsage, {"--no-such-flag"});
}

/// One setting, its environment variable and flag ("" when it has none), and values that must
/// be refused whichever way they come.
struct BadSetting {
  std::string param, env, flag;
  std::vector<std::string> values;
};

const std::vector<BadSetting>& bad_settings() {
  static const std::string overflow = "99999999999999999999";
  static const std::vector<BadSetting> table = {
      {"enable_parallel", "MAPPER_PARALLEL_ENABLED", "", {"maybe", "2", "-1", "tru", overflow}},
      {"max_workers",
       "MAPPER_MAX_WORKERS",
       "--workers",
       {"abc", "-1", "0", "1025", "2.5", "4x", overflow}},
      {"chunk_size",
       "MAPPER_CHUNK_SIZE",
       "--chunk-size",
       {"abc", "-1", "0", "1e3", "100000001", overflow}},
      {"min_rows_for_parallel",
       "MAPPER_MIN_ROWS_FOR_PARALLEL",
       "--min-rows-for-parallel",
       {"abc", "-1", "1.5", "-99999999999999999999", overflow}},
      {"max_retries", "MAPPER_MAX_RETRIES", "", {"abc", "-1", "101", "three", overflow}},
      {"retry_backoff_ms",
       "MAPPER_RETRY_BACKOFF_MS",
       "",
       {"abc", "-1", "10ms", "600001", overflow}},
      {"chunk_timeout_s", "MAPPER_CHUNK_TIMEOUT_S", "", {"abc", "-1", "1h", "604801", overflow}},
      {"max_batch_bytes",
       "MAPPER_MAX_BATCH_BYTES",
       "",
       {"abc", "-1", "0", "65535", "64MiB", overflow}},
  };
  return table;
}

TEST_F(BadInputSqlite, UnknownMapperVariableIsAWarningWithASuggestion) {
  // Other tools may use MAPPER_ variables: a warning naming it, and the job still runs.
  const RunResult r = run_parmap({"plan", job("")}, {"MAPPER_MAX_WORKER=4"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.err, "MAPPER_MAX_WORKER is not a parmap setting")) << r.err;
  EXPECT_TRUE(has(r.err, "did you mean MAPPER_MAX_WORKERS?")) << r.err;
  expect_untouched("plan with MAPPER_MAX_WORKER");
}

TEST_F(BadInputSqlite, EverySettingOutOfRangeIsRefusedFromEverySource) {
  for (const auto& s : bad_settings()) {
    for (const auto& v : s.values) {
      const std::string quoted = "'" + v + "'";
      if (!s.flag.empty()) {
        expect_rejected(base() + Args{s.flag, v}, kExitUsage, {s.param, quoted});
        expect_rejected(base() + Args{s.flag + "=" + v}, kExitUsage, {s.param, quoted});
      }
      expect_rejected(base() + Args{"--set", s.param + "=" + v}, kExitUsage, {s.param, quoted});
      expect_rejected({"run", job("params:\n  " + s.param + ": " + v + "\n")}, kExitUsage,
                      {s.param, quoted});
      expect_rejected(base(), kExitUsage, {s.env, quoted}, {s.env + "=" + v});
      // The plan command checks the same way.
      expect_rejected({"plan", job("params:\n  " + s.param + ": '" + v + "'\n")}, kExitUsage,
                      {s.param, quoted});
    }
    // An empty value from the environment is not "unset".
    expect_rejected(base(), kExitUsage, {s.env}, {s.env + "="});
  }
  // --no-parallel is a switch: it takes no value.
  expect_rejected(base() + Args{"--no-parallel=maybe"}, kExitUsage, {"--no-parallel"});
}

TEST_F(BadInputSqlite, ModeOutputAndSourceChoice) {
  expect_rejected(base() + Args{"--mode", "replace"}, kExitUsage, {"--mode", "replace"});
  expect_rejected(base() + Args{"--set", "mode=replace"}, kExitUsage,
                  {"mode", "'replace'", "append, truncate or create"});
  expect_rejected({"run", job("mode: replace\n")}, kExitUsage, {"job.yaml:5", "'replace'"});
  expect_rejected(base() + Args{"--output", "xml"}, kExitUsage, {"--output", "xml"});
  expect_rejected(base() + Args{"--output", "JSON5"}, kExitUsage, {"--output", "JSON5"});
  expect_rejected(base_no_source() + Args{"--query", "SELECT * FROM src", "--table", "src"},
                  kExitUsage, {"--query", "--table", "not both"});
  expect_rejected({"plan", "--source", dir_.url("src.db"), "--target", dir_.url("dst.db"),
                   "--target-table", "dst", "--table", "src", "--query", "SELECT 1"},
                  kExitUsage, {"not both"});
  expect_rejected(base_no_source(), kExitUsage, {"--query", "--table"});
  expect_rejected({"run", job("query: SELECT * FROM src\n")}, kExitUsage, {"not both"});
  expect_rejected(
      {"run", "--source", dir_.url("src.db"), "--table", "src", "--target-table", "dst"},
      kExitUsage, {"target"});
  expect_rejected(
      {"run", "--target", dir_.url("dst.db"), "--table", "src", "--target-table", "dst"},
      kExitUsage, {"source"});
  // No target table: a query's rows have nowhere to go; a source table's go to the table of
  // its name, which this target does not have.
  expect_rejected({"run", "--source", dir_.url("src.db"), "--target", dir_.url("dst.db"),
                   "--query", "SELECT * FROM src"},
                  kExitUsage, {"no target_table given", "--target-table"});
  expect_rejected(
      {"run", "--source", dir_.url("src.db"), "--target", dir_.url("dst.db"), "--table", "src"},
      kExitUsage, {"src", "does not exist"});
  expect_rejected(base_no_source("a.b.c") + Args{"--table", "src"}, kExitUsage, {"a.b.c"});
}

TEST_F(BadInputSqlite, BadUrls) {
  const Args rest{"--table", "src", "--target-table", "dst"};
  auto with = [&](const std::string& source, const std::string& target) {
    return Args{"run", "--source", source, "--target", target} + rest;
  };
  const std::string src = dir_.url("src.db"), dst = dir_.url("dst.db");
  expect_rejected(with("mongodb://h/db", dst), kExitUsage, {"mongodb", "scheme"});
  expect_rejected(with(src, "oracle://scott:" + std::string(kPassword) + "@h/db"), kExitUsage,
                  {"oracle", "scheme"});
  expect_rejected(with("no-scheme-at-all", dst), kExitUsage, {"no-scheme-at-all", "scheme"});
  for (const std::string port : {"abc", "99999", "0", "-5"}) {
    expect_rejected(with("postgresql://u:" + std::string(kPassword) + "@db1:" + port + "/x", dst),
                    kExitUsage, {"port", "db1"});
  }
  expect_rejected(with(src, "sqlite:relative.db"), kExitUsage, {"sqlite:relative.db"});
  expect_rejected(with(src, "sqlite://"), kExitUsage, {"sqlite://", "no database file"});
  // A SQLite path in a folder that does not exist: the source and the target.
  const std::string gone = dir_.file("no-such-folder");
  expect_rejected(with("sqlite://" + gone + "/src.db", dst), kExitUsage,
                  {"source", gone + "/src.db", "does not exist"});
  expect_rejected(with(src, "sqlite://" + gone + "/dst.db"), kExitUsage,
                  {"target", gone, "does not exist"});
  EXPECT_FALSE(std::filesystem::exists(gone));
  // A source file that does not exist is not created by trying to read it.
  expect_rejected(with(dir_.url("missing.db"), dst), kExitUsage,
                  {"source", "missing.db", "does not exist"});
  EXPECT_FALSE(std::filesystem::exists(dir_.file("missing.db")));
  expect_rejected(with("sqlite://" + dir_.path(), dst), kExitUsage, {dir_.path(), "folder"});
}

TEST_F(BadInputSqlite, MissingTablesColumnsAndBadSql) {
  expect_rejected(base_no_source() + Args{"--table", "nosuch"}, kExitUsage, {"nosuch"});
  expect_rejected(base_no_source() + Args{"--query", "SELEC * FROM src"}, kExitUsage,
                  {"SELEC", "syntax error"});
  expect_rejected(base_no_source() + Args{"--query", "SELECT nope FROM src ORDER BY id"},
                  kExitUsage, {"nope"});
  expect_rejected(base() + Args{"--partition-column", "nope"}, kExitUsage,
                  {"partition_column", "'nope'", "id, name, qty"});
  expect_rejected(base_no_source() + Args{"--query", "SELECT a.id, b.id, a.name FROM src a JOIN "
                                                     "src b ON b.id = a.id ORDER BY a.id"},
                  kExitUsage, {"two columns named 'id' (columns 1 and 2)"});
  // A target with a column missing, and a target that does not exist (append mode).
  expect_rejected(base_no_source("narrow") + Args{"--table", "src"}, kExitUsage, {"narrow", "qty"});
  expect_rejected(base_no_source("absent") + Args{"--table", "src"}, kExitUsage,
                  {"absent", "does not exist"});
  // A mapping from a source column that does not exist; a cast to a type that does not.
  expect_rejected({"run", job("columns:\n  - id\n  - {name: qty, from: quantity}\n")}, kExitUsage,
                  {"quantity", "id, name, qty"});
  expect_rejected({"run", job("columns:\n  - id\n  - {name: qty, type: integr}\n")}, kExitUsage,
                  {"job.yaml:7", "integr"});
}

TEST_F(BadInputSqlite, CastThatFailsOnTheDataKeepsNoRowOfTheFailedChunk) {
  const std::string path = dir_.file("cast.yaml");
  test::write_file(path, "job: cast-fails\nsource: " + dir_.url("src.db") +
                             "\ntarget: " + dir_.url("dst.db") +
                             "\nquery: SELECT * FROM src ORDER BY id\n"
                             "target_table: dst\n"
                             "columns:\n  - id\n  - name\n  - {name: qty, type: int}\n"
                             "params:\n  chunk_size: 2\n  max_workers: 1\n  max_retries: 0\n");
  const RunResult r = run_parmap({"run", path});
  expect_message(r, kExitFailure, {"qty", "abc", "dst"}, "cast of 'abc' to int");
  // Only whole chunks are in the target: the rows the ledger counts, never the bad row.
  EXPECT_EQ(
      test::sqlite_scalar(dst_, "SELECT count(*) FROM dst WHERE id = " + std::to_string(kBadRow)),
      "0");
  ASSERT_TRUE(test::sqlite_has_table(dst_, "parmap_ledger"));
  EXPECT_EQ(test::sqlite_scalar(dst_, "SELECT count(*) - 1 FROM dst"),
            test::sqlite_scalar(dst_, "SELECT sum(rows_written) FROM parmap_ledger"));
  // No chunk committed in part: a partly written chunk would read more rows than it wrote.
  EXPECT_EQ(test::sqlite_scalar(dst_,
                                "SELECT count(*) FROM parmap_ledger "
                                "WHERE rows_written <> rows_read"),
            "0");
  EXPECT_EQ(test::sqlite_scalar(dst_, "SELECT count(*) FROM dst WHERE id = 100"), "1");
}

// A rerun resumes from the ledger's stored plan, but a partition_column that does not exist
// is still refused (exit 2, naming partition_column), as on a first run.
TEST_F(BadInputSqlite, MissingPartitionColumnIsRefusedOnARerunToo) {
  const RunResult first = run_parmap(base() + Args{"-q"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const auto after_first = test::sqlite_checksum(dst_, "SELECT * FROM dst");
  const RunResult r = run_parmap(base() + Args{"--partition-column", "nope"});
  expect_message(r, kExitUsage, {"partition_column", "'nope'"}, "rerun with a bad column");
  EXPECT_EQ(test::sqlite_checksum(dst_, "SELECT * FROM dst"), after_first);
}

// The library checks a SQLite source's file before opening it (opening creates a file), as
// the binary does.
TEST_F(BadInputSqlite, LibraryDoesNotCreateAMissingSqliteSource) {
  register_builtin_drivers();
  try {
    execute_query_parallel(dir_.url("missing.db"), "SELECT * FROM src", dir_.url("dst.db"), "",
                           "dst", ParallelOptions{});
    ADD_FAILURE() << "a missing source file was accepted";
  } catch (const Error& e) {
    EXPECT_TRUE(has(e.what(), "missing.db")) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dir_.file("missing.db")));
  expect_untouched("library job from a missing SQLite file");
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

using test::Pg;

using test::url_with;

/// The host:port of the server URL.
std::string host_port(const std::string& url) {
  const size_t begin = url.find("://") + 3;
  const size_t end = url.find_first_of("/?", begin);
  std::string authority = url.substr(begin, end - begin);
  const size_t at = authority.rfind('@');
  return at == std::string::npos ? authority : authority.substr(at + 1);
}

/// A TCP port on 127.0.0.1 that nothing listens on (bound, then released).
int closed_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 1;
  if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  if (fd >= 0) close(fd);
  return port;
}

class BadInputPostgres : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = test::server_url("PARMAP_PG_URL");
    if (server_.empty()) GTEST_SKIP() << "PARMAP_PG_URL is not set";
    static std::atomic<int> counter{0};
    db_name_ = "parmap_bad_" + std::to_string(getpid()) + "_" + std::to_string(++counter);
    Pg admin(server_);
    admin.exec("DROP DATABASE IF EXISTS " + db_name_);
    admin.exec("CREATE DATABASE " + db_name_);
    url_ = url_with(server_, db_name_);
    Pg db(url_);
    db.exec(
        "CREATE TABLE src (id integer PRIMARY KEY, name text, qty text);"
        "INSERT INTO src SELECT i, 'n' || i, CASE WHEN i = " +
        std::to_string(kBadRow) + " THEN 'abc' ELSE i::text END FROM generate_series(1, " +
        std::to_string(kSourceRows) +
        ") i;"
        "CREATE TABLE dst (id integer, name text, qty text);"
        "INSERT INTO dst VALUES (100, 'kept', '1');"
        "CREATE TABLE narrow (id integer, name text);"
        "INSERT INTO narrow VALUES (101, 'kept too');"
        "CREATE TABLE typed (id integer, name text, qty integer);"
        "INSERT INTO typed VALUES (102, 'kept three', 3);");
    before_ = state();
  }

  void TearDown() override {
    if (db_name_.empty()) return;
    try {
      Pg admin(server_);
      admin.exec("DROP DATABASE IF EXISTS " + db_name_ + " WITH (FORCE)");
    } catch (const std::exception& e) {
      ADD_FAILURE() << "cannot drop " << db_name_ << ": " << e.what();
    }
  }

  /// Every user table's name, columns and content checksum, computed by PostgreSQL.
  std::string state() {
    Pg db(url_);
    std::string out = db.scalar(
        "SELECT string_agg(table_schema || '.' || table_name || '.' || column_name || ':' || "
        "data_type, ',' ORDER BY table_schema, table_name, ordinal_position) FROM "
        "information_schema.columns WHERE table_schema NOT IN ('pg_catalog', "
        "'information_schema')");
    for (const char* t : {"dst", "narrow", "typed"}) {
      out +=
          std::string("|") + t + "=" +
          db.scalar(std::string("SELECT count(*) || ':' || coalesce(md5(string_agg(md5(t::text), "
                                "'' ORDER BY md5(t::text))), '-') FROM ") +
                    t + " t");
    }
    return out;
  }

  bool has_ledger() {
    Pg db(url_);
    return db.scalar(
               "SELECT count(*) FROM pg_class WHERE relname IN ('parmap_jobs', "
               "'parmap_ledger')") != "0";
  }

  void expect_rejected(const Args& args, int code, const std::vector<std::string>& words,
                       const std::vector<std::string>& env = {}) {
    std::string what;
    for (const auto& a : args) what += a + " ";
    const RunResult r = run_parmap(args, env);
    expect_message(r, code, words, what);
    EXPECT_EQ(state(), before_) << what << ": the target changed";
    EXPECT_FALSE(has_ledger()) << what << ": ledger tables were created";
  }

  Args run_into(const std::string& source, const std::string& target) const {
    return {"run", "--source", source, "--target", target, "--target-table", "dst"};
  }

  std::string server_, db_name_, url_, before_;
};

TEST_F(BadInputPostgres, ConnectionFailuresNameTheHostNotThePassword) {
  const std::string pw_user = std::string(kPwRole) + ":" + kPassword;
  // A closed port: refused at once, and connect_timeout bounds it anyway.
  const std::string port = std::to_string(closed_port());
  const std::string closed =
      "postgresql://" + pw_user + "@127.0.0.1:" + port + "/" + db_name_ + "?connect_timeout=3";
  const auto start = std::chrono::steady_clock::now();
  expect_rejected(run_into(closed, url_) + Args{"--table", "src"}, kExitFailure,
                  {"127.0.0.1", port, "cannot connect", "postgresql://" + std::string(kPwRole)});
  expect_rejected(run_into(url_, closed) + Args{"--table", "src"}, kExitFailure,
                  {"127.0.0.1", port, "cannot connect"});
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(15));

  // The wrong password, in the URL, in the query string and from PGPASSWORD.
  const std::string hp = host_port(server_);
  const std::string wrong = "postgresql://" + std::string(kPwRole) + ":wrong-pw@" + hp + "/" +
                            db_name_ + "?connect_timeout=5";
  for (const auto& source : {wrong, "postgresql://" + std::string(kPwRole) + "@" + hp + "/" +
                                        db_name_ + "?password=wrong-pw&connect_timeout=5"}) {
    const RunResult r = run_parmap(run_into(source, url_) + Args{"--table", "src"});
    expect_message(r, kExitFailure, {"password authentication failed", kPwRole, hp}, source);
    EXPECT_FALSE(has(r.err + r.out, "wrong-pw")) << r.err;
    EXPECT_EQ(state(), before_);
    EXPECT_FALSE(has_ledger());
  }
  expect_rejected(
      run_into("postgresql://" + std::string(kPwRole) + "@" + hp + "/" + db_name_, url_) +
          Args{"--table", "src"},
      kExitFailure, {"password authentication failed", kPwRole}, {"PGPASSWORD=wrong-pw"});

  // The right password and a database that does not exist: the password stays hidden.
  const std::string nodb = url_with(server_, "parmap_no_such_db", pw_user);
  expect_rejected(run_into(nodb, url_) + Args{"--table", "src"}, kExitFailure,
                  {"parmap_no_such_db", "does not exist", kPwRole});
  expect_rejected(run_into(url_, nodb) + Args{"--table", "src"}, kExitFailure,
                  {"parmap_no_such_db", "does not exist"});

  // No host: libpq's default socket, which serves no such database.
  expect_rejected(
      run_into("postgresql://" + pw_user + "@/parmap_no_such_db?connect_timeout=3", url_) +
          Args{"--table", "src"},
      kExitFailure, {"cannot connect"});
  // A connection option libpq refuses.
  expect_rejected(run_into(url_ + "?connect_timeout=soon", url_) + Args{"--table", "src"},
                  kExitUsage, {"connect_timeout", "soon"});
}

TEST_F(BadInputPostgres, MissingTablesColumnsAndBadSql) {
  const Args base = run_into(url_, url_);
  expect_rejected(base + Args{"--table", "nosuch"}, kExitUsage, {"nosuch", "does not exist"});
  expect_rejected(base + Args{"--table", "nosuch_schema.src"}, kExitUsage, {"nosuch_schema"});
  expect_rejected(base + Args{"--query", "SELEC * FROM src"}, kExitUsage,
                  {"SELEC", "syntax error"});
  expect_rejected(base + Args{"--query", "SELECT nope FROM src ORDER BY id"}, kExitUsage, {"nope"});
  expect_rejected(base + Args{"--table", "src", "--partition-column", "nope"}, kExitUsage,
                  {"partition_column", "'nope'", "id, name, qty"});
  // A join's two id columns: one name for two columns, which no target table can hold.
  expect_rejected(base + Args{"--query", "SELECT a.id, b.id, a.name FROM src a JOIN src b ON "
                                         "b.id = a.id ORDER BY a.id"},
                  kExitUsage, {"two columns named 'id' (columns 1 and 2)", "AS a_id"});
  for (const std::string& source : {url_, std::string("sqlite")}) {
    TempDir dir;
    std::string from = source;
    if (source == "sqlite") {
      test::sqlite_exec(dir.file("src.db"),
                        "CREATE TABLE src (id INTEGER PRIMARY KEY, name TEXT, qty TEXT);"
                        "INSERT INTO src VALUES (1, 'a', '1');");
      from = dir.url("src.db");
    }
    expect_rejected(
        {"run", "--source", from, "--target", url_, "--table", "src", "--target-table", "narrow"},
        kExitUsage, {"narrow", "qty"});
    expect_rejected(
        {"run", "--source", from, "--target", url_, "--table", "src", "--target-table", "absent"},
        kExitUsage, {"absent", "does not exist"});
    expect_rejected({"run", "--source", from, "--target", url_, "--table", "src", "--target-table",
                     "nosuch_schema.dst", "--mode", "create"},
                    kExitUsage, {"nosuch_schema"});
  }
  // A mapping from a source column that does not exist.
  TempDir dir;
  test::write_file(dir.file("job.yaml"), "source: " + url_ + "\ntarget: " + url_ +
                                             "\ntable: src\ntarget_table: dst\n"
                                             "columns:\n  - id\n  - {name: qty, from: quantity}\n");
  expect_rejected({"run", dir.file("job.yaml")}, kExitUsage, {"quantity", "id, name, qty"});
}

TEST_F(BadInputPostgres, UnquotedNamesMeanWhatTheyMeanInPostgresSql) {
  // CREATE TABLE CamelSrc makes camelsrc: --table CamelSrc and --target-table CamelDst name the
  // tables psql would, and only quotes keep the case.
  Pg db(url_);
  db.exec("CREATE TABLE CamelSrc (id int PRIMARY KEY, v text); INSERT INTO CamelSrc SELECT i, "
          "'v' || i FROM generate_series(1, 5000) i; CREATE TABLE CamelDst (id int, v text)");
  RunResult r = run_parmap({"run", "--source", url_, "--target", url_, "--table", "CamelSrc",
                            "--target-table", "Public.CamelDst", "--chunk-size", "1000",
                            "--min-rows-for-parallel", "10", "--workers", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("partition column 'id'"), std::string::npos) << r.out;
  EXPECT_EQ(db.scalar("SELECT count(*) || ':' || sum(id) FROM camelsrc"),
            db.scalar("SELECT count(*) || ':' || sum(id) FROM CamelDst"));
  // Quoted, the name is exact: "CamelDst" is another table, made by mode create.
  r = run_parmap({"run", "--source", url_, "--target", url_, "--table", "camelsrc",
                  "--target-table", "\"CamelDst\"", "--mode", "create"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(db.scalar("SELECT count(*) FROM \"CamelDst\""), "5000");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM cameldst"), "5000");
  r = run_parmap({"run", "--source", url_, "--target", url_, "--table", "\"CamelSrc\"",
                  "--target-table", "dst"});
  EXPECT_EQ(r.exit_code, kExitUsage) << r.out << r.err;
  EXPECT_NE(r.err.find("\"CamelSrc\" does not exist"), std::string::npos) << r.err;
}

TEST_F(BadInputPostgres, TargetTypeThatCannotTakeTheData) {
  // text 'abc' into an integer column: found only on the data, so a run failure (exit 1)
  // that names the table, the column and the value, and commits nothing of the chunk.
  TempDir dir;
  test::sqlite_exec(dir.file("src.db"),
                    "CREATE TABLE src (id INTEGER PRIMARY KEY, name TEXT, qty TEXT);"
                    "INSERT INTO src VALUES (1, 'a', '1'), (2, 'b', 'abc'), (3, 'c', '3');");
  Pg db(url_);
  const std::string typed_before = db.scalar("SELECT string_agg(t::text, ',') FROM typed t");
  for (const std::string& source : {url_, dir.url("src.db")}) {
    const RunResult r = run_parmap({"run", "--source", source, "--target", url_, "--table", "src",
                                    "--target-table", "typed", "--set", "max_retries=0"});
    expect_message(r, kExitFailure, {"typed", "qty", "abc", "integer"}, source);
    EXPECT_EQ(db.scalar("SELECT string_agg(t::text, ',') FROM typed t"), typed_before) << source;
    EXPECT_EQ(db.scalar("SELECT coalesce(sum(rows_written), 0) FROM parmap_ledger"), "0");
  }
}

TEST_F(BadInputPostgres, CastThatFailsOnTheDataKeepsNoRowOfTheFailedChunk) {
  TempDir dir;
  test::write_file(dir.file("cast.yaml"),
                   "job: pg-cast-fails\nsource: " + url_ + "\ntarget: " + url_ +
                       "\nquery: SELECT * FROM src ORDER BY id\n"
                       "target_table: dst\n"
                       "columns:\n  - id\n  - name\n  - {name: qty, type: int}\n"
                       "params:\n  chunk_size: 2\n  max_workers: 1\n  max_retries: 0\n");
  const RunResult r = run_parmap({"run", dir.file("cast.yaml")});
  expect_message(r, kExitFailure, {"qty", "abc", "dst"}, "cast of 'abc' to int");
  Pg db(url_);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM dst WHERE id = " + std::to_string(kBadRow)), "0");
  EXPECT_EQ(db.scalar("SELECT count(*) - 1 FROM dst"),
            db.scalar("SELECT coalesce(sum(rows_written), 0) FROM parmap_ledger"));
  EXPECT_EQ(db.scalar("SELECT count(*) FROM parmap_ledger WHERE rows_written <> rows_read"), "0");
  EXPECT_EQ(db.scalar("SELECT count(*) FROM dst WHERE id = 100"), "1");
}

TEST_F(BadInputPostgres, SettingsAreCheckedBeforeConnecting) {
  // The same refusals with a PostgreSQL target: nothing reaches the server.
  const Args base = run_into(url_, url_) + Args{"--table", "src"};
  for (const auto& s : bad_settings()) {
    const std::string& v = s.values.front();
    expect_rejected(base + Args{"--set", s.param + "=" + v}, kExitUsage, {s.param, "'" + v + "'"});
    expect_rejected(base, kExitUsage, {s.env, "'" + v + "'"}, {s.env + "=" + v});
  }
  expect_rejected(base + Args{"--mode", "merge"}, kExitUsage, {"--mode", "merge"});
  expect_rejected(base + Args{"--query", "SELECT 1"}, kExitUsage, {"not both"});
}

}  // namespace
}  // namespace parmap
