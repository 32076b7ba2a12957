// PostgreSQL binary COPY codec: stream -> Batch decoding, Batch -> binary/text encoding, hashing.
#include "connect/postgres/pg_copy.h"

#include <fmt/format.h>

#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include "common/hash.h"
#include "common/temporal.h"
#include "connect/postgres/pg_numeric.h"
#include "parmap/error.h"

namespace parmap::pg {

namespace {

// --- bytes ---------------------------------------------------------------------------------

constexpr char kSignature[11] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', '\377', '\r', '\n', '\0'};
constexpr size_t kHeaderSize = 19;  // signature, flags, header extension length
constexpr int kMaxArrayDims = 6;    // PostgreSQL's MAXDIM

template <typename T>
T load_be(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (std::endian::native == std::endian::little) {
    if constexpr (sizeof(T) == 2) v = __builtin_bswap16(v);
    if constexpr (sizeof(T) == 4) v = __builtin_bswap32(v);
    if constexpr (sizeof(T) == 8) v = __builtin_bswap64(v);
  }
  return v;
}
uint16_t ld16(const char* p) { return load_be<uint16_t>(p); }
uint32_t ld32(const char* p) { return load_be<uint32_t>(p); }
uint64_t ld64(const char* p) { return load_be<uint64_t>(p); }

template <typename T>
void store_be(std::string& out, T v) {
  if constexpr (std::endian::native == std::endian::little) {
    if constexpr (sizeof(T) == 2) v = __builtin_bswap16(v);
    if constexpr (sizeof(T) == 4) v = __builtin_bswap32(v);
    if constexpr (sizeof(T) == 8) v = __builtin_bswap64(v);
  }
  char b[sizeof v];
  std::memcpy(b, &v, sizeof v);
  out.append(b, sizeof v);
}
void put16(std::string& out, uint16_t v) { store_be(out, v); }
void put32(std::string& out, uint32_t v) { store_be(out, v); }
void put64(std::string& out, uint64_t v) { store_be(out, v); }

constexpr char kHex[] = "0123456789abcdef";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void append_hex(std::string& out, std::string_view bytes) {
  const size_t at = out.size();
  out.resize(at + 2 * bytes.size());
  char* w = out.data() + at;
  for (unsigned char c : bytes) {
    *w++ = kHex[c >> 4];
    *w++ = kHex[c & 0xF];
  }
}

template <typename I>
void append_int(std::string& out, I v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// --- errors --------------------------------------------------------------------------------

[[noreturn]] void malformed(const std::string& what) {
  throw Error(ErrorKind::Internal, "malformed PostgreSQL binary COPY stream: " + what);
}

[[noreturn]] void malformed_field(const PgColumn& col, size_t row, const std::string& what) {
  malformed(fmt::format("column \"{}\" ({}), row {} of the batch: {}", col.name,
                        col.type_name.empty() ? fmt::format("oid {}", col.type_oid) : col.type_name,
                        row + 1, what));
}

std::string target_type_name(const PgColumn& col) {
  return col.type_name.empty() ? fmt::format("oid {}", col.type_oid) : col.type_name;
}

[[noreturn]] void refuse(const PgColumn& col, size_t row, std::string_view value,
                         std::string_view reason) {
  constexpr size_t kMaxShown = 80;
  std::string shown(value.substr(0, kMaxShown));
  if (value.size() > kMaxShown) shown += "...";
  throw Error(ErrorKind::Data,
              fmt::format("column \"{}\" ({}), row {} of the batch: value '{}' {}", col.name,
                          target_type_name(col), row + 1, shown, reason));
}

// --- floats as PostgreSQL prints them ------------------------------------------------------

// Shortest round-trip text in PostgreSQL's layout (float4out/float8out with the default
// extra_float_digits = 1): fixed notation for decimal exponents in [-4, fixed_limit),
// otherwise "1e+20"; "NaN", "Infinity", "-Infinity". `buf` holds at least 64 chars.
template <typename F>
size_t format_pg_float(F v, int fixed_limit, char* buf) {
  if (std::isnan(v)) return std::strlen(std::strcpy(buf, "NaN"));
  if (std::isinf(v)) return std::strlen(std::strcpy(buf, v > 0 ? "Infinity" : "-Infinity"));
  auto r = std::to_chars(buf, buf + 64, v, std::chars_format::scientific);
  const char* e = r.ptr;
  while (*--e != 'e') {
  }
  int exponent = 0;
  std::from_chars(e + (e[1] == '+' ? 2 : 1), r.ptr, exponent);
  if (exponent >= -4 && exponent < fixed_limit) {
    r = std::to_chars(buf, buf + 64, v, std::chars_format::fixed);
  }
  return static_cast<size_t>(r.ptr - buf);
}

void append_float8(std::string& out, double v) {
  char buf[64];
  out.append(buf, format_pg_float(v, 15, buf));
}

void append_float4(std::string& out, float v) {
  char buf[64];
  out.append(buf, format_pg_float(v, 6, buf));
}

// --- temporal conversions between PostgreSQL's 2000 epoch and the Batch's 1970 epoch -------

// PostgreSQL's finite ranges (julian day 0 = 4714-11-24 BC up to 5874898 AD for dates,
// 294277 AD for timestamps), in its own epoch.
constexpr int64_t kPgMinDate = -2451545, kPgEndDate = 2145031949;
constexpr int64_t kPgMinTimestamp = -211813488000000000LL;
constexpr int64_t kPgEndTimestamp = 9223371331200000000LL;

int64_t date_from_pg(int32_t v) {
  if (v == std::numeric_limits<int32_t>::max()) return kInfinity;
  if (v == std::numeric_limits<int32_t>::min()) return kMinusInfinity;
  return int64_t{v} + kPgEpochDays;
}

bool timestamp_from_pg(int64_t v, int64_t& out) {
  if (v == std::numeric_limits<int64_t>::max()) {
    out = kInfinity;
  } else if (v == std::numeric_limits<int64_t>::min()) {
    out = kMinusInfinity;
  } else if (__builtin_add_overflow(v, kPgEpochMicros, &out) || out == kInfinity) {
    return false;
  }
  return true;
}

bool date_to_pg(int64_t days, int32_t& out) {
  if (days == kInfinity) {
    out = std::numeric_limits<int32_t>::max();
  } else if (days == kMinusInfinity) {
    out = std::numeric_limits<int32_t>::min();
  } else {
    if (days < kPgMinDate + kPgEpochDays || days >= kPgEndDate + kPgEpochDays) return false;
    out = static_cast<int32_t>(days - kPgEpochDays);
  }
  return true;
}

bool timestamp_to_pg(int64_t micros, int64_t& out) {
  if (micros == kInfinity) {
    out = std::numeric_limits<int64_t>::max();
  } else if (micros == kMinusInfinity) {
    out = std::numeric_limits<int64_t>::min();
  } else {
    if (__builtin_sub_overflow(micros, kPgEpochMicros, &out)) return false;
    if (out < kPgMinTimestamp || out >= kPgEndTimestamp) return false;
  }
  return true;
}

void append_uuid_text(std::string& out, const char* p) {
  const size_t at = out.size();
  out.resize(at + 36);
  char* w = out.data() + at;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) *w++ = '-';
    const auto c = static_cast<unsigned char>(p[i]);
    *w++ = kHex[c >> 4];
    *w++ = kHex[c & 0xF];
  }
}

// Parses uuid_in's forms (optional braces, a hyphen allowed after any four hex digits) into
// 16 bytes.
bool parse_uuid(std::string_view s, char* bytes) {
  if (!s.empty() && s.front() == '{') {
    if (s.size() < 2 || s.back() != '}') return false;
    s = s.substr(1, s.size() - 2);
  }
  size_t i = 0;
  for (int n = 0; n < 16; ++n) {
    if (n > 0 && n % 2 == 0 && i < s.size() && s[i] == '-') ++i;
    if (i + 2 > s.size()) return false;
    const int hi = hex_value(s[i]), lo = hex_value(s[i + 1]);
    if (hi < 0 || lo < 0) return false;
    bytes[n] = static_cast<char>(hi << 4 | lo);
    i += 2;
  }
  return i == s.size();
}

// --- Column storage ------------------------------------------------------------------------

void append_null_placeholder(Column& c) {
  // Typed vectors stay aligned with the null mask (see ColumnType).
  switch (c.type) {
    case ColumnType::Double:
      c.doubles.push_back(0.0);
      break;
    case ColumnType::Any:
      c.values.emplace_back();
      break;
    default:
      if (stored_as_int(c.type)) {
        c.ints.push_back(0);
      } else {
        c.strings.emplace_back();
      }
  }
  c.nulls.push_back(1);
}

void reserve_rows(Column& c, size_t rows) {
  c.nulls.reserve(rows);
  if (c.type == ColumnType::Double) {
    c.doubles.reserve(rows);
  } else if (c.type == ColumnType::Any) {
    c.values.reserve(rows);
  } else if (stored_as_int(c.type)) {
    c.ints.reserve(rows);
  } else {
    c.strings.reserve(rows);
  }
}

// Appends an empty string to the column and returns it for filling in place.
std::string& new_string(Column& c) {
  c.nulls.push_back(0);
  return c.strings.emplace_back();
}

// --- decoding ------------------------------------------------------------------------------

// Consumes the stream header at the start of `buf`; returns its size, or 0 when `buf` does
// not hold all of it yet. Throws on a wrong signature or a critical flag (bits 16-31,
// including "OIDs included", which PostgreSQL 12 and later never send).
size_t parse_header(std::string_view buf) {
  const size_t n = buf.size() < sizeof kSignature ? buf.size() : sizeof kSignature;
  if (std::memcmp(buf.data(), kSignature, n) != 0) malformed("bad signature");
  if (buf.size() < kHeaderSize) return 0;
  const uint32_t flags = ld32(buf.data() + 11);
  if ((flags & 0xFFFF0000u) != 0) malformed(fmt::format("unsupported header flags {:#x}", flags));
  const uint32_t extension = ld32(buf.data() + 15);
  if (extension > (1u << 30)) malformed("header extension too long");
  if (buf.size() < kHeaderSize + extension) return 0;
  return kHeaderSize + extension;
}

// The length of the tuple at `p` (field count first) when `avail` bytes hold all of it,
// else 0. Fields of length -1 are NULL; other negative lengths throw.
size_t complete_tuple_length(const char* p, size_t avail, int fields) {
  size_t pos = 2;
  for (int i = 0; i < fields; ++i) {
    if (avail - pos < 4) return 0;
    const auto len = static_cast<int32_t>(ld32(p + pos));
    pos += 4;
    if (len < 0) {
      if (len != -1) malformed(fmt::format("negative field length {}", len));
      continue;
    }
    if (avail - pos < static_cast<size_t>(len)) return 0;
    pos += static_cast<size_t>(len);
  }
  return pos;
}

bool is_array_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// Quotes the array element text at s[start..] as array_out does: when it is empty, "NULL" in
// any case, or holds a quote, backslash, brace, comma or white space; quotes and
// backslashes get a backslash. Done in place, without a temporary.
void quote_array_element(std::string& s, size_t start) {
  const size_t n = s.size() - start;
  const char* b = s.data() + start;
  bool need = n == 0;
  if (n == 4) {
    need = (b[0] | 0x20) == 'n' && (b[1] | 0x20) == 'u' && (b[2] | 0x20) == 'l' &&
           (b[3] | 0x20) == 'l';
  }
  size_t escapes = 0;
  for (size_t i = 0; i < n; ++i) {
    const char c = b[i];
    if (c == '"' || c == '\\') {
      ++escapes;
      need = true;
    } else if (c == '{' || c == '}' || c == ',' || is_array_space(c)) {
      need = true;
    }
  }
  if (!need) return;
  size_t src = s.size();
  s.resize(s.size() + 2 + escapes);
  char* d = s.data();
  size_t dst = s.size();
  d[--dst] = '"';
  while (src > start) {
    const char c = d[--src];
    d[--dst] = c;
    if (c == '"' || c == '\\') d[--dst] = '\\';
  }
  d[--dst] = '"';
}

// Appends the text of one array element of type `eoid` (as the scalar decoders and
// PostgreSQL's output functions render it). Returns false when its length is wrong.
bool append_element_text(uint32_t eoid, const char* p, size_t len, std::string& out) {
  auto need = [&](size_t n) { return len == n; };
  switch (eoid) {
    case oid::kBool:
      if (!need(1)) return false;
      out.push_back(p[0] != 0 ? 't' : 'f');
      return true;
    case oid::kInt2:
      if (!need(2)) return false;
      append_int(out, static_cast<int16_t>(ld16(p)));
      return true;
    case oid::kInt4:
      if (!need(4)) return false;
      append_int(out, static_cast<int32_t>(ld32(p)));
      return true;
    case oid::kOid:
      if (!need(4)) return false;
      append_int(out, ld32(p));
      return true;
    case oid::kInt8:
      if (!need(8)) return false;
      append_int(out, static_cast<int64_t>(ld64(p)));
      return true;
    case oid::kFloat4:
      if (!need(4)) return false;
      append_float4(out, std::bit_cast<float>(ld32(p)));
      return true;
    case oid::kFloat8:
      if (!need(8)) return false;
      append_float8(out, std::bit_cast<double>(ld64(p)));
      return true;
    case oid::kNumeric:
      return numeric_to_text(std::string_view(p, len), out);
    case oid::kJsonb:
      if (len < 1 || p[0] != 1) return false;
      out.append(p + 1, len - 1);
      return true;
    case oid::kBytea:
      out.append("\\x");
      append_hex(out, std::string_view(p, len));
      return true;
    case oid::kDate:
      if (!need(4)) return false;
      out.append(format_date(date_from_pg(static_cast<int32_t>(ld32(p)))));
      return true;
    case oid::kTime:
      if (!need(8)) return false;
      out.append(format_time(static_cast<int64_t>(ld64(p))));
      return true;
    case oid::kTimestamp:
    case oid::kTimestampTz: {
      int64_t v = 0;
      if (!need(8) || !timestamp_from_pg(static_cast<int64_t>(ld64(p)), v)) return false;
      out.append(format_timestamp(v, eoid == oid::kTimestampTz));
      return true;
    }
    case oid::kInterval:
      if (!need(16)) return false;
      out.append(format_interval(static_cast<int32_t>(ld32(p + 12)),
                                 static_cast<int32_t>(ld32(p + 8)), static_cast<int64_t>(ld64(p))));
      return true;
    case oid::kUuid:
      if (!need(16)) return false;
      append_uuid_text(out, p);
      return true;
    default:  // text, varchar, bpchar, name, "char", json
      out.append(p, len);
      return true;
  }
}

// Renders a binary array (array_send's layout) as a PostgreSQL array literal.
class ArrayFormatter {
 public:
  ArrayFormatter(const PgColumn& col, size_t row, const char* p, size_t len)
      : col_(col), row_(row), p_(p), end_(p + len) {}

