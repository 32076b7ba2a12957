// Values, column types, the columnar Batch and its order-independent content hash.
#include "parmap/batch.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>

#include "common/temporal.h"
#include "parmap/error.h"

namespace parmap {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

constexpr char kHexDigits[] = "0123456789abcdef";

std::string to_hex(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHexDigits[c >> 4]);
    out.push_back(kHexDigits[c & 0xf]);
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// Shortest text that reads back as exactly `d` ("1.5", "1e+300", "nan", "-inf").
/// Integral finite values keep a ".0" so that 1.0 never looks like the integer 1.
std::string format_double(double d) {
  std::string s = fmt::format("{}", d);
  if (std::isfinite(d) && s.find_first_not_of("-0123456789") == std::string::npos) s += ".0";
  return s;
}

/// Three-way comparison of an integer with a real, exact for every int64 (no rounding
/// through double). NaN sorts below every number.
int compare_int_double(int64_t i, double d) {
  if (std::isnan(d)) return 1;
  // 2^63 is exactly representable; int64 values lie in [-2^63, 2^63).
  constexpr double kTwo63 = 9223372036854775808.0;
  if (d >= kTwo63) return -1;
  if (d < -kTwo63) return 1;
  const auto t = static_cast<int64_t>(d);  // truncation, exact within range
  if (i < t) return -1;
  if (i > t) return 1;
  const double frac = d - static_cast<double>(t);  // exact: d and t share the integer part
  if (frac > 0) return -1;
  if (frac < 0) return 1;
  return 0;
}

int compare_double(double a, double b) {
  const bool na = std::isnan(a), nb = std::isnan(b);
  if (na || nb) return na == nb ? 0 : (na ? -1 : 1);
  return a < b ? -1 : (a > b ? 1 : 0);
}

/// Rank of a value's class in the total order: null < number < text < blob.
int type_rank(const Value& v) {
  if (v.is_null()) return 0;
  if (v.is_int() || v.is_double()) return 1;
  if (v.is_text()) return 2;
  return 3;
}

// --- hashing -----------------------------------------------------------------------

/// Removes the entries of `v` whose keep flag is 0, in place.
template <typename T>
void compact(std::vector<T>& v, const std::vector<uint8_t>& keep) {
  size_t out = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    if (keep[i]) {
      if (out != i) v[out] = std::move(v[i]);
      ++out;
    }
  }
  v.resize(out);
}

/// Approximate heap bytes of the strings' own buffers. Sampled so that it costs O(1)
/// per column whatever the row count: byte_size is a memory bound, not an audit.
template <typename T, typename Size>
size_t sampled_heap_bytes(const std::vector<T>& v, Size size_of) {
  constexpr size_t kSamples = 64;
  const size_t n = v.size();
  if (n == 0) return 0;
  const size_t step = n <= kSamples ? 1 : n / kSamples;
  size_t total = 0, seen = 0;
  for (size_t i = 0; i < n && seen < kSamples; i += step, ++seen) total += size_of(v[i]);
  return total * n / seen;
}

/// Where a column of a given type keeps its rows; switches over this instead of ColumnType
/// so that a new type sharing a storage needs no new case.
enum class Storage : uint8_t { Ints, Doubles, Strings, Values };

Storage storage_of(ColumnType type) {
  if (stored_as_int(type)) return Storage::Ints;
  if (stored_as_string(type)) return Storage::Strings;
  return type == ColumnType::Double ? Storage::Doubles : Storage::Values;
}

/// Canonical text of a temporal value held in `ints`.
std::string format_temporal(ColumnType type, int64_t v) {
  switch (type) {
    case ColumnType::Date:
      return format_date(v);
    case ColumnType::Time:
      return format_time(v);
    case ColumnType::Timestamp:
      return format_timestamp(v, false);
    default:
      return format_timestamp(v, true);
  }
}

/// The stored int of temporal text, nullopt when it is not in a form the type reads.
std::optional<int64_t> parse_temporal(ColumnType type, std::string_view text) {
  switch (type) {
    case ColumnType::Date:
      return parse_date(text);
    case ColumnType::Time:
      return parse_time(text);
    case ColumnType::Timestamp:
      return parse_timestamp(text, false);
    default:
      return parse_timestamp(text, true);
  }
}

/// PostgreSQL numeric text: [+-]digits[.digits] (or .digits), NaN, [+-]Infinity.
bool is_numeric_text(std::string_view s) {
  if (s == "NaN" || s == "Infinity" || s == "-Infinity" || s == "+Infinity") return true;
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  size_t digits = 0;
  auto skip_digits = [&] {
    for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) ++digits;
  };
  skip_digits();
  if (i < s.size() && s[i] == '.') {
    ++i;
    skip_digits();
  }
  return digits > 0 && i == s.size();
}

