// The run report drawn after the fact: a job's run rebuilt from the target's ledger rows.
#pragma once

#include <cstdint>
#include <string>

namespace parmap {

/// A run report as `parmap report` writes it.
struct LedgerReport {
  std::string job_id;  ///< the job drawn; "" for several
  int64_t jobs = 1;    ///< jobs drawn (a run of many tables: every job in the ledger)
  int64_t run = 0;     ///< the job's run (one job only)
  int64_t chunks = 0;  ///< committed chunks drawn
  int workers = 0;     ///< lanes of workers that committed them (recorded ones)
  int64_t rows = 0;
  bool finished = false;  ///< every job's last run is finished
  std::string html;       ///< the page, as --report draws it
};

/// Reads the ledger on the target at `target_url` and draws the last run of `job_id` with the
/// same renderer as `run --report`: a bar per committed chunk in its worker's lane. Without a
/// job id, the ledger's only job, or when it holds several (a run of many tables) every job's
/// last run on one time axis, with a line per table and a lane per table and worker. Reads
/// only. Throws Error(Config) when the target has no ledger or no such job.
LedgerReport ledger_report(const std::string& target_url, const std::string& job_id);

}  // namespace parmap
