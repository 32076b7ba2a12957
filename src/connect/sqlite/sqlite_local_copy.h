// The state of SqliteConnection's in-engine copy (copy_local): the rows its SQL function tallies.
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <string_view>
#include <vector>

#include "connect/sqlite/sqlite_connection.h"

namespace parmap::sqlite {

/// The rows of the running copy_local, counted and hashed by its SQL function one at a time,
/// each as open_source() would have read it.
struct SqliteConnection::Tally {
  TableSchema schema;           ///< the chunk query's columns
  std::vector<Column> scratch;  ///< one row of a column with a declared type to check
  std::string_view path, sql;   ///< name the read in errors
  int64_t rows = 0;             ///< every row tallied
  uint64_t hash = 0;            ///< the sum of their hashes, as hash_rows sums them
  int64_t unreported_rows = 0;  ///< since on_rows was last called
  int64_t unreported_bytes = 0;
  const std::function<void(int64_t, int64_t)>* on_rows = nullptr;
  std::exception_ptr error;     ///< what stopped the statement from inside the function

  /// Starts a chunk of `schema`'s columns.
  void start(TableSchema columns);
  /// Calls on_rows with what it has not been told yet.
  void report();
};

}  // namespace parmap::sqlite
