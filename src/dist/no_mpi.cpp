// The distributed runner of a parmap built without MPI: it says so.
#include <cstdlib>

#include "dist/distributed.h"

namespace parmap::dist {

namespace {

[[noreturn]] void unavailable() {
  throw Error(ErrorKind::Config,
              "--distributed mpi: this parmap was built without MPI (install Open MPI, e.g. "
              "Debian's openmpi-bin and libopenmpi-dev, and build again)");
}

}  // namespace

bool built_with_mpi() { return false; }

int launcher_world_size() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE"}) {
    if (const char* v = std::getenv(name)) return std::atoi(v);
  }
  return 0;
}

Session::Session() { unavailable(); }

Session::~Session() = default;

ParallelResult run_distributed(Session&, const std::string&, const std::string&, const std::string&,
                               const TableRef&, const ParallelOptions&) {
  unavailable();
}

}  // namespace parmap::dist
