// A test suite over one SQLite source table made once per suite, for the binary's end-to-end
// tests.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "support/test_support.h"

namespace parmap::test {

/// The columns of make_mixed_table as a SELECT list, to be followed by a table name.
inline constexpr const char* kMixedColumns =
    "SELECT id, grp, amount, label, note, day, payload FROM ";

/// Tests that read one table "src" of make_mixed_table in src.db of a folder made once per
/// suite: a derived suite's SetUpTestSuite calls make_source. Each test has its own work_.
class MixedSourceSuite : public ::testing::Test {
 protected:
  /// Makes src.db with `rows` rows, and its checksum.
  static void make_source(int64_t rows);
  static void TearDownTestSuite() { dir_.reset(); }
  static std::string src_url() { return dir_->url("src.db"); }
  /// A 2-worker run of "SELECT * FROM src ORDER BY id" into table dst of `target` (created),
  /// in chunks of `chunk_size` rows, parallel whatever the row count.
  static std::vector<std::string> run_args(const std::string& target, int64_t chunk_size);

  static std::unique_ptr<TempDir> dir_;
  static int64_t rows_;
  static Checksum source_sum_;
  TempDir work_;
};

}  // namespace parmap::test