  void format(std::string& out) {
    if (end_ - p_ < 12) bad("array header truncated");
    const auto ndim = static_cast<int32_t>(ld32(p_));
    const uint32_t flags = ld32(p_ + 4);
    eoid_ = ld32(p_ + 8);
    p_ += 12;
    if (ndim < 0 || ndim > kMaxArrayDims) bad(fmt::format("{} array dimensions", ndim));
    if (flags > 1) bad(fmt::format("array flags {}", flags));
    if (eoid_ != element_oid(col_.type_oid)) bad(fmt::format("array element oid {}", eoid_));
    if (end_ - p_ < 8 * ndim) bad("array dimensions truncated");
    ndim_ = ndim;
    bool default_bounds = true;
    int64_t elements = 1;
    for (int d = 0; d < ndim_; ++d) {
      dims_[d] = static_cast<int32_t>(ld32(p_));
      lower_[d] = static_cast<int32_t>(ld32(p_ + 4));
      p_ += 8;
      if (dims_[d] < 0) bad("negative array dimension");
      elements *= dims_[d];
      // Every element takes at least its 4-byte length.
      if (elements > (end_ - p_) / 4 + 1) bad("array shorter than its dimensions");
      default_bounds = default_bounds && lower_[d] == 1;
    }
    out.reserve(out.size() + static_cast<size_t>(end_ - p_) + 2 * ndim_ + 8);
    if (ndim_ == 0) {
      out.append("{}");
    } else {
      if (!default_bounds) {
        for (int d = 0; d < ndim_; ++d) {
          out.push_back('[');
          append_int(out, lower_[d]);
          out.push_back(':');
          append_int(out, int64_t{lower_[d]} + dims_[d] - 1);
          out.push_back(']');
        }
        out.push_back('=');
      }
      emit(0, out);
    }
    if (p_ != end_) bad("trailing bytes after the array's elements");
  }