/// Lower-case "8-4-4-4-12" text of a UUID given in that form, as 32 hex digits, or either in
/// braces (any case); nullopt otherwise.
std::optional<std::string> normalize_uuid(std::string_view s) {
  if (s.size() >= 2 && s.front() == '{' && s.back() == '}') s = s.substr(1, s.size() - 2);
  const bool hyphens = s.size() == 36;
  if (!hyphens && s.size() != 32) return std::nullopt;
  std::string out;
  out.reserve(36);
  for (size_t i = 0; i < s.size(); ++i) {
    if (hyphens && (i == 8 || i == 13 || i == 18 || i == 23)) {
      if (s[i] != '-') return std::nullopt;
      continue;
    }
    const int v = hex_value(s[i]);
    if (v < 0) return std::nullopt;
    if (out.size() == 8 || out.size() == 13 || out.size() == 18 || out.size() == 23) {
      out.push_back('-');
    }
    out.push_back(kHexDigits[v]);
  }
  return out;
}

/// The text a text-stored column keeps for `text`, nullopt when the type cannot hold it.
std::optional<std::string> stored_text(ColumnType type, const std::string& text) {
  switch (type) {
    case ColumnType::Numeric:
      if (is_numeric_text(text)) return text;  // kept as written: the scale is data
      return std::nullopt;
    case ColumnType::Uuid:
      return normalize_uuid(text);
    case ColumnType::Interval: {
      int32_t months = 0, days = 0;
      int64_t micros = 0;
      if (!parse_interval(text, months, days, micros)) return std::nullopt;
      return format_interval(months, days, micros);
    }
    default:
      // Text, Json and Array: the target engine is the judge of JSON and array literals.
      return text;
  }
}

size_t string_heap(const std::string& s) {
  // Short strings live inside the object (small-string optimisation): no heap.
  return s.capacity() >= sizeof(std::string) ? s.capacity() + 1 : 0;
}

}  // namespace

bool stored_as_int(ColumnType type) {
  switch (type) {
    case ColumnType::Bool:
    case ColumnType::Int64:
    case ColumnType::Date:
    case ColumnType::Time:
    case ColumnType::Timestamp:
    case ColumnType::TimestampTz:
      return true;
    default:
      return false;
  }
}

bool stored_as_string(ColumnType type) {
  switch (type) {
    case ColumnType::Text:
    case ColumnType::Blob:
    case ColumnType::Numeric:
    case ColumnType::Uuid:
    case ColumnType::Json:
    case ColumnType::Interval:
    case ColumnType::Array:
      return true;
    default:
      return false;
  }
}

const char* to_string(ColumnType type) {
  switch (type) {
    case ColumnType::Bool:
      return "bool";
    case ColumnType::Int64:
      return "int64";
    case ColumnType::Double:
      return "double";
    case ColumnType::Text:
      return "text";
    case ColumnType::Blob:
      return "blob";
    case ColumnType::Any:
      return "any";
    case ColumnType::Date:
      return "date";
    case ColumnType::Time:
      return "time";
    case ColumnType::Timestamp:
      return "timestamp";
    case ColumnType::TimestampTz:
      return "timestamptz";
    case ColumnType::Numeric:
      return "numeric";
    case ColumnType::Uuid:
      return "uuid";
    case ColumnType::Json:
      return "json";
    case ColumnType::Interval:
      return "interval";
    case ColumnType::Array:
      return "array";
  }
  return "any";
}

ColumnType column_type_from_string(std::string_view name) {
  struct Alias {
    const char* name;
    ColumnType type;
  };
  static constexpr Alias kAliases[] = {
      {"int", ColumnType::Int64},
      {"integer", ColumnType::Int64},
      {"bigint", ColumnType::Int64},
      {"int64", ColumnType::Int64},
      {"real", ColumnType::Double},
      {"double", ColumnType::Double},
      {"float", ColumnType::Double},
      {"text", ColumnType::Text},
      {"string", ColumnType::Text},
      {"varchar", ColumnType::Text},
      {"blob", ColumnType::Blob},
      {"bytes", ColumnType::Blob},
      {"bool", ColumnType::Bool},
      {"boolean", ColumnType::Bool},
      {"any", ColumnType::Any},
      {"date", ColumnType::Date},
      {"time", ColumnType::Time},
      {"timestamp", ColumnType::Timestamp},
      {"datetime", ColumnType::Timestamp},
      {"timestamptz", ColumnType::TimestampTz},
      {"numeric", ColumnType::Numeric},
      {"decimal", ColumnType::Numeric},
      {"uuid", ColumnType::Uuid},
      {"json", ColumnType::Json},
      {"jsonb", ColumnType::Json},
      {"interval", ColumnType::Interval},
      {"array", ColumnType::Array},
  };
  for (const auto& alias : kAliases) {
    if (iequals(name, alias.name)) return alias.type;
  }
  throw_config("column type", std::string(name),
               "one of int, integer, bigint, real, double, float, text, string, varchar, "
               "blob, bytes, bool, boolean, any, date, time, timestamp, datetime, timestamptz, "
               "numeric, decimal, uuid, json, jsonb, interval, array");
}

