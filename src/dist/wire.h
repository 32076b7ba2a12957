// The messages of a distributed run between rank 0 and the other ranks: their tags and how
// they travel (a JSON text each). Called on a rank's MPI thread only.
#pragma once

#include <mpi.h>

#include <string>

namespace parmap::dist {

/// Rank 0 to each rank once: {"ok", "job_id", "run", "snapshot"} or {"ok": false, "error"}.
inline constexpr int kTagStart = 1;
/// A rank to rank 0: one of its workers is free (empty body).
inline constexpr int kTagAsk = 2;
/// Rank 0's answer to an ask, in order: the chunk's index, or -1 when there is no more work.
inline constexpr int kTagChunk = 3;
/// A rank to rank 0: {"chunk", "rows", "attempt"} committed, or {"chunk", "error", "refused"}.
inline constexpr int kTagDone = 4;
/// A rank to rank 0, last: its share {"workers", "chunks", "rows", "messages", "wait_ms",
/// "host", "error"}.
inline constexpr int kTagBye = 5;

inline void send_text(const std::string& text, int to, int tag) {
  MPI_Send(text.data(), static_cast<int>(text.size()), MPI_CHAR, to, tag, MPI_COMM_WORLD);
}

/// Receives the message `status` (from MPI_Probe or MPI_Iprobe) announced.
inline std::string receive_text(MPI_Status& status) {
  int size = 0;
  MPI_Get_count(&status, MPI_CHAR, &size);
  std::string text(static_cast<size_t>(size), '\0');
  MPI_Recv(text.data(), size, MPI_CHAR, status.MPI_SOURCE, status.MPI_TAG, MPI_COMM_WORLD,
           MPI_STATUS_IGNORE);
  return text;
}

}  // namespace parmap::dist
