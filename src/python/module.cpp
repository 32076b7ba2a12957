// The Python extension module parmap._parmap: the engine's configuration, result and run, with
// the interpreter's lock released while the engine runs. The mapper-compatible names live in the
// pure-Python package (python/parmap), which calls these.
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "parmap/parmap.h"
#include "python/transform.h"

namespace py = pybind11;

namespace parmap {
namespace {

/// parmap.Error and its subclass for each ErrorKind, created at import; the translator below
/// raises the kind's class with the error's details as attributes. Owned by the module for the
/// interpreter's life: never freed, as the interpreter may outlive a static's destructor.
PyObject* g_error_type = nullptr;
PyObject* g_kind_types[static_cast<size_t>(ErrorKind::Internal) + 1] = {};

/// One Python class per kind: its name, the builtin it also derives from (so that code
/// catching the builtin, ValueError or ConnectionError say, catches it too), and its doc.
struct KindClass {
  ErrorKind kind;
  const char* name;
  PyObject* builtin;
  const char* doc;
};

std::vector<KindClass> kind_classes() {
  return {
      {ErrorKind::Config, "ConfigError", PyExc_ValueError,
       "A bad setting, parameter or usage, found before any work starts; the message names it."},
      {ErrorKind::Connect, "ConnectError", PyExc_ConnectionError,
       "A database could not be reached or refused the login (also a ConnectionError)."},
      {ErrorKind::Transient, "TransientError", nullptr,
       "Connection lost, deadlock, serialization failure: still failing after the retries."},
      {ErrorKind::InDoubt, "InDoubtError", nullptr,
       "A commit whose outcome is unknown and that the ledger could not resolve."},
      {ErrorKind::Data, "DataError", nullptr,
       "A row the target refuses, or a transform that raised (the traceback is in the message)."},
      {ErrorKind::Schema, "SchemaError", nullptr,
       "A missing table or column, or columns that do not match."},
      {ErrorKind::Timeout, "ServerTimeoutError", PyExc_TimeoutError,
       "The server cancelled a statement or ended a session (statement_timeout and the like)."},
      {ErrorKind::Cancelled, "Cancelled", nullptr,
       "The run was cancelled (Ctrl-C itself raises KeyboardInterrupt)."},
      {ErrorKind::Internal, "InternalError", nullptr, "A bug in parmap."},
  };
}

void raise_error(const Error& e) {
  PyObject* type = g_kind_types[static_cast<size_t>(e.kind())];
  if (type == nullptr) type = g_error_type;
  py::object exc = py::reinterpret_borrow<py::object>(type)(e.what());
  exc.attr("kind") = to_string(e.kind());
  exc.attr("native_code") = e.native_code();
  exc.attr("engine") = e.context().engine;
  exc.attr("table") = e.context().table;
  exc.attr("chunk") = e.context().chunk;
  exc.attr("statement") = e.context().statement;
  PyErr_SetObject(type, exc.ptr());
}

/// Creates parmap.Error and the classes of kind_classes() as attributes of `m`.
void add_error_types(py::module_& m) {
  // RuntimeError as the base: the engine's failures are not the caller's wrong types or values
  // alone, and code catching RuntimeError around a job keeps working.
  g_error_type = PyErr_NewExceptionWithDoc(
      "parmap.Error",
      "A parmap failure; each kind has its subclass (ConfigError, ConnectError, DataError, ...). "
      "Attributes: kind ('config', 'connect', 'transient', 'in_doubt', 'data', 'schema', "
      "'timeout', 'cancelled', 'internal'), native_code (SQLSTATE or the engine's code), "
      "engine, table, chunk, statement. Messages and attributes never hold a password.",
      PyExc_RuntimeError, nullptr);
  if (g_error_type == nullptr) throw py::error_already_set();
  m.attr("Error") = py::reinterpret_borrow<py::object>(g_error_type);
  for (const KindClass& k : kind_classes()) {
    py::tuple bases = k.builtin != nullptr
                          ? py::make_tuple(py::handle(g_error_type), py::handle(k.builtin))
                          : py::make_tuple(py::handle(g_error_type));
    const std::string qualified = std::string("parmap.") + k.name;
    PyObject* type = PyErr_NewExceptionWithDoc(qualified.c_str(), k.doc, bases.ptr(), nullptr);
    if (type == nullptr) throw py::error_already_set();
    g_kind_types[static_cast<size_t>(k.kind)] = type;
    m.attr(k.name) = py::reinterpret_borrow<py::object>(type);
  }
}

/// Calls the user's progress callback from a worker thread with the interpreter's lock held.
/// The first exception it raises is kept (and the run cancelled) to be raised by the caller.
class ProgressRelay {
 public:
  ProgressRelay(py::object callback, std::atomic<bool>& cancel)
      : callback_(std::move(callback)), cancel_(cancel) {}

