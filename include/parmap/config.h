// ParallelConfig: the parallelism settings, resolved defaults < MAPPER_* environment < job params.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace parmap {

/// Environment as a map, so resolution is testable without touching the process.
using EnvMap = std::map<std::string, std::string>;
/// Job params as given (YAML scalars or --set key=value), all as text.
using ParamMap = std::map<std::string, std::string>;

/// Where a setting's value came from, for `plan` and the summary.
enum class Source { Default, Environment, Param };

/// CPU cores - 1, at least 1 (at most 1024).
int default_max_workers();

/// The most workers max_workers "auto" tries.
inline constexpr int kAutoWorkersCeiling = 8;

/// The settings of one job. A default-constructed config holds the built-in defaults; the
/// MAPPER_* environment and job params are applied by resolve_config and
/// get_parallel_config_from_params.
struct ParallelConfig {
  bool enable_parallel = true;
  int max_workers = default_max_workers();  ///< default: CPU cores - 1, at least 1
  /// max_workers "auto": start with one worker and add one at a time while the rows per second
  /// rise by at least 10%, up to max_workers (kAutoWorkersCeiling), stopping when they do
  /// not (the servers are saturated) and going back to the best count.
  bool max_workers_auto = false;
  int64_t chunk_size = 50000;          ///< rows per chunk: the ledger's unit of resume
  /// Consecutive chunks of a worker are committed together, in one target transaction and
  /// one bulk write, in groups sized from the measured rate to about commit_group_seconds
  /// (chunk_size "auto", and what resolve_config gives when chunk_size is not set). False:
  /// each chunk is its own transaction (an explicit chunk_size, and ParallelConfig{}).
  bool chunk_size_auto = false;
  /// The time a commit group aims at (at most a quarter of chunk_timeout_s): long enough that
  /// a transaction's fixed costs (the bulk write's start, the commit's flush) are a percent or
  /// two, short enough that a failure redoes little.
  double commit_group_seconds = 2.0;
  int64_t min_rows_for_parallel = 100000;
  int max_retries = 3;                 ///< per chunk, for transient errors
  int retry_backoff_ms = 200;          ///< first backoff; doubles, capped, with jitter
  int chunk_timeout_s = 3600;          ///< an attempt at a chunk running longer is interrupted
                                       ///< and retried on new connections; 0: no limit
  int64_t max_batch_bytes = 32 << 20;  ///< bytes one worker may buffer for a chunk
  int64_t max_rejects = 0;             ///< refused rows accepted (sent to the reject file)

  /// Origin of each setting by its job-param name.
  std::map<std::string, Source> origin;
  /// Job params that are no parallelism setting and were left to the job (resolve_job_config),
  /// in name order.
  std::vector<std::string> ignored_params;
};

/// One setting of the table: job-param name, environment name, help text.
struct SettingInfo {
  const char* param;
  const char* env;
  const char* help;
};
/// Every setting, in the order `--help` and `plan` list them.
const std::vector<SettingInfo>& settings_table();

/// Parses a boolean: true/false, y/n, yes/no, 1/0, on/off in any case.
/// Throws Error(Config) naming `setting` and the value.
bool parse_bool(std::string_view setting, std::string_view value);

/// Resolves defaults < env (MAPPER_*) < params. Unknown param keys, unparsable or
/// out-of-range values throw Error(Config) naming the key or variable, the value and
/// what is accepted (with a "did you mean" for near-miss keys). `cpu_cores` = 0 means
/// std::thread::hardware_concurrency().
ParallelConfig resolve_config(const ParamMap& params, const EnvMap& env, unsigned cpu_cores = 0);

/// The process environment's MAPPER_* variables.
EnvMap process_environment();

/// One message per variable of `env` that starts with MAPPER_ but is no setting's name
/// ("MAPPER_MAX_WORKER is not a parmap setting and is ignored (did you mean
/// MAPPER_MAX_WORKERS?)"), in name order; other variables are not looked at. resolve_config
/// logs these as warnings, not errors: other tools may use MAPPER_ variables too. Pure.
std::vector<std::string> unknown_environment_warnings(const EnvMap& env);

/// Resolves from a whole job's params, which hold the job's own keys beside the parallelism
/// settings: a key of the settings table is applied as resolve_config does (a bad value throws
/// Error(Config)); a key within a small edit distance of a setting's name ("max_worker",
/// "chunksize", "Enable_Parallel") is taken for a typo of it and throws Error(Config) with the
/// suggestion, as a typo must not silently fall back to a default; any other key belongs to
/// the job: it is listed in ParallelConfig::ignored_params and logged (info), not an error.
/// Pure but for the log line.
ParallelConfig resolve_job_config(const ParamMap& params, const EnvMap& env,
                                  unsigned cpu_cores = 0);

/// Compatibility helper: resolve_job_config from a job's params and the process environment
/// (the params of a mapper job as given: its own keys are reported, not fatal).
ParallelConfig get_parallel_config_from_params(const ParamMap& params = {});

/// True when parallel is enabled, the estimate reaches min_rows_for_parallel and more
/// than one worker is allowed.
bool should_use_parallel_processing(const ParallelConfig& config, int64_t estimated_rows);

/// The closest of `candidates` to `word` within a small edit distance, or "".
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace parmap
