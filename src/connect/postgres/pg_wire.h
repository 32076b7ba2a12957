// The PostgreSQL binary COPY format's building blocks, shared by the decoder and the encoder:
// big-endian integers, hex, floats as PostgreSQL prints them, the 2000 epoch of dates and
// timestamps, uuid text, and the errors a malformed stream or a refused value raise.
#pragma once

#include <fmt/format.h>

#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>

#include "common/temporal.h"
#include "connect/postgres/pg_copy.h"
#include "parmap/error.h"

namespace parmap::pg::wire {

// --- bytes ---------------------------------------------------------------------------------

constexpr char kSignature[11] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', '\377', '\r', '\n', '\0'};
constexpr size_t kHeaderSize = 19;  // signature, flags, header extension length
constexpr int kMaxArrayDims = 6;    // PostgreSQL's MAXDIM

template <typename T>
inline T load_be(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (std::endian::native == std::endian::little) {
    if constexpr (sizeof(T) == 2) v = __builtin_bswap16(v);
    if constexpr (sizeof(T) == 4) v = __builtin_bswap32(v);
    if constexpr (sizeof(T) == 8) v = __builtin_bswap64(v);
  }
  return v;
}
inline uint16_t ld16(const char* p) { return load_be<uint16_t>(p); }
inline uint32_t ld32(const char* p) { return load_be<uint32_t>(p); }
inline uint64_t ld64(const char* p) { return load_be<uint64_t>(p); }

template <typename T>
inline void store_be(std::string& out, T v) {
  if constexpr (std::endian::native == std::endian::little) {
    if constexpr (sizeof(T) == 2) v = __builtin_bswap16(v);
    if constexpr (sizeof(T) == 4) v = __builtin_bswap32(v);
    if constexpr (sizeof(T) == 8) v = __builtin_bswap64(v);
  }
  char b[sizeof v];
  std::memcpy(b, &v, sizeof v);
  out.append(b, sizeof v);
}
inline void put16(std::string& out, uint16_t v) { store_be(out, v); }
inline void put32(std::string& out, uint32_t v) { store_be(out, v); }
inline void put64(std::string& out, uint64_t v) { store_be(out, v); }

constexpr char kHex[] = "0123456789abcdef";

/// Each byte's value as a hex digit, -1 for any other byte: one load per digit (every uuid of
/// a typed copy is parsed from its text, 32 digits each).
inline constexpr auto kHexValues = [] {
  std::array<signed char, 256> t{};
  for (auto& v : t) v = -1;
  for (int c = '0'; c <= '9'; ++c) t[static_cast<size_t>(c)] = static_cast<signed char>(c - '0');
  for (int c = 'a'; c <= 'f'; ++c) t[static_cast<size_t>(c)] = static_cast<signed char>(c - 'a' + 10);
  for (int c = 'A'; c <= 'F'; ++c) t[static_cast<size_t>(c)] = static_cast<signed char>(c - 'A' + 10);
  return t;
}();

inline int hex_value(char c) { return kHexValues[static_cast<unsigned char>(c)]; }

inline void append_hex(std::string& out, std::string_view bytes) {
  const size_t at = out.size();
  out.resize(at + 2 * bytes.size());
  char* w = out.data() + at;
  for (unsigned char c : bytes) {
    *w++ = kHex[c >> 4];
    *w++ = kHex[c & 0xF];
  }
}

template <typename I>
inline void append_int(std::string& out, I v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// --- errors --------------------------------------------------------------------------------

[[noreturn]] inline void malformed(const std::string& what) {
  throw Error(ErrorKind::Internal, "malformed PostgreSQL binary COPY stream: " + what);
}

[[noreturn]] inline void malformed_field(const PgColumn& col, size_t row, const std::string& what) {
  malformed(fmt::format("column \"{}\" ({}), row {} of the batch: {}", col.name,
                        col.type_name.empty() ? fmt::format("oid {}", col.type_oid) : col.type_name,
                        row + 1, what));
}

inline std::string target_type_name(const PgColumn& col) {
  return col.type_name.empty() ? fmt::format("oid {}", col.type_oid) : col.type_name;
}

[[noreturn]] inline void refuse(const PgColumn& col, size_t row, std::string_view value,
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
inline size_t format_pg_float(F v, int fixed_limit, char* buf) {
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

inline void append_float8(std::string& out, double v) {
  char buf[64];
  out.append(buf, format_pg_float(v, 15, buf));
}

inline void append_float4(std::string& out, float v) {
  char buf[64];
  out.append(buf, format_pg_float(v, 6, buf));
}

// --- temporal conversions between PostgreSQL's 2000 epoch and the Batch's 1970 epoch -------

// PostgreSQL's finite ranges (julian day 0 = 4714-11-24 BC up to 5874898 AD for dates,
// 294277 AD for timestamps), in its own epoch.
constexpr int64_t kPgMinDate = -2451545, kPgEndDate = 2145031949;
constexpr int64_t kPgMinTimestamp = -211813488000000000LL;
constexpr int64_t kPgEndTimestamp = 9223371331200000000LL;

inline int64_t date_from_pg(int32_t v) {
  if (v == std::numeric_limits<int32_t>::max()) return kInfinity;
  if (v == std::numeric_limits<int32_t>::min()) return kMinusInfinity;
  return int64_t{v} + kPgEpochDays;
}

inline bool timestamp_from_pg(int64_t v, int64_t& out) {
  if (v == std::numeric_limits<int64_t>::max()) {
    out = kInfinity;
  } else if (v == std::numeric_limits<int64_t>::min()) {
    out = kMinusInfinity;
  } else if (__builtin_add_overflow(v, kPgEpochMicros, &out) || out == kInfinity) {
    return false;
  }
  return true;
}

inline bool date_to_pg(int64_t days, int32_t& out) {
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

inline bool timestamp_to_pg(int64_t micros, int64_t& out) {
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

inline void append_uuid_text(std::string& out, const char* p) {
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
inline bool parse_uuid(std::string_view s, char* bytes) {
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


}  // namespace parmap::pg::wire
