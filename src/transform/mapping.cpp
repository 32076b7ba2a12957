// Column mapping from job files: select, rename, cast and constant columns, as a Transform.
#include <fmt/format.h>

#include <charconv>
#include <cmath>

#include "parmap/parmap.h"

namespace parmap {
namespace {

Value cast_value(const Value& v, ColumnType to, const std::string& what) {
  if (v.is_null() || to == ColumnType::Any) return v;
  auto fail = [&]() -> Value {
    throw Error(ErrorKind::Data,
                fmt::format("{}: cannot cast {} to {}", what, v.to_display(), to_string(to)));
  };
  switch (to) {
    case ColumnType::Bool:
    case ColumnType::Int64: {
      if (v.is_int()) return to == ColumnType::Bool ? Value(int64_t{v.as_int() != 0}) : v;
      if (v.is_double()) {
        const double d = v.as_double();
        if (!std::isfinite(d) || d != std::trunc(d) || std::fabs(d) > 9.2e18) return fail();
        return Value(static_cast<int64_t>(d));
      }
      if (v.is_text()) {
        const std::string& s = v.as_text();
        if (to == ColumnType::Bool) {
          std::string t;
          for (char c : s) t += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          if (t == "true" || t == "t" || t == "yes" || t == "y" || t == "1") return Value(1);
          if (t == "false" || t == "f" || t == "no" || t == "n" || t == "0") return Value(0);
          return fail();
        }
        int64_t out = 0;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
        if (ec != std::errc() || p != s.data() + s.size()) return fail();
        return Value(out);
      }
      return fail();
    }
    case ColumnType::Double: {
      if (v.is_double()) return v;
      if (v.is_int()) return Value(static_cast<double>(v.as_int()));
      if (v.is_text()) {
        const std::string& s = v.as_text();
        double out = 0;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
        if (ec != std::errc() || p != s.data() + s.size()) return fail();
        return Value(out);
      }
      return fail();
    }
    case ColumnType::Text: {
      if (v.is_text()) return v;
      if (v.is_int()) return Value(std::to_string(v.as_int()));
      if (v.is_double()) return Value(fmt::format("{}", v.as_double()));
      return Value(v.as_blob().bytes);
    }
    case ColumnType::Blob: {
      if (v.is_blob()) return v;
      if (v.is_text()) return Value(Blob{v.as_text()});
      return fail();
    }
    case ColumnType::Any:
      return v;
    case ColumnType::Date:
    case ColumnType::Time:
    case ColumnType::Timestamp:
    case ColumnType::TimestampTz:
    case ColumnType::Numeric:
    case ColumnType::Uuid:
    case ColumnType::Json:
    case ColumnType::Interval:
    case ColumnType::Array: {
      // Text in the type's canonical form; Column::append checks it (see cast_column).
      if (v.is_text()) return v;
      if (to == ColumnType::Numeric && v.is_int()) return Value(std::to_string(v.as_int()));
      if (to == ColumnType::Numeric && v.is_double() && std::isfinite(v.as_double())) {
        return Value(fmt::format("{}", v.as_double()));
      }
      return fail();
    }
  }
  return fail();
}

Column cast_column(const Column& in, ColumnType to, const std::string& label) {
  Column out;
  out.name = in.name;
  out.type = to;
  out.reserve(in.size());
  for (size_t r = 0; r < in.size(); ++r) {
    const Value v = in.get(r);
    out.append(cast_value(v, to, label));
    // A text that is not a valid date, uuid, ... turns the column into Any: refuse it.
    if (out.type != to) {
      throw Error(ErrorKind::Data,
                  fmt::format("{}: cannot cast {} to {}", label, v.to_display(), to_string(to)));
    }
  }
  return out;
}

}  // namespace

Transform mapping_transform(std::vector<ColumnMapping> mapping) {
  for (auto& m : mapping) {
    if (m.name.empty()) throw_config("columns[].name", "", "a target column name");
    if (m.from.empty() && !m.value) m.from = m.name;
  }
  return [mapping = std::move(mapping)](Batch& batch) {
    const size_t rows = batch.num_rows();
    Batch out;
    for (const auto& m : mapping) {
      Column col;
      if (m.value) {
        col.name = m.name;
        col.type = m.cast.value_or(m.value->is_int()      ? ColumnType::Int64
                                   : m.value->is_double() ? ColumnType::Double
                                   : m.value->is_text()   ? ColumnType::Text
                                   : m.value->is_blob()   ? ColumnType::Blob
                                                          : ColumnType::Any);
        col.reserve(rows);
        const Value v =
            m.cast ? cast_value(*m.value, *m.cast, "column '" + m.name + "'") : *m.value;
        for (size_t r = 0; r < rows; ++r) col.append(v);
      } else {
        const int i = batch.find(m.from);
        if (i < 0) {
          std::vector<std::string> names;
          for (const auto& c : batch.columns) names.push_back(c.name);
          throw Error(ErrorKind::Schema,
                      fmt::format("column mapping '{}': the source has no column '{}' (it has: "
                                  "{})",
                                  m.name, m.from, fmt::join(names, ", ")));
        }
        const Column& src = batch.columns[i];
        col =
            (m.cast && *m.cast != src.type)
                ? cast_column(src, *m.cast, fmt::format("column '{}' (from '{}')", m.name, m.from))
                : src;
        col.name = m.name;
      }
      out.columns.push_back(std::move(col));
    }
    batch = std::move(out);
  };
}

}  // namespace parmap
