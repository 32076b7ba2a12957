// Values, column types and the columnar Batch that sources yield and sinks write.
#pragma once

#include <cmath>
#include <cstdint>
#include <bit>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace parmap {

/// Logical column type and where a Column stores it:
/// - `ints`: Bool (0/1), Int64, Date (days since 1970-01-01), Time (microseconds since
///   midnight), Timestamp and TimestampTz (microseconds since 1970-01-01 00:00:00, UTC for Tz);
/// - `doubles`: Double;
/// - `strings`: Text, Blob (bytes), Numeric (exact decimal text: "-12.3400", "NaN",
///   "Infinity"), Uuid (lower-case "8-4-4-4-12" text), Json (JSON text), Interval (ISO 8601
///   "P1Y2M3DT4H5M6.5S"), Array (PostgreSQL array literal, "{1,2,NULL}");
/// - `values`: Any, a column whose rows mix types (SQLite).
/// Column::get() turns the temporal and text-stored types into text Values in the canonical
/// forms of common/temporal.h, so that hashes and transformations see the same value whatever
/// engine it came from ("2024-02-29", "2024-02-29 13:45:00.25", "...+00").
enum class ColumnType : uint8_t {
  Bool, Int64, Double, Text, Blob, Any,
  Date, Time, Timestamp, TimestampTz, Numeric, Uuid, Json, Interval, Array,
};

/// True for the types stored in `ints` / `strings` (see ColumnType).
bool stored_as_int(ColumnType type);
bool stored_as_string(ColumnType type);

const char* to_string(ColumnType type);
/// Parses a type name: "int", "integer", "bigint", "real", "double", "float", "text", "string",
/// "varchar", "blob", "bytes", "bool", "boolean", "any", "date", "time", "timestamp",
/// "datetime", "timestamptz", "numeric", "decimal", "uuid", "json", "jsonb", "interval",
/// "array" (any case). Throws Error(Config) naming the accepted names.
ColumnType column_type_from_string(std::string_view name);

/// Bytes, distinct from text so that a blob stays a blob through every engine.
struct Blob {
  std::string bytes;
  bool operator==(const Blob&) const = default;
  auto operator<=>(const Blob&) const = default;
};

/// One value: null, integer, real, text or blob. Used for key bounds, constants and
/// mixed-type columns; bulk data lives in typed column vectors.
class Value {
 public:
  using Storage = std::variant<std::monostate, int64_t, double, std::string, Blob>;

  Value() = default;
  Value(int64_t v) : v_(v) {}           // NOLINT: implicit on purpose
  Value(int v) : v_(int64_t{v}) {}      // NOLINT
  Value(double v) : v_(v) {}            // NOLINT
  Value(std::string v) : v_(std::move(v)) {}  // NOLINT
  Value(const char* v) : v_(std::string(v)) {}  // NOLINT
  Value(Blob v) : v_(std::move(v)) {}   // NOLINT

  bool is_null() const { return v_.index() == 0; }
  bool is_int() const { return v_.index() == 1; }
  bool is_double() const { return v_.index() == 2; }
  bool is_text() const { return v_.index() == 3; }
  bool is_blob() const { return v_.index() == 4; }
  int64_t as_int() const { return std::get<int64_t>(v_); }
  double as_double() const { return std::get<double>(v_); }
  const std::string& as_text() const { return std::get<std::string>(v_); }
  const Blob& as_blob() const { return std::get<Blob>(v_); }
  const Storage& storage() const { return v_; }

  /// SQL-literal-like rendering for messages and plans: NULL, 42, 1.5, 'text', x'00ff'.
  std::string to_display() const;
  /// Lossless, type-tagged serialisation ("i:42", "d:1.5", "t:abc", "b:<hex>", "n:")
  /// and its inverse; used to store chunk bounds in the ledger.
  std::string serialize() const;
  static Value deserialize(std::string_view s);

  bool operator==(const Value& o) const = default;
  /// Total order: null < numbers (int and real compared by value) < text < blob,
  /// the order SQLite sorts in.
  friend bool operator<(const Value& a, const Value& b);

