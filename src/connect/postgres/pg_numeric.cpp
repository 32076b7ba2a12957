// PostgreSQL numeric's binary form (base-10000 digits) <-> exact decimal text, never via double.
#include "connect/postgres/pg_numeric.h"

#include <cstdint>
#include <cstring>

namespace parmap::pg {

namespace {

constexpr uint16_t kPos = 0x0000, kNeg = 0x4000, kNaN = 0xC000, kPinf = 0xD000, kNinf = 0xF000;
constexpr int64_t kMaxDscale = 0x3FFF;  // NUMERIC_DSCALE_MAX
constexpr uint16_t kInfinityDscale = 0x20;
constexpr int kPow10[4] = {1, 10, 100, 1000};

uint16_t load16(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint16_t>((u[0] << 8) | u[1]);
}

void store16(char* p, uint16_t v) {
  p[0] = static_cast<char>(v >> 8);
  p[1] = static_cast<char>(v & 0xFF);
}

// Floor division and modulo by 4 for possibly negative decimal powers.
int64_t floor_div4(int64_t x) { return x >= 0 ? x / 4 : -((-x + 3) / 4); }

// Writes the last `count` of a base-10000 digit's four decimal digits, zero-padded.
char* put_group(char* w, int group, int count) {
  char d[4] = {static_cast<char>('0' + group / 1000), static_cast<char>('0' + group / 100 % 10),
               static_cast<char>('0' + group / 10 % 10), static_cast<char>('0' + group % 10)};
  std::memcpy(w, d + (4 - count), static_cast<size_t>(count));
  return w + count;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != b[i]) return false;
  }
  return true;
}

void put_header(std::string& out, uint16_t ndigits, int16_t weight, uint16_t sign,
                uint16_t dscale) {
  char h[8];
  store16(h, ndigits);
  store16(h + 2, static_cast<uint16_t>(weight));
  store16(h + 4, sign);
  store16(h + 6, dscale);
  out.append(h, 8);
}

}  // namespace

bool numeric_to_text(std::string_view bytes, std::string& out) {
  if (bytes.size() < 8) return false;
  const char* p = bytes.data();
  const int ndigits = load16(p);
  const int weight = static_cast<int16_t>(load16(p + 2));
  const uint16_t sign = load16(p + 4);
  const int dscale = load16(p + 6);
  if (bytes.size() != 8 + 2 * static_cast<size_t>(ndigits) || dscale > kMaxDscale) return false;
  switch (sign) {
    case kNaN:
      out.append("NaN");
      return true;
    case kPinf:
      out.append("Infinity");
      return true;
    case kNinf:
      out.append("-Infinity");
      return true;
    case kPos:
    case kNeg:
      break;
    default:
      return false;
  }
  const char* digits = p + 8;
  auto digit = [&](int k) -> int {
    return k >= 0 && k < ndigits ? static_cast<int16_t>(load16(digits + 2 * k)) : 0;
  };
  for (int k = 0; k < ndigits; ++k) {
    const int d = digit(k);
    if (d < 0 || d > 9999) return false;
  }
  // Upper bound: sign, integer groups, point, fraction digits.
  const size_t int_groups = weight >= 0 ? static_cast<size_t>(weight) + 1 : 1;
  const size_t start = out.size();
  out.resize(start + 2 + 4 * int_groups + static_cast<size_t>(dscale));
  char* w = out.data() + start;
  if (sign == kNeg) *w++ = '-';
  bool started = false;
  for (int k = 0; k <= weight; ++k) {
    const int d = digit(k);
    if (started) {
      w = put_group(w, d, 4);
    } else if (d != 0 || k == weight) {
      // The first group prints without its leading zeros.
      const int len = d >= 1000 ? 4 : d >= 100 ? 3 : d >= 10 ? 2 : 1;
      w = put_group(w, d, len);
      started = true;
    }
  }
  if (!started) *w++ = '0';
  if (dscale > 0) {
    *w++ = '.';
    for (int j = 0; j < dscale; j += 4) {
      const int count = dscale - j < 4 ? dscale - j : 4;
      // put_group writes the last `count` digits; fraction groups need the first ones.
      const int group = digit(weight + 1 + j / 4) / kPow10[4 - count];
      w = put_group(w, group, count);
    }
  }
  out.resize(static_cast<size_t>(w - out.data()));
  return true;
}