// --- Value -------------------------------------------------------------------------

std::string Value::to_display() const {
  switch (v_.index()) {
    case 0:
      return "NULL";
    case 1:
      return std::to_string(as_int());
    case 2:
      return format_double(as_double());
    case 3: {
      std::string out = "'";
      for (char c : as_text()) {
        if (c == '\'') out += '\'';
        out += c;
      }
      out += '\'';
      return out;
    }
    default:
      return "x'" + to_hex(as_blob().bytes) + "'";
  }
}

std::string Value::serialize() const {
  switch (v_.index()) {
    case 0:
      return "n:";
    case 1:
      return "i:" + std::to_string(as_int());
    case 2:
      return "d:" + format_double(as_double());
    case 3:
      return "t:" + as_text();
    default:
      return "b:" + to_hex(as_blob().bytes);
  }
}

Value Value::deserialize(std::string_view s) {
  auto bad = [&](const char* why) -> Error {
    return Error(ErrorKind::Internal, fmt::format("cannot read serialised value '{}': {}", s, why));
  };
  if (s.size() < 2 || s[1] != ':') throw bad("expected a type tag such as 'i:'");
  const std::string_view body = s.substr(2);
  switch (s[0]) {
    case 'n':
      if (!body.empty()) throw bad("null carries no payload");
      return Value();
    case 'i': {
      const std::string text(body);
      if (text.empty()) throw bad("empty integer");
      char* end = nullptr;
      errno = 0;
      const long long v = std::strtoll(text.c_str(), &end, 10);
      if (errno != 0 || end != text.c_str() + text.size()) throw bad("not a 64-bit integer");
      return Value(static_cast<int64_t>(v));
    }
    case 'd': {
      const std::string text(body);
      if (text.empty()) throw bad("empty real");
      char* end = nullptr;
      const double v = std::strtod(text.c_str(), &end);
      // Overflow/underflow (ERANGE) cannot come from our own output, which round-trips.
      if (end != text.c_str() + text.size()) throw bad("not a real number");
      return Value(v);
    }
    case 't':
      return Value(std::string(body));
    case 'b': {
      if (body.size() % 2 != 0) throw bad("odd number of hex digits");
      Blob blob;
      blob.bytes.reserve(body.size() / 2);
      for (size_t i = 0; i < body.size(); i += 2) {
        const int hi = hex_value(body[i]), lo = hex_value(body[i + 1]);
        if (hi < 0 || lo < 0) throw bad("not a hex digit");
        blob.bytes.push_back(static_cast<char>(hi * 16 + lo));
      }
      return Value(std::move(blob));
    }
    default:
      throw bad("unknown type tag");
  }
}

bool operator<(const Value& a, const Value& b) {
  const int ra = type_rank(a), rb = type_rank(b);
  if (ra != rb) return ra < rb;
  switch (ra) {
    case 0:
      return false;
    case 1:
      if (a.is_int() && b.is_int()) return a.as_int() < b.as_int();
      if (a.is_double() && b.is_double()) return compare_double(a.as_double(), b.as_double()) < 0;
      if (a.is_int()) return compare_int_double(a.as_int(), b.as_double()) < 0;
      return compare_int_double(b.as_int(), a.as_double()) > 0;
    case 2:
      return a.as_text() < b.as_text();
    default:
      return a.as_blob().bytes < b.as_blob().bytes;
  }
}

// --- Column ------------------------------------------------------------------------

