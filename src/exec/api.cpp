// The public job API (execute_query_parallel, verify_query_parallel, the processor) and the
// job's names: target modes and derived job ids.
#include "exec/executor.h"

namespace parmap {

const char* to_string(TargetMode mode) {
  switch (mode) {
    case TargetMode::Append:
      return "append";
    case TargetMode::Truncate:
      return "truncate";
    case TargetMode::Create:
      return "create";
  }
  return "?";
}

TargetMode target_mode_from_string(std::string_view text) {
  std::string t(text);
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::tolower(c); });
  if (t == "append") return TargetMode::Append;
  if (t == "truncate") return TargetMode::Truncate;
  if (t == "create") return TargetMode::Create;
  throw_config("mode", std::string(text), "append, truncate or create");
}

std::string derive_job_id(const std::string& source_identity, const std::string& source_sql,
                          const std::string& target_identity, const std::string& target_table,
                          TargetMode mode) {
  const std::vector<Value> parts{mask_password(source_identity), source_sql,
                                 mask_password(target_identity), target_table,
                                 std::string(to_string(mode))};
  return fmt::format("job-{:012x}", hash_row(parts) & 0xffffffffffffULL);
}

ParallelOptions default_parallel_options() {
  ParallelOptions options;
  options.config = get_parallel_config_from_params({});
  return options;
}

ParallelResult execute_query_parallel(ConnectionFactory source, const std::string& source_sql,
                                      ConnectionFactory target, const std::string& target_schema,
                                      const std::string& target_table,
                                      const ParallelOptions& options) {
  if (source_sql.find_first_not_of(" \t\r\n") == std::string::npos) {
    throw_config("query", source_sql, "a SELECT statement or a table name");
  }
  if (target_table.empty()) throw_config("target_table", target_table, "a table name");
  if (options.config.chunk_size <= 0) {
    throw_config("chunk_size", std::to_string(options.config.chunk_size), "a whole number >= 1");
  }
  // spdlog builds its registry on first use; do that here, not racing in the workers.
  spdlog::default_logger_raw();
  TableRef table{target_schema, target_table};
  // An empty id is derived from the databases the coordinator's sessions are on.
  Executor ex(std::move(source), source_sql, std::move(target), std::move(table), options,
              options.job_id);
  ParallelResult r = ex.run();
  r.dry_run = options.dry_run;
  return r;
}

ParallelResult execute_query_parallel(const std::string& source_url, const std::string& source_sql,
                                      const std::string& target_url,
                                      const std::string& target_schema,
                                      const std::string& target_table,
                                      const ParallelOptions& options) {
  ParallelOptions opts = options;
  const ConnectionUrl source = parse_url(source_url), target = parse_url(target_url);
  if (opts.job_id.empty()) {
    opts.job_id = derive_job_id(identity_of(source), source_sql, identity_of(target),
                                TableRef{target_schema, target_table}.display(), opts.mode);
  }
  check_url(source, "source", true);
  check_url(target, "target", false);
  return execute_query_parallel(connection_factory(source_url), source_sql,
                                connection_factory(target_url), target_schema, target_table, opts);
}

VerifyResult verify_query_parallel(ConnectionFactory source, const std::string& source_sql,
                                   ConnectionFactory target, const std::string& target_schema,
                                   const std::string& target_table, const ParallelOptions& options,
                                   bool against_ledger) {
  if (target_table.empty()) throw_config("target_table", target_table, "a table name");
  spdlog::default_logger_raw();
  TableRef table{target_schema, target_table};
  std::string job_id = options.job_id;
  ParallelOptions opts = options;
  opts.dry_run = false;
  opts.fresh = false;  // run --fresh --verify: the verify compares what that run loaded
  Executor ex(std::move(source), source_sql, std::move(target), std::move(table), opts,
              std::move(job_id));
  return ex.verify(against_ledger);
}

VerifyResult verify_query_parallel(const std::string& source_url, const std::string& source_sql,
                                   const std::string& target_url, const std::string& target_schema,
                                   const std::string& target_table, const ParallelOptions& options,
                                   bool against_ledger) {
  ParallelOptions opts = options;
  const ConnectionUrl source = parse_url(source_url), target = parse_url(target_url);
  if (opts.job_id.empty()) {
    opts.job_id = derive_job_id(identity_of(source), source_sql, identity_of(target),
                                TableRef{target_schema, target_table}.display(), opts.mode);
  }
  if (!against_ledger) check_url(source, "source", true);
  check_url(target, "target", false);
  return verify_query_parallel(connection_factory(source_url), source_sql,
                               connection_factory(target_url), target_schema, target_table, opts,
                               against_ledger);
}

ParallelResult ParallelProcessor::execute(const std::string& source_url,
                                          const std::string& source_sql,
                                          const std::string& target_url,
                                          const std::string& target_schema,
                                          const std::string& target_table,
                                          ParallelOptions options) const {
  options.config = config_;
  return execute_query_parallel(source_url, source_sql, target_url, target_schema, target_table,
                                options);
}

std::unique_ptr<ParallelProcessor> create_parallel_processor(const ParamMap& params) {
  return std::make_unique<ParallelProcessor>(get_parallel_config_from_params(params));
}

}  // namespace parmap
