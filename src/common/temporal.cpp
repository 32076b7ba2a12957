// Canonical text forms of dates, times, timestamps and intervals, and their parsers.
#include "common/temporal.h"

#include <fmt/format.h>

#include <charconv>

namespace parmap {

namespace {

constexpr int64_t kMicrosPerSecond = 1'000'000;
constexpr int64_t kMicrosPerMinute = 60 * kMicrosPerSecond;
constexpr int64_t kMicrosPerHour = 60 * kMicrosPerMinute;
// Days in 400 Gregorian years, and from 0000-03-01 to 1970-01-01 (Howard Hinnant's
// days_from_civil / civil_from_days, which count eras of 400 years from a March 1st).
constexpr int64_t kDaysPerEra = 146'097;
constexpr int64_t kEpochShift = 719'468;

struct Civil {
  int64_t year;  // astronomical: 0 is 1 BC, -43 is 44 BC
  int month;
  int day;
};

/// Intermediate width for sums whose parts may overflow int64 while the total does not.
__extension__ using Wide = __int128;

bool fits_int64(Wide v) {
  return v >= std::numeric_limits<int64_t>::min() && v <= std::numeric_limits<int64_t>::max();
}

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

Civil civil_from_days(int64_t z) {
  // Truncating division first, so that no step overflows for any int64 day count.
  const int64_t q = z / kDaysPerEra;
  const int64_t r = z % kDaysPerEra + kEpochShift;  // positive: |z % era| < kEpochShift
  const int64_t era = q + r / kDaysPerEra;
  const int64_t doe = r % kDaysPerEra;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  const int month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  return {yoe + era * 400 + (month <= 2 ? 1 : 0), month, day};
}

bool is_leap(int64_t y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

int days_in_month(int64_t y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[m - 1];
}

/// Days since 1970-01-01 of a valid civil date; nullopt when out of int64 range.
std::optional<int64_t> days_from_civil(Civil c) {
  const int64_t y = c.year - (c.month <= 2 ? 1 : 0);
  const int64_t era = floor_div(y, 400);
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (c.month > 2 ? c.month - 3 : c.month + 9) + 2) / 5 + c.day - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  // era * kDaysPerEra alone may overflow where the sum does not; 128 bits hold any of them.
  const Wide days = Wide{era} * kDaysPerEra + (doe - kEpochShift);
  return fits_int64(days) ? std::optional<int64_t>(static_cast<int64_t>(days)) : std::nullopt;
}

/// "YYYY-MM-DD" (astronomical year in, PostgreSQL's year out) and whether it is BC.
/// Appends `v` in decimal, zero-padded to at least `width` digits. Dates and times are
/// formatted for every row hashed or loaded as text: a format string parsed at run time was a
/// fifth of a typed copy's client time, and fmt's compiled padded fields still a tenth.
void append_padded(std::string& out, uint64_t v, size_t width) {
  char digits[24];
  const size_t n = static_cast<size_t>(std::to_chars(digits, digits + sizeof digits, v).ptr - digits);
  if (n < width) out.append(width - n, '0');
  out.append(digits, n);
}

std::string format_civil(const Civil& c, bool& bc) {
  bc = c.year <= 0;
  std::string out;
  out.reserve(32);
  append_padded(out, static_cast<uint64_t>(bc ? 1 - c.year : c.year), 4);
  out += '-';
  append_padded(out, static_cast<uint64_t>(c.month), 2);
  out += '-';
  append_padded(out, static_cast<uint64_t>(c.day), 2);
  return out;
}

/// "HH:MM:SS[.f]" of a non-negative count of microseconds.
std::string format_hms(uint64_t us) {
  const uint64_t hours = us / kMicrosPerHour;
  const uint64_t minutes = us / kMicrosPerMinute % 60;
  const uint64_t seconds = us / kMicrosPerSecond % 60;
  std::string out;
  out.reserve(16);
  append_padded(out, hours, 2);
  out += ':';
  append_padded(out, minutes, 2);
  out += ':';
  append_padded(out, seconds, 2);
  if (uint64_t frac = us % kMicrosPerSecond; frac != 0) {
    int digits = 6;
    for (; frac % 10 == 0; frac /= 10) --digits;  // no trailing zeros
    char text[8];
    const size_t n = static_cast<size_t>(std::to_chars(text, text + sizeof text, frac).ptr - text);
    out += '.';
    out.append(static_cast<size_t>(digits) - n, '0');
    out.append(text, n);
  }
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (x != b[i]) return false;
  }
  return true;
}

/// PostgreSQL's spellings of the infinities, any case.
std::optional<int64_t> parse_infinity(std::string_view s) {
  if (iequals(s, "infinity") || iequals(s, "+infinity")) return kInfinity;
  if (iequals(s, "-infinity")) return kMinusInfinity;
  return std::nullopt;
}

/// A left-to-right reader over the text being parsed.
class Cursor {
 public:
  explicit Cursor(std::string_view s) : s_(s) {}
  bool done() const { return i_ == s_.size(); }
  char peek() const { return done() ? '\0' : s_[i_]; }
  bool eat(char c) {
    if (peek() != c) return false;
    ++i_;
    return true;
  }
  bool eat(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return false;
    i_ += word.size();
    return true;
  }
  /// Reads between min and max decimal digits (max <= 18, so the value fits int64).
  std::optional<int64_t> digits(size_t min, size_t max, size_t* count = nullptr) {
    int64_t v = 0;
    size_t n = 0;
    while (n < max && !done() && s_[i_] >= '0' && s_[i_] <= '9') {
      v = v * 10 + (s_[i_++] - '0');
      ++n;
    }
    // More digits than allowed is an error, not the start of the next token.
    if (n < min || (!done() && n == max && s_[i_] >= '0' && s_[i_] <= '9')) return std::nullopt;
    if (count) *count = n;
    return v;
  }
  /// '.' and 1 to 6 digits as microseconds, 0 when there is no '.'.
  std::optional<int64_t> fraction() {
    if (!eat('.')) return 0;
    size_t n = 0;
    auto v = digits(1, 6, &n);
    if (!v) return std::nullopt;
    for (; n < 6; ++n) *v *= 10;
    return v;
  }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

/// "YYYY-MM-DD" as written (year >= 1, BC not yet applied); validity checked by the caller.
std::optional<Civil> read_ymd(Cursor& in) {
  auto y = in.digits(4, 18);
  if (!y || !in.eat('-')) return std::nullopt;
  auto m = in.digits(2, 2);
  if (!m || !in.eat('-')) return std::nullopt;
  auto d = in.digits(2, 2);
  if (!d) return std::nullopt;
  return Civil{*y, static_cast<int>(*m), static_cast<int>(*d)};
}

/// Applies an optional " BC" at the cursor and validates the date.
std::optional<int64_t> finish_date(Civil c, Cursor& in) {
  const bool bc = in.eat(" BC");
  if (c.year < 1 || c.month < 1 || c.month > 12) return std::nullopt;
  if (bc) c.year = 1 - c.year;
  if (c.day < 1 || c.day > days_in_month(c.year, c.month)) return std::nullopt;
  return days_from_civil(c);
}

/// "HH:MM:SS[.f]" as microseconds since midnight; 24:00:00 only when allow_24.
std::optional<int64_t> read_hms(Cursor& in, bool allow_24) {
  auto h = in.digits(2, 2);
  if (!h || !in.eat(':')) return std::nullopt;
  auto m = in.digits(2, 2);
  if (!m || !in.eat(':')) return std::nullopt;
  auto s = in.digits(2, 2);
  if (!s) return std::nullopt;
  auto f = in.fraction();
  if (!f || *m > 59 || *s > 59) return std::nullopt;
  const int64_t us = *h * kMicrosPerHour + *m * kMicrosPerMinute + *s * kMicrosPerSecond + *f;
  if (*h > 24 || (*h == 24 && (!allow_24 || us != kMicrosPerDay))) return std::nullopt;
  return us;
}

/// A UTC offset in microseconds: Z, +HH, +HHMM, +HH:MM, +HH:MM:SS or the same with '-'.
std::optional<int64_t> read_offset(Cursor& in) {
  if (in.eat('Z') || in.eat('z')) return 0;
  int64_t sign = 1;
  if (in.eat('-')) {
    sign = -1;
  } else if (!in.eat('+')) {
    return std::nullopt;
  }
  size_t n = 0;
  auto h = in.digits(2, 4, &n);  // HH or HHMM
  if (!h || n == 3) return std::nullopt;
  int64_t m = 0, s = 0;
  if (n == 4) {
    m = *h % 100;
    *h /= 100;
  } else if (in.eat(':')) {
    auto mm = in.digits(2, 2);
    if (!mm) return std::nullopt;
    m = *mm;
    if (in.eat(':')) {
      auto ss = in.digits(2, 2);
      if (!ss) return std::nullopt;
      s = *ss;
    }
  }
  if (*h > 23 || m > 59 || s > 59) return std::nullopt;
  return sign * (*h * kMicrosPerHour + m * kMicrosPerMinute + s * kMicrosPerSecond);
}

/// One signed ISO 8601 duration number: its value and, for seconds, its microseconds.
struct Part {
  int64_t value = 0;   // signed whole units
  int64_t micros = 0;  // signed fraction in microseconds (seconds only)
  bool has_fraction = false;
};

std::optional<Part> read_part(Cursor& in) {
  const bool negative = in.eat('-');
  auto whole = in.digits(1, 18);
  if (!whole) return std::nullopt;
  Part p;
  p.has_fraction = in.peek() == '.';
  auto f = in.fraction();
  if (!f) return std::nullopt;
  p.value = negative ? -*whole : *whole;
  p.micros = negative ? -*f : *f;
  return p;
}

/// total += value * unit, false on overflow.
bool add_scaled(int64_t& total, int64_t value, int64_t unit) {
  int64_t scaled = 0;
  return !__builtin_mul_overflow(value, unit, &scaled) &&
         !__builtin_add_overflow(total, scaled, &total);
}

}  // namespace

std::string format_date(int64_t days_since_1970) {
  if (days_since_1970 == kInfinity) return "infinity";
  if (days_since_1970 == kMinusInfinity) return "-infinity";
  bool bc = false;
  std::string out = format_civil(civil_from_days(days_since_1970), bc);
  if (bc) out += " BC";
  return out;
}

std::optional<int64_t> parse_date(std::string_view text) {
  if (auto inf = parse_infinity(text)) return inf;
  Cursor in(text);
  auto ymd = read_ymd(in);
  if (!ymd) return std::nullopt;
  auto days = finish_date(*ymd, in);
  // The infinities are reserved: a finite date never stores as one.
  if (!days || !in.done() || *days == kInfinity || *days == kMinusInfinity) return std::nullopt;
  return days;
}

std::string format_time(int64_t micros_since_midnight) {
  if (micros_since_midnight < 0) {
    // Appended, not "-" + ...: GCC 12 at -O3 warns (-Wrestrict) on the inlined insert.
    std::string out = "-";
    out += format_hms(0 - static_cast<uint64_t>(micros_since_midnight));
    return out;
  }
  return format_hms(static_cast<uint64_t>(micros_since_midnight));
}

std::optional<int64_t> parse_time(std::string_view text) {
  Cursor in(text);
  auto us = read_hms(in, true);
  if (!us || !in.done()) return std::nullopt;
  return us;
}

std::string format_timestamp(int64_t micros_since_1970, bool with_tz) {
  if (micros_since_1970 == kInfinity) return "infinity";
  if (micros_since_1970 == kMinusInfinity) return "-infinity";
  // Floor division without forming days * kMicrosPerDay, which could overflow.
  int64_t days = micros_since_1970 / kMicrosPerDay;
  int64_t time_of_day = micros_since_1970 % kMicrosPerDay;
  if (time_of_day < 0) {
    time_of_day += kMicrosPerDay;
    --days;
  }
  bool bc = false;
  std::string out = format_civil(civil_from_days(days), bc);
  out += ' ';
  out += format_hms(static_cast<uint64_t>(time_of_day));
  if (with_tz) out += "+00";
  if (bc) out += " BC";
  return out;
}

std::optional<int64_t> parse_timestamp(std::string_view text, bool with_tz) {
  if (auto inf = parse_infinity(text)) return inf;
  Cursor in(text);
  auto ymd = read_ymd(in);
  if (!ymd || !(in.eat(' ') || in.eat('T') || in.eat('t'))) return std::nullopt;
  auto time_of_day = read_hms(in, false);
  if (!time_of_day) return std::nullopt;
  int64_t offset = 0;
  if (with_tz) {
    auto o = read_offset(in);
    if (!o) return std::nullopt;
    offset = *o;
  }
  auto days = finish_date(*ymd, in);
  if (!days || !in.done()) return std::nullopt;
  const Wide us = Wide{*days} * kMicrosPerDay + *time_of_day - offset;
  // The infinities are reserved: a finite instant never stores as one.
  if (!fits_int64(us) || us == kInfinity || us == kMinusInfinity) return std::nullopt;
  return static_cast<int64_t>(us);
}

std::string format_interval(int32_t months, int32_t days, int64_t micros) {
  if (months == 0 && days == 0 && micros == 0) return "PT0S";
  std::string out = "P";
  if (months / 12 != 0) out += fmt::format("{}Y", months / 12);
  if (months % 12 != 0) out += fmt::format("{}M", months % 12);
  if (days != 0) out += fmt::format("{}D", days);
  if (micros != 0) {
    out += 'T';
    // Truncating division keeps every part's sign that of micros; no step can overflow.
    const int64_t hours = micros / kMicrosPerHour;
    const int64_t minutes = micros % kMicrosPerHour / kMicrosPerMinute;
    const int64_t seconds = micros % kMicrosPerMinute;
    if (hours != 0) out += fmt::format("{}H", hours);
    if (minutes != 0) out += fmt::format("{}M", minutes);
    if (seconds != 0) {
      const int64_t magnitude = seconds < 0 ? -seconds : seconds;
      out += fmt::format("{}{}", seconds < 0 ? "-" : "", magnitude / kMicrosPerSecond);
      if (const int64_t frac = magnitude % kMicrosPerSecond; frac != 0) {
        std::string digits = fmt::format("{:06}", frac);
        digits.erase(digits.find_last_not_of('0') + 1);
        out += '.';
        out += digits;
      }
      out += 'S';
    }
  }
  return out;
}

bool parse_interval(std::string_view text, int32_t& months, int32_t& days, int64_t& micros) {
  Cursor in(text);
  if (!in.eat('P')) return false;
  int64_t total_months = 0, total_days = 0, total_micros = 0;
  bool any = false;
  // Date parts: Y, M, D in that order, each at most once.
  int rank = 0;
  while (!in.done() && in.peek() != 'T') {
    auto part = read_part(in);
    if (!part || part->has_fraction) return false;
    const char unit = in.peek();
    const int next = unit == 'Y' ? 1 : unit == 'M' ? 2 : unit == 'D' ? 3 : 0;
    if (next <= rank) return false;
    in.eat(unit);
    rank = next;
    any = true;
    const bool ok = next == 1   ? add_scaled(total_months, part->value, 12)
                    : next == 2 ? add_scaled(total_months, part->value, 1)
                                : add_scaled(total_days, part->value, 1);
    if (!ok) return false;
  }
  if (in.eat('T')) {
    // Time parts: H, M, S in that order; at least one after the 'T'.
    if (in.done()) return false;
    rank = 0;
    while (!in.done()) {
      auto part = read_part(in);
      if (!part) return false;
      const char unit = in.peek();
      const int next = unit == 'H' ? 1 : unit == 'M' ? 2 : unit == 'S' ? 3 : 0;
      if (next <= rank || (part->has_fraction && next != 3)) return false;
      in.eat(unit);
      rank = next;
      any = true;
      const int64_t scale = next == 1 ? kMicrosPerHour : next == 2 ? kMicrosPerMinute : 1;
      const bool ok = next == 3 ? add_scaled(total_micros, part->value, kMicrosPerSecond) &&
                                      add_scaled(total_micros, part->micros, 1)
                                : add_scaled(total_micros, part->value, scale);
      if (!ok) return false;
    }
  }
  if (!any || !in.done()) return false;
  constexpr int64_t kMin32 = std::numeric_limits<int32_t>::min();
  constexpr int64_t kMax32 = std::numeric_limits<int32_t>::max();
  if (total_months < kMin32 || total_months > kMax32 || total_days < kMin32 ||
      total_days > kMax32) {
    return false;
  }
  months = static_cast<int32_t>(total_months);
  days = static_cast<int32_t>(total_days);
  micros = total_micros;
  return true;
}

}  // namespace parmap
