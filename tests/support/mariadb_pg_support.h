// A test with a MariaDB database and a PostgreSQL one, each the test's own.
#pragma once

#include <memory>
#include <string>

#include "support/mariadb_support.h"
#include "support/pg_support.h"
#include "support/test_support.h"

namespace parmap::test {

class MariadbPgTest : public MariadbTest {
 protected:
  void SetUp() override {
    MariadbTest::SetUp();
    if (IsSkipped() || HasFailure()) return;
    pg_base_ = server_url("PARMAP_PG_URL");
    if (pg_base_.empty()) GTEST_SKIP() << "PARMAP_PG_URL is not set";
    pg_admin_ = std::make_unique<Pg>(pg_base_);
    pg_db_ = db_ + "_pg";
    pg_admin_->exec("CREATE DATABASE " + pg_db_);
    pg_ = std::make_unique<Pg>(pg_url());
  }
  void TearDown() override {
    pg_.reset();
    if (pg_admin_) pg_admin_->exec("DROP DATABASE IF EXISTS " + pg_db_ + " WITH (FORCE)");
    MariadbTest::TearDown();
  }
  std::string pg_url() const { return url_with(pg_base_, pg_db_); }

  std::string pg_base_, pg_db_;
  std::unique_ptr<Pg> pg_admin_, pg_;
};

}  // namespace parmap::test