Value Column::get(size_t row) const {
  if (nulls[row]) return Value();
  switch (type) {
    case ColumnType::Bool:
    case ColumnType::Int64:
      return Value(ints[row]);
    case ColumnType::Double:
      return Value(doubles[row]);
    case ColumnType::Text:
      return Value(strings[row]);
    case ColumnType::Blob:
      return Value(Blob{strings[row]});
    case ColumnType::Any:
      return values[row];
    case ColumnType::Date:
    case ColumnType::Time:
    case ColumnType::Timestamp:
    case ColumnType::TimestampTz:
      return Value(format_temporal(type, ints[row]));
    case ColumnType::Numeric:
    case ColumnType::Uuid:
    case ColumnType::Json:
    case ColumnType::Interval:
    case ColumnType::Array:
      return Value(strings[row]);
  }
  return Value();
}

void Column::append(const Value& v) {
  if (v.is_null()) {
    append_null();
    return;
  }
  switch (type) {
    case ColumnType::Bool:
      if (v.is_int() && (v.as_int() == 0 || v.as_int() == 1)) {
        append_int(v.as_int());
        return;
      }
      break;
    case ColumnType::Int64:
      if (v.is_int()) {
        append_int(v.as_int());
        return;
      }
      break;
    case ColumnType::Double:
      if (v.is_double()) {
        append_double(v.as_double());
        return;
      }
      if (v.is_int()) {
        const auto d = static_cast<double>(v.as_int());
        // Only when the real is the same number; 2^63 itself overflows the cast back.
        if (d < 9223372036854775808.0 && static_cast<int64_t>(d) == v.as_int()) {
          append_double(d);
          return;
        }
      }
      break;
    case ColumnType::Text:
      if (v.is_text()) {
        append_string(v.as_text());
        return;
      }
      break;
    case ColumnType::Blob:
      if (v.is_blob()) {
        append_string(v.as_blob().bytes);
        return;
      }
      break;
    case ColumnType::Any:
      values.push_back(v);
      nulls.push_back(0);
      return;
    case ColumnType::Date:
    case ColumnType::Time:
    case ColumnType::Timestamp:
    case ColumnType::TimestampTz:
      // Text only: an int would be read as days or microseconds, a guess at its unit.
      if (v.is_text()) {
        if (auto stored = parse_temporal(type, v.as_text())) {
          append_int(*stored);
          return;
        }
      }
      break;
    case ColumnType::Numeric:
    case ColumnType::Uuid:
    case ColumnType::Json:
    case ColumnType::Interval:
    case ColumnType::Array:
      if (v.is_text()) {
        if (auto stored = stored_text(type, v.as_text())) {
          strings.push_back(std::move(*stored));
          nulls.push_back(0);
          return;
        }
      }
      break;
  }
  promote_to_any();
  values.push_back(v);
  nulls.push_back(0);
}

void Column::append_null() {
  // Typed vectors stay aligned with the null mask: a null row holds a placeholder.
  switch (storage_of(type)) {
    case Storage::Ints:
      ints.push_back(0);
      break;
    case Storage::Doubles:
      doubles.push_back(0.0);
      break;
    case Storage::Strings:
      strings.emplace_back();
      break;
    case Storage::Values:
      values.emplace_back();
      break;
  }
  nulls.push_back(1);
}

void Column::promote_to_any() {
  if (type == ColumnType::Any) return;
  std::vector<Value> converted;
  converted.reserve(std::max(nulls.capacity(), nulls.size() + 1));
  for (size_t row = 0; row < size(); ++row) converted.push_back(get(row));
  values = std::move(converted);
  // Release the typed storage: it is not used again by an Any column.
  std::vector<int64_t>().swap(ints);
  std::vector<double>().swap(doubles);
  std::vector<std::string>().swap(strings);
  type = ColumnType::Any;
}

void Column::clear() {
  ints.clear();
  doubles.clear();
  strings.clear();
  values.clear();
  nulls.clear();
}

void Column::reserve(size_t rows) {
  nulls.reserve(rows);
  switch (storage_of(type)) {
    case Storage::Ints:
      ints.reserve(rows);
      break;
    case Storage::Doubles:
      doubles.reserve(rows);
      break;
    case Storage::Strings:
      strings.reserve(rows);
      break;
    case Storage::Values:
      values.reserve(rows);
      break;
  }
}

size_t Column::byte_size() const {
  size_t bytes = ints.capacity() * sizeof(int64_t) + doubles.capacity() * sizeof(double) +
                 strings.capacity() * sizeof(std::string) + values.capacity() * sizeof(Value) +
                 nulls.capacity() * sizeof(uint8_t) + name.capacity();
  bytes += sampled_heap_bytes(strings, string_heap);
  bytes += sampled_heap_bytes(values, [](const Value& v) -> size_t {
    if (v.is_text()) return string_heap(v.as_text());
    if (v.is_blob()) return string_heap(v.as_blob().bytes);
    return 0;
  });
  return bytes;
}

