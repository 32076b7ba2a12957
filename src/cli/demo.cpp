// The demo: 1,000,000 mixed-type rows in SQLite, copied serially and in parallel, verified.
#include "cli/demo.h"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "cli/report.h"
#include "parmap/parmap.h"

namespace parmap::cli {
namespace {

namespace fs = std::filesystem;

void make_source(const std::string& url, int64_t rows) {
  auto db = connection_factory(url)();
  // Sparse keys (every other id), negatives, reals, text, 20% NULL notes, dates as text.
  db->execute(
      "CREATE TABLE demo_source (id INTEGER PRIMARY KEY, qty INTEGER, price REAL, "
      "name TEXT, note TEXT, created TEXT, flag BOOLEAN)");
  db->begin();
  db->execute(fmt::format(
      "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < {}) "
      "INSERT INTO demo_source "
      "SELECT i * 2, (i * 7919) % 1000 - 500, ((i * 104729) % 100000) / 100.0, "
      "printf('item-%08x', (i * 2654435761) % 4294967296), "
      "CASE WHEN i % 5 = 0 THEN NULL ELSE printf('note %d: %s', i % 97, "
      "substr('the quick brown fox jumps over the lazy dog', 1, i % 44)) END, "
      "date('2000-01-01', printf('+%d days', i % 9000)), i % 2 FROM seq",
      rows));
  db->commit();
}

struct Run {
  const char* name;
  ParallelResult result;
  ContentChecksum checksum;
};

}  // namespace

int run_demo(const DemoOptions& options) {
  register_builtin_drivers();
  fs::create_directories(options.dir);
  const std::string dir = fs::absolute(options.dir).string();
  const std::string source_url = "sqlite://" + dir + "/source.db";
  for (const char* f : {"source.db", "target_serial.db", "target_parallel.db"}) {
    for (const char* suffix : {"", "-journal", "-wal", "-shm"}) {
      fs::remove(fs::path(dir) / (std::string(f) + suffix));
    }
  }

  const auto t0 = std::chrono::steady_clock::now();
  make_source(source_url, options.rows);
  const double make_secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string query = "SELECT * FROM demo_source ORDER BY id";
  auto source = connection_factory(source_url)();
  const ContentChecksum expected = content_checksum(*source, "SELECT * FROM demo_source");
  source->close();
  if (!options.json) {
    fmt::print("demo: made {} with {} rows in {:.2f} s (checksum {:016x})\n\n", source_url,
               expected.rows, make_secs, expected.hash);
  }

  const int workers = options.workers > 0
                          ? options.workers
                          : std::max(2, static_cast<int>(std::thread::hardware_concurrency()));
  std::vector<Run> runs;
  for (const bool parallel : {false, true}) {
    const std::string target_url =
        "sqlite://" + dir + (parallel ? "/target_parallel.db" : "/target_serial.db");
    ParamMap params{{"enable_parallel", parallel ? "true" : "false"},
                    {"max_workers", std::to_string(workers)}};
    ParallelOptions opts;
    opts.config = resolve_config(params, {});
    opts.mode = TargetMode::Create;
    opts.job_id = parallel ? "demo-parallel" : "demo-serial";
    Run run{parallel ? "parallel" : "serial", {}, {}};
    run.result = execute_query_parallel(source_url, query, target_url, "", "demo_target", opts);
    auto target = connection_factory(target_url)();
    run.checksum = content_checksum(*target, "SELECT * FROM demo_target");
    if (!options.json) {
      fmt::print("== {} copy into {}\n{}", run.name, target_url,
                 summary_text(run.result, {source_url, target_url, "demo_target"}, false));
      fmt::print("verify      {} rows, checksum {:016x}: {}\n\n", run.checksum.rows,
                 run.checksum.hash, run.checksum == expected ? "equal to the source" : "DIFFERENT");
    }
    runs.push_back(std::move(run));
  }

  bool ok = true;
  for (const auto& r : runs) ok = ok && r.result.ok() && r.checksum == expected;
  if (options.json) {
    fmt::print("[\n");
    for (size_t i = 0; i < runs.size(); ++i) {
      fmt::print("{}{}", summary_json(runs[i].result, {source_url, "", "demo_target"}, false),
                 i + 1 < runs.size() ? ",\n" : "");
    }
    fmt::print("]\n");
  } else {
    fmt::print(
        "demo: serial {:.2f} s ({:.0f} rows/s), parallel with {} workers {:.2f} s "
        "({:.0f} rows/s): {}\n",
        runs[0].result.elapsed_seconds, runs[0].result.rows_per_second, runs[1].result.workers_used,
        runs[1].result.elapsed_seconds, runs[1].result.rows_per_second,
        ok ? "both copies equal the source" : "VERIFICATION FAILED");
  }
  return ok ? 0 : 1;
}

}  // namespace parmap::cli