 private:
  void emit(int dim, std::string& out) {
    out.push_back('{');
    for (int32_t i = 0; i < dims_[dim]; ++i) {
      if (i > 0) out.push_back(',');
      if (dim + 1 < ndim_) {
        emit(dim + 1, out);
        continue;
      }
      if (end_ - p_ < 4) bad("array element truncated");
      const auto len = static_cast<int32_t>(ld32(p_));
      p_ += 4;
      if (len == -1) {
        out.append("NULL");
        continue;
      }
      if (len < 0 || end_ - p_ < len) bad("array element truncated");
      const size_t start = out.size();
      if (!append_element_text(eoid_, p_, static_cast<size_t>(len), out)) {
        bad(fmt::format("array element of {} bytes", len));
      }
      p_ += len;
      quote_array_element(out, start);
    }
    out.push_back('}');
  }

  [[noreturn]] void bad(const std::string& what) { malformed_field(col_, row_, what); }

  const PgColumn& col_;
  size_t row_;
  const char* p_;
  const char* end_;
  uint32_t eoid_ = 0;
  int ndim_ = 0;
  int32_t dims_[kMaxArrayDims] = {};
  int32_t lower_[kMaxArrayDims] = {};
};

// Appends one non-null field to its column.
void decode_value(const PgColumn& pc, const char* p, size_t len, Column& c) {
  auto need = [&](size_t n) {
    if (len != n) malformed_field(pc, c.size(), fmt::format("field of {} bytes", len));
  };
  switch (pc.type_oid) {
    case oid::kInt2:
      need(2);
      c.append_int(static_cast<int16_t>(ld16(p)));
      return;
    case oid::kInt4:
      need(4);
      c.append_int(static_cast<int32_t>(ld32(p)));
      return;
    case oid::kOid:
      need(4);
      c.append_int(ld32(p));
      return;
    case oid::kInt8:
    case oid::kTime:
      need(8);
      c.append_int(static_cast<int64_t>(ld64(p)));
      return;
    case oid::kBool:
      need(1);
      c.append_int(p[0] != 0 ? 1 : 0);
      return;
    case oid::kFloat4:
      need(4);
      c.append_double(std::bit_cast<float>(ld32(p)));
      return;
    case oid::kFloat8:
      need(8);
      c.append_double(std::bit_cast<double>(ld64(p)));
      return;
    case oid::kDate:
      need(4);
      c.append_int(date_from_pg(static_cast<int32_t>(ld32(p))));
      return;
    case oid::kTimestamp:
    case oid::kTimestampTz: {
      need(8);
      int64_t v = 0;
      if (!timestamp_from_pg(static_cast<int64_t>(ld64(p)), v)) {
        malformed_field(pc, c.size(), "timestamp out of range");
      }
      c.append_int(v);
      return;
    }
    case oid::kNumeric:
      if (!numeric_to_text(std::string_view(p, len), new_string(c))) {
        c.strings.pop_back();
        c.nulls.pop_back();
        malformed_field(pc, c.size(), fmt::format("bad numeric of {} bytes", len));
      }
      return;
    case oid::kInterval:
      need(16);
      c.strings.push_back(format_interval(static_cast<int32_t>(ld32(p + 12)),
                                          static_cast<int32_t>(ld32(p + 8)),
                                          static_cast<int64_t>(ld64(p))));
      c.nulls.push_back(0);
      return;
    case oid::kUuid:
      need(16);
      append_uuid_text(new_string(c), p);
      return;
    case oid::kJsonb:
      if (len < 1 || p[0] != 1) malformed_field(pc, c.size(), "jsonb version is not 1");
      c.append_string(std::string_view(p + 1, len - 1));
      return;
    default:
      break;
  }
  if (element_oid(pc.type_oid) != 0) {
    ArrayFormatter formatter(pc, c.size(), p, len);
    std::string& s = new_string(c);
    try {
      formatter.format(s);
    } catch (...) {
      c.strings.pop_back();
      c.nulls.pop_back();
      throw;
    }
    return;
  }
  // Text types, bytea, json, and types parmap does not know (whose driver selects them cast
  // to text): the bytes as they are.
  c.append_string(std::string_view(p, len));
}

// Decodes every complete tuple at the start of `buf` into `out`; returns the bytes consumed.
size_t decode_stream(std::string_view buf, const std::vector<PgColumn>& cols, bool& header_done,
                     bool& finished, Batch& out, size_t& rows) {
  size_t pos = 0;
  if (!header_done) {
    pos = parse_header(buf);
    if (pos == 0) return 0;
    header_done = true;
  }
  const int fields = static_cast<int>(cols.size());
  bool reserved = false;
  while (buf.size() - pos >= 2) {
    const char* t = buf.data() + pos;
    const auto count = static_cast<int16_t>(ld16(t));
    if (count == -1) {
      finished = true;
      pos += 2;
      if (pos != buf.size()) malformed("data after the trailer");
      return pos;
    }
    if (count != fields) {
      malformed(fmt::format("a row of {} fields for {} columns (row {} of the batch)", count,
                            fields, out.num_rows() + 1));
    }
    const size_t len = complete_tuple_length(t, buf.size() - pos, fields);
    if (len == 0) break;
    if (!reserved && buf.size() - pos > 16 * len) {
      // A large piece: size the columns once instead of growing them repeatedly.
      const size_t expect = out.num_rows() + (buf.size() - pos) / len + 1;
      for (Column& c : out.columns) reserve_rows(c, expect);
    }
    reserved = true;
    const char* f = t + 2;
    for (int i = 0; i < fields; ++i) {
      const auto flen = static_cast<int32_t>(ld32(f));
      f += 4;
      Column& c = out.columns[static_cast<size_t>(i)];
      if (flen < 0) {
        append_null_placeholder(c);
        continue;
      }
      decode_value(cols[static_cast<size_t>(i)], f, static_cast<size_t>(flen), c);
      f += flen;
    }
    pos += len;
    ++rows;
  }
  return pos;
}

// --- encoding ------------------------------------------------------------------------------

enum class Enc : uint8_t {
  None,
  Int2,
  Int4,
  Int8,
  Oid,
  Float4,
  Float8,
  Bool,
  Text,
  Jsonb,
  NumericText,
  NumericInt,
  NumericDouble,
  Bytea,
  Date,
  Time,
  Timestamp,
  Uuid,
  Interval,
};

Enc binary_encoding(ColumnType type, uint32_t target) {
  switch (type) {
    case ColumnType::Int64:
      switch (target) {
        case oid::kInt2:
          return Enc::Int2;
        case oid::kInt4:
          return Enc::Int4;
        case oid::kInt8:
          return Enc::Int8;
        case oid::kOid:
          return Enc::Oid;
        case oid::kNumeric:
          return Enc::NumericInt;
        default:
          return Enc::None;
      }
    case ColumnType::Double:
      switch (target) {
        case oid::kFloat4:
          return Enc::Float4;
        case oid::kFloat8:
          return Enc::Float8;
        case oid::kNumeric:
          return Enc::NumericDouble;
        default:
          return Enc::None;
      }
    case ColumnType::Bool:
      return target == oid::kBool ? Enc::Bool : Enc::None;
    case ColumnType::Text:
    case ColumnType::Json:
      switch (target) {
        case oid::kText:
        case oid::kVarchar:
        case oid::kBpchar:
        case oid::kName:
        case oid::kJson:
          return Enc::Text;
        case oid::kJsonb:
          return Enc::Jsonb;
        default:
          return Enc::None;
      }
    case ColumnType::Numeric:
      return target == oid::kNumeric ? Enc::NumericText : Enc::None;
    case ColumnType::Blob:
      return target == oid::kBytea ? Enc::Bytea : Enc::None;
    case ColumnType::Date:
      return target == oid::kDate ? Enc::Date : Enc::None;
    case ColumnType::Time:
      return target == oid::kTime ? Enc::Time : Enc::None;
    case ColumnType::Timestamp:
    case ColumnType::TimestampTz:
      return target == oid::kTimestamp || target == oid::kTimestampTz ? Enc::Timestamp : Enc::None;
    case ColumnType::Uuid:
      return target == oid::kUuid ? Enc::Uuid : Enc::None;
    case ColumnType::Interval:
      return target == oid::kInterval ? Enc::Interval : Enc::None;
    default:
      return Enc::None;
  }
}

void check_column_count(const Batch& batch, const std::vector<PgColumn>& target) {
  if (batch.num_columns() != target.size()) {
    throw Error(ErrorKind::Schema, fmt::format("a batch of {} columns for a COPY into {} columns",
                                               batch.num_columns(), target.size()));
  }
}

// Appends a numeric field (length + bytes) for decimal text.
void put_numeric(std::string& out, std::string_view text, const PgColumn& col, size_t row) {
  const size_t at = out.size();
  put32(out, 0);
  if (const char* reason = numeric_from_text(text, out)) {
    out.resize(at);
    refuse(col, row, text, std::string("is ") + reason);
  }
  const auto len = static_cast<uint32_t>(out.size() - at - 4);
  const uint32_t be = std::endian::native == std::endian::little ? __builtin_bswap32(len) : len;
  std::memcpy(out.data() + at, &be, 4);
}

void encode_field(Enc enc, const Column& c, size_t row, const PgColumn& col, std::string& out) {
  switch (enc) {
    case Enc::Int2:
    case Enc::Int4:
    case Enc::Oid: {
      const int64_t v = c.ints[row];
      const bool fits = enc == Enc::Int2   ? v >= INT16_MIN && v <= INT16_MAX
                        : enc == Enc::Int4 ? v >= INT32_MIN && v <= INT32_MAX
                                           : v >= 0 && v <= UINT32_MAX;
      if (!fits) refuse(col, row, std::to_string(v), "is out of range");
      if (enc == Enc::Int2) {
        put32(out, 2);
        put16(out, static_cast<uint16_t>(v));
      } else {
        put32(out, 4);
        put32(out, static_cast<uint32_t>(v));
      }
      return;
    }
    case Enc::Int8:
    case Enc::Time:
      if (enc == Enc::Time && (c.ints[row] < 0 || c.ints[row] > kMicrosPerDay)) {
        refuse(col, row, format_time(c.ints[row]), "is not a time of day");
      }
      put32(out, 8);
      put64(out, static_cast<uint64_t>(c.ints[row]));
      return;
    case Enc::Bool:
      put32(out, 1);
      out.push_back(c.ints[row] != 0 ? 1 : 0);
      return;
    case Enc::Float4: {
      const double v = c.doubles[row];
      if (std::isfinite(v) && std::fabs(v) > std::numeric_limits<float>::max()) {
        std::string text;
        append_float8(text, v);
        refuse(col, row, text, "is out of range for real");
      }
      put32(out, 4);
      put32(out, std::bit_cast<uint32_t>(static_cast<float>(v)));
      return;
    }
    case Enc::Float8:
      put32(out, 8);
      put64(out, std::bit_cast<uint64_t>(c.doubles[row]));
      return;
    case Enc::Text:
    case Enc::Bytea: {
      const std::string& s = c.strings[row];
      put32(out, static_cast<uint32_t>(s.size()));
      out.append(s);
      return;
    }
    case Enc::Jsonb: {
      const std::string& s = c.strings[row];
      put32(out, static_cast<uint32_t>(s.size() + 1));
      out.push_back(1);
      out.append(s);
      return;
    }
    case Enc::NumericText:
      put_numeric(out, c.strings[row], col, row);
      return;
    case Enc::NumericInt: {
      char buf[24];
      const auto r = std::to_chars(buf, buf + sizeof buf, c.ints[row]);
      put_numeric(out, std::string_view(buf, static_cast<size_t>(r.ptr - buf)), col, row);
      return;
    }
    case Enc::NumericDouble: {
      const double v = c.doubles[row];
      // Fixed notation of the shortest round-trip digits: at most ~330 characters.
      char buf[400];
      size_t n = 0;
      if (std::isnan(v)) {
        n = std::strlen(std::strcpy(buf, "NaN"));
      } else if (std::isinf(v)) {
        n = std::strlen(std::strcpy(buf, v > 0 ? "Infinity" : "-Infinity"));
      } else {
        n = static_cast<size_t>(
            std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed).ptr - buf);
      }
      put_numeric(out, std::string_view(buf, n), col, row);
      return;
    }
    case Enc::Date: {
      int32_t v = 0;
      if (!date_to_pg(c.ints[row], v))
        refuse(col, row, format_date(c.ints[row]), "is out of range");
      put32(out, 4);
      put32(out, static_cast<uint32_t>(v));
      return;
    }
    case Enc::Timestamp: {
      int64_t v = 0;
      if (!timestamp_to_pg(c.ints[row], v)) {
        refuse(col, row, format_timestamp(c.ints[row], c.type == ColumnType::TimestampTz),
               "is out of range");
      }
      put32(out, 8);
      put64(out, static_cast<uint64_t>(v));
      return;
    }
    case Enc::Uuid: {
      char bytes[16];
      if (!parse_uuid(c.strings[row], bytes)) refuse(col, row, c.strings[row], "is not a uuid");
      put32(out, 16);
      out.append(bytes, 16);
      return;
    }
    case Enc::Interval: {
      int32_t months = 0, days = 0;
      int64_t micros = 0;
      if (!parse_interval(c.strings[row], months, days, micros)) {
        refuse(col, row, c.strings[row], "is not an ISO 8601 interval");
      }
      put32(out, 16);
      put64(out, static_cast<uint64_t>(micros));
      put32(out, static_cast<uint32_t>(days));
      put32(out, static_cast<uint32_t>(months));
      return;
    }
    case Enc::None:
      break;
  }
  throw Error(ErrorKind::Internal, fmt::format("no binary COPY encoding of {} into column \"{}\" "
                                               "({}); use text format",
                                               to_string(c.type), col.name, target_type_name(col)));
}

