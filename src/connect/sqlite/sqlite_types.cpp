// SQLite's declared column types and parmap's column types (see sqlite_types.h).
#include "connect/sqlite/sqlite_types.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <optional>

#include "common/temporal.h"

namespace parmap::sqlite {
namespace {

std::string to_upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool contains(std::string_view text, std::string_view fragment) {
  return text.find(fragment) != std::string_view::npos;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) s.remove_suffix(1);
  return s;
}

// "NUMERIC(10,2)", "DECIMAL ( 12 )" -> precision and scale; nullopt without a precision.
std::optional<std::pair<int, int>> numeric_precision(std::string_view upper) {
  std::string_view name = upper.substr(0, upper.find('('));
  name = trim(name);
  if ((name != "NUMERIC" && name != "DECIMAL") || upper.find('(') == std::string_view::npos ||
      upper.back() != ')') {
    return std::nullopt;
  }
  std::string_view args = upper.substr(upper.find('(') + 1);
  args.remove_suffix(1);
  const size_t comma = args.find(',');
  auto number = [](std::string_view s) -> std::optional<int> {
    s = trim(s);
    int v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return v;
  };
  const auto p = number(args.substr(0, comma));
  const auto s = comma == std::string_view::npos ? std::optional<int>(0)
                                                 : number(args.substr(comma + 1));
  // PostgreSQL's and MariaDB's limits; a wider declaration stays Any.
  if (!p || !s || *p < 1 || *p > 65 || *s < 0 || *s > *p) return std::nullopt;
  return std::pair{*p, *s};
}

// Plain decimal text ("-12.5", "0.25", "7"): no exponent, no leading '+', no leading zeros
// other than the one before the point, digits on both sides of a point. The counts of
// digits before and after the point in `whole` and `fraction`.
bool plain_decimal(std::string_view s, size_t& whole, size_t& fraction) {
  if (!s.empty() && s.front() == '-') s.remove_prefix(1);
  const size_t point = s.find('.');
  const std::string_view w = s.substr(0, point);
  const std::string_view f = point == std::string_view::npos ? std::string_view() : s.substr(point + 1);
  auto digits = [](std::string_view d) {
    for (char c : d) {
      if (c < '0' || c > '9') return false;
    }
    return !d.empty();
  };
  if (!digits(w) || (point != std::string_view::npos && !digits(f))) return false;
  if (w.size() > 1 && w.front() == '0') return false;
  whole = w == "0" ? 0 : w.size();
  fraction = f.size();
  return true;
}

// The decimal text of a number stored as INTEGER, REAL or TEXT, when it is one; for REAL the
// shortest text that reads back as the same double.
std::optional<std::string> decimal_text(const Value& v) {
  if (v.is_int()) return std::to_string(v.as_int());
  if (v.is_double()) {
    const double d = v.as_double();
    if (!std::isfinite(d)) return std::nullopt;
    char buf[400];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::fixed);
    if (ec != std::errc()) return std::nullopt;
    std::string text(buf, end);
    return text == "-0" ? "0" : text;
  }
  if (v.is_text()) return v.as_text();
  return std::nullopt;
}

bool append_numeric(Column& column, const Value& stored) {
  // The column may have become Any in this batch (a date of another spelling next to it).
  const auto ps = numeric_precision(to_upper(column.declared_type));
  const auto text = decimal_text(stored);
  size_t whole = 0, fraction = 0;
  if (!ps || !text || !plain_decimal(*text, whole, fraction)) return false;
  if (whole > static_cast<size_t>(ps->first - ps->second) ||
      fraction > static_cast<size_t>(ps->second)) {
    return false;
  }
  if (column.type == ColumnType::Numeric) {
    column.append_string(*text);
  } else {
    column.append(Value(*text));
  }
  return true;
}

// A date, time or timestamp in its canonical text (what format_* prints) is taken typed. Another
// spelling of a valid value ("2024-01-01T10:00:00", "10:00:00.000") is kept as the text it is
// (the column becomes Any for the batch): every target reads the same value from it, and a
// SQLite target gets the very text back.
bool append_temporal(Column& column, ColumnType type, const Value& stored) {
  if (!stored.is_text()) return false;
  const std::string& text = stored.as_text();
  std::optional<int64_t> v;
  std::string canonical;
  switch (type) {
    case ColumnType::Date:
      v = parse_date(text);
      if (v) canonical = format_date(*v);
      break;
    case ColumnType::Time:
      v = parse_time(text);
      if (v) canonical = format_time(*v);
      break;
    case ColumnType::Timestamp:
    case ColumnType::TimestampTz: {
      const bool tz = type == ColumnType::TimestampTz;
      v = parse_timestamp(text, tz);
      if (v) canonical = format_timestamp(*v, tz);
      break;
    }
    default:
      return false;
  }
  if (!v) return false;
  if (canonical == text && column.type == type) {
    column.append_int(*v);
  } else {
    // Column::append would parse it and so change its spelling.
    if (column.type != ColumnType::Any) column.promote_to_any();
    column.append(stored);
  }
  return true;
}

}  // namespace

ColumnType type_from_declared(std::string_view declared, std::string* normalized) {
  if (normalized != nullptr) *normalized = std::string(declared);
  const std::string upper = to_upper(trim(declared));
  if (upper.empty()) return ColumnType::Any;
  // SQLite's column affinity rules (datatype3.html, section 3.1), in their order.
  if (contains(upper, "INT")) {
    // Whatever the name (INT, INTEGER, TINYINT), SQLite's integers are 64-bit.
    if (normalized != nullptr) *normalized = "bigint";
    return ColumnType::Int64;
  }
  if (contains(upper, "CHAR") || contains(upper, "CLOB") || contains(upper, "TEXT")) {
    return ColumnType::Text;
  }
  if (contains(upper, "BLOB")) return ColumnType::Blob;
  if (contains(upper, "REAL") || contains(upper, "FLOA") || contains(upper, "DOUB")) {
    return ColumnType::Double;
  }
  // NUMERIC affinity: SQLite stores what it is given; the declared name says what it is.
  if (contains(upper, "BOOL")) return ColumnType::Bool;
  if (upper == "DATE") return ColumnType::Date;
  if (upper == "TIME") return ColumnType::Time;
  if (upper == "DATETIME" || upper == "TIMESTAMP") return ColumnType::Timestamp;
  if (upper == "TIMESTAMPTZ") return ColumnType::TimestampTz;
  if (const auto ps = numeric_precision(upper)) {
    if (normalized != nullptr) {
      *normalized = "numeric(" + std::to_string(ps->first) + "," + std::to_string(ps->second) + ")";
    }
    return ColumnType::Numeric;
  }
  return ColumnType::Any;
}

bool append_declared(Column& column, ColumnType type, const Value& stored) {
  if (stored.is_null()) {
    column.append_null();
    return true;
  }
  switch (type) {
    case ColumnType::Numeric:
      return append_numeric(column, stored);
    case ColumnType::Date:
    case ColumnType::Time:
    case ColumnType::Timestamp:
    case ColumnType::TimestampTz:
      return append_temporal(column, type, stored);
    default:
      column.append(stored);
      return true;
  }
}

}  // namespace parmap::sqlite
