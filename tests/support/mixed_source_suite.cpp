// See mixed_source_suite.h.
#include "support/mixed_source_suite.h"

#include <algorithm>

namespace parmap::test {

std::unique_ptr<TempDir> MixedSourceSuite::dir_;
int64_t MixedSourceSuite::rows_ = 0;
Checksum MixedSourceSuite::source_sum_;

void MixedSourceSuite::make_source(int64_t rows) {
  dir_ = std::make_unique<TempDir>();
  rows_ = rows;
  make_mixed_table(dir_->file("src.db"), "src", rows_);
  source_sum_ = sqlite_checksum(dir_->file("src.db"), std::string(kMixedColumns) + "src");
}

std::vector<std::string> MixedSourceSuite::run_args(const std::string& target,
                                                    int64_t chunk_size) {
  return {"run",          "--source",
          src_url(),      "--target",
          "sqlite://" + target, "--query",
          "SELECT * FROM src ORDER BY id", "--target-table",
          "dst",          "--mode",
          "create",       "--workers",
          "2",            "--chunk-size",
          std::to_string(std::max<int64_t>(1, chunk_size)), "--min-rows-for-parallel",
          "1"};
}

}  // namespace parmap::test
