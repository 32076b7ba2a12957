// A statement's `?` parameters bound from parmap Values.
#include "connect/odbc/odbc_params.h"

#include <fmt/format.h>

#include <algorithm>

namespace parmap::odbc {
namespace {

// Longer text and bytes go as LONGVARCHAR / LONGVARBINARY, which every driver takes unbounded.
constexpr size_t kMaxVarcharBytes = 4000;

}  // namespace

ParamBinder::ParamBinder(Statement& stmt, const std::vector<Value>& params, std::string_view sql) {
  // Sized up front: the driver keeps pointers into these vectors.
  ints_.resize(params.size());
  doubles_.resize(params.size());
  texts_.resize(params.size());
  indicators_.resize(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const Value& v = params[i];
    const auto number = static_cast<SQLUSMALLINT>(i + 1);
    SQLRETURN rc = SQL_SUCCESS;
    if (v.is_int()) {
      ints_[i] = v.as_int();
      indicators_[i] = 0;
      rc = SQLBindParameter(stmt.get(), number, SQL_PARAM_INPUT, SQL_C_SBIGINT, SQL_BIGINT, 0, 0,
                            &ints_[i], 0, &indicators_[i]);
    } else if (v.is_double()) {
      doubles_[i] = v.as_double();
      indicators_[i] = 0;
      rc = SQLBindParameter(stmt.get(), number, SQL_PARAM_INPUT, SQL_C_DOUBLE, SQL_DOUBLE, 15, 0,
                            &doubles_[i], 0, &indicators_[i]);
    } else if (v.is_text() || v.is_blob()) {
      texts_[i] = v.is_text() ? v.as_text() : v.as_blob().bytes;
      indicators_[i] = static_cast<SQLLEN>(texts_[i].size());
      const bool long_value = texts_[i].size() > kMaxVarcharBytes;
      const SQLSMALLINT c_type = v.is_text() ? SQL_C_CHAR : SQL_C_BINARY;
      const SQLSMALLINT sql_type = v.is_text() ? (long_value ? SQL_LONGVARCHAR : SQL_VARCHAR)
                                               : (long_value ? SQL_LONGVARBINARY : SQL_VARBINARY);
      rc = SQLBindParameter(stmt.get(), number, SQL_PARAM_INPUT, c_type, sql_type,
                            std::max<SQLULEN>(1, texts_[i].size()), 0, texts_[i].data(),
                            static_cast<SQLLEN>(texts_[i].size()), &indicators_[i]);
    } else {
      indicators_[i] = SQL_NULL_DATA;
      rc = SQLBindParameter(stmt.get(), number, SQL_PARAM_INPUT, SQL_C_CHAR, SQL_VARCHAR, 1, 0,
                            nullptr, 0, &indicators_[i]);
    }
    stmt.check(rc, fmt::format("bind parameter {}", i + 1), sql);
  }
}

}  // namespace parmap::odbc
