// Unit tests for the canonical text forms of dates, times, timestamps and intervals.
#include "common/temporal.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <string>

namespace parmap {
namespace {

constexpr int64_t kMin64 = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax64 = std::numeric_limits<int64_t>::max();
constexpr int32_t kMin32 = std::numeric_limits<int32_t>::min();
constexpr int32_t kMax32 = std::numeric_limits<int32_t>::max();
constexpr int64_t kSec = 1'000'000;
constexpr int64_t kDay = 86'400 * kSec;

// An independent calendar for the oracle: a date that steps one day at a time.
struct WalkingDate {
  int64_t year;  // astronomical
  int month;
  int day;

  static bool leap(int64_t y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }
  int month_days() const {
    if (month == 2) return leap(year) ? 29 : 28;
    return (month == 4 || month == 6 || month == 9 || month == 11) ? 30 : 31;
  }
  void next() {
    if (++day > month_days()) {
      day = 1;
      if (++month > 12) {
        month = 1;
        ++year;
      }
    }
  }
  void prev() {
    if (--day < 1) {
      if (--month < 1) {
        month = 12;
        --year;
      }
      day = month_days();
    }
  }
  std::string text() const {
    if (year <= 0) return fmt::format("{:04}-{:02}-{:02} BC", 1 - year, month, day);
    return fmt::format("{:04}-{:02}-{:02}", year, month, day);
  }
};

// 0001-01-01 is 719162 days before 1970-01-01 (proleptic Gregorian day numbers).
constexpr int64_t kDayOfYear1 = -719'162;

TEST(TemporalDateTest, KnownDates) {
  EXPECT_EQ(format_date(0), "1970-01-01");
  EXPECT_EQ(format_date(-1), "1969-12-31");
  EXPECT_EQ(format_date(19'782), "2024-02-29");
  EXPECT_EQ(format_date(kPgEpochDays), "2000-01-01");
  EXPECT_EQ(format_date(kDayOfYear1), "0001-01-01");
  EXPECT_EQ(format_date(kDayOfYear1 - 1), "0001-12-31 BC");
  EXPECT_EQ(format_date(2'932'896), "9999-12-31");
  EXPECT_EQ(format_date(2'932'897), "10000-01-01");
  EXPECT_EQ(parse_date("1900-03-01").value() - parse_date("1900-02-28").value(), 1);
  EXPECT_EQ(parse_date("2000-03-01").value() - parse_date("2000-02-28").value(), 2);
  EXPECT_EQ(parse_date("2100-12-31").value(), 47'846);
  EXPECT_EQ(parse_date("1969-12-31").value(), -1);
  EXPECT_EQ(parse_date("10000-01-01").value(), 2'932'897);
  // 44 BC is astronomical year -43; a leap year is one where (1 - year) % 4 == 0 in BC terms.
  EXPECT_EQ(format_date(parse_date("0044-03-15 BC").value()), "0044-03-15 BC");
  EXPECT_TRUE(parse_date("0001-02-29 BC").has_value());  // 1 BC = year 0, a leap year
  EXPECT_FALSE(parse_date("0002-02-29 BC").has_value());
  EXPECT_EQ(kPgEpochMicros, 946'684'800'000'000LL);
}

TEST(TemporalDateTest, EveryDayFromYear1To9999RoundTrips) {
  WalkingDate w{1, 1, 1};
  for (int64_t d = kDayOfYear1; d <= 2'932'896; ++d, w.next()) {
    const std::string text = w.text();
    ASSERT_EQ(format_date(d), text) << d;
    ASSERT_EQ(parse_date(text), d) << text;
  }
}

TEST(TemporalDateTest, BcDaysRoundTrip) {
  WalkingDate w{1, 1, 1};
  int64_t d = kDayOfYear1;
  for (int i = 0; i < 3'000 * 366; ++i) {
    w.prev();
    --d;
    const std::string text = w.text();
    ASSERT_EQ(format_date(d), text) << d;
    ASSERT_EQ(parse_date(text), d) << text;
  }
  EXPECT_LT(w.year, -3'000);  // went back past 3001 BC
}

TEST(TemporalDateTest, ExtremeDaysRoundTrip) {
  for (int64_t d : {kMin64 + 1, kMin64 + 2, kMax64 - 1, kMax64 - 2, int64_t{-1'000'000'000'000},
                    int64_t{1'000'000'000'000}, int64_t{2'147'483'647}, int64_t{-2'147'483'648}}) {
    const std::string text = format_date(d);
    EXPECT_EQ(parse_date(text), d) << text;
  }
  EXPECT_EQ(format_date(kMax64), "infinity");
  EXPECT_EQ(format_date(kMin64), "-infinity");
  EXPECT_EQ(parse_date("infinity"), kMax64);
  EXPECT_EQ(parse_date("+Infinity"), kMax64);
  EXPECT_EQ(parse_date("-infinity"), kMin64);
}

TEST(TemporalDateTest, RejectsInvalid) {
  for (const char* bad : {"",
                          "2023-02-29",
                          "1900-02-29",
                          "2100-02-29",
                          "2024-13-01",
                          "2024-00-10",
                          "2024-01-00",
                          "2024-01-32",
                          "2024-04-31",
                          "0000-01-01",
                          "0000-01-01 BC",
                          "24-01-01",
                          "2024-1-01",
                          "2024-01-1",
                          "2024-001-01",
                          "2024-01-01 ",
                          " 2024-01-01",
                          "2024-01-01 AD",
                          "2024-01-01 bc",
                          "2024/01/01",
                          "2024-01-01T00:00:00",
                          "infinityx",
                          "inf",
                          "-2024-01-01",
                          "+2024-01-01",
                          "1000000000000000000-01-01",  // 19 year digits
                          "100000000000000000-01-01",   // beyond int64 days
                          "2024-0a-01"}) {
    EXPECT_FALSE(parse_date(bad).has_value()) << bad;
  }
}

TEST(TemporalTimeTest, FormatsAndParses) {
  EXPECT_EQ(format_time(0), "00:00:00");
  EXPECT_EQ(format_time((13 * 3600 + 45 * 60) * kSec), "13:45:00");
  EXPECT_EQ(format_time((13 * 3600 + 45 * 60) * kSec + 250'000), "13:45:00.25");
  EXPECT_EQ(format_time(kDay - 1), "23:59:59.999999");
  EXPECT_EQ(format_time(1), "00:00:00.000001");
  EXPECT_EQ(format_time(kDay), "24:00:00");
  EXPECT_EQ(format_time(kDay + 3600 * kSec), "25:00:00");
  EXPECT_EQ(format_time(-3600 * kSec), "-01:00:00");
  EXPECT_EQ(parse_time("13:45:00.250"), (13 * 3600 + 45 * 60) * kSec + 250'000);
  EXPECT_EQ(parse_time("24:00:00"), kDay);
  EXPECT_EQ(parse_time("00:00:00.000001"), 1);
  for (int64_t us = 0; us <= kDay; us += 999'983) {
    ASSERT_EQ(parse_time(format_time(us)), us) << us;
  }
  std::mt19937_64 rng(42);
  for (int i = 0; i < 20'000; ++i) {
    const int64_t us = static_cast<int64_t>(rng() % static_cast<uint64_t>(kDay + 1));
    ASSERT_EQ(parse_time(format_time(us)), us) << us;
  }
}

TEST(TemporalTimeTest, RejectsInvalid) {
  for (const char* bad :
       {"", "24:00:01", "24:00:00.5", "25:00:00", "12:60:00", "12:00:60", "1:00:00", "12:00",
        "12:00:00.", "12:00:00.1234567", "12:00:00Z", "12:00:00+00", " 12:00:00", "12:00:00 ",
        "-01:00:00", "12-00-00", "123:00:00"}) {
    EXPECT_FALSE(parse_time(bad).has_value()) << bad;
  }
}

TEST(TemporalTimestampTest, FormatsAndParses) {
  const int64_t leap_day = 19'782 * kDay + (13 * 3600 + 45 * 60) * kSec;
  EXPECT_EQ(format_timestamp(leap_day + 250'000, false), "2024-02-29 13:45:00.25");
  EXPECT_EQ(format_timestamp(leap_day + 250'000, true), "2024-02-29 13:45:00.25+00");
  EXPECT_EQ(format_timestamp(0, false), "1970-01-01 00:00:00");
  EXPECT_EQ(format_timestamp(-1, false), "1969-12-31 23:59:59.999999");
  EXPECT_EQ(format_timestamp(kPgEpochMicros, true), "2000-01-01 00:00:00+00");
  EXPECT_EQ(format_timestamp(kMax64 - 1, false), "294247-01-10 04:00:54.775806");
  EXPECT_EQ(format_timestamp(kMin64 + 1, false), "290309-12-21 19:59:05.224193 BC");
  EXPECT_EQ(format_timestamp(kMin64 + 1, true), "290309-12-21 19:59:05.224193+00 BC");
  EXPECT_EQ(parse_timestamp("2024-02-29 13:45:00", false), leap_day);
  EXPECT_EQ(parse_timestamp("2024-02-29T13:45:00", false), leap_day);
  EXPECT_EQ(parse_timestamp("2024-02-29 13:45:00.25+00", true), leap_day + 250'000);
  EXPECT_EQ(parse_timestamp("2024-02-29T13:45:00Z", true), leap_day);
  EXPECT_EQ(parse_timestamp("2024-02-29 15:45:00+02", true), leap_day);
  EXPECT_EQ(parse_timestamp("2024-02-29 19:15:00+05:30", true), leap_day);
  EXPECT_EQ(parse_timestamp("2024-02-29 19:15:00+0530", true), leap_day);
  EXPECT_EQ(parse_timestamp("2024-02-29 05:45:00-08:00", true), leap_day);
  EXPECT_EQ(parse_timestamp("2024-02-29 13:45:10+00:00:10", true), leap_day);
  // An offset can move the instant across midnight and the year boundary.
  EXPECT_EQ(format_timestamp(parse_timestamp("2024-01-01 01:00:00+02", true).value(), true),
            "2023-12-31 23:00:00+00");
  EXPECT_EQ(parse_timestamp("0044-03-15 12:00:00 BC", false).value(),
            parse_date("0044-03-15 BC").value() * kDay + 12 * 3600 * kSec);
  EXPECT_EQ(parse_timestamp("0044-03-15 12:00:00+00 BC", true),
            parse_timestamp("0044-03-15 12:00:00 BC", false));
}

TEST(TemporalTimestampTest, InfinitiesAndExtremesRoundTrip) {
  for (bool tz : {false, true}) {
    EXPECT_EQ(format_timestamp(kMax64, tz), "infinity");
    EXPECT_EQ(format_timestamp(kMin64, tz), "-infinity");
    EXPECT_EQ(parse_timestamp("infinity", tz), kMax64);
    EXPECT_EQ(parse_timestamp("-infinity", tz), kMin64);
    EXPECT_EQ(parse_timestamp("Infinity", tz), kMax64);
    for (int64_t us : {kMin64 + 1, kMin64 + 2, kMax64 - 1, kMax64 - 2, int64_t{0}, int64_t{-1},
                       int64_t{1}, kPgEpochMicros, -kPgEpochMicros, kDay, -kDay, kDay - 1}) {
      ASSERT_EQ(parse_timestamp(format_timestamp(us, tz), tz), us) << us;
    }
    std::mt19937_64 rng(7);
    for (int i = 0; i < 50'000; ++i) {
      auto us = static_cast<int64_t>(rng());
      if (us == kMax64 || us == kMin64) continue;
      ASSERT_EQ(parse_timestamp(format_timestamp(us, tz), tz), us) << us;
      // Also within a few centuries of now, where the data lives.
      const int64_t near = us % (300 * 366 * kDay);
      ASSERT_EQ(parse_timestamp(format_timestamp(near, tz), tz), near) << near;
    }
  }
}

TEST(TemporalTimestampTest, RejectsInvalid) {
  for (const char* bad :
       {"", "2024-02-29", "2024-02-29 13:45", "2024-02-29  13:45:00", "2024-02-29 24:00:00",
        "2023-02-29 00:00:00", "2024-02-29 13:45:00.1234567", "2024-02-29 13:45:00+00",
        "2024-02-29 13:45:00Z", "2024-02-29 13:45:00 BC+00", "294247-01-10 04:00:54.775807",
        "294247-01-10 04:00:54.775808", "300000-01-01 00:00:00", "2024-02-29x13:45:00"}) {
    EXPECT_FALSE(parse_timestamp(bad, false).has_value()) << bad;
  }
  for (const char* bad :
       {"2024-02-29 13:45:00", "2024-02-29 13:45:00+", "2024-02-29 13:45:00+5",
        "2024-02-29 13:45:00+24", "2024-02-29 13:45:00+05:60", "2024-02-29 13:45:00+05:3",
        "2024-02-29 13:45:00+053", "2024-02-29 13:45:00 +00", "2024-02-29 13:45:00+00 BC ",
        "2024-02-29 13:45:00 BC+00", "2024-02-29 13:45:00UTC"}) {
    EXPECT_FALSE(parse_timestamp(bad, true).has_value()) << bad;
  }
}

struct Interval {
  int32_t months;
  int32_t days;
  int64_t micros;
};

TEST(TemporalIntervalTest, Formats) {
  const int64_t hms = (4 * 3600 + 5 * 60 + 6) * kSec + 500'000;
  EXPECT_EQ(format_interval(14, 3, hms), "P1Y2M3DT4H5M6.5S");
  EXPECT_EQ(format_interval(0, 0, 0), "PT0S");
  EXPECT_EQ(format_interval(-14, 0, -3 * 3600 * kSec), "P-1Y-2MT-3H");
  EXPECT_EQ(format_interval(12, 0, 0), "P1Y");
  EXPECT_EQ(format_interval(1, 0, 0), "P1M");
  EXPECT_EQ(format_interval(0, 1, 0), "P1D");
  EXPECT_EQ(format_interval(0, -1, 60 * kSec), "P-1DT1M");
  EXPECT_EQ(format_interval(0, 0, 500'000), "PT0.5S");
  EXPECT_EQ(format_interval(0, 0, -500'000), "PT-0.5S");
  EXPECT_EQ(format_interval(0, 0, 1), "PT0.000001S");
  EXPECT_EQ(format_interval(0, 0, -(90 * 60 * kSec + 1)), "PT-1H-30M-0.000001S");
  EXPECT_EQ(format_interval(0, 0, kMin64), "PT-2562047788H-54.775808S");
  EXPECT_EQ(format_interval(0, 0, kMax64), "PT2562047788H54.775807S");
  EXPECT_EQ(format_interval(kMin32, 0, 0), "P-178956970Y-8M");
}

TEST(TemporalIntervalTest, RoundTrips) {
  std::vector<Interval> cases = {
      {0, 0, 0},
      {14, 3, 1},
      {-14, -3, -1},
      {kMin32, kMin32, kMin64},
      {kMax32, kMax32, kMax64},
      {kMin32, kMax32, 0},
      {0, 0, kDay},
      {11, 0, -59 * kSec},
  };
  std::mt19937_64 rng(11);
  for (int i = 0; i < 20'000; ++i) {
    cases.push_back({static_cast<int32_t>(rng()), static_cast<int32_t>(rng() % 1000) - 500,
                     static_cast<int64_t>(rng()) >> (rng() % 64)});
  }
  for (const Interval& c : cases) {
    const std::string text = format_interval(c.months, c.days, c.micros);
    Interval back{1, 1, 1};
    ASSERT_TRUE(parse_interval(text, back.months, back.days, back.micros)) << text;
    ASSERT_EQ(back.months, c.months) << text;
    ASSERT_EQ(back.days, c.days) << text;
    ASSERT_EQ(back.micros, c.micros) << text;
  }
}

TEST(TemporalIntervalTest, ParsesNonCanonicalInput) {
  Interval v{};
  ASSERT_TRUE(parse_interval("PT1H-30M", v.months, v.days, v.micros));
  EXPECT_EQ(v.micros, 30 * 60 * kSec);
  ASSERT_TRUE(parse_interval("P25M", v.months, v.days, v.micros));
  EXPECT_EQ(v.months, 25);
  ASSERT_TRUE(parse_interval("PT90S", v.months, v.days, v.micros));
  EXPECT_EQ(v.micros, 90 * kSec);
  ASSERT_TRUE(parse_interval("P0D", v.months, v.days, v.micros));
  EXPECT_EQ(v.days, 0);
  ASSERT_TRUE(parse_interval("PT1.25S", v.months, v.days, v.micros));
  EXPECT_EQ(v.micros, 1'250'000);
  ASSERT_TRUE(parse_interval("P-178956970Y-8M", v.months, v.days, v.micros));
  EXPECT_EQ(v.months, kMin32);
}

TEST(TemporalIntervalTest, RejectsInvalid) {
  for (const char* bad : {"",
                          "P",
                          "PT",
                          "1Y",
                          "P1",
                          "P1Y1Y",
                          "P1M1Y",
                          "P1D1M",
                          "P1.5Y",
                          "PT1.5H",
                          "PT1.5M",
                          "PT1.1234567S",
                          "PT1.S",
                          "P1YT",
                          "PT1S2",
                          "PT1S1M",
                          "P1W",
                          "P1H",
                          "PT1D",
                          "P 1Y",
                          "p1y",
                          "P1y",
                          "PT--1S",
                          "P+1Y",
                          "P-Y",
                          "P1YT1H ",
                          " P1Y",
                          "P178956971Y",
                          "P-178956971Y",
                          "P2147483648D",
                          "PT2562047789H",
                          "PT9223372036854775808S",
                          "PT0H2562047788H"}) {
    Interval v{};
    EXPECT_FALSE(parse_interval(bad, v.months, v.days, v.micros)) << bad;
  }
}

}  // namespace
}  // namespace parmap