  void operator()(const ProgressEvent& event) {
    py::gil_scoped_acquire gil;
    if (failure_.has_value()) return;
    try {
      // Python keeps a copy of the event, which may outlive the call: the result it points
      // to (job_started, job_finished) is copied into it now, while the engine holds it.
      ProgressEvent copy = event;
      copy.result = nullptr;
      py::object obj = py::cast(std::move(copy));
      obj.attr("result") = event.result ? py::cast(*event.result) : py::none();
      callback_(obj);
    } catch (py::error_already_set& e) {
      failure_.emplace(std::move(e));
      cancel_ = true;
    }
  }

  /// Raises what the callback raised, if anything (interpreter lock held).
  void rethrow() {
    if (failure_.has_value()) {
      py::error_already_set e = std::move(*failure_);
      failure_.reset();
      throw e;
    }
  }

 private:
  py::object callback_;
  std::atomic<bool>& cancel_;
  std::optional<py::error_already_set> failure_;  // guarded by the interpreter's lock
};

/// Runs `job` on its own thread and waits with the interpreter's lock released, looking at
/// Python's signals every 50 ms: a KeyboardInterrupt (Ctrl-C) sets `cancel`, waits for the
/// chunks in flight to roll back, and is raised. The engine cannot run on the calling thread:
/// only that thread, holding the lock, can see a signal.
template <typename Job>
auto run_interruptible(Job job, std::atomic<bool>& cancel, ProgressRelay* relay) {
  using Result = decltype(job());
  std::future<Result> done = std::async(std::launch::async, std::move(job));
  std::optional<py::error_already_set> interrupted;
  for (;;) {
    std::future_status status;
    {
      py::gil_scoped_release release;
      status = done.wait_for(std::chrono::milliseconds(50));
    }
    if (status == std::future_status::ready) break;
    if (!interrupted.has_value() && PyErr_CheckSignals() != 0) {
      interrupted.emplace();  // takes the pending KeyboardInterrupt
      cancel = true;
    }
  }
  if (interrupted.has_value()) {
    // The engine's Error(Cancelled), or whatever it ended with, is the consequence of the
    // interrupt: the interrupt is what the caller must see.
    try {
      done.get();
    } catch (const std::exception&) {
    }
    throw std::move(*interrupted);
  }
  if (relay != nullptr) {
    try {
      Result result = done.get();
      relay->rethrow();
      return result;
    } catch (const Error&) {
      relay->rethrow();  // a callback's exception explains the cancellation it caused
      throw;
    }
  }
  return done.get();
}

/// Sets `options.transform` to call the Python callable `transform` (None: no transform) through
/// `relay`, which the caller keeps until the run is over. The options hold a pointer, not the
/// callable: copying a Python object would need the interpreter's lock wherever they are copied.
void set_transform(ParallelOptions& options, py::object transform,
                   std::optional<python::TransformRelay>& relay) {
  if (transform.is_none()) return;
  if (!PyCallable_Check(transform.ptr())) {
    throw Error(ErrorKind::Config,
                "transform must be callable (a function of the batch's columns)");
  }
  relay.emplace(std::move(transform));
  options.transform = [r = &*relay](Batch& batch) { (*r)(batch); };
}

ParallelResult execute(const std::string& source_url, const std::string& source_sql,
                       const std::string& target_url, const std::string& target_schema,
                       const std::string& target_table, const ParallelConfig& config,
                       const std::string& job_id, const std::string& partition_column,
                       const std::string& mode, bool fresh, bool dry_run,
                       const std::string& reject_file, py::object progress, py::object transform) {
  std::atomic<bool> cancel{false};
  ParallelOptions options;
  options.config = config;
  options.job_id = job_id;
  options.partition_column = partition_column;
  options.mode = target_mode_from_string(mode);
  options.fresh = fresh;
  options.dry_run = dry_run;
  options.reject_file = reject_file;
  options.cancel = &cancel;
  std::optional<python::TransformRelay> transform_relay;
  set_transform(options, std::move(transform), transform_relay);
  std::optional<ProgressRelay> relay;
  if (!progress.is_none()) {
    relay.emplace(std::move(progress), cancel);
    // The relay outlives the run (it is joined below), so a reference is enough; copying a
    // Python object would need the lock wherever the options are copied.
    options.on_progress = [r = &*relay](const ProgressEvent& event) { (*r)(event); };
  }
  return run_interruptible(
      [&]() {
        return execute_query_parallel(source_url, source_sql, target_url, target_schema,
                                      target_table, options);
      },
      cancel, relay ? &*relay : nullptr);
}

VerifyResult verify(const std::string& source_url, const std::string& source_sql,
                    const std::string& target_url, const std::string& target_schema,
                    const std::string& target_table, const ParallelConfig& config,
                    const std::string& job_id, const std::string& partition_column,
                    const std::string& mode, bool against_ledger, py::object transform) {
  std::atomic<bool> cancel{false};
  ParallelOptions options;
  options.config = config;
  options.job_id = job_id;
  options.partition_column = partition_column;
  options.mode = target_mode_from_string(mode);
  options.cancel = &cancel;
  std::optional<python::TransformRelay> transform_relay;
  set_transform(options, std::move(transform), transform_relay);
  return run_interruptible(
      [&]() {
        return verify_query_parallel(source_url, source_sql, target_url, target_schema,
                                     target_table, options, against_ledger);
      },
      cancel, nullptr);
}

std::string origin_name(Source source) {
  switch (source) {
    case Source::Default:
      return "default";
    case Source::Environment:
      return "environment";
    case Source::Param:
      return "param";
  }
  return "?";
}

void bind_config(py::module_& m) {
  py::class_<ParallelConfig>(m, "ParallelConfig",
                             "Parallelism settings (defaults < MAPPER_* environment < params).")
      .def(py::init<>())
      .def_readwrite("enable_parallel", &ParallelConfig::enable_parallel)
      .def_readwrite("max_workers", &ParallelConfig::max_workers)
      .def_readwrite("chunk_size", &ParallelConfig::chunk_size)
      .def_readwrite("min_rows_for_parallel", &ParallelConfig::min_rows_for_parallel)
      .def_readwrite("max_retries", &ParallelConfig::max_retries)
      .def_readwrite("retry_backoff_ms", &ParallelConfig::retry_backoff_ms)
      .def_readwrite("chunk_timeout_s", &ParallelConfig::chunk_timeout_s)
      .def_readwrite("max_batch_bytes", &ParallelConfig::max_batch_bytes)
      .def_readwrite("max_rejects", &ParallelConfig::max_rejects)
      .def_readonly("ignored_params", &ParallelConfig::ignored_params)
      .def_property_readonly("origin",
                             [](const ParallelConfig& c) {
                               py::dict out;
                               for (const auto& [k, v] : c.origin) out[py::str(k)] = origin_name(v);
                               return out;
                             })
      .def("__repr__", [](const ParallelConfig& c) {
        return "ParallelConfig(enable_parallel=" +
               std::string(c.enable_parallel ? "True" : "False") +
               ", max_workers=" + std::to_string(c.max_workers) +
               ", chunk_size=" + std::to_string(c.chunk_size) +
               ", min_rows_for_parallel=" + std::to_string(c.min_rows_for_parallel) + ")";
      });

  m.def("resolve_config", &resolve_config, py::arg("params"), py::arg("env"),
        py::arg("cpu_cores") = 0,
        "Strict resolution: every param must be a setting (text values).");
  m.def("resolve_job_config", &resolve_job_config, py::arg("params"), py::arg("env"),
        py::arg("cpu_cores") = 0,
        "A whole job's params: settings applied, the job's own keys listed in ignored_params.");
  m.def("get_parallel_config_from_params", &get_parallel_config_from_params,
        py::arg("params") = ParamMap{});
  m.def("should_use_parallel_processing", &should_use_parallel_processing, py::arg("config"),
        py::arg("estimated_rows"));
  m.def("default_max_workers", &default_max_workers);
  m.def("settings", []() {
    py::list out;
    for (const auto& s : settings_table()) out.append(py::make_tuple(s.param, s.env, s.help));
    return out;
  });
}

void bind_result(py::module_& m) {
  py::class_<ProgressEvent>(
      m, "ProgressEvent", py::dynamic_attr(),
      "One event of a run: .event is job_started, chunk_started, chunk_done, chunk_retried, "
      "chunk_failed, progress or job_finished; .result is the plan (job_started) or the "
      "summary (job_finished), else None.")
      .def_property_readonly("event", [](const ProgressEvent& e) { return to_string(e.kind); })
      .def_readonly("chunk_index", &ProgressEvent::chunk_index)
      .def_readonly("chunks_total", &ProgressEvent::chunks_total)
      .def_readonly("chunk_rows", &ProgressEvent::chunk_rows)
      .def_readonly("rows_done", &ProgressEvent::rows_done)
      .def_readonly("skipped", &ProgressEvent::skipped)
      .def_readonly("bounds", &ProgressEvent::bounds)
      .def_readonly("chunk_bytes", &ProgressEvent::chunk_bytes)
      .def_readonly("chunk_seconds", &ProgressEvent::chunk_seconds)
      .def_readonly("worker", &ProgressEvent::worker)
      .def_readonly("attempt", &ProgressEvent::attempt)
      .def_readonly("error", &ProgressEvent::error)
      .def_readonly("estimated_rows", &ProgressEvent::estimated_rows)
      .def_readonly("bytes_done", &ProgressEvent::bytes_done)
      .def_readonly("chunks_done", &ProgressEvent::chunks_done)
      .def_readonly("chunks_skipped", &ProgressEvent::chunks_skipped)
      .def_readonly("chunks_failed", &ProgressEvent::chunks_failed)
      .def_readonly("retries", &ProgressEvent::retries)
      .def_readonly("rows_rejected", &ProgressEvent::rows_rejected)
      .def_readonly("workers", &ProgressEvent::workers)
      .def_readonly("workers_busy", &ProgressEvent::workers_busy)
      .def_readonly("elapsed_seconds", &ProgressEvent::elapsed_seconds);

  py::class_<ChunkReport>(m, "ChunkReport")
      .def_readonly("index", &ChunkReport::index)
      .def_readonly("bounds", &ChunkReport::bounds)
      .def_readonly("estimated_rows", &ChunkReport::estimated_rows);

  py::class_<ParallelResult>(m, "ParallelResult", "What a run did (counts are this run's).")
      .def_readonly("job_id", &ParallelResult::job_id)
      .def_readonly("total_rows_processed", &ParallelResult::total_rows_processed)
      .def_readonly("estimated_rows", &ParallelResult::estimated_rows)
      .def_readonly("chunks_planned", &ParallelResult::chunks_planned)
      .def_readonly("chunks_done", &ParallelResult::chunks_done)
      .def_readonly("chunks_skipped", &ParallelResult::chunks_skipped)
      .def_readonly("chunks_failed", &ParallelResult::chunks_failed)
      .def_readonly("chunks_refused", &ParallelResult::chunks_refused)
      .def_readonly("retries", &ParallelResult::retries)
      .def_readonly("rows_rejected", &ParallelResult::rows_rejected)
      .def_readonly("rows_rejected_before", &ParallelResult::rows_rejected_before)
      .def_readonly("reject_file", &ParallelResult::reject_file)
      .def_readonly("workers_used", &ParallelResult::workers_used)
      .def_readonly("workers_decision", &ParallelResult::workers_decision)
      .def_readonly("commits", &ParallelResult::commits)
      .def_readonly("commit_groups", &ParallelResult::commit_groups)
      .def_readonly("parallel", &ParallelResult::parallel)
      .def_readonly("reason", &ParallelResult::reason)
      .def_readonly("partition_column", &ParallelResult::partition_column)
      .def_readonly("snapshot", &ParallelResult::snapshot)
      .def_readonly("fast_path", &ParallelResult::fast_path)
      .def_readonly("path", &ParallelResult::path)
      .def_readonly("resumed", &ParallelResult::resumed)
      .def_readonly("run", &ParallelResult::run)
      .def_readonly("dry_run", &ParallelResult::dry_run)
      .def_readonly("finished", &ParallelResult::finished)
      .def_readonly("unfinished_chunks", &ParallelResult::unfinished_chunks)
      .def_readonly("elapsed_seconds", &ParallelResult::elapsed_seconds)
      .def_readonly("rows_per_second", &ParallelResult::rows_per_second)
      .def_readonly("chunks", &ParallelResult::chunks)
      .def_readonly("errors", &ParallelResult::errors)
      .def("ok", &ParallelResult::ok, "Every planned chunk is committed and the run finished.")
      .def("complete", &ParallelResult::complete,
           "ok(), and no row refused by the target: every planned row is in it (rows_rejected "
           "rows, refused within max_rejects, are in reject_file instead).")
      .def("__repr__", [](const ParallelResult& r) {
        return "ParallelResult(job_id='" + r.job_id +
               "', total_rows_processed=" + std::to_string(r.total_rows_processed) +
               ", chunks_done=" + std::to_string(r.chunks_done) + "/" +
               std::to_string(r.chunks_planned) +
               ", chunks_failed=" + std::to_string(r.chunks_failed) +
               ", workers_used=" + std::to_string(r.workers_used) +
               ", finished=" + (r.finished ? "True" : "False") + ")";
      });
}

void bind_verify(py::module_& m) {
  py::class_<ChunkDifference>(m, "ChunkDifference")
      .def_readonly("index", &ChunkDifference::index)
      .def_readonly("bounds", &ChunkDifference::bounds)
      .def_readonly("expected_rows", &ChunkDifference::expected_rows)
      .def_readonly("target_rows", &ChunkDifference::target_rows)
      .def_readonly("problem", &ChunkDifference::problem);

  py::class_<VerifyResult>(m, "VerifyResult", "What verify found; ok() when every range matches.")
      .def_readonly("job_id", &VerifyResult::job_id)
      .def_readonly("against_ledger", &VerifyResult::against_ledger)
      .def_readonly("scope", &VerifyResult::scope)
      .def_readonly("snapshot", &VerifyResult::snapshot)
      .def_readonly("ranges_checked", &VerifyResult::ranges_checked)
      .def_readonly("ranges_matching", &VerifyResult::ranges_matching)
      .def_readonly("expected_rows", &VerifyResult::expected_rows)
      .def_readonly("target_rows", &VerifyResult::target_rows)
      .def_readonly("retries", &VerifyResult::retries)
      .def_readonly("differences", &VerifyResult::differences)
      .def_readonly("elapsed_seconds", &VerifyResult::elapsed_seconds)
      .def("ok", &VerifyResult::ok);

  py::class_<RunStatus>(m, "RunStatus", "One run of a job as the target's ledger records it.")
      .def_readonly("job_id", &RunStatus::job_id)
      .def_readonly("run", &RunStatus::run)
      .def_readonly("target_table", &RunStatus::target_table)
      .def_readonly("mode", &RunStatus::mode)
      .def_readonly("state", &RunStatus::state)
      .def_readonly("chunks_planned", &RunStatus::chunks_planned)
      .def_readonly("chunks_done", &RunStatus::chunks_done)
      .def_readonly("rows", &RunStatus::rows)
      .def_readonly("started_at", &RunStatus::started_at)
      .def_readonly("finished_at", &RunStatus::finished_at);

  m.def("verify", &verify, py::arg("source_url"), py::arg("source_sql"), py::arg("target_url"),
        py::arg("target_schema"), py::arg("target_table"), py::arg("config"),
        py::arg("job_id") = "", py::arg("partition_column") = "", py::arg("mode") = "append",
        py::arg("against_ledger") = false, py::arg("transform") = py::none());
  m.def("job_status", &job_status, py::arg("target_url"), py::arg("job_id") = "",
        py::call_guard<py::gil_scoped_release>());
}

}  // namespace
}  // namespace parmap

PYBIND11_MODULE(_parmap, m) {
  using namespace parmap;
  m.doc() = "parmap's engine: parallel, exactly-once copies of a query's result into a table.";

  add_error_types(m);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      raise_error(e);
    }
  });

  bind_config(m);
  bind_result(m);
  bind_verify(m);

  m.def("execute", &execute, py::arg("source_url"), py::arg("source_sql"), py::arg("target_url"),
        py::arg("target_schema"), py::arg("target_table"), py::arg("config"),
        py::arg("job_id") = "", py::arg("partition_column") = "", py::arg("mode") = "append",
        py::arg("fresh") = false, py::arg("dry_run") = false, py::arg("reject_file") = "",
        py::arg("progress") = py::none(), py::arg("transform") = py::none(),
        "Runs a job between two connection URLs with the interpreter's lock released; Ctrl-C "
        "cancels it (chunks in flight roll back) and raises KeyboardInterrupt.");
}
