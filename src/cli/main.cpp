// The parmap command line: run, plan and demo; argv and job files become a job, nothing else.
#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/demo.h"
#include "cli/job_spec.h"
#include "cli/man_page.h"
#include "cli/progress_setup.h"
#include "cli/report.h"
#include "dist/distributed.h"
#include "parmap/parmap.h"
#include "progress/ledger_report.h"

namespace {

using namespace parmap;

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
/// Every chunk committed, but rows the target refused (within max_rejects) are in the reject
/// file instead of the target: not a success, since rows are missing, and not a failure to
/// resume, since a rerun would refuse them again.
constexpr int kExitRejected = 3;
constexpr int kExitCancelled = 130;
constexpr const char* kVersion = "parmap 0.1.0";

std::atomic<bool> g_cancel{false};
/// Rank 0 of a distributed run: a signal is most likely the launcher ending the job because a
/// rank died, and the launcher may kill this process before it can print its summary.
std::atomic<bool> g_mpi_rank0{false};

// The first SIGINT/SIGTERM stops handing out chunks and rolls back those in flight; a second
// one exits at once: the open transactions die with the connections, so no chunk is left
// half written either way.
extern "C" void on_signal(int) {
  if (g_mpi_rank0.load() && !g_cancel.load()) {
    static const char kHint[] =
        "rank 0: stopped by a signal (the MPI launcher ends every rank when one dies): the run "
        "is incomplete; rerun the same command, with or without mpirun, to resume\n";
    // write(2) is safe in a signal handler; there is nothing to do if it fails.
    [[maybe_unused]] const ssize_t n = write(STDERR_FILENO, kHint, sizeof kHint - 1);
  }
  if (g_cancel.exchange(true)) _exit(kExitCancelled);
}

/// Flags shared by `run` and `plan`; strings so that config validation words every error.
struct RunFlags {
  std::string job_file;
  std::vector<std::string> sets;
  cli::JobSpec cli;  // values given as flags
  std::string workers, chunk_size, min_rows, max_rejects, reject_file;
  bool no_parallel = false;
  std::string mode;
  std::string output = "text";
  bool fresh = false;
  cli::OutputFlags out;  ///< progress, logging
  bool verify = false;   ///< run --verify: compare source and target after loading
  bool ledger = false;   ///< verify --ledger: compare the target with the ledger's hashes
  std::string distributed = "auto";  ///< run --distributed: auto, mpi or none
};

enum class Command { Run, Plan, Verify };

void add_run_flags(CLI::App& app, RunFlags& f, Command command) {
  app.add_option("job_file", f.job_file,
                 "YAML job file (keys: job, source, target, query or table, target_table, "
                 "partition_column, mode, columns, params); flags override it");
  app.add_option("--source", f.cli.source,
                 "source URL: sqlite:///path/file.db, "
                 "postgresql://user@host:port/db?sslmode=... (the password may come from the "
                 "URL, PGPASSWORD or ~/.pgpass) or mysql://user@host:port/db?ssl=true (also "
                 "mariadb://; the password from the URL, MYSQL_PWD or option_file=...); "
                 "passwords are never printed");
  app.add_option("--target", f.cli.target, "target URL, same forms as --source");
  app.add_option("--query", f.cli.query,
                 "source SQL, e.g. 'SELECT * FROM t ORDER BY id' (the ORDER BY column becomes "
                 "the partition key)");
  app.add_option("--table", f.cli.table, "source table, instead of --query");
  app.add_option("--target-table", f.cli.target_table,
                 "target table, [schema.]table; with --table, by default the table of the same "
                 "name (its schema kept when both ends are the same engine)");
  app.add_option("--workers", f.workers,
                 "max_workers: worker threads, each with its own source and target connection; "
                 "auto: start with 1 and add workers while rows/s rises by 10% or more, up to 8 "
                 "[env MAPPER_MAX_WORKERS; default CPU cores - 1, at least 1]");
  app.add_option("--chunk-size", f.chunk_size,
                 "chunk_size: rows per chunk, the unit of resume; a number: one commit per "
                 "chunk; auto: chunks of 50000 (fewer where a large PostgreSQL table's one pass "
                 "needs smaller ones; the plan says so) committed in groups of about 2 s "
                 "[env MAPPER_CHUNK_SIZE; default auto]");
  app.add_option("--min-rows-for-parallel", f.min_rows,
                 "min_rows_for_parallel: below this estimate the job runs serially "
                 "[env MAPPER_MIN_ROWS_FOR_PARALLEL; default 100000]");
  app.add_option("--max-rejects", f.max_rejects,
                 "max_rejects: rows the target may refuse (constraint, type, length) before "
                 "the job fails; they go to the reject file [env MAPPER_MAX_REJECTS; default 0: "
                 "the first refused row fails the job, naming it]");
  app.add_option("--reject-file", f.reject_file,
                 "JSON lines file for refused rows (job, chunk, row, error) [default: "
                 "<job id>.rejects.jsonl]");
  app.add_flag("--no-parallel", f.no_parallel,
               "enable_parallel=false: one worker [env MAPPER_PARALLEL_ENABLED=false]");
  app.add_option("--partition-column", f.cli.partition_column,
                 "key column to cut chunks on (default: the query's ORDER BY column, else the "
                 "table's integer primary key, its block ranges on PostgreSQL, or its primary key's "
                 "first column; a PostgreSQL table larger than a quarter of "
                 "shared_buffers: its block ranges, read in one sequential pass); "
                 "overrides the check that a query is safe to split; 'ctid' splits a PostgreSQL "
                 "table by block ranges");
  app.add_option("--mode", f.mode,
                 "append (default): insert into the existing table; truncate: empty it first; "
                 "create: create it from the source's columns if missing")
      ->check(CLI::IsMember({"append", "truncate", "create"}, CLI::ignore_case));
  app.add_option("--job-id", f.cli.job_id,
                 "job id for the ledger (default: the job file's 'job', else derived from the "
                 "source and target databases, query, target table and mode): the next run of "
                 "an unfinished run resumes it; after a finished run it starts a new run");
  app.add_option("--set", f.sets,
                 "key=value: any job key or job param, e.g. --set max_retries=5; repeatable")
      ->take_all();
  app.add_option("--output", f.output, "text (default) or json")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_flag("--quiet,-q", f.out.quiet, "no progress display; warnings and errors only");
  app.add_flag("--verbose,-v", f.out.verbose,
               "debug log lines too, among them one per chunk started and done");
  app.add_option("--log-file", f.out.log_file,
                 "append every log line (debug level, UTC timestamps, thread) to this file, "
                 "whatever --quiet or --verbose say of stderr");
  if (command == Command::Run) {
    app.add_option("--progress", f.out.progress,
                   "progress on stderr: auto (default: live on a terminal, else plain; none "
                   "with --output json), live (one line redrawn in place), plain (a line every "
                   "few seconds), json (JSON lines, one per event: job_started, chunk_started, "
                   "chunk_done, chunk_retried, chunk_failed, progress, job_finished), none")
        ->check(CLI::IsMember({"auto", "live", "plain", "json", "none"}));
    app.add_option("--progress-file", f.out.progress_file,
                   "also append the JSON events to this file (with --progress json: instead of "
                   "stderr)");
    app.add_option("--report", f.out.report,
                   "write an HTML run report to this file when the run ends: the summary, a "
                   "lane per worker with a bar per chunk (retried and failed ones marked), "
                   "throughput over time and rows per chunk; self-contained, opens offline");
    app.add_option("--progress-interval", f.out.progress_interval,
                   "seconds between plain progress lines (default 5) and JSON progress events "
                   "(default 1)")
        ->check(CLI::Range(0.05, 86400.0));
  }
  if (command == Command::Run) {
    app.add_flag("--fresh", f.fresh,
                 "abandon this job's unfinished run and start a new one (with --mode truncate "
                 "the target is emptied first; in append mode it is refused if the unfinished "
                 "run already committed rows)");
    app.add_option("--distributed", f.distributed,
                   "auto (default): one job across the processes of an MPI launcher (mpirun, "
                   "srun) when one started this one; mpi: always through MPI; none: this "
                   "process alone. Rank 0 plans, holds the source snapshot and hands out "
                   "chunks; every rank runs its own workers; rank 0 prints the summary")
        ->check(CLI::IsMember({"auto", "mpi", "none"}));
    app.add_flag("--verify", f.verify,
                 "after loading, compare source and target chunk range by chunk range (as "
                 "`parmap verify` does); exit 1 when a range differs");
  }
  if (command == Command::Verify) {
    app.add_flag("--ledger", f.ledger,
                 "compare the target with the row counts and hashes the ledger recorded while "
                 "loading, without reading the source (for a source that has moved on)");
  }
}

/// A job as the command line resolved it from the job file, --set and flags.
struct Job {
  cli::JobSpec spec;
  std::string query;
  TableRef target_table;
  ConnectionUrl source_url, target_url;
  ParallelOptions opts;

