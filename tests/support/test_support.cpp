// Test helpers: temp folders, an independent SQLite checksum oracle, and running the binary.
#include "support/test_support.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace parmap::test {
namespace fs = std::filesystem;

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "parmap-test-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

namespace {

struct Db {
  sqlite3* db = nullptr;
  explicit Db(const std::string& path) {
    if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) {
      throw std::runtime_error("cannot open " + path);
    }
    sqlite3_busy_timeout(db, 60000);
  }
  ~Db() { sqlite3_close(db); }
  void check(int rc, const std::string& sql) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
      throw std::runtime_error(std::string(sqlite3_errmsg(db)) + " in: " + sql);
    }
  }
};

uint64_t fnv1a(const unsigned char* p, size_t n, uint64_t h = 1469598103934665603ULL) {
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ULL;
  return h;
}

}  // namespace

std::string row_double(double d) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "r:%.17g", d);
  return buf;
}

std::vector<std::string> sqlite_rows(const std::string& path, const std::string& sql) {
  static const char* digits = "0123456789abcdef";
  Db d(path);
  sqlite3_stmt* st = nullptr;
  d.check(sqlite3_prepare_v2(d.db, sql.c_str(), -1, &st, nullptr), sql);
  std::vector<std::string> out;
  while (sqlite3_step(st) == SQLITE_ROW) {
    std::string line;
    for (int c = 0; c < sqlite3_column_count(st); ++c) {
      if (c) line += " | ";
      switch (sqlite3_column_type(st, c)) {
        case SQLITE_NULL:
          line += "NULL";
          break;
        case SQLITE_INTEGER:
          line += "i:" + std::to_string(sqlite3_column_int64(st, c));
          break;
        case SQLITE_FLOAT:
          line += row_double(sqlite3_column_double(st, c));
          break;
        case SQLITE_TEXT:
          line += "t:" + std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, c)),
                                     static_cast<size_t>(sqlite3_column_bytes(st, c)));
          break;
        default: {
          const auto* p = static_cast<const unsigned char*>(sqlite3_column_blob(st, c));
          line += "b:";
          for (int i = 0; i < sqlite3_column_bytes(st, c); ++i) {
            line += digits[p[i] >> 4];
            line += digits[p[i] & 15];
          }
        }
      }
    }
    out.push_back(line);
  }
  sqlite3_finalize(st);
  std::sort(out.begin(), out.end());
  return out;
}

void expect_same_rows(const std::vector<std::string>& want, const std::vector<std::string>& got) {
  EXPECT_EQ(want.size(), got.size());
  const size_t n = std::min(want.size(), got.size());
  size_t differ = 0;
  for (size_t i = 0; i < n; ++i) {
    if (want[i] == got[i]) continue;
    if (differ++ == 0) {
      ADD_FAILURE() << "first different row (sorted position " << i << "):\n  want: " << want[i]
                    << "\n  got:  " << got[i];
    }
  }
  EXPECT_EQ(differ, 0u) << "rows differ";
}

void sqlite_exec(const std::string& path, const std::string& sql) {
  Db d(path);
  char* err = nullptr;
  if (sqlite3_exec(d.db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "?";
    sqlite3_free(err);
    throw std::runtime_error(msg + " in: " + sql);
  }
}

std::string sqlite_scalar(const std::string& path, const std::string& sql) {
  Db d(path);
  sqlite3_stmt* st = nullptr;
  d.check(sqlite3_prepare_v2(d.db, sql.c_str(), -1, &st, nullptr), sql);
  std::string out;
  if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
    out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  }
  sqlite3_finalize(st);
  return out;
}

bool sqlite_has_table(const std::string& path, const std::string& table) {
  return sqlite_scalar(
             path, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '" + table +
                       "'") == "1";
}

