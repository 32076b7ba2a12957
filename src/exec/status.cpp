// parmap status: the runs a target's ledger records, and whether each job is running now.
#include <fmt/format.h>

#include "exec/ledger.h"
#include "parmap/parmap.h"

namespace parmap {

std::vector<RunStatus> job_status(const std::string& target_url, const std::string& job_id) {
  const ConnectionUrl url = parse_url(target_url);
  check_url(url, "target", true);  // reading a ledger must not create a database
  std::unique_ptr<Connection> db = connection_factory(target_url)();
  Ledger ledger(*db);
  if (!ledger.exists()) {
    throw Error(ErrorKind::Config,
                fmt::format("{} has no parmap ledger (no {} table): no job has run into it",
                            url.masked(), Ledger::kJobsTable));
  }
  const std::vector<RunRecord> runs = ledger.runs(job_id);
  if (runs.empty() && !job_id.empty()) {
    throw Error(ErrorKind::Config,
                fmt::format("job '{}' has no run in the ledger of {}", job_id, url.masked()));
  }
  std::vector<RunStatus> out;
  for (const RunRecord& r : runs) {
    std::string state;
    if (!r.finished_at.empty()) {
      state = "finished";
    } else if (!r.current) {
      state = "abandoned";
    } else {
      // The lock a run holds while it runs: taken here, the job is not running (this
      // session's lock goes with it when it closes below).
      state = db->try_lock_job(job_lock_key(r.job_id, r.target_table)) ? "unfinished" : "running";
    }
    out.push_back(RunStatus{.job_id = r.job_id,
                            .run = r.run,
                            .target_table = r.target_table,
                            .mode = r.mode,
                            .state = std::move(state),
                            .chunks_planned = r.chunks_planned,
                            .chunks_done = r.chunks_done,
                            .rows = r.rows,
                            .started_at = r.started_at,
                            .finished_at = r.finished_at});
  }
  db->close();
  return out;
}

}  // namespace parmap
