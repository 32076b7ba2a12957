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

/// A job file of many jobs: `jobs:` (each job's keys over the shared defaults at the top) or
/// `tables:` (a selection of the source's tables, each copied to the same name).
struct JobSet {
  JobSpec defaults;                 ///< the top-level job keys
  std::vector<JobSpec> jobs;        ///< from `jobs:`, each over the defaults
  std::vector<std::string> tables;  ///< `tables:` patterns (schema.table, * and ? wildcards)
  std::vector<std::string> exclude;
  std::optional<std::string> target_schema;  ///< for `tables:`; unset: the source's schema
  OnError on_error = OnError::Continue;
  bool multi() const { return !jobs.empty() || !tables.empty(); }
};

/// The keys a job file of many jobs accepts at its top level.
const std::vector<std::string>& job_set_keys();

/// Reads a job file that may hold many jobs (a single job's file reads as defaults only).
/// Errors as load_job_file.
JobSet load_job_set(const std::string& path);

/// The jobs of a `tables:` selection among the source's tables: each table matching a
/// pattern and no `exclude` pattern (the ledger's tables never), copied to the same name (in
/// target_schema when set). A pattern with a dot matches schema.table, one without matches the
/// table name in any schema. Throws Error(Config) for a pattern that matches nothing.
std::vector<JobSpec> select_tables(const JobSet& set, const std::vector<TableRef>& available);

/// Applies one --set key=value: a top-level job key (job, source, mode, ...) or a job param.
void apply_set(JobSpec& spec, const std::string& assignment);

/// The source query: `query`, or SELECT * FROM the quoted `table`. Throws Error(Config)
/// when neither or both are given.
std::string source_query(const JobSpec& spec);

}  // namespace parmap::cli
