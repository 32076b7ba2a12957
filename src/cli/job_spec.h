// A job as the command line knows it: from a YAML job file, then --set and flags on top.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "parmap/parmap.h"

namespace parmap::cli {

/// Everything `parmap run` and `parmap plan` need, before configuration is resolved.
struct JobSpec {
  std::string job_id;
  std::string source;        ///< URL (may hold a password: print masked)
  std::string target;        ///< URL
  std::string query;
  std::string table;         ///< source table; becomes "SELECT * FROM <table>"
  std::string target_table;  ///< [schema.]table
  std::string partition_column;
  std::optional<TargetMode> mode;
  std::vector<ColumnMapping> columns;
  ParamMap params;
};

/// The keys a job file accepts at its top level.
const std::vector<std::string>& job_file_keys();

/// Reads a YAML job file. Malformed YAML, unknown keys (with a "did you mean"), and values
/// of the wrong shape throw Error(Config) naming the file, the key and the line.
JobSpec load_job_file(const std::string& path);

/// Applies one --set key=value: a top-level job key (job, source, mode, ...) or a job param.
void apply_set(JobSpec& spec, const std::string& assignment);

/// The source query: `query`, or SELECT * FROM the quoted `table`. Throws Error(Config)
/// when neither or both are given.
std::string source_query(const JobSpec& spec);

}  // namespace parmap::cli
