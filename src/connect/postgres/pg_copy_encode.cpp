// Encoding typed batches as PostgreSQL's binary COPY stream, or as COPY text when a value has
// no binary form (CopyEncoder).
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
#include "connect/postgres/pg_wire.h"
#include "parmap/error.h"

namespace parmap::pg {

namespace {

using namespace wire;

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
        case oid::kUuid:
          // Text of a uuid (a SQLite TEXT column, say): parsed as the server's uuid input would
          // (braces, a hyphen after any four digits), so the table keeps binary COPY.
          return type == ColumnType::Text ? Enc::Uuid : Enc::None;
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

}  // namespace

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

}  // namespace parmap::pg
