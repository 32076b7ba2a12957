// A Python callable as the engine's Transform: each batch goes to Python as a dict of columns and
// comes back from what the callable returns.
#pragma once

#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "parmap/batch.h"

namespace parmap::python {

/// Calls `callable(columns)` for each batch, from the engine's worker threads, with the
/// interpreter's lock held for the call and the conversions only. `columns` is a dict of column
/// name to list (None for NULL; bool, int, float, str, bytes; dates, times, timestamps,
/// numerics, uuids, JSON, intervals and arrays as their canonical text). The callable returns a
/// dict of name to sequence (a list, tuple or anything with tolist(), such as a numpy array) or
/// None for "the dict I was given, changed in place". Columns may be changed, dropped, added or
/// filtered (every column the same length); a column keeps its source type when its values
/// still fit it, and an added column takes its values' own types. The first call (on an empty
/// batch, when the job is planned) fixes the set of output columns; later batches must return
/// the same names (in any order).
///
/// An exception raised by the callable throws Error(Data) with the Python traceback (the
/// engine treats it like a row the target refuses); a malformed return value throws
/// Error(Schema). Owned by the call that runs the job, which outlives every call to it, and
/// destroyed with the interpreter's lock held.
class TransformRelay {
 public:
  explicit TransformRelay(pybind11::object callable) : callable_(std::move(callable)) {}

  void operator()(Batch& batch);

 private:
  pybind11::object callable_;
  std::vector<std::string> names_;  // the first call's output columns; guarded by the lock
  bool named_ = false;
};

}  // namespace parmap::python
