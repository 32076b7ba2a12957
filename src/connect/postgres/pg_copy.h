// PostgreSQL binary COPY: decode a COPY TO stream into a Batch, encode a Batch for COPY FROM
// (binary where every column maps natively, else text), and count/hash raw tuples.
// Pure functions of bytes: no libpq here, so everything is testable from byte fixtures.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "parmap/batch.h"

namespace parmap::pg {

/// Type OIDs parmap knows (pg_type.oid); arrays have their own OIDs (see element_oid).
namespace oid {
constexpr uint32_t kBool = 16, kBytea = 17, kInt8 = 20, kInt2 = 21, kInt4 = 23, kText = 25,
                   kOid = 26, kJson = 114, kFloat4 = 700, kFloat8 = 701, kBpchar = 1042,
                   kVarchar = 1043, kDate = 1082, kTime = 1083, kTimestamp = 1114,
                   kTimestampTz = 1184, kInterval = 1186, kNumeric = 1700, kUuid = 2950,
                   kJsonb = 3802, kName = 19, kChar = 18;
}  // namespace oid

/// One column of a COPY stream: its name, type OID and typmod (from the result's
/// description or pg_attribute), and the type's SQL name (format_type).
struct PgColumn {
  std::string name;
  uint32_t type_oid = 0;
  int32_t typmod = -1;
  std::string type_name;  ///< e.g. "numeric(12,2)", "integer[]"
};

/// The Batch type a PostgreSQL type decodes to: int2/4/8 and oid -> Int64, float4/8 ->
/// Double, numeric -> Numeric, text/varchar/bpchar/name/char -> Text, bool -> Bool, date ->
/// Date, time -> Time, timestamp -> Timestamp, timestamptz -> TimestampTz, interval ->
/// Interval, uuid -> Uuid, json/jsonb -> Json, bytea -> Blob, any array of these -> Array.
/// Anything else -> Text (decoded from the type's binary form only if known; see decoder).
ColumnType column_type_for_oid(uint32_t type_oid);
/// The element OID of an array type OID (e.g. 1007 int4[] -> 23), or 0 if not an array.
uint32_t element_oid(uint32_t array_oid);
/// True when decode/encode support this OID (scalars above and arrays of them).
bool supported_oid(uint32_t type_oid);

/// Decodes a binary COPY TO stream into batches. Feed it each CopyData message libpq returns
/// (PQgetCopyData gives one row per message; the first also carries the 19-byte header and
/// the last is the -1 trailer); any split of the stream into pieces works. Throws
/// Error(Internal) on malformed input (bad signature, truncated tuple, wrong field count,
/// a field whose length does not match its type) naming the column and row.
class CopyDecoder {
 public:
  explicit CopyDecoder(std::vector<PgColumn> columns);
  /// An empty batch with this stream's columns, names, types and declared types.
  Batch make_batch() const;
  /// Appends every complete row in `data` (plus any partial row buffered before) to `out`,
  /// whose columns must come from make_batch(). Returns the number of rows appended.
  size_t feed(std::string_view data, Batch& out);
  /// True once the trailer has been seen.
  bool finished() const { return finished_; }

 private:
  std::vector<PgColumn> columns_;
  std::string pending_;
  bool header_done_ = false;
  bool finished_ = false;
};

/// Encodes batches for COPY FROM STDIN into a table whose columns are `target` (OIDs from
/// the target table, in the batch's column order).
class CopyEncoder {
 public:
  explicit CopyEncoder(std::vector<PgColumn> target);
  /// True when every (batch column type, target OID) pair has a binary encoding (Int64 ->
  /// int2/4/8 with a range check, Double -> float4/8, Bool -> bool, Text/Json -> text,
  /// varchar, bpchar, json, jsonb, Numeric (or Int64/Double) -> numeric, Blob -> bytea,
  /// Date -> date, Time -> time, Timestamp/TimestampTz -> timestamp/timestamptz, Uuid ->
  /// uuid, Interval -> interval). Otherwise (arrays, Any columns, text into a date column...)
  /// the caller uses text format, and PostgreSQL parses each value.
  bool binary_ok(const Batch& sample) const;
  /// The binary stream's 19-byte header and the 2-byte trailer.
  static void binary_header(std::string& out);
  static void binary_trailer(std::string& out);
  /// Appends the batch's rows in binary format. Throws Error(Data) naming the column, the
  /// row's key value and the reason when a value does not fit the target type (an int8 into
  /// int2, a malformed numeric or uuid).
  void encode_binary(const Batch& batch, std::string& out) const;
  /// Appends the batch's rows in text format (tab-separated, \N for NULL, backslash escapes;
  /// bytea as \\x hex; values in PostgreSQL's input syntax).
  void encode_text(const Batch& batch, std::string& out) const;

 private:
  std::vector<PgColumn> target_;
};

/// Counts and hashes the tuples of a binary COPY stream piece by piece without decoding
/// values: the hash is the wrapping sum of a 64-bit hash of each tuple's bytes.
class TupleHasher {
 public:
  /// Feeds the next piece of the stream (header, tuples and trailer; any split).
  void feed(std::string_view data);
  int64_t rows() const { return rows_; }
  uint64_t hash() const { return hash_; }
  /// The stream's trailer has been fed (it is all that is pending).
  bool at_trailer() const { return pending_.size() == 2 && pending_ == "\xff\xff"; }

 private:
  std::string pending_;
  bool header_done_ = false;
  int64_t rows_ = 0;
  uint64_t hash_ = 0;
};

/// One CopyData message of `COPY (SELECT ctid, * FROM table) TO STDOUT (FORMAT binary)` cut
/// into the table's own row and the block it lies in.
struct PositionedRow {
  std::string_view row;  ///< the row as `SELECT *` streams it; empty for the trailer
  int64_t block = 0;
};

/// Reads one message of such a stream: the header when `header_done` is false (then set),
/// then either one tuple whose first field is its ctid, or the trailer. A tuple is rewritten
/// in place as the table's row (the ctid field dropped, the field count one less) and
/// returned with its block number. Throws Error(Internal) when the message is not one of
/// these (two tuples in one message, a first field that is not a ctid).
PositionedRow cut_positioned_row(char* message, size_t size, bool& header_done);

}  // namespace parmap::pg