 private:
  Storage v_;
};

/// One column of a batch: a typed vector plus a null mask (1 = null).
struct Column {
  std::string name;
  ColumnType type = ColumnType::Any;
  /// The source engine's own type name ("numeric(12,2)", "int4[]"), "" when unknown; lets a
  /// target of the same engine create the column with the same type.
  std::string declared_type;
  std::vector<int64_t> ints;
  std::vector<double> doubles;
  std::vector<std::string> strings;
  std::vector<Value> values;
  std::vector<uint8_t> nulls;

  size_t size() const { return nulls.size(); }
  bool is_null(size_t row) const { return nulls[row] != 0; }
  /// The row's value as a Value (null, int, double, text or blob by the column's type).
  Value get(size_t row) const;
  /// Appends a value. A value that does not fit the column's type (text in an Int64
  /// column, say) turns the column into Any first, so nothing is ever coerced or lost.
  void append(const Value& v);
  void append_null();
  void append_int(int64_t v) { ints.push_back(v); nulls.push_back(0); }
  void append_double(double v) { doubles.push_back(v); nulls.push_back(0); }
  void append_string(std::string_view v) { strings.emplace_back(v); nulls.push_back(0); }
  /// Converts the storage to Any (one Value per row).
  void promote_to_any();
  void clear();
  void reserve(size_t rows);
  /// Approximate heap bytes held, for memory bounds.
  size_t byte_size() const;
  /// Keeps only rows whose keep[row] is true.
  void filter(const std::vector<uint8_t>& keep);
  /// A copy of rows [begin, end) only (same name and types); copies nothing else.
  Column slice(size_t begin, size_t end) const;
};

/// A set of rows in columnar form. Not thread-safe; owned by one worker at a time.
struct Batch {
  std::vector<Column> columns;

  size_t num_rows() const { return columns.empty() ? 0 : columns[0].size(); }
  size_t num_columns() const { return columns.size(); }
  /// Index of the column named `name` (exact, then case-insensitive), or -1.
  int find(std::string_view name) const;
  /// Drops rows whose keep[row] is 0 from every column.
  void filter(const std::vector<uint8_t>& keep);
  void clear();
  size_t byte_size() const;
  /// An empty batch with the same column names and types.
  Batch empty_like() const;
  /// A copy of rows [begin, end) only: O(end - begin), whatever the batch's size.
  Batch slice(size_t begin, size_t end) const;
};

/// Which function a row hash is; the ledger's prefix names it.
///  - Words ("w:", the current one): each value is one or more 64-bit words, each mixed into
///    the state by a 64 x 64 -> 128-bit multiplication folded to 64 bits.
///  - Fnv1a ("v:", parmap before 2026-12-03): FNV-1a-64 a byte at a time, nine dependent
///    multiplications for an integer, one a byte for text. Kept to verify the ledgers it
///    wrote.
enum class RowHashVersion { Fnv1a, Words };
inline constexpr RowHashVersion kRowHashVersion = RowHashVersion::Words;

/// One row's hash, value by value: the row's type-tagged values in column order (text and
/// blobs carry their length, so that ("ab", "c") and ("a", "bc") differ), finalised with
/// splitmix64. hash_row and hash_rows are built on it; a reader with no Batch (an in-engine
/// copy) hashes the same values to the same hash with it.
class RowHasher {
 public:
  explicit RowHasher(RowHashVersion version = kRowHashVersion)
      : fnv_(version == RowHashVersion::Fnv1a), h_(fnv_ ? kFnvOffset : kWordsSeed) {}