void Column::filter(const std::vector<uint8_t>& keep) {
  if (keep.size() != size()) {
    throw Error(ErrorKind::Internal, fmt::format("filter of column '{}': {} keep flags for {} rows",
                                                 name, keep.size(), size()));
  }
  switch (storage_of(type)) {
    case Storage::Ints:
      compact(ints, keep);
      break;
    case Storage::Doubles:
      compact(doubles, keep);
      break;
    case Storage::Strings:
      compact(strings, keep);
      break;
    case Storage::Values:
      compact(values, keep);
      break;
  }
  compact(nulls, keep);
}

Column Column::slice(size_t begin, size_t end) const {
  if (begin > end || end > size()) {
    throw Error(ErrorKind::Internal, fmt::format("slice of column '{}': rows [{}, {}) of {}", name,
                                                 begin, end, size()));
  }
  Column out;
  out.name = name;
  out.type = type;
  out.declared_type = declared_type;
  auto part = [&](const auto& from, auto& to) {
    to.assign(from.begin() + static_cast<std::ptrdiff_t>(begin),
              from.begin() + static_cast<std::ptrdiff_t>(end));
  };
  switch (storage_of(type)) {
    case Storage::Ints:
      part(ints, out.ints);
      break;
    case Storage::Doubles:
      part(doubles, out.doubles);
      break;
    case Storage::Strings:
      part(strings, out.strings);
      break;
    case Storage::Values:
      part(values, out.values);
      break;
  }
  part(nulls, out.nulls);
  return out;
}

// --- Batch -------------------------------------------------------------------------

Batch Batch::slice(size_t begin, size_t end) const {
  Batch out;
  out.columns.reserve(columns.size());
  for (const Column& c : columns) out.columns.push_back(c.slice(begin, end));
  return out;
}

int Batch::find(std::string_view name) const {
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].name == name) return static_cast<int>(i);
  }
  for (size_t i = 0; i < columns.size(); ++i) {
    if (iequals(columns[i].name, name)) return static_cast<int>(i);
  }
  return -1;
}

void Batch::filter(const std::vector<uint8_t>& keep) {
  for (auto& column : columns) column.filter(keep);
}

void Batch::clear() {
  for (auto& column : columns) column.clear();
}

size_t Batch::byte_size() const {
  size_t bytes = columns.capacity() * sizeof(Column);
  for (const auto& column : columns) bytes += column.byte_size();
  return bytes;
}

Batch Batch::empty_like() const {
  Batch out;
  out.columns.reserve(columns.size());
  for (const auto& column : columns) {
    Column c;
    c.name = column.name;
    c.type = column.type;
    c.declared_type = column.declared_type;
    out.columns.push_back(std::move(c));
  }
  return out;
}

// --- hashing -----------------------------------------------------------------------

uint64_t hash_row(const std::vector<Value>& row, RowHashVersion version) {
  RowHasher h(version);
  for (const auto& v : row) h.add(v);
  return h.finish();
}

uint64_t hash_rows(const Batch& batch, RowHashVersion version) {
  uint64_t sum = 0;  // unsigned: wraps modulo 2^64 by definition
  const size_t rows = batch.num_rows();
  for (size_t row = 0; row < rows; ++row) {
    RowHasher h(version);
    // Reads the typed storage directly, hashing exactly as hash_row would hash get(row).
    for (const auto& c : batch.columns) {
      if (c.nulls[row]) {
        h.add_null();
        continue;
      }
      switch (c.type) {
        case ColumnType::Bool:
        case ColumnType::Int64:
          h.add_int(c.ints[row]);
          break;
        case ColumnType::Double:
          h.add_double(c.doubles[row]);
          break;
        case ColumnType::Text:
          h.add_text(c.strings[row]);
          break;
        case ColumnType::Blob:
          h.add_blob(c.strings[row]);
          break;
        case ColumnType::Any:
          h.add(c.values[row]);
          break;
        case ColumnType::Date:
        case ColumnType::Time:
        case ColumnType::Timestamp:
        case ColumnType::TimestampTz:
          // Hashed as get() shows it, so a date equals the same date stored as text.
          h.add_text(format_temporal(c.type, c.ints[row]));
          break;
        case ColumnType::Numeric:
        case ColumnType::Uuid:
        case ColumnType::Json:
        case ColumnType::Interval:
        case ColumnType::Array:
          h.add_text(c.strings[row]);
          break;
      }
    }
    sum += h.finish();
  }
  return sum;
}

}  // namespace parmap
