// One job across many processes (ranks) started by an MPI launcher: rank 0 plans, holds the
// source snapshot and the queue of chunks, and every rank's workers copy the chunks it hands
// out. The command line's only view of the distributed runner.
#pragma once

#include <string>

#include "parmap/parmap.h"

namespace parmap::dist {

/// Whether this parmap was built with the distributed runner (MPI found at build time).
bool built_with_mpi();

/// The number of processes an MPI launcher says it started (Open MPI's OMPI_COMM_WORLD_SIZE,
/// PMIx's PMIX_SIZE... or Slurm's PMI_SIZE / SLURM_NTASKS under srun --mpi), 0 when no
/// launcher started this process. Reads the process environment.
int launcher_world_size();

/// The process's MPI session: initialised in the constructor (MPI calls are made from the
/// thread that made it only), finalised in the destructor. One per process. Throws
/// Error(Config) when built without MPI.
class Session {
 public:
  Session();
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }

 private:
  int rank_ = 0;
  int size_ = 1;
};

/// Runs one job on every rank of `session` (each rank calls it with the same arguments, from
/// the thread that made the session). Rank 0 plans and prepares the target as
/// execute_query_parallel does, exports the source snapshot where the engine has one and
/// keeps it until every rank is done, and hands out chunks one at a time to the workers that
/// ask; the others import the snapshot and run rank 0's stored plan. Each chunk commits with
/// its ledger row as in one process, so a rerun (with or without MPI) resumes a run whose
/// ranks died.
///
/// Rank 0 returns the run's result, with each rank's share in `ranks`, and sends the progress
/// events of every rank's chunks to options.on_progress. The other ranks return their own
/// counts (their errors, if any, are in the run's result too) and send no events. Throws
/// Error as execute_query_parallel does, on rank 0; a rank other than 0 returns an empty
/// result when rank 0 failed before any chunk.
ParallelResult run_distributed(Session& session, const std::string& source_url,
                               const std::string& source_sql, const std::string& target_url,
                               const TableRef& target_table, const ParallelOptions& options);

}  // namespace parmap::dist