// Appends `v` with COPY text escapes for backslash, tab, newline and carriage return.
void append_copy_escaped(std::string& out, std::string_view v) {
  size_t run = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    char e;
    switch (v[i]) {
      case '\\':
        e = '\\';
        break;
      case '\t':
        e = 't';
        break;
      case '\n':
        e = 'n';
        break;
      case '\r':
        e = 'r';
        break;
      default:
        continue;
    }
    out.append(v.data() + run, i - run);
    out.push_back('\\');
    out.push_back(e);
    run = i + 1;
  }
  out.append(v.data() + run, v.size() - run);
}

void append_text_bytea(std::string& out, std::string_view bytes) {
  // bytea's input syntax is \x + hex; the backslash itself is escaped for COPY.
  out.append("\\\\x");
  append_hex(out, bytes);
}

void append_text_value(std::string& out, const Column& c, size_t row) {
  switch (c.type) {
    case ColumnType::Bool:
      out.push_back(c.ints[row] != 0 ? 't' : 'f');
      return;
    case ColumnType::Int64:
      append_int(out, c.ints[row]);
      return;
    case ColumnType::Double:
      append_float8(out, c.doubles[row]);
      return;
    case ColumnType::Blob:
      append_text_bytea(out, c.strings[row]);
      return;
    case ColumnType::Date:
      append_copy_escaped(out, format_date(c.ints[row]));
      return;
    case ColumnType::Time:
      append_copy_escaped(out, format_time(c.ints[row]));
      return;
    case ColumnType::Timestamp:
    case ColumnType::TimestampTz:
      append_copy_escaped(out, format_timestamp(c.ints[row], c.type == ColumnType::TimestampTz));
      return;
    case ColumnType::Any: {
      const Value& v = c.values[row];
      if (v.is_null()) {
        out.append("\\N");
      } else if (v.is_int()) {
        append_int(out, v.as_int());
      } else if (v.is_double()) {
        append_float8(out, v.as_double());
      } else if (v.is_text()) {
        append_copy_escaped(out, v.as_text());
      } else {
        append_text_bytea(out, v.as_blob().bytes);
      }
      return;
    }
    default:  // Text, Numeric, Uuid, Json, Interval, Array: text in the input syntax
      append_copy_escaped(out, c.strings[row]);
      return;
  }
}

