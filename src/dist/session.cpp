// The process's MPI session and how parmap tells that a launcher started it.
#include <mpi.h>

#include <cstdlib>

#include "dist/distributed.h"

namespace parmap::dist {

bool built_with_mpi() { return true; }

int launcher_world_size() {
  // Open MPI's mpirun, PMIx (Open MPI 5, srun --mpi=pmix), PMI-2 (srun --mpi=pmi2, MPICH).
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE"}) {
    if (const char* v = std::getenv(name)) return std::atoi(v);
  }
  return 0;
}

Session::Session() {
  // Every MPI call is made on the thread that initialises: worker threads talk to it through
  // the feed (rank_feed.h), so FUNNELED is all the library must support.
  int provided = 0;
  if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
    throw Error(ErrorKind::Connect, "--distributed mpi: MPI could not be initialised");
  }
  if (provided < MPI_THREAD_FUNNELED) {
    MPI_Finalize();
    throw Error(ErrorKind::Config,
                "--distributed mpi: the MPI library does not allow threads (MPI_THREAD_FUNNELED)");
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

Session::~Session() { MPI_Finalize(); }

}  // namespace parmap::dist
