// Test helpers: temp folders, an independent SQLite checksum oracle, and running the binary.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace parmap::test {

/// A fresh folder removed (with its files) when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  /// "sqlite:///<dir>/<name>"
  std::string url(const std::string& name) const { return "sqlite://" + file(name); }

 private:
  std::string path_;
};

/// Runs SQL on a SQLite file with the sqlite3 library directly (not through parmap).
void sqlite_exec(const std::string& path, const std::string& sql);
/// The first column of the first row as text ("" for NULL / no row).
std::string sqlite_scalar(const std::string& path, const std::string& sql);
/// True when the file has a table of that name.
bool sqlite_has_table(const std::string& path, const std::string& table);

/// Rows of a SQLite query, each cell tagged by storage class (i:, r:, t:, b:<hex>, NULL) and
/// joined with " | ", sorted. Read with the sqlite3 API, not through parmap.
std::vector<std::string> sqlite_rows(const std::string& path, const std::string& sql);
/// A double in sqlite_rows' form: "r:" and 17 significant digits.
std::string row_double(double d);

/// Equal row lists, reporting the first difference rather than two long vectors.
void expect_same_rows(const std::vector<std::string>& want, const std::vector<std::string>& got);

/// Count and an order-independent checksum of a query's rows computed by SQLite itself:
/// each row is rendered with quote() (so 1, 1.0, '1' and X'31' differ) and hashed; the
/// hashes are summed. Independent of parmap's own code.
struct Checksum {
  int64_t rows = 0;
  uint64_t sum = 0;
  bool operator==(const Checksum&) const = default;
};
Checksum sqlite_checksum(const std::string& path, const std::string& sql);

/// Makes table `name` with `rows` mixed-type rows: id INTEGER PRIMARY KEY (sparse: 3*i),
/// grp INTEGER (negatives), amount REAL, label TEXT, note TEXT (every 7th NULL),
/// day TEXT (ISO date), payload BLOB (every 11th NULL, zero bytes inside).
void make_mixed_table(const std::string& path, const std::string& name, int64_t rows);

/// Rows for the big integration tests: PARMAP_TEST_ROWS, default 1,000,000.
int64_t test_rows();

/// Result of running the parmap binary.
struct RunResult {
  int exit_code = -1;  ///< -1 when killed by a signal
  int signal = 0;
  std::string out, err;
};
/// Runs the parmap binary with `args` and extra environment `env` ("NAME=value"). When
/// `kill_when` is given it is polled every few milliseconds while the process runs, and
/// the process gets `kill_signal` (SIGKILL by default) as soon as it returns true.
RunResult run_parmap(const std::vector<std::string>& args, const std::vector<std::string>& env = {},
                     const std::function<bool()>& kill_when = {}, int kill_signal = 9);
/// The same for another program (`program`: its path), e.g. a launcher that starts parmap.
/// With `kill_signal` 0, `kill_when` returning true only ends the polling (it may signal a
/// process of its own choosing) and the program is waited for.
RunResult run_program(const std::string& program, const std::vector<std::string>& args,
                      const std::vector<std::string>& env = {},
                      const std::function<bool()>& kill_when = {}, int kill_signal = 9);

/// The test server URL in environment variable `env` ("" when unset). When it is unset and
/// PARMAP_REQUIRE_SERVERS=1 (CI), records a test failure: a missing server must not pass as
/// a skip. Callers GTEST_SKIP() on "".
std::string server_url(const char* env);

/// Writes a text file.
void write_file(const std::string& path, const std::string& text);
/// A file's whole text ("" when it does not exist).
std::string read_file(const std::string& path);

}  // namespace parmap::test