// --- hashing -------------------------------------------------------------------------------

// Hashes every complete tuple at the start of `buf`; returns the bytes consumed.
size_t hash_stream(std::string_view buf, bool& header_done, int64_t& rows, uint64_t& hash) {
  size_t pos = 0;
  if (!header_done) {
    pos = parse_header(buf);
    if (pos == 0) return 0;
    header_done = true;
  }
  while (buf.size() - pos >= 2) {
    const auto count = static_cast<int16_t>(ld16(buf.data() + pos));
    if (count == -1) {
      // The trailer, and nothing may follow it. It stays pending so that later pieces
      // are checked against it.
      if (pos + 2 != buf.size()) malformed("data after the trailer");
      return pos;
    }
    if (count < 0) malformed(fmt::format("negative field count {}", count));
    const size_t len = complete_tuple_length(buf.data() + pos, buf.size() - pos, count);
    if (len == 0) break;
    hash += hash_bytes(buf.substr(pos, len));
    ++rows;
    pos += len;
  }
  return pos;
}

}  // namespace

// --- types ---------------------------------------------------------------------------------

ColumnType column_type_for_oid(uint32_t type_oid) {
  switch (type_oid) {
    case oid::kInt2:
    case oid::kInt4:
    case oid::kInt8:
    case oid::kOid:
      return ColumnType::Int64;
    case oid::kFloat4:
    case oid::kFloat8:
      return ColumnType::Double;
    case oid::kNumeric:
      return ColumnType::Numeric;
    case oid::kBool:
      return ColumnType::Bool;
    case oid::kDate:
      return ColumnType::Date;
    case oid::kTime:
      return ColumnType::Time;
    case oid::kTimestamp:
      return ColumnType::Timestamp;
    case oid::kTimestampTz:
      return ColumnType::TimestampTz;
    case oid::kInterval:
      return ColumnType::Interval;
    case oid::kUuid:
      return ColumnType::Uuid;
    case oid::kJson:
    case oid::kJsonb:
      return ColumnType::Json;
    case oid::kBytea:
      return ColumnType::Blob;
    default:
      return element_oid(type_oid) != 0 ? ColumnType::Array : ColumnType::Text;
  }
}

