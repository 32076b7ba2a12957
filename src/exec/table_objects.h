// After the data of a run of many jobs: the source tables' indexes and constraints made again
// on their copies (PostgreSQL to PostgreSQL), several at a time.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "parmap/connection.h"

namespace parmap {

/// A copied table whose source's indexes and constraints are to be made on its target.
struct ObjectJob {
  size_t job = 0;  ///< the job's position in the run, for its errors
  std::string source_url, target_url;
  TableRef source, target;
};

/// What making them did.
struct ObjectOutcome {
  int64_t indexes = 0, constraints = 0;  ///< made now
  int64_t present = 0;                   ///< already on the target (by name), left as they are
  int sessions = 0;                      ///< target sessions used at once
  double seconds = 0;
  std::map<size_t, std::vector<std::string>> errors;  ///< by job: what failed, with its statement
};

/// Reads each source table's indexes and constraints and makes each on its target table
/// unless one of that name is there already: indexes, CHECK, UNIQUE and EXCLUDE first, then
/// the foreign keys (which need every referenced table loaded and keyed), each group on up to
/// `max_workers` target sessions at once. A foreign key's referenced table becomes that
/// table's copy when the run copied it (`jobs`), and stays as named otherwise; a foreign key
/// referencing one of `incomplete` (source tables whose copy is not complete) is not made and
/// is reported on its job, for a rerun. Never throws: failures are in the outcome's errors.
ObjectOutcome make_table_objects(const std::vector<ObjectJob>& jobs,
                                 const std::vector<TableRef>& incomplete, int max_workers);

}  // namespace parmap