const char* numeric_from_text(std::string_view text, std::string& out) {
  constexpr const char* kNotANumber = "not a number";
  constexpr const char* kOutOfRange = "out of numeric range";
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  if (iequals(text, "nan")) {
    put_header(out, 0, 0, kNaN, 0);
    return nullptr;
  }
  bool negative = false;
  std::string_view body = text;
  if (!body.empty() && (body.front() == '+' || body.front() == '-')) {
    negative = body.front() == '-';
    body.remove_prefix(1);
  }
  if (iequals(body, "infinity") || iequals(body, "inf")) {
    // numeric_send reads the infinities' dscale from their short header's bits: 32.
    put_header(out, 0, 0, negative ? kNinf : kPinf, kInfinityDscale);
    return nullptr;
  }
  size_t i = 0;
  const size_t int_begin = i;
  while (i < body.size() && body[i] >= '0' && body[i] <= '9') ++i;
  const size_t int_count = i - int_begin;
  size_t frac_begin = i, frac_count = 0;
  if (i < body.size() && body[i] == '.') {
    frac_begin = ++i;
    while (i < body.size() && body[i] >= '0' && body[i] <= '9') ++i;
    frac_count = i - frac_begin;
  }
  if (int_count + frac_count == 0) return kNotANumber;
  int64_t exponent = 0;
  if (i < body.size() && (body[i] == 'e' || body[i] == 'E')) {
    ++i;
    bool exp_negative = false;
    if (i < body.size() && (body[i] == '+' || body[i] == '-')) exp_negative = body[i++] == '-';
    const size_t exp_begin = i;
    while (i < body.size() && body[i] >= '0' && body[i] <= '9') {
      if (exponent < 1'000'000'000) exponent = exponent * 10 + (body[i] - '0');
      ++i;
    }
    if (i == exp_begin) return kNotANumber;
    if (exp_negative) exponent = -exponent;
  }
  if (i != body.size()) return kNotANumber;

  // The digits D = integer digits then fraction digits; the point sits after `point` of them.
  const int64_t n = static_cast<int64_t>(int_count + frac_count);
  auto digit_at = [&](int64_t k) -> int {
    if (k < 0 || k >= n) return 0;
    const auto u = static_cast<size_t>(k);
    return body[u < int_count ? int_begin + u : frac_begin + (u - int_count)] - '0';
  };
  const int64_t point = static_cast<int64_t>(int_count) + exponent;
  const int64_t dscale_wide = static_cast<int64_t>(frac_count) - exponent;
  const int64_t dscale = dscale_wide > 0 ? dscale_wide : 0;
  if (dscale > kMaxDscale) return kOutOfRange;
  int64_t first = 0, last = n - 1;
  while (first < n && digit_at(first) == 0) ++first;
  if (first == n) {
    // Zero: PostgreSQL stores no digits, weight 0 and a positive sign.
    put_header(out, 0, 0, kPos, static_cast<uint16_t>(dscale));
    return nullptr;
  }
  while (digit_at(last) == 0) --last;
  // Decimal power of D[k] is point - 1 - k; base-10000 group g holds powers 4g .. 4g+3.
  const int64_t weight = floor_div4(point - 1 - first);
  const int64_t low = floor_div4(point - 1 - last);
  const int64_t ndigits = weight - low + 1;
  if (weight > INT16_MAX || weight < INT16_MIN || ndigits > UINT16_MAX) return kOutOfRange;
  put_header(out, static_cast<uint16_t>(ndigits), static_cast<int16_t>(weight),
             negative ? kNeg : kPos, static_cast<uint16_t>(dscale));
  const size_t at = out.size();
  out.resize(at + 2 * static_cast<size_t>(ndigits));
  for (int64_t g = 0; g < ndigits; ++g) {
    const int64_t top_power = 4 * (weight - g) + 3;
    int value = 0;
    for (int64_t x = top_power; x > top_power - 4; --x)
      value = value * 10 + digit_at(point - 1 - x);
    store16(out.data() + at + 2 * static_cast<size_t>(g), static_cast<uint16_t>(value));
  }
  return nullptr;
}

}  // namespace parmap::pg