uint32_t element_oid(uint32_t array_oid) {
  switch (array_oid) {
    case 1000:
      return oid::kBool;
    case 1001:
      return oid::kBytea;
    case 1002:
      return oid::kChar;
    case 1003:
      return oid::kName;
    case 1005:
      return oid::kInt2;
    case 1007:
      return oid::kInt4;
    case 1009:
      return oid::kText;
    case 1014:
      return oid::kBpchar;
    case 1015:
      return oid::kVarchar;
    case 1016:
      return oid::kInt8;
    case 1021:
      return oid::kFloat4;
    case 1022:
      return oid::kFloat8;
    case 1028:
      return oid::kOid;
    case 199:
      return oid::kJson;
    case 1182:
      return oid::kDate;
    case 1183:
      return oid::kTime;
    case 1115:
      return oid::kTimestamp;
    case 1185:
      return oid::kTimestampTz;
    case 1187:
      return oid::kInterval;
    case 1231:
      return oid::kNumeric;
    case 2951:
      return oid::kUuid;
    case 3807:
      return oid::kJsonb;
    default:
      return 0;
  }
}

bool supported_oid(uint32_t type_oid) {
  switch (type_oid) {
    case oid::kBool:
    case oid::kBytea:
    case oid::kChar:
    case oid::kName:
    case oid::kInt8:
    case oid::kInt2:
    case oid::kInt4:
    case oid::kText:
    case oid::kOid:
    case oid::kJson:
    case oid::kFloat4:
    case oid::kFloat8:
    case oid::kBpchar:
    case oid::kVarchar:
    case oid::kDate:
    case oid::kTime:
    case oid::kTimestamp:
    case oid::kTimestampTz:
    case oid::kInterval:
    case oid::kNumeric:
    case oid::kUuid:
    case oid::kJsonb:
      return true;
    default:
      return element_oid(type_oid) != 0;
  }
}

