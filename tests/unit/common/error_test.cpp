// Unit tests for Error: kinds, context merging and the config-error message.
#include "parmap/error.h"

#include <gtest/gtest.h>

namespace parmap {
namespace {

TEST(ErrorTest, KindsAndContext) {
  EXPECT_STREQ(to_string(ErrorKind::Config), "config");
  EXPECT_STREQ(to_string(ErrorKind::Transient), "transient");
  EXPECT_STREQ(to_string(ErrorKind::InDoubt), "in_doubt");
  Error e(ErrorKind::Data, "row refused", "23505", ErrorContext{"sqlite", "t", "", ""});
  Error wrapped = e.with_context("job j1, chunk 3", ErrorContext{"pg", "other", "chunk 3", "SQL"});
  EXPECT_EQ(wrapped.kind(), ErrorKind::Data);
  EXPECT_EQ(wrapped.native_code(), "23505");
  EXPECT_STREQ(wrapped.what(), "job j1, chunk 3: row refused");
  EXPECT_EQ(wrapped.context().engine, "sqlite");
  EXPECT_EQ(wrapped.context().table, "t");
  EXPECT_EQ(wrapped.context().chunk, "chunk 3");
  EXPECT_EQ(wrapped.context().statement, "SQL");
}

TEST(ErrorTest, ThrowConfigMessage) {
  try {
    throw_config("MAPPER_MAX_WORKERS", "abc", "a whole number from 1 to 1024");
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config);
    EXPECT_STREQ(e.what(),
                 "invalid value 'abc' for MAPPER_MAX_WORKERS: expected a whole number from 1 "
                 "to 1024");
  }
}

}  // namespace
}  // namespace parmap
