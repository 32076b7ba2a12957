// Decoding PostgreSQL's binary COPY stream into typed batches (CopyDecoder), and hashing its
// tuples as they pass through (TupleHasher).
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

// --- rows with their positions --------------------------------------------------------------

PositionedRow cut_positioned_row(char* message, size_t size, bool& header_done) {
  std::string_view buf(message, size);
  size_t pos = 0;
  if (!header_done) {
    pos = parse_header(buf);
    if (pos == 0) malformed("the first message does not hold the whole header");
    header_done = true;
  }
  const size_t left = size - pos;
  if (left == 2 && static_cast<int16_t>(ld16(message + pos)) == -1) return {};
  // The field count, then the ctid field: its length (6), block number and line pointer.
  constexpr size_t kCtidField = 2 + 4 + 6;
  if (left < kCtidField) malformed("a row shorter than its ctid");
  const auto count = static_cast<int16_t>(ld16(message + pos));
  if (count < 1 || ld32(message + pos + 2) != 6) malformed("a row whose first field is not a ctid");
  const int64_t block = ld32(message + pos + 6);
  // The row starts where the ctid field ends, its field count written over the ctid's last
  // two bytes.
  char* row = message + pos + kCtidField - 2;
  const auto fields = static_cast<uint16_t>(count - 1);
  row[0] = static_cast<char>(fields >> 8);
  row[1] = static_cast<char>(fields & 0xff);
  const size_t avail = left - (kCtidField - 2);
  if (complete_tuple_length(row, avail, fields) != avail) {
    malformed("a message that does not hold exactly one row");
  }
  return {std::string_view(row, avail), block};
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