// --- CopyDecoder ---------------------------------------------------------------------------

CopyDecoder::CopyDecoder(std::vector<PgColumn> columns) : columns_(std::move(columns)) {}

Batch CopyDecoder::make_batch() const {
  Batch batch;
  batch.columns.reserve(columns_.size());
  for (const PgColumn& pc : columns_) {
    Column& c = batch.columns.emplace_back();
    c.name = pc.name;
    c.type = column_type_for_oid(pc.type_oid);
    c.declared_type = pc.type_name;
  }
  return batch;
}

size_t CopyDecoder::feed(std::string_view data, Batch& out) {
  if (out.num_columns() != columns_.size()) {
    throw Error(ErrorKind::Internal, fmt::format("COPY decoder for {} columns given a batch of {}",
                                                 columns_.size(), out.num_columns()));
  }
  if (finished_) {
    if (!data.empty()) malformed("data after the trailer");
    return 0;
  }
  size_t rows = 0;
  if (pending_.empty()) {
    // The usual case (one whole row per CopyData message): decode in place, no copy.
    const size_t used = decode_stream(data, columns_, header_done_, finished_, out, rows);
    pending_.assign(data.substr(used));
  } else {
    pending_.append(data);
    const size_t used = decode_stream(pending_, columns_, header_done_, finished_, out, rows);
    pending_.erase(0, used);
  }
  return rows;
}

