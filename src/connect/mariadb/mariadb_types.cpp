// MariaDB/MySQL types and parmap's column types: the mapping both ways, and cell conversions.
#include "connect/mariadb/mariadb_types.h"

#include <fmt/format.h>
#include <mysql.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <limits>

#include "common/temporal.h"
#include "connect/driver_helpers.h"

namespace parmap::mariadb {
namespace {

constexpr unsigned int kBinaryCharset = 63;  // the "binary" character set: bytes, not text
// The type create_table gives a decimal column declared without precision and scale.
constexpr std::string_view kUnconstrainedDecimal = "decimal(65,30)";

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// The base name of a declared type: "bigint(20) unsigned" -> "bigint", "double precision"
// -> "double precision", "decimal(10,2)" -> "decimal".
std::string base_name(std::string_view declared) {
  std::string name = lower(declared.substr(0, declared.find('(')));
  while (!name.empty() && name.back() == ' ') name.pop_back();
  for (const char* suffix : {" unsigned", " zerofill", " signed"}) {
    const size_t at = name.rfind(suffix);
    if (at != std::string::npos) name.erase(at);
  }
  return name;
}

struct NameType {
  std::string_view name;
  ColumnType type;
};

// The types MariaDB knows by name (and the portable names it accepts), as parmap stores them.
constexpr std::array kNamedTypes = {
    NameType{"tinyint", ColumnType::Int64},     NameType{"smallint", ColumnType::Int64},
    NameType{"mediumint", ColumnType::Int64},   NameType{"int", ColumnType::Int64},
    NameType{"integer", ColumnType::Int64},     NameType{"bigint", ColumnType::Int64},
    NameType{"year", ColumnType::Int64},        NameType{"bit", ColumnType::Int64},
    NameType{"int1", ColumnType::Int64},        NameType{"int2", ColumnType::Int64},
    NameType{"int3", ColumnType::Int64},        NameType{"int4", ColumnType::Int64},
    NameType{"int8", ColumnType::Int64},        NameType{"bool", ColumnType::Bool},
    NameType{"boolean", ColumnType::Bool},      NameType{"float", ColumnType::Double},
    NameType{"double", ColumnType::Double},     NameType{"double precision", ColumnType::Double},
    NameType{"real", ColumnType::Double},       NameType{"decimal", ColumnType::Numeric},
    NameType{"numeric", ColumnType::Numeric},   NameType{"dec", ColumnType::Numeric},
    NameType{"fixed", ColumnType::Numeric},     NameType{"date", ColumnType::Date},
    NameType{"time", ColumnType::Time},         NameType{"datetime", ColumnType::Timestamp},
    NameType{"timestamp", ColumnType::TimestampTz},
    NameType{"char", ColumnType::Text},         NameType{"varchar", ColumnType::Text},
    NameType{"tinytext", ColumnType::Text},     NameType{"text", ColumnType::Text},
    NameType{"mediumtext", ColumnType::Text},   NameType{"longtext", ColumnType::Text},
    NameType{"enum", ColumnType::Text},         NameType{"set", ColumnType::Text},
    NameType{"binary", ColumnType::Blob},       NameType{"varbinary", ColumnType::Blob},
    NameType{"tinyblob", ColumnType::Blob},     NameType{"blob", ColumnType::Blob},
    NameType{"mediumblob", ColumnType::Blob},   NameType{"longblob", ColumnType::Blob},
    NameType{"json", ColumnType::Json},         NameType{"uuid", ColumnType::Uuid},
};

void append_text_value(Column& column, std::string_view text) {
  column.append(Value(std::string(text)));
}

}  // namespace

ColumnType type_of_field(const MYSQL_FIELD& field, std::string& declared,
                         const ReadOptions& options) {
  declared.clear();
  const bool is_unsigned = (field.flags & UNSIGNED_FLAG) != 0;
  // MariaDB's own data types (uuid, inet6) and JSON's format arrive as extended metadata.
  MARIADB_CONST_STRING attr{};
  if (mariadb_field_attr(&attr, &field, MARIADB_FIELD_ATTR_DATA_TYPE_NAME) == 0 &&
      attr.length > 0) {
    const std::string name = lower(std::string_view(attr.str, attr.length));
    if (name == "uuid") {
      declared = "uuid";
      return ColumnType::Uuid;
    }
  }
  // JSON is LONGTEXT with a validity check in MariaDB; no declared type, so that a
  // PostgreSQL target makes it jsonb.
  if (mariadb_field_attr(&attr, &field, MARIADB_FIELD_ATTR_FORMAT_NAME) == 0 && attr.length > 0 &&
      lower(std::string_view(attr.str, attr.length)) == "json") {
    return ColumnType::Json;
  }
  switch (field.type) {
    case MYSQL_TYPE_TINY:
      // BOOLEAN is TINYINT(1); only the user knows whether the column holds truth values.
      if (options.tinyint1_bool && field.length == 1) return ColumnType::Bool;
      declared = integer_type_for_width(1, is_unsigned);
      return ColumnType::Int64;
    case MYSQL_TYPE_SHORT:
    case MYSQL_TYPE_YEAR:  // 1901 to 2155
      declared = integer_type_for_width(2, is_unsigned && field.type == MYSQL_TYPE_SHORT);
      return ColumnType::Int64;
    case MYSQL_TYPE_INT24:
      declared = integer_type_for_width(3, is_unsigned);
      return ColumnType::Int64;
    case MYSQL_TYPE_LONG:
      declared = integer_type_for_width(4, is_unsigned);
      return ColumnType::Int64;
    case MYSQL_TYPE_LONGLONG:
      // An unsigned BIGINT holds up to 2^64 - 1, beyond a signed 64-bit integer.
      if (is_unsigned) {
        // Spelled so that every engine reads it: numeric(20) on PostgreSQL, DECIMAL(20) here.
        declared = "numeric(20)";
        return ColumnType::Numeric;
      }
      return ColumnType::Int64;
    case MYSQL_TYPE_BIT:
      declared = fmt::format("bit({})", field.length);
      return field.length < 64 ? ColumnType::Int64 : ColumnType::Numeric;
    case MYSQL_TYPE_FLOAT:
    case MYSQL_TYPE_DOUBLE:
      return ColumnType::Double;
    case MYSQL_TYPE_DECIMAL:
    case MYSQL_TYPE_NEWDECIMAL: {
      // length counts the digits, the point and the sign (when signed).
      const unsigned long point = field.decimals > 0 ? 1 : 0;
      const unsigned long sign = is_unsigned ? 0 : 1;
      const unsigned long precision =
          field.length > point + sign ? field.length - point - sign : field.length;
      declared = fmt::format("decimal({},{})", precision, field.decimals);
      return ColumnType::Numeric;
    }
    case MYSQL_TYPE_DATE:
    case MYSQL_TYPE_NEWDATE:
      return ColumnType::Date;
    case MYSQL_TYPE_TIME:
    case MYSQL_TYPE_TIME2:
      if (field.decimals > 0 && field.decimals <= 6) declared = fmt::format("time({})", field.decimals);
      return ColumnType::Time;
    case MYSQL_TYPE_DATETIME:
    case MYSQL_TYPE_DATETIME2:
      if (field.decimals > 0 && field.decimals <= 6) {
        declared = fmt::format("datetime({})", field.decimals);
      }
      return ColumnType::Timestamp;
    case MYSQL_TYPE_TIMESTAMP:
    case MYSQL_TYPE_TIMESTAMP2:
      // An instant: the session's time zone is UTC, so the text read is UTC.
      if (field.decimals > 0 && field.decimals <= 6) {
        declared = fmt::format("timestamp({})", field.decimals);
      }
      return ColumnType::TimestampTz;
    case MYSQL_TYPE_JSON:
      return ColumnType::Json;
    case MYSQL_TYPE_GEOMETRY:
      return ColumnType::Blob;
    case MYSQL_TYPE_NULL:
      return ColumnType::Any;
    default:
      // Strings, text, blobs, ENUM and SET: bytes when the character set is binary.
      return field.charsetnr == kBinaryCharset && (field.flags & (ENUM_FLAG | SET_FLAG)) == 0
                 ? ColumnType::Blob
                 : ColumnType::Text;
  }
}

TableSchema schema_of_result(MYSQL_RES* result, const ReadOptions& options) {
  TableSchema schema;
  const unsigned int n = mysql_num_fields(result);
  const MYSQL_FIELD* fields = mysql_fetch_fields(result);
  for (unsigned int i = 0; i < n; ++i) {
    ColumnInfo info;
    info.name = fields[i].name;
    info.type = type_of_field(fields[i], info.declared_type, options);
    info.not_null = (fields[i].flags & NOT_NULL_FLAG) != 0;
    schema.columns.push_back(std::move(info));
  }
  return schema;
}

ColumnType type_from_declared(std::string_view declared) {
  const std::string name = base_name(declared);
  const std::string full = lower(declared);
  for (const NameType& t : kNamedTypes) {
    if (t.name != name) continue;
    if (t.type == ColumnType::Int64 && name == "bigint" &&
        full.find("unsigned") != std::string::npos) {
      return ColumnType::Numeric;
    }
    if (name == "bit") {
      const int bits = std::atoi(full.c_str() + std::min(full.size(), full.find('(') + 1));
      return bits >= 64 ? ColumnType::Numeric : ColumnType::Int64;
    }
    return t.type;
  }
  return ColumnType::Any;
}

std::string ddl_type(const ColumnInfo& column) {
  // The declared type, when MariaDB reads it as the same kind of value ("numeric(12,2)",
  // "varchar(20)", "datetime(3)"). Without a size it is kept for the types whose default
  // size holds every value of that kind: MariaDB's defaults for DECIMAL (10,0), TIME and
  // DATETIME (whole seconds), TEXT (64 KiB) and VARCHAR (none) would cut or refuse values
  // that another engine's same-named type holds.
  const bool sized = column.declared_type.find('(') != std::string::npos;
  const bool size_matters =
      column.type == ColumnType::Numeric || column.type == ColumnType::Text ||
      column.type == ColumnType::Blob || column.type == ColumnType::Time ||
      column.type == ColumnType::Timestamp || column.type == ColumnType::TimestampTz;
  // BIT(n) is read as its number, and a number is not what a BIT column loads: BIGINT.
  const bool bits = column.declared_type.rfind("bit(", 0) == 0;
  if (!column.declared_type.empty() && !bits &&
      type_from_declared(column.declared_type) == column.type && (sized || !size_matters)) {
    return column.declared_type;
  }
  switch (column.type) {
    case ColumnType::Bool:
      return "BOOLEAN";
    case ColumnType::Int64:
      return "BIGINT";
    case ColumnType::Double:
      return "DOUBLE";
    case ColumnType::Text:
    case ColumnType::Any:
      // A key must have a bounded length in MariaDB; 768 characters of utf8mb4 is its limit.
      return column.primary_key ? "VARCHAR(768)" : "LONGTEXT";
    case ColumnType::Blob:
      return column.primary_key ? "VARBINARY(3072)" : "LONGBLOB";
    case ColumnType::Date:
      return "DATE";
    case ColumnType::Time:
      return "TIME(6)";
    case ColumnType::Timestamp:
      return "DATETIME(6)";
    case ColumnType::TimestampTz:
      // Stored as its UTC wall-clock time: TIMESTAMP's range ends in 2038 (2106 in MariaDB
      // 11.5), DATETIME's in 9999.
      return "DATETIME(6)";
    case ColumnType::Numeric:
      // Without a declared precision: MariaDB's widest exact decimal. A value beyond it is
      // refused by the server (strict mode), never rounded to fit.
      return std::string(kUnconstrainedDecimal);
    case ColumnType::Uuid:
      return "UUID";
    case ColumnType::Json:
      return "JSON";
    case ColumnType::Interval:
      return "VARCHAR(64)";
    case ColumnType::Array:
      return "LONGTEXT";
  }
  return "LONGTEXT";
}

void append_cell(Column& column, const char* data, unsigned long size, ZeroDates zero_dates) {
  if (data == nullptr) {
    column.append_null();
    return;
  }
  const std::string_view text(data, size);
  switch (column.type) {
    case ColumnType::Bool:
    case ColumnType::Int64: {
      int64_t v = 0;
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (column.declared_type.rfind("bit(", 0) == 0) {
        // BIT(n) arrives as its bytes, most significant first.
        uint64_t bits = 0;
        for (unsigned char c : text) bits = (bits << 8) | c;
        column.append_int(static_cast<int64_t>(bits));
      } else if (ec != std::errc() || end != text.data() + text.size()) {
        append_text_value(column, text);
      } else if (column.type == ColumnType::Bool && v != 0 && v != 1) {
        // Not a truth value: kept as the integer it is (the column becomes Any).
        column.append(Value(v));
      } else {
        column.append_int(v);
      }
      return;
    }
    case ColumnType::Double: {
      double v = 0;
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec == std::errc() && end == text.data() + text.size()) {
        column.append_double(v);
      } else {
        append_text_value(column, text);
      }
      return;
    }
    case ColumnType::Numeric:
      if (column.declared_type.rfind("bit(", 0) == 0) {
        uint64_t bits = 0;
        for (unsigned char c : text) bits = (bits << 8) | c;
        column.append_string(std::to_string(bits));
      } else if (column.declared_type == kUnconstrainedDecimal &&
                 text.find('.') != std::string_view::npos) {
        // What create_table makes of a decimal without a scale: its padding zeros are not
        // the value's, so that it reads back as it was written.
        std::string_view v = text;
        while (v.back() == '0') v.remove_suffix(1);
        if (v.back() == '.') v.remove_suffix(1);
        column.append_string(v == "-0" ? "0" : v);
      } else {
        column.append_string(text);
      }
      return;
    case ColumnType::Date:
    case ColumnType::Timestamp:
    case ColumnType::TimestampTz:
      append_temporal_text(column, text, zero_dates);
      return;
    case ColumnType::Time: {
      // MariaDB's TIME spans -838:59:59 to 838:59:59; only a time of day is a time.
      const std::optional<int64_t> v = parse_time(text);
      if (v) {
        column.append_int(*v);
      } else {
        append_text_value(column, text);
      }
      return;
    }
    case ColumnType::Any:
      append_text_value(column, text);
      return;
    case ColumnType::Text:
    case ColumnType::Blob:
    case ColumnType::Uuid:
    case ColumnType::Json:
    case ColumnType::Interval:
    case ColumnType::Array:
      column.append_string(text);
      return;
  }
}

