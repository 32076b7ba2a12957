// A statement's `?` parameters bound from parmap Values, and the storage they point to.
#pragma once

#include <sql.h>
#include <sqlext.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "connect/odbc/odbc_handles.h"
#include "parmap/batch.h"

namespace parmap::odbc {

/// Binds `params` to a statement's `?` markers and owns what they point to: keep it alive
/// until the statement has executed (and, for drivers that read parameters lazily, until
/// its rows are read).
class ParamBinder {
 public:
  ParamBinder(Statement& stmt, const std::vector<Value>& params, std::string_view sql);

 private:
  std::vector<int64_t> ints_;
  std::vector<double> doubles_;
  std::vector<std::string> texts_;
  std::vector<SQLLEN> indicators_;
};

}  // namespace parmap::odbc