// --- CopyEncoder ---------------------------------------------------------------------------

CopyEncoder::CopyEncoder(std::vector<PgColumn> target) : target_(std::move(target)) {}

bool CopyEncoder::binary_ok(const Batch& sample) const {
  if (sample.num_columns() != target_.size()) return false;
  for (size_t i = 0; i < target_.size(); ++i) {
    if (binary_encoding(sample.columns[i].type, target_[i].type_oid) == Enc::None) return false;
  }
  return true;
}

void CopyEncoder::binary_header(std::string& out) {
  out.append(kSignature, sizeof kSignature);
  put32(out, 0);  // flags
  put32(out, 0);  // header extension length
}

void CopyEncoder::binary_trailer(std::string& out) { put16(out, 0xFFFF); }

void CopyEncoder::encode_binary(const Batch& batch, std::string& out) const {
  check_column_count(batch, target_);
  const size_t ncols = target_.size();
  const size_t nrows = batch.num_rows();
  Enc encs[64];
  std::vector<Enc> many;
  Enc* enc = encs;
  if (ncols > 64) {
    many.resize(ncols);
    enc = many.data();
  }
  // Exact size for fixed-width fields, close for the rest: one allocation per batch.
  size_t bytes = nrows * (2 + 4 * ncols);
  for (size_t i = 0; i < ncols; ++i) {
    const Column& c = batch.columns[i];
    enc[i] = binary_encoding(c.type, target_[i].type_oid);
    if (stored_as_string(c.type)) {
      for (const std::string& s : c.strings) bytes += s.size() + 1;
    } else {
      bytes += 8 * nrows;
    }
  }
  out.reserve(out.size() + bytes);
  for (size_t row = 0; row < nrows; ++row) {
    put16(out, static_cast<uint16_t>(ncols));
    for (size_t i = 0; i < ncols; ++i) {
      const Column& c = batch.columns[i];
      if (c.nulls[row] != 0) {
        put32(out, 0xFFFFFFFFu);
      } else {
        encode_field(enc[i], c, row, target_[i], out);
      }
    }
  }
}

void CopyEncoder::encode_text(const Batch& batch, std::string& out) const {
  check_column_count(batch, target_);
  const size_t ncols = target_.size();
  const size_t nrows = batch.num_rows();
  for (size_t row = 0; row < nrows; ++row) {
    for (size_t i = 0; i < ncols; ++i) {
      if (i > 0) out.push_back('\t');
      const Column& c = batch.columns[i];
      if (c.nulls[row] != 0) {
        out.append("\\N");
      } else {
        append_text_value(out, c, row);
      }
    }
    out.push_back('\n');
  }
}

// --- TupleHasher ---------------------------------------------------------------------------

void TupleHasher::feed(std::string_view data) {
  if (pending_.empty()) {
    const size_t used = hash_stream(data, header_done_, rows_, hash_);
    pending_.assign(data.substr(used));
  } else {
    pending_.append(data);
    const size_t used = hash_stream(pending_, header_done_, rows_, hash_);
    pending_.erase(0, used);
  }
}

}  // namespace parmap::pg