Value value_of_cell(const MYSQL_FIELD& field, const char* data, unsigned long size) {
  if (data == nullptr) return Value();
  const std::string_view text(data, size);
  auto as_int = [&]() -> std::optional<int64_t> {
    int64_t v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec == std::errc() && end == text.data() + text.size()) return v;
    return std::nullopt;
  };
  switch (field.type) {
    case MYSQL_TYPE_TINY:
    case MYSQL_TYPE_SHORT:
    case MYSQL_TYPE_INT24:
    case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_LONGLONG:
    case MYSQL_TYPE_YEAR:
      if (auto v = as_int()) return *v;
      return std::string(text);
    case MYSQL_TYPE_DECIMAL:
    case MYSQL_TYPE_NEWDECIMAL:
      // SUM() and COUNT() of integers come back as DECIMAL with no fraction.
      if (field.decimals == 0) {
        if (auto v = as_int()) return *v;
      }
      return std::string(text);
    case MYSQL_TYPE_FLOAT:
    case MYSQL_TYPE_DOUBLE: {
      double v = 0;
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec == std::errc() && end == text.data() + text.size()) return v;
      return std::string(text);
    }
    default:
      if (field.charsetnr == kBinaryCharset && field.type != MYSQL_TYPE_DATE &&
          field.type != MYSQL_TYPE_DATETIME && field.type != MYSQL_TYPE_TIMESTAMP &&
          field.type != MYSQL_TYPE_TIME && field.type != MYSQL_TYPE_NEWDATE &&
          field.type != MYSQL_TYPE_BIT) {
        return Blob{std::string(text)};
      }
      return std::string(text);
  }
}

}  // namespace parmap::mariadb
