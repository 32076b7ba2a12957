// See mixed_source_suite.h.
#include "support/mixed_source_suite.h"

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

}  // namespace parmap::test