Checksum sqlite_checksum(const std::string& path, const std::string& sql) {
  Db d(path);
  sqlite3_stmt* st = nullptr;
  d.check(sqlite3_prepare_v2(d.db, sql.c_str(), -1, &st, nullptr), sql);
  const int n = sqlite3_column_count(st);
  // SQLite renders each row: quote(c1) || x'1f' || quote(c2) ...
  std::string render = "SELECT ";
  for (int i = 0; i < n; ++i) {
    if (i) render += " || char(31) || ";
    std::string name = sqlite3_column_name(st, i);
    std::string q;
    for (char c : name) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    render += "quote(src.\"" + q + "\")";
  }
  render += " FROM (" + sql + ") AS src";
  sqlite3_finalize(st);
  st = nullptr;
  d.check(sqlite3_prepare_v2(d.db, render.c_str(), -1, &st, nullptr), render);
  Checksum c;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const auto* p = static_cast<const unsigned char*>(sqlite3_column_blob(st, 0));
    const int len = sqlite3_column_bytes(st, 0);
    uint64_t h = fnv1a(p, static_cast<size_t>(len));
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    c.sum += h;
    ++c.rows;
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) throw std::runtime_error("checksum query failed: " + render);
  return c;
}

void make_mixed_table(const std::string& path, const std::string& name, int64_t rows) {
  sqlite_exec(path,
              "CREATE TABLE " + name +
                  " (id INTEGER PRIMARY KEY, grp INTEGER, amount REAL, label TEXT, note TEXT, "
                  "day TEXT, payload BLOB);"
                  "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < " +
                  std::to_string(rows) + ") INSERT INTO " + name +
                  " SELECT i * 3, (i % 201) - 100, (i * 7919 % 100003) / 7.0, "
                  "printf('label-%d-%s', i, substr('αβγ unicode ✓ text', 1, i % 17)), "
                  "CASE WHEN i % 7 = 0 THEN NULL ELSE 'note ' || (i % 1000) END, "
                  "date('1969-12-01', printf('+%d days', i % 40000)), "
                  "CASE WHEN i % 11 = 0 THEN NULL WHEN i % 3 = 0 THEN x'00ff0000' "
                  "WHEN i % 3 = 1 THEN x'' ELSE randomblob(8 + i % 24) END FROM seq;");
}

int64_t test_rows() {
  if (const char* v = std::getenv("PARMAP_TEST_ROWS")) return std::atoll(v);
  return 1000000;
}

std::string server_url(const char* env) {
  const char* url = std::getenv(env);
  if (url != nullptr && *url != '\0') return url;
  const char* require = std::getenv("PARMAP_REQUIRE_SERVERS");
  if (require != nullptr && std::string(require) == "1") {
    ADD_FAILURE() << env << " is not set and PARMAP_REQUIRE_SERVERS=1: the test server is missing "
                  << "(scripts/test.sh starts one)";
  }
  return {};
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
}

RunResult run_parmap(const std::vector<std::string>& args, const std::vector<std::string>& env,
                     const std::function<bool()>& kill_when, int kill_signal) {
  return run_program(PARMAP_BIN, args, env, kill_when, kill_signal);
}

RunResult run_program(const std::string& program, const std::vector<std::string>& args,
                      const std::vector<std::string>& env, const std::function<bool()>& kill_when,
                      int kill_signal) {
  TempDir tmp;
  const std::string out_path = tmp.file("out"), err_path = tmp.file("err");
  const pid_t pid = fork();
  if (pid == 0) {
    int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(out, 1);
    dup2(err, 2);
    for (const auto& e : env) putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> argv;
    std::string bin = program;
    argv.push_back(bin.data());
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  int status = 0;
  if (kill_when) {
    for (;;) {
      if (waitpid(pid, &status, WNOHANG) == pid) break;
      if (kill_when()) {
        if (kill_signal != 0) kill(pid, kill_signal);
        waitpid(pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  } else {
    waitpid(pid, &status, 0);
  }
  RunResult r;
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  auto slurp = [](const std::string& p) {
    std::ifstream f(p);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  };
  r.out = slurp(out_path);
  r.err = slurp(err_path);
  return r;
}

}  // namespace parmap::test
