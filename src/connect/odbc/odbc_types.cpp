// The engines behind an ODBC driver, ODBC SQL types to column types and DDL, calendar maths.
#include "connect/odbc/odbc_types.h"

#include <fmt/format.h>
#include <sql.h>
#include <sqlext.h>

#include <cctype>
#include <charconv>

#include "connect/driver_helpers.h"

namespace parmap::odbc {
namespace {

bool starts_with_nocase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

Dbms dbms_from_name(std::string_view dbms_name) {
  if (starts_with_nocase(dbms_name, "postgres")) return Dbms::PostgreSQL;
  if (starts_with_nocase(dbms_name, "mariadb") || starts_with_nocase(dbms_name, "mysql")) {
    return Dbms::MySQL;
  }
  if (starts_with_nocase(dbms_name, "sqlite")) return Dbms::SQLite;
  return Dbms::Other;
}

ColumnType column_type_for(int sql_type, std::string_view type_name, bool is_unsigned) {
  // psqlODBC reports bool as a one-character string (its BoolsAsChar default).
  if (starts_with_nocase(type_name, "bool") && type_name.size() <= 7) return ColumnType::Bool;
  switch (sql_type) {
    case SQL_BIT:
      return ColumnType::Bool;
    case SQL_TINYINT:
    case SQL_SMALLINT:
    case SQL_INTEGER:
      return ColumnType::Int64;
    case SQL_BIGINT:
      return is_unsigned ? ColumnType::Numeric : ColumnType::Int64;
    case SQL_REAL:
    case SQL_FLOAT:
    case SQL_DOUBLE:
      return ColumnType::Double;
    case SQL_NUMERIC:
    case SQL_DECIMAL:
      return ColumnType::Numeric;
    case SQL_BINARY:
    case SQL_VARBINARY:
    case SQL_LONGVARBINARY:
      return ColumnType::Blob;
    case SQL_TYPE_DATE:
    case SQL_DATE:
      return ColumnType::Date;
    case SQL_TYPE_TIME:
    case SQL_TIME:
      return ColumnType::Time;
    case SQL_TYPE_TIMESTAMP:
    case SQL_TIMESTAMP:
      return ColumnType::Timestamp;
    case SQL_GUID:
      return ColumnType::Uuid;
    default:
      return ColumnType::Text;
  }
}

std::string declared_type_for(int sql_type, std::string_view type_name, uint64_t size, int digits,
                              bool is_unsigned, Dbms dbms) {
  const bool decimal = sql_type == SQL_NUMERIC || sql_type == SQL_DECIMAL;
  switch (dbms) {
    case Dbms::PostgreSQL:
      return type_name == "unknown" ? std::string() : std::string(type_name);
    case Dbms::MySQL:
      if (decimal && size > 0 && size <= 65 && digits >= 0 &&
          static_cast<uint64_t>(digits) <= size) {
        return fmt::format("decimal({},{})", size, digits);
      }
      // A fraction of a second, as the native driver spells it: time(6), datetime(6).
      if ((sql_type == SQL_TYPE_TIME || sql_type == SQL_TYPE_TIMESTAMP) && digits > 0 &&
          digits <= 6) {
        for (std::string_view name : {"time", "datetime", "timestamp"}) {
          if (type_name.size() == name.size() && starts_with_nocase(type_name, name)) {
            return fmt::format("{}({})", name, digits);
          }
        }
      }
      if (starts_with_nocase(type_name, "year")) return "smallint";  // 1901 to 2155
      switch (sql_type) {
        case SQL_TINYINT:
          return integer_type_for_width(1, is_unsigned);
        case SQL_SMALLINT:
          return integer_type_for_width(2, is_unsigned);
        case SQL_INTEGER:
          return integer_type_for_width(4, is_unsigned);
        case SQL_BIGINT:
          return integer_type_for_width(8, is_unsigned);
        default:
          return "";
      }
    case Dbms::SQLite:
      // The SQLite ODBC driver drops the precision from the name: the catalog has it
      // (OdbcConnection reads it from the table's declared type).
      return "";
    case Dbms::Other:
      break;
  }
  if (decimal && size > 0 && size <= 1000 && digits >= 0 && static_cast<uint64_t>(digits) <= size) {
    return fmt::format("numeric({},{})", size, digits);
  }
  return "";
}

std::optional<std::pair<int, int>> decimal_precision(std::string_view declared) {
  std::string_view rest;
  for (std::string_view name : {"numeric", "decimal"}) {
    if (starts_with_nocase(declared, name)) rest = declared.substr(name.size());
  }
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  if (rest.size() < 3 || rest.front() != '(' || rest.back() != ')') return std::nullopt;
  rest = rest.substr(1, rest.size() - 2);
  auto number = [](std::string_view text, int& out) {
    while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
    while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && end == text.data() + text.size();
  };
  int precision = 0, scale = 0;
  const size_t comma = rest.find(',');
  if (!number(rest.substr(0, comma), precision)) return std::nullopt;
  if (comma != std::string_view::npos && !number(rest.substr(comma + 1), scale)) {
    return std::nullopt;
  }
  if (precision < 1 || precision > 1000 || scale < 0 || scale > precision) return std::nullopt;
  return std::make_pair(precision, scale);
}

ColumnType pg_catalog_column_type(std::string_view format_type, char category) {
  if (category == 'A') return ColumnType::Array;
  if (format_type == "json" || format_type == "jsonb") return ColumnType::Json;
  if (starts_with_nocase(format_type, "interval")) return ColumnType::Interval;
  return ColumnType::Any;
}

std::string ddl_type(ColumnType type, Dbms dbms, bool key) {
  switch (dbms) {
    case Dbms::PostgreSQL:
      // psqlODBC binds an array as its text.
      return type == ColumnType::Array ? "text" : postgres_type_name(type);
    case Dbms::MySQL:
      switch (type) {
        case ColumnType::Bool:
          return "BOOLEAN";
        case ColumnType::Int64:
          return "BIGINT";
        case ColumnType::Double:
          return "DOUBLE";
        case ColumnType::Blob:
          return key ? "VARBINARY(255)" : "LONGBLOB";
        case ColumnType::Date:
          return "DATE";
        case ColumnType::Time:
          return "TIME(6)";
        // DATETIME, not TIMESTAMP: MySQL's TIMESTAMP stops in 2038 and follows the time zone.
        case ColumnType::Timestamp:
        case ColumnType::TimestampTz:
          return "DATETIME(6)";
        case ColumnType::Numeric:
          return "DECIMAL(65,30)";
        case ColumnType::Uuid:
          return "CHAR(36)";
        case ColumnType::Json:
          return key ? "VARCHAR(255)" : "JSON";
        case ColumnType::Text:
        case ColumnType::Interval:
        case ColumnType::Array:
        case ColumnType::Any:
          return key ? "VARCHAR(255)" : "LONGTEXT";
      }
      break;
    case Dbms::SQLite:
      return sqlite_type_name(type);
    case Dbms::Other:
      break;
  }
  // SQL-standard names for an engine parmap does not know.
  switch (type) {
    case ColumnType::Bool:
      return "BOOLEAN";
    case ColumnType::Int64:
      return "BIGINT";
    case ColumnType::Double:
      return "DOUBLE PRECISION";
    case ColumnType::Blob:
      return "VARBINARY(8000)";
    case ColumnType::Date:
      return "DATE";
    case ColumnType::Time:
      return "TIME";
    case ColumnType::Timestamp:
    case ColumnType::TimestampTz:
      return "TIMESTAMP";
    case ColumnType::Numeric:
      return "DECIMAL(38,10)";
    default:
      return "VARCHAR(4000)";
  }
}

// Howard Hinnant's days_from_civil / civil_from_days, over 400-year eras.
int64_t days_from_civil(int64_t year, unsigned month, unsigned day) {
  year -= month <= 2 ? 1 : 0;
  const int64_t era = (year >= 0 ? year : year - 399) / 400;
  const auto yoe = static_cast<unsigned>(year - era * 400);
  const unsigned doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void civil_from_days(int64_t days, int64_t& year, unsigned& month, unsigned& day) {
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const auto doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  day = doy - (153 * mp + 2) / 5 + 1;
  month = mp < 10 ? mp + 3 : mp - 9;
  year = static_cast<int64_t>(yoe) + era * 400 + (month <= 2 ? 1 : 0);
}

}  // namespace parmap::odbc