  void add_null() {
    if (fnv_) {
      byte('N');
    } else {
      word(kNullTag, 0);
    }
  }
  void add_int(int64_t v) {
    if (fnv_) {
      byte('I');
      u64(static_cast<uint64_t>(v));
    } else {
      word(kIntTag, static_cast<uint64_t>(v));
    }
  }
  void add_double(double d) {
    // Equal reals hash equally: -0.0 == 0.0, and every NaN is the same NaN.
    if (d == 0.0) d = 0.0;
    if (std::isnan(d)) d = std::numeric_limits<double>::quiet_NaN();
    uint64_t bits;
    std::memcpy(&bits, &d, sizeof bits);
    if (fnv_) {
      byte('D');
      u64(bits);
    } else {
      word(kDoubleTag, bits);
    }
  }
  void add_text(std::string_view s) {
    if (fnv_) {
      byte('T');
      bytes(s);
    } else {
      words(kTextTag, s);
    }
  }
  void add_blob(std::string_view s) {
    if (fnv_) {
      byte('B');
      bytes(s);
    } else {
      words(kBlobTag, s);
    }
  }
  void add(const Value& v) {
    switch (v.storage().index()) {
      case 0:
        add_null();
        break;
      case 1:
        add_int(v.as_int());
        break;
      case 2:
        add_double(v.as_double());
        break;
      case 3:
        add_text(v.as_text());
        break;
      default:
        add_blob(v.as_blob().bytes);
        break;
    }
  }
  uint64_t finish() const {
    // splitmix64's finaliser: spreads the state's bits over all 64 so that sums of row
    // hashes do not cancel in structured ways.
    uint64_t x = h_ + 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  }

 private:
  static constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ULL;
  static constexpr uint64_t kFnvPrime = 0x100000001b3ULL;
  // Words: the starting state, and an odd multiplier for each kind of word (the digits of pi
  // and e, nothing up the sleeve), so that 1, 1.0, "1" and NULL differ.
  static constexpr uint64_t kWordsSeed = 0x243f6a8885a308d3ULL;
  static constexpr uint64_t kNullTag = 0x13198a2e03707345ULL;
  static constexpr uint64_t kIntTag = 0xa4093822299f31d1ULL;
  static constexpr uint64_t kDoubleTag = 0x082efa98ec4e6c89ULL;
  static constexpr uint64_t kTextTag = 0x452821e638d01377ULL;
  static constexpr uint64_t kBlobTag = 0xbe5466cf34e90c6dULL;
  static constexpr uint64_t kBodyTag = 0xc0ac29b7c97c50ddULL;
  static constexpr uint64_t kTailTag = 0xb7e151628aed2a6bULL;

  void byte(unsigned char c) {
    h_ ^= c;
    h_ *= kFnvPrime;
  }
  void u64(uint64_t v) {
    // Little-endian byte order regardless of host, so hashes compare across machines.
    for (int i = 0; i < 8; ++i) byte(static_cast<unsigned char>(v >> (8 * i)));
  }
  void bytes(std::string_view s) {
    u64(s.size());
    for (unsigned char c : s) byte(c);
  }

  void word(uint64_t tag, uint64_t v) {
    const unsigned __int128 p = static_cast<unsigned __int128>(h_ ^ v) * tag;
    h_ = static_cast<uint64_t>(p) ^ static_cast<uint64_t>(p >> 64);
  }
  /// `n` bytes (at most 8) as a little-endian word, whatever the host's byte order.
  static uint64_t load(const char* p, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
    return v;
  }
  void words(uint64_t tag, std::string_view s) {
    word(tag, s.size());
    const char* p = s.data();
    size_t n = s.size();
    for (; n >= 8; p += 8, n -= 8) {
      uint64_t v;
      std::memcpy(&v, p, sizeof v);
      if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
      word(kBodyTag, v);
    }
    if (n > 0) word(kTailTag, load(p, n));
  }

  bool fnv_;
  uint64_t h_;
};

/// Order-independent content hash of a batch's rows: the wrapping sum of each row's
/// 64-bit hash over its type-tagged values. Hashes of parts add up to the hash of the whole.
uint64_t hash_rows(const Batch& batch, RowHashVersion version = kRowHashVersion);
/// Hash of one row's values (type-tagged; 1 and 1.0 differ, '' and NULL differ).
uint64_t hash_row(const std::vector<Value>& row, RowHashVersion version = kRowHashVersion);

}  // namespace parmap
