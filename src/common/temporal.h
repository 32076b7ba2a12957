// Canonical text forms of dates, times, timestamps and intervals, and their parsers.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

namespace parmap {

// All functions here are pure and thread-safe, use the proleptic Gregorian calendar and know
// no time zones: a timestamp with time zone is stored in UTC and printed with "+00". The text
// forms are PostgreSQL's output with DateStyle ISO and IntervalStyle iso_8601, so that a value
// read from PostgreSQL hashes the same as the same text read from any other engine.

/// Days from 1970-01-01 to PostgreSQL's epoch 2000-01-01; PostgreSQL's date = ours - this.
constexpr int64_t kPgEpochDays = 10957;
/// Microseconds from 1970-01-01 00:00:00 to 2000-01-01 00:00:00.
constexpr int64_t kPgEpochMicros = kPgEpochDays * 86'400'000'000LL;
/// Microseconds in a day; a time of day lies in [0, kMicrosPerDay] (24:00:00 is allowed).
constexpr int64_t kMicrosPerDay = 86'400'000'000LL;
/// Stored value of 'infinity' / '-infinity' for dates and timestamps.
constexpr int64_t kInfinity = std::numeric_limits<int64_t>::max();
constexpr int64_t kMinusInfinity = std::numeric_limits<int64_t>::min();

/// "2024-02-29"; year 0 and before print as PostgreSQL's BC years ("0044-03-15 BC" is
/// astronomical year -43); years past 9999 print all their digits. kInfinity and
/// kMinusInfinity print as "infinity" and "-infinity". Total over int64.
std::string format_date(int64_t days_since_1970);
/// Inverse of format_date: "YYYY-MM-DD" with at least four year digits, optionally followed
/// by " BC", or "infinity" / "+infinity" / "-infinity". nullopt for anything else, including
/// dates that do not exist (2023-02-29, year 0) and dates out of int64 range.
std::optional<int64_t> parse_date(std::string_view text);

/// "13:45:00", or "13:45:00.25" (fraction without trailing zeros). Values outside a day print
/// their total hours ("25:00:00", "-01:00:00"); parse_time rejects those.
std::string format_time(int64_t micros_since_midnight);
/// "HH:MM:SS[.f]" with 1 to 6 fraction digits, 00:00:00 to 24:00:00; nullopt otherwise.
std::optional<int64_t> parse_time(std::string_view text);

/// "2024-02-29 13:45:00.25", with "+00" appended when with_tz (the value is UTC). BC years
/// put " BC" last, as PostgreSQL does ("0044-03-15 12:00:00+00 BC"). kInfinity and
/// kMinusInfinity print as "infinity" and "-infinity". Total over int64.
std::string format_timestamp(int64_t micros_since_1970, bool with_tz);
/// "YYYY-MM-DD HH:MM:SS[.ffffff][ BC]" (or 'T' for the space), or the infinities. With
/// with_tz a UTC offset is required before any " BC" ("Z", "+HH", "+HHMM", "+HH:MM",
/// "+HH:MM:SS", or '-') and the result is converted to UTC; without, an offset is rejected.
/// nullopt when the text does not parse or the instant is out of int64 range.
std::optional<int64_t> parse_timestamp(std::string_view text, bool with_tz);

/// ISO 8601 duration "P1Y2M3DT4H5M6.5S": months split into years and months, zero parts
/// omitted, "PT0S" when all are zero; a negative part carries its own sign ("P-1Y-2MT-3H").
/// Hours, minutes and seconds share the sign of `micros`. Total over its argument ranges.
std::string format_interval(int32_t months, int32_t days, int64_t micros);
/// Parses the format of format_interval (parts in that order, each optional, at least one;
/// signs per part; a fraction of up to 6 digits on seconds only). Returns false, leaving the
/// outputs unspecified, when the text does not parse or a total overflows its type.
bool parse_interval(std::string_view text, int32_t& months, int32_t& days, int64_t& micros);

}  // namespace parmap