  cli::Endpoints where() const {
    return {source_url.masked(), target_url.masked(), target_table.display()};
  }
};

/// --set and the flags over a job from the job file.
void apply_flags(cli::JobSpec& spec, const RunFlags& f) {
  for (const auto& s : f.sets) cli::apply_set(spec, s);
  auto take = [](std::string& dst, const std::string& src) {
    if (!src.empty()) dst = src;
  };
  take(spec.source, f.cli.source);
  take(spec.target, f.cli.target);
  if (!f.cli.query.empty() && !f.cli.table.empty()) {
    throw Error(ErrorKind::Config, "give either --query or --table, not both");
  }
  if (!f.cli.query.empty()) spec.table.clear(), spec.query = f.cli.query;
  if (!f.cli.table.empty()) spec.query.clear(), spec.table = f.cli.table;
  take(spec.target_table, f.cli.target_table);
  take(spec.partition_column, f.cli.partition_column);
  take(spec.job_id, f.cli.job_id);
  if (!f.workers.empty()) spec.params["max_workers"] = f.workers;
  if (!f.chunk_size.empty()) spec.params["chunk_size"] = f.chunk_size;
  if (!f.min_rows.empty()) spec.params["min_rows_for_parallel"] = f.min_rows;
  if (f.no_parallel) spec.params["enable_parallel"] = "false";
  if (!f.max_rejects.empty()) spec.params["max_rejects"] = f.max_rejects;
  if (!f.mode.empty()) spec.mode = target_mode_from_string(f.mode);
}

/// A job with flags applied, checked and its configuration resolved.
Job resolve_spec(cli::JobSpec spec, const RunFlags& f, bool plan_only) {
  auto missing = [](const std::string& setting, const std::string& what) {
    throw Error(ErrorKind::Config, fmt::format("no {} given: {}", setting, what));
  };
  if (spec.source.empty()) {
    missing("source", "--source URL or 'source:' in the job file (sqlite:///path/file.db, "
                      "postgresql://user@host/db, mysql://user@host/db, odbc://DSN)");
  }
  if (spec.target.empty()) {
    missing("target", "--target URL or 'target:' in the job file (sqlite:///path/file.db, "
                      "postgresql://user@host/db, mysql://user@host/db, odbc://DSN)");
  }
  Job job;
  job.query = cli::source_query(spec);
  job.source_url = parse_url(spec.source);
  job.target_url = parse_url(spec.target);
  if (!spec.target_table.empty()) {
    job.target_table = parse_table_ref(spec.target_table, unquoted_names_of(spec.target));
  } else if (!spec.table.empty()) {
    // A source table is loaded into the table of the same name: with its schema on the same
    // engine, in the target's default schema (or database) on another.
    job.target_table = parse_table_ref(spec.table, unquoted_names_of(spec.source));
    if (job.source_url.scheme != job.target_url.scheme) job.target_table.schema.clear();
  } else {
    missing("target_table", "--target-table [schema.]table or 'target_table:' in the job file "
                            "(the table the query's rows are loaded into)");
  }
  check_url(job.source_url, "source", true);
  check_url(job.target_url, "target", false);

  ParallelOptions& opts = job.opts;
  // A job file's params are parallelism settings only: an unknown key is an error here.
  opts.config = resolve_config(spec.params, process_environment());
  opts.job_id = spec.job_id;
  opts.partition_column = spec.partition_column;
  opts.mode = spec.mode.value_or(TargetMode::Append);
  opts.fresh = f.fresh;
  opts.dry_run = plan_only;
  opts.reject_file = f.reject_file;
  opts.cancel = &g_cancel;
  if (!spec.columns.empty()) opts.transform = mapping_transform(spec.columns);
  job.spec = std::move(spec);
  return job;
}

/// The job file with --set and the flags applied over it; nothing checked yet.
cli::JobSpec job_spec_of(const RunFlags& f) {
  cli::JobSpec spec = f.job_file.empty() ? cli::JobSpec{} : cli::load_job_file(f.job_file);
  apply_flags(spec, f);
  return spec;
}

Job resolve_job(const RunFlags& f, bool plan_only) {
  return resolve_spec(job_spec_of(f), f, plan_only);
}

VerifyResult verify(const Job& job, bool against_ledger) {
  return verify_query_parallel(job.spec.source, job.query, job.spec.target, job.target_table.schema,
                               job.target_table.name, job.opts, against_ledger);
}

void print(const std::string& out) { std::fwrite(out.data(), 1, out.size(), stdout); }

int run_many(const RunFlags& f, cli::JobSet set, bool plan_only);

/// `mpi`: the run is one of many processes of a distributed run (the summary is rank 0's).
int run_job(const RunFlags& f, bool plan_only, dist::Session* mpi = nullptr) {
  if (!f.job_file.empty()) {
    cli::JobSet set = cli::load_job_set(f.job_file);
    if (set.multi() && mpi) {
      throw Error(ErrorKind::Config,
                  fmt::format("{} holds many jobs, which do not run distributed yet: run it "
                              "without an MPI launcher, or one job at a time under it",
                              f.job_file));
    }
    if (set.multi()) return run_many(f, std::move(set), plan_only);
  }
  Job job = resolve_job(f, plan_only);
  cli::OutputFlags out = f.out;
  out.json_output = f.output == "json";
  std::optional<cli::ProgressOutput> progress;
  if (!plan_only && (!mpi || mpi->rank() == 0)) {
    progress.emplace(out);
    progress->attach(job.opts);
  }
  const ParallelResult r =
      mpi ? dist::run_distributed(*mpi, job.spec.source, job.query, job.spec.target,
                                  job.target_table, job.opts)
          : execute_query_parallel(job.spec.source, job.query, job.spec.target,
                                   job.target_table.schema, job.target_table.name, job.opts);
  // Another rank's errors are logged where they happen and are in rank 0's summary.
  if (mpi && mpi->rank() != 0) return r.errors.empty() ? 0 : kExitFailure;
  progress.reset();  // the live line is gone before the summary and any error
  job.opts.on_progress = nullptr;
  std::optional<VerifyResult> checked;
  if (f.verify && r.ok()) checked = verify(job, false);
  if (f.output == "json") {
    auto j = nlohmann::json::parse(cli::summary_json(r, job.where(), plan_only, &job.opts));
    if (checked) j["verify"] = cli::verify_json(*checked, job.where());
    print(j.dump(2) + "\n");
  } else {
    print(cli::summary_text(r, job.where(), plan_only, &job.opts));
    if (checked) print(cli::verify_text(*checked, job.where()));
  }
  if (!plan_only && !r.ok()) {
    // The summary may go to a file or a program (JSON has no hint): stderr says it too.
    if (r.chunks_refused == 0) {
      spdlog::error(
          "job {} is incomplete: {} of {} chunks not committed; rerun the same command "
          "to resume",
          r.job_id, r.unfinished_chunks.size(), r.chunks_planned);
    } else {
      // A rerun as it is would be refused again.
      spdlog::error(
          "job {} is incomplete: {} of {} chunks not committed, stopped by a row the target "
          "refused (above); fix the row or the target, or let max_rejects set such rows aside "
          "in the reject file, then rerun the same command to resume{}",
          r.job_id, r.unfinished_chunks.size(), r.chunks_planned,
          job.opts.mode == TargetMode::Append && r.run > 1 && !r.resumed
              ? fmt::format(". Mode append adds every row again in each new run (this is run "
                            "{}): to reload the table use mode truncate",
                            r.run)
              : "");
    }
  }
  if (!r.ok() || (checked && !checked->ok())) return kExitFailure;
  return r.complete() ? 0 : kExitRejected;
}

/// `run` and `plan` of a job file with many jobs (`jobs:` or `tables:`): one run, one pool.
int run_many(const RunFlags& f, cli::JobSet set, bool plan_only) {
  if (!f.cli.query.empty() || !f.cli.table.empty() || !f.cli.target_table.empty() ||
      !f.cli.job_id.empty()) {
    throw Error(ErrorKind::Config,
                fmt::format("{} holds many jobs: --query, --table, --target-table and --job-id "
                            "apply to a single job; set them in the job file",
                            f.job_file));
  }
  apply_flags(set.defaults, f);
  std::vector<cli::JobSpec> specs;
  if (!set.tables.empty()) {
    if (set.defaults.source.empty()) {
      throw_config("source", "", "a URL such as postgresql://host/db, for 'tables'");
    }
    std::vector<TableRef> available;
    {
      auto src = connection_factory(set.defaults.source)();
      available = src->list_tables();
      src->close();
    }
    specs = cli::select_tables(set, available);
  } else {
    specs = std::move(set.jobs);
    for (auto& spec : specs) apply_flags(spec, f);
  }
  std::vector<Job> jobs;
  std::vector<JobDefinition> defs;
  cli::MultiProgressPrinter progress;
  for (auto& spec : specs) {
    Job job = resolve_spec(std::move(spec), f, plan_only);
    if (!f.out.quiet && f.out.progress != "none" && f.output == "text" && !plan_only) {
      job.opts.on_progress = progress.for_job(job.target_table.display());
    }
    defs.push_back({job.spec.source, job.query, job.spec.target, job.target_table.schema,
                    job.target_table.name, job.opts});
    jobs.push_back(std::move(job));
  }
  MultiOptions multi;
  multi.max_workers = resolve_config(set.defaults.params, process_environment()).max_workers;
  multi.on_error = set.on_error;
  multi.dry_run = plan_only;
  const MultiResult r = execute_jobs_parallel(defs, multi);
  std::vector<cli::Endpoints> where;
  for (const Job& job : jobs) where.push_back(job.where());
  print(f.output == "json" ? cli::multi_summary_json(r, where) + "\n"
                           : cli::multi_summary_text(r, where));
  if (plan_only) return r.ok() ? 0 : kExitFailure;
  if (r.cancelled) {
    std::fprintf(stderr, "cancelled: rerun the same command to resume\n");
    return kExitCancelled;
  }
  if (!r.ok()) {
    std::vector<std::string> failed;
    for (const JobOutcome& o : r.jobs) {
      if (!o.ok()) failed.push_back(o.target_table);
    }
    spdlog::error("{} of {} tables incomplete ({}); rerun the same command to resume them",
                  failed.size(), r.jobs.size(), fmt::join(failed, ", "));
    return kExitFailure;
  }
  for (const JobOutcome& o : r.jobs) {
    if (!o.result.complete()) return kExitRejected;
  }
  return 0;
}

int verify_job(const RunFlags& f) {
  const Job job = resolve_job(f, false);
  const VerifyResult v = verify(job, f.ledger);
  print(f.output == "json" ? cli::verify_json(v, job.where()).dump(2) + "\n"
                           : cli::verify_text(v, job.where()));
  return v.ok() ? 0 : kExitFailure;
}

/// `parmap config`: each setting's effective value and its source, for the job the same
/// arguments would run.
int config_job(const RunFlags& f) {
  const cli::JobSpec spec = job_spec_of(f);
  const ParallelConfig config = resolve_config(spec.params, process_environment());
  print(f.output == "json" ? cli::config_json(config).dump(2) + "\n" : cli::config_text(config));
  return 0;
}

/// `parmap status`: a line per run of each job in the target's ledger.
struct StatusFlags {
  std::string target;
  std::string job;
  std::string output = "text";
};

int status_job(const StatusFlags& f) {
  const std::vector<RunStatus> runs = job_status(f.target, f.job);
  if (f.output == "json") {
    nlohmann::json j = nlohmann::json::array();
    for (const RunStatus& r : runs) {
      j.push_back({{"job_id", r.job_id},
                   {"run", r.run},
                   {"target_table", r.target_table},
                   {"mode", r.mode},
                   {"state", r.state},
                   {"chunks_planned", r.chunks_planned},
                   {"chunks_done", r.chunks_done},
                   {"rows", r.rows},
                   {"started_at", r.started_at},
                   {"finished_at", r.finished_at}});
    }
    print(j.dump(2) + "\n");
    return 0;
  }
  std::string out =
      fmt::format("{:<24} {:>4}  {:<10} {:<8} {:<24} {:>13} {:>12}  {:<20}  {}\n", "job", "run",
                  "state", "mode", "table", "chunks", "rows", "started (UTC)", "finished (UTC)");
  for (const RunStatus& r : runs) {
    out += fmt::format("{:<24} {:>4}  {:<10} {:<8} {:<24} {:>13} {:>12}  {:<20}  {}\n", r.job_id,
                       r.run, r.state, r.mode, r.target_table,
                       fmt::format("{}/{}", r.chunks_done, r.chunks_planned), r.rows, r.started_at,
                       r.finished_at.empty() ? "-" : r.finished_at);
  }
  print(out);
  return 0;
}

/// `parmap report`: a job's run report drawn from the target's ledger after the fact.
struct ReportFlags {
  std::string target;
  std::string job;
  std::string file;  ///< "": <job id>.report.html
};

int report_job(const ReportFlags& f) {
  const LedgerReport r = ledger_report(f.target, f.job);
  const std::string path = !f.file.empty() ? f.file
                           : r.jobs == 1   ? r.job_id + ".report.html"
                                           : "parmap-report.html";
  std::ofstream out(path, std::ios::trunc);
  out << r.html;
  out.close();
  if (!out) throw_config("--output", path, "a file that can be written");
  const std::string what =
      r.jobs == 1 ? fmt::format("job {} (run {}, {})", r.job_id, r.run,
                                r.finished ? "finished" : "not finished")
                  : fmt::format("{} jobs ({})", r.jobs,
                                r.finished ? "every last run finished" : "not all finished");
  print(fmt::format("report of {}: {} chunk(s), {} rows, {} worker(s) -> {}\n", what, r.chunks,
                    r.rows, r.workers, path));
  return 0;
}

/// Whether `run` goes through MPI: --distributed mpi, or auto and a launcher started this
/// process. Throws Error(Config) for a launcher's many processes and a build without MPI (each
/// would run the whole job).
bool wants_mpi(const RunFlags& f) {
  if (f.distributed == "none") return false;
  if (f.distributed == "mpi") return true;
  const int size = dist::launcher_world_size();
  if (size > 1 && !dist::built_with_mpi()) {
    throw Error(ErrorKind::Config,
                fmt::format("an MPI launcher started {} parmap processes, but this parmap was "
                            "built without MPI, so each would run the whole job: build it with "
                            "Open MPI, or pass --distributed none",
                            size));
  }
  return size > 0 && dist::built_with_mpi();
}

int exit_code_for(const Error& e) {
  switch (e.kind()) {
    case ErrorKind::Config:
    case ErrorKind::Schema:
      return kExitUsage;
    case ErrorKind::Cancelled:
      return kExitCancelled;
    default:
      return kExitFailure;
  }
}

}  // namespace

