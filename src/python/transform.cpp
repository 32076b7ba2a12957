// A Python callable as the engine's Transform: batch to dict of lists, the call, and back.
#include "python/transform.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <string_view>

#include "parmap/error.h"

namespace py = pybind11;

namespace parmap::python {

namespace {

/// A new reference to `text` as str; bytes that are not UTF-8 come through as surrogates
/// ("surrogateescape"), so that they go back unchanged.
PyObject* new_str(std::string_view text) {
  return PyUnicode_DecodeUTF8(text.data(), static_cast<Py_ssize_t>(text.size()), "surrogateescape");
}

PyObject* new_bytes(std::string_view bytes) {
  return PyBytes_FromStringAndSize(bytes.data(), static_cast<Py_ssize_t>(bytes.size()));
}

PyObject* new_value(const Value& v) {
  if (v.is_null()) return Py_NewRef(Py_None);
  if (v.is_int()) return PyLong_FromLongLong(v.as_int());
  if (v.is_double()) return PyFloat_FromDouble(v.as_double());
  if (v.is_text()) return new_str(v.as_text());
  return new_bytes(v.as_blob().bytes);
}

/// A new reference to row `row` of `c` as a Python value.
PyObject* new_cell(const Column& c, size_t row) {
  if (c.is_null(row)) return Py_NewRef(Py_None);
  switch (c.type) {
    case ColumnType::Bool:
      return PyBool_FromLong(c.ints[row] != 0 ? 1 : 0);
    case ColumnType::Int64:
      return PyLong_FromLongLong(c.ints[row]);
    case ColumnType::Double:
      return PyFloat_FromDouble(c.doubles[row]);
    case ColumnType::Text:
      return new_str(c.strings[row]);
    case ColumnType::Blob:
      return new_bytes(c.strings[row]);
    case ColumnType::Any:
      return new_value(c.values[row]);
    default:
      return new_value(c.get(row));  // the canonical text of the type
  }
}

py::list to_list(const Column& c) {
  py::list out(c.size());
  for (size_t row = 0; row < c.size(); ++row) {
    PyObject* cell = new_cell(c, row);
    if (cell == nullptr) throw py::error_already_set();
    PyList_SET_ITEM(out.ptr(), static_cast<Py_ssize_t>(row), cell);  // steals the reference
  }
  return out;
}

std::string utf8_of(PyObject* text) {
  Py_ssize_t size = 0;
  if (const char* data = PyUnicode_AsUTF8AndSize(text, &size)) return std::string(data, size);
  PyErr_Clear();  // lone surrogates: the bytes new_str escaped
  py::object bytes = py::reinterpret_steal<py::object>(
      PyUnicode_AsEncodedString(text, "utf-8", "surrogateescape"));
  if (!bytes) throw py::error_already_set();
  return std::string(PyBytes_AS_STRING(bytes.ptr()), PyBytes_GET_SIZE(bytes.ptr()));
}

/// A Python value as a Value: None, bool and int (also numpy's integers), float, str, bytes-like;
/// anything else (Decimal, datetime, date, UUID, ...) as its str(), which the column's type
/// parses when it is that type's text.
Value to_value(PyObject* o) {
  if (o == Py_None) return Value();
  if (PyBool_Check(o)) return Value(int64_t{o == Py_True ? 1 : 0});
  if (PyFloat_Check(o)) return Value(PyFloat_AS_DOUBLE(o));
  if (PyUnicode_Check(o)) return Value(utf8_of(o));
  if (PyLong_Check(o) || PyIndex_Check(o)) {
    py::object number = py::reinterpret_steal<py::object>(PyNumber_Index(o));
    if (!number) throw py::error_already_set();
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(number.ptr(), &overflow);
    if (overflow == 0) {
      if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
      return Value(int64_t{v});
    }
    // Past 64 bits: the digits, for a numeric column to take.
    return Value(utf8_of(py::str(number).ptr()));
  }
  if (PyObject_CheckBuffer(o)) {
    Py_buffer view;
    if (PyObject_GetBuffer(o, &view, PyBUF_CONTIG_RO) != 0) throw py::error_already_set();
    Blob blob{std::string(static_cast<const char*>(view.buf), static_cast<size_t>(view.len))};
    PyBuffer_Release(&view);
    return Value(std::move(blob));
  }
  return Value(utf8_of(py::str(o).ptr()));
}

/// Appends `o` to `c` by the column's current storage, without a Value where it can.
void append_cell(Column& c, PyObject* o) {
  if (c.type == ColumnType::Int64 && PyLong_CheckExact(o)) {
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow == 0 && !(v == -1 && PyErr_Occurred())) {
      c.append_int(v);
      return;
    }
    PyErr_Clear();
  } else if (c.type == ColumnType::Double && PyFloat_Check(o)) {
    c.append_double(PyFloat_AS_DOUBLE(o));
    return;
  } else if (c.type == ColumnType::Text && PyUnicode_Check(o)) {
    c.append_string(utf8_of(o));
    return;
  }
  c.append(to_value(o));
}

/// The column named `name` built from `values`, typed like the batch's column of that name
/// when its values fit that type.
Column from_python(const std::string& name, py::handle values, const Batch& in) {
  py::object seq = py::reinterpret_borrow<py::object>(values);
  if (!PyList_Check(seq.ptr()) && !PyTuple_Check(seq.ptr()) && py::hasattr(seq, "tolist")) {
    seq = seq.attr("tolist")();  // numpy arrays: Python scalars, not numpy's
  }
  if (PyUnicode_Check(seq.ptr()) || PyBytes_Check(seq.ptr()) || !PySequence_Check(seq.ptr())) {
    throw Error(ErrorKind::Schema,
                fmt::format("transform: column '{}' must be a list (or a sequence) of values, not "
                            "a {}",
                            name, Py_TYPE(seq.ptr())->tp_name));
  }
  py::object fast = py::reinterpret_steal<py::object>(PySequence_Fast(seq.ptr(), "a sequence"));
  if (!fast) throw py::error_already_set();
  Column out;
  out.name = name;
  if (const int i = in.find(name); i >= 0) {
    out.type = in.columns[static_cast<size_t>(i)].type;
    out.declared_type = in.columns[static_cast<size_t>(i)].declared_type;
  }
  const Py_ssize_t n = PySequence_Fast_GET_SIZE(fast.ptr());
  PyObject** items = PySequence_Fast_ITEMS(fast.ptr());
  out.reserve(static_cast<size_t>(n));
  for (Py_ssize_t row = 0; row < n; ++row) append_cell(out, items[row]);
  return out;
}

std::string traceback_of(py::error_already_set& e) {
  py::object lines =
      py::module_::import("traceback").attr("format_exception")(e.type(), e.value(), e.trace());
  std::string text = py::str("").attr("join")(lines).cast<std::string>();
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

}  // namespace

void TransformRelay::operator()(Batch& batch) {
  py::gil_scoped_acquire gil;
  Batch out;
  try {
    py::dict columns;
    for (const auto& c : batch.columns) columns[py::str(c.name)] = to_list(c);
    py::object returned = callable_(columns);
    if (returned.is_none()) returned = columns;
    if (!PyDict_Check(returned.ptr())) {
      throw Error(ErrorKind::Schema,
                  fmt::format("transform: returned a {}; return a dict of column name to list "
                              "(or None after changing the dict it was given)",
                              Py_TYPE(returned.ptr())->tp_name));
    }
    std::vector<std::string> names;
    for (auto item : py::reinterpret_borrow<py::dict>(returned)) {
      names.push_back(py::str(item.first).cast<std::string>());
    }
    if (!named_) {
      names_ = names;
      named_ = true;
    } else {
      std::vector<std::string> want = names_, got = names;
      std::sort(want.begin(), want.end());
      std::sort(got.begin(), got.end());
      if (want != got) {
        throw Error(ErrorKind::Schema,
                    fmt::format("transform: returned the columns [{}], but its first batch had "
                                "[{}]; every batch must have the same columns",
                                fmt::join(names, ", "), fmt::join(names_, ", ")));
      }
    }
    py::dict by_name = py::reinterpret_borrow<py::dict>(returned);
    for (const auto& name : names_) {
      out.columns.push_back(from_python(name, by_name[py::str(name)], batch));
      if (out.columns.back().size() != out.columns.front().size()) {
        throw Error(ErrorKind::Schema,
                    fmt::format("transform: column '{}' has {} values, column '{}' {}; every "
                                "column must have one value per row",
                                name, out.columns.back().size(), out.columns.front().name,
                                out.columns.front().size()));
      }
    }
  } catch (py::error_already_set& e) {
    throw Error(ErrorKind::Data, "the transform raised an exception:\n" + traceback_of(e));
  }
  batch = std::move(out);
}

}  // namespace parmap::python