int main(int argc, char** argv) {
  auto logger = spdlog::stderr_color_mt("parmap");
  logger->set_pattern("%^%l%$: %v");
  spdlog::set_default_logger(logger);

  CLI::App app{
      "parmap: copy a source query's rows into a target table in parallel key-range chunks, "
      "each committed exactly once with its ledger row, so that a rerun resumes.\n"
      "Exit codes: 0 success (every planned row is in the target), 1 failure or incomplete run "
      "(rerun the same command to resume), 2 usage or configuration error (nothing written), "
      "3 complete but for rows the target refused, which max_rejects let into the reject file, "
      "130 cancelled by SIGINT/SIGTERM."};
  app.require_subcommand(1);
  app.set_version_flag("--version", kVersion);

  RunFlags run_flags, plan_flags, verify_flags;
  auto* run = app.add_subcommand("run", "run a mapper job (from a job file and/or flags)");
  add_run_flags(*run, run_flags, Command::Run);
  auto* plan = app.add_subcommand(
      "plan",
      "dry run: the row estimate, parallel or serial and why, and the chunk list; "
      "writes nothing");
  add_run_flags(*plan, plan_flags, Command::Plan);
  auto* verify_cmd = app.add_subcommand(
      "verify",
      "compare source and target chunk range by chunk range (row count and an "
      "order-independent checksum of the rows as written), with the same arguments as run; "
      "prints the ranges that differ; exit 0 only when all match, 1 otherwise; writes nothing");
  add_run_flags(*verify_cmd, verify_flags, Command::Verify);

  RunFlags config_flags;
  auto* config_cmd = app.add_subcommand(
      "config",
      "print the effective settings (max_workers, chunk_size, ...) with where each value came "
      "from: default, environment (MAPPER_*) or job param (job file, --set, flags); takes the "
      "arguments of run, and needs no database");
  add_run_flags(*config_cmd, config_flags, Command::Plan);

  StatusFlags status_flags;
  auto* status = app.add_subcommand(
      "status",
      "list the jobs in a target's ledger: each run's state (finished, running, unfinished: a "
      "rerun of the same command resumes it, abandoned), chunks committed of planned, rows and "
      "times; writes nothing");
  status->add_option("job", status_flags.job, "only this job id (default: every job)");
  status->add_option("--target", status_flags.target, "target URL whose ledger to read")
      ->required();
  status->add_option("--output", status_flags.output, "text (default) or json")
      ->check(CLI::IsMember({"text", "json"}));

  ReportFlags report_flags;
  auto* report = app.add_subcommand(
      "report",
      "draw a job's run report (the HTML page of run --report: summary, a lane per worker, a "
      "bar per chunk, throughput, rows per chunk) after the fact from the target's ledger; "
      "only committed chunks are in the ledger; writes nothing to the target");
  report->add_option("job", report_flags.job,
                     "job id whose last run to draw (default: the ledger's only job, or every "
                     "job's last run on one page, a line and lanes per table)");
  report->add_option("--target", report_flags.target, "target URL whose ledger to read")
      ->required();
  report->add_option(
      "-o,--output", report_flags.file,
      "HTML file to write (default: <job id>.report.html; parmap-report.html for several jobs)");

  // Hidden: prints this page's definitions as parmap(1), which the build installs.
  auto* man = app.add_subcommand("man", "print the manual page (roff)")->group("");

  cli::DemoOptions demo_opts;
  auto* demo = app.add_subcommand(
      "demo", "make a sample SQLite source, copy it serially and in parallel, verify both");
  demo->add_option("--rows", demo_opts.rows, "rows in the sample source")
      ->check(CLI::Range(int64_t{1}, int64_t{100000000}));
  demo->add_option("--dir", demo_opts.dir, "folder for the demo's SQLite files");
  demo->add_option("--workers", demo_opts.workers,
                   "workers for the parallel copy (default "
                   "max(2, CPU cores))")
      ->check(CLI::Range(1, 1024));
  demo->add_flag("--json", demo_opts.json, "print the two summaries as JSON");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  bool distributed = false;  // run under MPI: set before its session starts
  try {
    register_builtin_drivers();
    if (*demo) return cli::run_demo(demo_opts);
    if (*status) return status_job(status_flags);
    if (*report) return report_job(report_flags);
    if (*man) {
      print(cli::man_page(app, kVersion));
      return 0;
    }
    if (*config_cmd) return config_job(config_flags);
    const bool plan_only = static_cast<bool>(*plan);
    const bool verify_only = static_cast<bool>(*verify_cmd);
    const RunFlags& flags = plan_only ? plan_flags : verify_only ? verify_flags : run_flags;
    cli::setup_logging(flags.out);
    if (*run && wants_mpi(run_flags)) {
      distributed = true;
      dist::Session mpi;
      g_mpi_rank0 = mpi.rank() == 0;
      // Every rank logs to its own stderr, which the launcher merges: say whose line it is.
      spdlog::default_logger()->sinks().front()->set_pattern(
          fmt::format("rank {}: %^%l%$: %v", mpi.rank()));
      return run_job(flags, false, &mpi);
    }
    return verify_only ? verify_job(flags) : run_job(flags, plan_only);
  } catch (const Error& e) {
    spdlog::error("{}", mask_password(e.what()));
    if (e.kind() == ErrorKind::Cancelled && distributed) {
      // The launcher stops every rank when one dies, as it does on the user's Ctrl-C.
      std::fprintf(stderr,
                   "stopped: a rank died or the MPI job was cancelled; rerun the same command "
                   "(with or without mpirun) to resume\n");
    } else if (e.kind() == ErrorKind::Cancelled) {
      std::fprintf(stderr, "cancelled: rerun the same command to resume\n");
    }
    return exit_code_for(e);
  } catch (const std::exception& e) {
    spdlog::error("internal error: {}", mask_password(e.what()));
    return kExitFailure;
  }
}
