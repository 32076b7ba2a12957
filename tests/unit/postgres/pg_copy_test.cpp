// Unit tests for the PostgreSQL binary COPY codec, from byte fixtures of PostgreSQL 15's output.
#include "connect/postgres/pg_copy.h"

#include <gtest/gtest.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "connect/driver_helpers.h"
#include "connect/postgres/pg_numeric.h"
#include "connect/postgres/pg_bytes_row_source.h"
#include "parmap/error.h"

namespace parmap::pg {
namespace {

// --- stream builders ---------------------------------------------------------------------

std::string from_hex(std::string_view hex) {
  std::string out;
  int hi = -1;
  for (char c : hex) {
    int v;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else {
      continue;  // spaces group the bytes for reading
    }
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<char>(hi << 4 | v));
      hi = -1;
    }
  }
  return out;
}

std::string to_hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xF]);
  }
  return out;
}

std::string be16(int v) {
  const auto u = static_cast<uint16_t>(v);
  return {static_cast<char>(u >> 8), static_cast<char>(u & 0xFF)};
}

std::string be32(int64_t v) {
  const auto u = static_cast<uint32_t>(v);
  return {static_cast<char>(u >> 24), static_cast<char>(u >> 16 & 0xFF),
          static_cast<char>(u >> 8 & 0xFF), static_cast<char>(u & 0xFF)};
}

std::string be64(int64_t v) {
  return be32(static_cast<int64_t>(static_cast<uint64_t>(v) >> 32)) + be32(v & 0xFFFFFFFF);
}

std::string header() { return std::string("PGCOPY\n\377\r\n\0", 11) + be32(0) + be32(0); }
std::string trailer() { return be16(-1); }
std::string field(const std::string& bytes) {
  return be32(static_cast<int64_t>(bytes.size())) + bytes;
}
std::string null_field() { return be32(-1); }
std::string tuple(const std::vector<std::string>& fields) {
  std::string t = be16(static_cast<int>(fields.size()));
  for (const auto& f : fields) t += f;
  return t;
}

// --- fixtures ----------------------------------------------------------------------------

// One value as PostgreSQL 15 sends it: `sql` is the expression whose
// COPY (SELECT sql) TO STDOUT (FORMAT binary) field is `hex` (nullptr for NULL), checked
// against a real server. `expected` renders the decoded Batch value: integers as stored
// (dates in days and timestamps in microseconds since 1970), doubles as shortest text,
// blobs as \x + hex, the rest as the stored text (what PostgreSQL prints with DateStyle ISO,
// IntervalStyle iso_8601 and TimeZone UTC).
struct Fixture {
  const char* sql;
  uint32_t type_oid;
  const char* type_name;
  const char* hex;
  const char* expected;
};

// clang-format off
const Fixture kFixtures[] = {
    {R"(32767::int2)", oid::kInt2, "smallint", "7fff", R"(32767)"},
    {R"((-32768)::int2)", oid::kInt2, "smallint", "8000", R"(-32768)"},
    {R"((-1)::int4)", oid::kInt4, "integer", "ffffffff", R"(-1)"},
    {R"((-9223372036854775808)::int8)", oid::kInt8, "bigint", "8000000000000000",
     R"(-9223372036854775808)"},
    {R"(NULL::int8)", oid::kInt8, "bigint", nullptr, R"(NULL)"},
    {R"(4294967295::oid)", oid::kOid, "oid", "ffffffff", R"(4294967295)"},
    {R"(1.5::float4)", oid::kFloat4, "real", "3fc00000", R"(1.5)"},
    {R"('NaN'::float4)", oid::kFloat4, "real", "7fc00000", R"(nan)"},
    {R"(0.1::float8)", oid::kFloat8, "double precision", "3fb999999999999a", R"(0.1)"},
    {R"('NaN'::float8)", oid::kFloat8, "double precision", "7ff8000000000000", R"(nan)"},
    {R"('Infinity'::float8)", oid::kFloat8, "double precision", "7ff0000000000000", R"(inf)"},
    {R"('-Infinity'::float8)", oid::kFloat8, "double precision", "fff0000000000000", R"(-inf)"},
    {R"('-0'::float8)", oid::kFloat8, "double precision", "8000000000000000", R"(-0)"},
    {R"(true)", oid::kBool, "boolean", "01", R"(1)"},
    {R"(false)", oid::kBool, "boolean", "00", R"(0)"},
    // numeric: ndigits, weight, sign, dscale, base-10000 digits
    {R"(0::numeric)", oid::kNumeric, "numeric", "0000 0000 0000 0000", R"(0)"},
    {R"(0.00::numeric)", oid::kNumeric, "numeric", "0000 0000 0000 0002", R"(0.00)"},
    {R"(12.50::numeric)", oid::kNumeric, "numeric", "0002 0000 0000 0002 000c 1388", R"(12.50)"},
    {R"((-0.001)::numeric)", oid::kNumeric, "numeric", "0001 ffff 4000 0003 000a", R"(-0.001)"},
    {R"(10000::numeric)", oid::kNumeric, "numeric", "0001 0001 0000 0000 0001", R"(10000)"},
    {R"(123456789012345678901234567890.123456789::numeric)", oid::kNumeric, "numeric",
     "000b 0007 0000 0009 000c 0d80 1ed2 04d2 162e 2334 0d80 1ed2 04d2 162e 2328",
     R"(123456789012345678901234567890.123456789)"},
    {R"(0.00000001::numeric)", oid::kNumeric, "numeric", "0001 fffe 0000 0008 0001",
     R"(0.00000001)"},
    {R"('NaN'::numeric)", oid::kNumeric, "numeric", "0000 0000 c000 0000", R"(NaN)"},
    // PostgreSQL sends dscale 32 for the infinities: the bits of their short header
    {R"('Infinity'::numeric)", oid::kNumeric, "numeric", "0000 0000 d000 0020", R"(Infinity)"},
    {R"('-Infinity'::numeric)", oid::kNumeric, "numeric", "0000 0000 f000 0020", R"(-Infinity)"},
    // date: int32 days since 2000-01-01; the Batch counts from 1970-01-01
    {R"('2000-01-01'::date)", oid::kDate, "date", "00000000", R"(10957)"},
    {R"('1969-12-31'::date)", oid::kDate, "date", "ffffd532", R"(-1)"},
    {R"('2100-12-31'::date)", oid::kDate, "date", "00009019", R"(47846)"},
    {R"('0044-03-15 BC'::date)", oid::kDate, "date", "fff49d7b", R"(-735160)"},
    {R"('infinity'::date)", oid::kDate, "date", "7fffffff", R"(9223372036854775807)"},
    {R"('-infinity'::date)", oid::kDate, "date", "80000000", R"(-9223372036854775808)"},
    {R"('13:45:00.25'::time)", oid::kTime, "time without time zone", "0000000b8671df90",
     R"(49500250000)"},
    // timestamps: int64 microseconds since 2000-01-01 00:00:00
    {R"('1900-01-01 00:00:00'::timestamp)", oid::kTimestamp, "timestamp without time zone",
     "fff4c9ee7c0b8000", R"(-2208988800000000)"},
    {R"('2200-06-01 12:00:00.5'::timestamp)", oid::kTimestamp, "timestamp without time zone",
     "0016781ecebd5120", R"(7271208000500000)"},
    {R"('1969-07-20 20:17:40+00'::timestamptz)", oid::kTimestampTz, "timestamp with time zone",
     "fffc96188bae6100", R"(-14182940000000)"},
    {R"('infinity'::timestamptz)", oid::kTimestampTz, "timestamp with time zone",
     "7fffffffffffffff", R"(9223372036854775807)"},
    // interval: int64 microseconds, int32 days, int32 months
    {R"('1 year 2 mons 3 days 04:05:06.5'::interval)", oid::kInterval, "interval",
     "000000036c9361a0 00000003 0000000e", R"(P1Y2M3DT4H5M6.5S)"},
    {R"('-1 mons +2 days -00:00:01'::interval)", oid::kInterval, "interval",
     "fffffffffff0bdc0 00000002 ffffffff", R"(P-1M2DT-1S)"},
    {R"('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid)", oid::kUuid, "uuid",
     "a0eebc999c0b4ef8bb6d6bb9bd380a11", R"(a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11)"},
    {R"('{"b": [1, 2], "a": null}'::json)", oid::kJson, "json",
     "7b2262223a205b312c20325d2c202261223a206e756c6c7d", R"({"b": [1, 2], "a": null})"},
    {R"('{"b": [1, 2], "a": null}'::jsonb)", oid::kJsonb, "jsonb",
     "01 7b2261223a206e756c6c2c202262223a205b312c20325d7d", R"({"a": null, "b": [1, 2]})"},
    {R"('\x00ff0000'::bytea)", oid::kBytea, "bytea", "00ff0000", R"(\x00ff0000)"},
    {R"(''::text)", oid::kText, "text", "", R"()"},
    {R"(NULL::text)", oid::kText, "text", nullptr, R"(NULL)"},
    {R"(E'tab\there\nnew\\line'::text)", oid::kText, "text",
     "7461620968657265 0a 6e6577 5c 6c696e65",
     "tab\there\nnew\\line"},
    {R"('héllo'::varchar)", oid::kVarchar, "character varying", "68c3a96c6c6f", R"(héllo)"},
    {R"('ab'::char(4))", oid::kBpchar, "character(4)", "61622020", R"(ab  )"},
    {R"('pg_class'::name)", oid::kName, "name", "70675f636c617373", R"(pg_class)"},
    // arrays: ndim, has-null flag, element oid, (size, lower bound) per dimension, elements
    {R"(ARRAY[1,NULL,3]::int4[])", 1007, "integer[]",
     "00000001 00000001 00000017 00000003 00000001 00000004 00000001 ffffffff 00000004 00000003",
     R"({1,NULL,3})"},
    {R"(ARRAY['a b','x"y',NULL,'',' NULL','null','{','\']::text[])", 1009, "text[]",
     "00000001 00000001 00000019 00000008 00000001 00000003 612062 00000003 782279 ffffffff "
     "00000000 00000005 204e554c4c 00000004 6e756c6c 00000001 7b 00000001 5c",
     R"({"a b","x\"y",NULL,""," NULL","null","{","\\"})"},
    {R"(ARRAY['a,b','}','plain']::varchar[])", 1015, "character varying[]",
     "00000001 00000000 00000413 00000003 00000001 00000003 612c62 00000001 7d 00000005 706c61696e",
     R"({"a,b","}",plain})"},
    {R"(ARRAY[[1,2],[3,4]]::int8[])", 1016, "bigint[]",
     "00000002 00000000 00000014 00000002 00000001 00000002 00000001 "
     "00000008 0000000000000001 00000008 0000000000000002 "
     "00000008 0000000000000003 00000008 0000000000000004",
     R"({{1,2},{3,4}})"},
    {R"('[0:1]={1,2}'::int4[])", 1007, "integer[]",
     "00000001 00000000 00000017 00000002 00000000 00000004 00000001 00000004 00000002",
     R"([0:1]={1,2})"},
    {R"('{}'::int4[])", 1007, "integer[]", "00000000 00000000 00000017", R"({})"},
    {R"(ARRAY[12.50,NULL,'NaN']::numeric[])", 1231, "numeric[]",
     "00000001 00000001 000006a4 00000003 00000001 0000000c 0002 0000 0000 0002 000c 1388 "
     "ffffffff 00000008 0000 0000 c000 0000",
     R"({12.50,NULL,NaN})"},
    {R"(ARRAY['2000-01-01 00:00:00+00','infinity']::timestamptz[])", 1185,
     "timestamp with time zone[]",
     "00000001 00000000 000004a0 00000002 00000001 00000008 0000000000000000 "
     "00000008 7fffffffffffffff",
     R"({"2000-01-01 00:00:00+00",infinity})"},
    {R"(ARRAY['0044-03-15 BC','2000-01-01']::date[])", 1182, "date[]",
     "00000001 00000000 0000043a 00000002 00000001 00000004 fff49d7b 00000004 00000000",
     R"({"0044-03-15 BC",2000-01-01})"},
    {R"(ARRAY['\x0001'::bytea,'']::bytea[])", 1001, "bytea[]",
     "00000001 00000000 00000011 00000002 00000001 00000002 0001 00000000",
     R"({"\\x0001","\\x"})"},
    {R"(ARRAY['NaN','Infinity','-Infinity','1e20','0.1','-0']::float8[])", 1022,
     "double precision[]",
     "00000001 00000000 000002bd 00000006 00000001 00000008 7ff8000000000000 "
     "00000008 7ff0000000000000 00000008 fff0000000000000 00000008 4415af1d78b58c40 "
     "00000008 3fb999999999999a 00000008 8000000000000000",
     R"({NaN,Infinity,-Infinity,1e+20,0.1,-0})"},
    {R"(ARRAY[1.5,1e6,123456.7]::float4[])", 1021, "real[]",
     "00000001 00000000 000002bc 00000003 00000001 00000004 3fc00000 00000004 49742400 "
     "00000004 47f1205a",
     R"({1.5,1e+06,123456.7})"},
    {R"(ARRAY[true,false]::bool[])", 1000, "boolean[]",
     "00000001 00000000 00000010 00000002 00000001 00000001 01 00000001 00", R"({t,f})"},
    {R"(ARRAY['{"a": 1}'::jsonb])", 3807, "jsonb[]",
     "00000001 00000000 00000eda 00000001 00000001 00000009 01 7b2261223a20317d",
     R"({"{\"a\": 1}"})"},
    {R"(ARRAY['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid])", 2951, "uuid[]",
     "00000001 00000000 00000b86 00000001 00000001 00000010 a0eebc999c0b4ef8bb6d6bb9bd380a11",
     R"({a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11})"},
    {R"(ARRAY['1 year 2 mons 3 days 04:05:06.5'::interval,'13:45:00.25'])", 1187, "interval[]",
     "00000001 00000000 000004a2 00000002 00000001 00000010 000000036c9361a0 00000003 0000000e "
     "00000010 0000000b8671df90 00000000 00000000",
     R"({P1Y2M3DT4H5M6.5S,PT13H45M0.25S})"},
};
// clang-format on

// '0044-03-15 BC' in days since 1970-01-01.
constexpr int64_t kFixtureBcDays = -735160;

// A value as COPY's text format writes it (the fixtures hold no tabs or line breaks).
std::string copy_escaped(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

bool is_array(const Fixture& f) { return element_oid(f.type_oid) != 0; }

std::string field_of(const Fixture& f) { return f.hex ? field(from_hex(f.hex)) : null_field(); }

std::string one_value_stream(const Fixture& f) {
  return header() + tuple({field_of(f)}) + trailer();
}

std::vector<PgColumn> columns_of(const Fixture& f) {
  return {PgColumn{"c", f.type_oid, -1, f.type_name}};
}

std::string render(const Column& c, size_t row) {
  if (c.is_null(row)) return "NULL";
  if (c.type == ColumnType::Double) {
    char buf[64];
    return std::string(buf, std::to_chars(buf, buf + sizeof buf, c.doubles[row]).ptr);
  }
  if (stored_as_int(c.type)) return std::to_string(c.ints[row]);
  if (c.type == ColumnType::Blob) return "\\x" + to_hex(c.strings[row]);
  return c.strings[row];
}

std::vector<std::string> render_all(const Batch& b) {
  std::vector<std::string> out;
  for (const Column& c : b.columns) {
    out.push_back(c.name + ":" + to_string(c.type) + ":" + c.declared_type);
    for (size_t r = 0; r < c.size(); ++r) out.push_back(render(c, r));
  }
  return out;
}

Batch decode_all(const std::vector<PgColumn>& cols, const std::string& stream) {
  CopyDecoder decoder(cols);
  Batch b = decoder.make_batch();
  decoder.feed(stream, b);
  EXPECT_TRUE(decoder.finished());
  return b;
}

// --- decoding ----------------------------------------------------------------------------

TEST(PgCopyDecoder, DecodesEveryFixture) {
  for (const Fixture& f : kFixtures) {
    SCOPED_TRACE(f.sql);
    CopyDecoder decoder(columns_of(f));
    Batch b = decoder.make_batch();
    EXPECT_EQ(decoder.feed(one_value_stream(f), b), 1u);
    EXPECT_TRUE(decoder.finished());
    ASSERT_EQ(b.num_rows(), 1u);
    const Column& c = b.columns[0];
    EXPECT_EQ(c.name, "c");
    EXPECT_EQ(c.type, column_type_for_oid(f.type_oid));
    EXPECT_EQ(c.declared_type, f.type_name);
    EXPECT_EQ(render(c, 0), f.expected);
  }
}

TEST(PgCopyDecoder, TypesForOids) {
  EXPECT_EQ(column_type_for_oid(oid::kInt2), ColumnType::Int64);
  EXPECT_EQ(column_type_for_oid(oid::kOid), ColumnType::Int64);
  EXPECT_EQ(column_type_for_oid(oid::kFloat4), ColumnType::Double);
  EXPECT_EQ(column_type_for_oid(oid::kName), ColumnType::Text);
  EXPECT_EQ(column_type_for_oid(oid::kJsonb), ColumnType::Json);
  EXPECT_EQ(column_type_for_oid(oid::kTimestampTz), ColumnType::TimestampTz);
  EXPECT_EQ(column_type_for_oid(1231), ColumnType::Array);
  EXPECT_EQ(column_type_for_oid(600), ColumnType::Text);  // point: unknown
  EXPECT_EQ(element_oid(1007), oid::kInt4);
  EXPECT_EQ(element_oid(oid::kInt4), 0u);
  EXPECT_TRUE(supported_oid(3807));
  EXPECT_TRUE(supported_oid(oid::kUuid));
  EXPECT_FALSE(supported_oid(600));
  EXPECT_STREQ(postgres_type_name(ColumnType::Double), "double precision");
  EXPECT_STREQ(postgres_type_name(ColumnType::Json), "jsonb");
  EXPECT_STREQ(postgres_type_name(ColumnType::Array), "text[]");
}

// All fixtures as the columns of one stream: a row of values, a row of NULLs, the values again.
struct WideStream {
  std::vector<PgColumn> columns;
  std::string bytes;
};

WideStream wide_stream() {
  WideStream w;
  std::vector<std::string> values, nulls;
  for (const Fixture& f : kFixtures) {
    w.columns.push_back(
        PgColumn{"c" + std::to_string(w.columns.size()), f.type_oid, -1, f.type_name});
    values.push_back(field_of(f));
    nulls.push_back(null_field());
  }
  w.bytes = header() + tuple(values) + tuple(nulls) + tuple(values) + trailer();
  return w;
}

TEST(PgCopyDecoder, AnySplitGivesTheSameBatch) {
  const WideStream w = wide_stream();
  const std::vector<std::string> whole = render_all(decode_all(w.columns, w.bytes));
  ASSERT_EQ(whole.size(), w.columns.size() * 4);
  for (size_t cut = 0; cut <= w.bytes.size(); ++cut) {
    CopyDecoder decoder(w.columns);
    Batch b = decoder.make_batch();
    size_t rows = decoder.feed(std::string_view(w.bytes).substr(0, cut), b);
    rows += decoder.feed(std::string_view(w.bytes).substr(cut), b);
    ASSERT_EQ(rows, 3u) << "cut at " << cut;
    ASSERT_TRUE(decoder.finished());
    ASSERT_EQ(render_all(b), whole) << "cut at " << cut;
  }
  CopyDecoder decoder(w.columns);
  Batch b = decoder.make_batch();
  size_t rows = 0;
  for (char c : w.bytes) {
    EXPECT_FALSE(decoder.finished());
    rows += decoder.feed(std::string_view(&c, 1), b);
  }
  EXPECT_EQ(rows, 3u);
  EXPECT_TRUE(decoder.finished());
  EXPECT_EQ(render_all(b), whole);
  EXPECT_EQ(decoder.feed("", b), 0u);
}

TEST(PgCopyDecoder, SkipsHeaderExtensionAndIgnoresLowFlags) {
  const std::string stream = std::string("PGCOPY\n\377\r\n\0", 11) + be32(0x0000FFFF) + be32(3) +
                             "xyz" + tuple({field(be32(7))}) + tuple({null_field()}) + trailer();
  Batch b = decode_all({PgColumn{"n", oid::kInt4, -1, "integer"}}, stream);
  EXPECT_EQ(render_all(b),
            (std::vector<std::string>{"n:" + std::string(to_string(ColumnType::Int64)) + ":integer",
                                      "7", "NULL"}));
}

void expect_malformed(const std::vector<PgColumn>& cols, const std::string& stream,
                      const std::string& fragment) {
  CopyDecoder decoder(cols);
  Batch b = decoder.make_batch();
  try {
    decoder.feed(stream, b);
    ADD_FAILURE() << "no throw for " << to_hex(stream);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Internal);
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(PgCopyDecoder, MalformedInputThrows) {
  const std::vector<PgColumn> int4{{"n", oid::kInt4, -1, "integer"}};
  expect_malformed(int4, "PGCOPX\n", "bad signature");
  expect_malformed(int4, "not a copy stream at all", "bad signature");
  expect_malformed(int4, std::string("PGCOPY\n\377\r\n\0", 11) + be32(1 << 16) + be32(0), "flags");
  expect_malformed(int4, header() + tuple({field(be32(1)), field(be32(2))}), "2 fields");
  expect_malformed(int4, header() + tuple({field("abc")}), "column \"n\" (integer), row 1");
  expect_malformed(int4, header() + be16(1) + be32(-2), "negative field length");
  expect_malformed(int4, header() + trailer() + "x", "after the trailer");
  const std::vector<PgColumn> num{{"amount", oid::kNumeric, -1, "numeric"}};
  expect_malformed(num, header() + tuple({field(from_hex("0001 0000 0000 0000 2710"))}), "amount");
  expect_malformed(num, header() + tuple({field(from_hex("0002 0000 0000 0000 0001"))}), "numeric");
  expect_malformed(num, header() + tuple({field(from_hex("0000 0000 1234 0000"))}), "numeric");
  expect_malformed({{"j", oid::kJsonb, -1, "jsonb"}}, header() + tuple({field("\x02{}")}), "jsonb");
  const std::vector<PgColumn> arr{{"a", 1007, -1, "integer[]"}};
  expect_malformed(arr,
                   header() + tuple({field(from_hex("00000001 00000000 00000014 00000001 "
                                                    "00000001 00000004 00000001"))}),
                   "element oid");
  expect_malformed(arr,
                   header() + tuple({field(from_hex("00000001 00000000 00000017 00000002 "
                                                    "00000001 00000004 00000001"))}),
                   "array");
  expect_malformed(arr,
                   header() + tuple({field(from_hex("00000001 00000000 00000017 00000001 "
                                                    "00000001 00000002 0001"))}),
                   "array element of 2 bytes");
  expect_malformed(arr, header() + tuple({field(from_hex("00000007 00000000 00000017"))}),
                   "7 array dimensions");
  // A truncated stream is not an error by itself: the decoder waits for more bytes.
  CopyDecoder decoder(int4);
  Batch b = decoder.make_batch();
  EXPECT_EQ(decoder.feed(header() + be16(1) + be32(4) + "ab", b), 0u);
  EXPECT_FALSE(decoder.finished());
  Batch wrong_width;
  EXPECT_THROW(decoder.feed("cd", wrong_width), Error);
  EXPECT_EQ(decoder.feed("cd", b), 1u);
  EXPECT_EQ(b.columns[0].ints.at(0), 0x61626364);
}

// --- encoding ----------------------------------------------------------------------------

TEST(PgCopyEncoder, BinaryRoundTripIsByteExact) {
  for (const Fixture& f : kFixtures) {
    SCOPED_TRACE(f.sql);
    const Batch b = decode_all(columns_of(f), one_value_stream(f));
    CopyEncoder encoder(columns_of(f));
    if (is_array(f)) {
      // Arrays go through text format: PostgreSQL parses the literal.
      EXPECT_FALSE(encoder.binary_ok(b));
      std::string text;
      encoder.encode_text(b, text);
      EXPECT_EQ(text, (f.hex ? copy_escaped(f.expected) : "\\N") + "\n");
      continue;
    }
    ASSERT_TRUE(encoder.binary_ok(b));
    std::string out;
    CopyEncoder::binary_header(out);
    encoder.encode_binary(b, out);
    CopyEncoder::binary_trailer(out);
    EXPECT_EQ(to_hex(out), to_hex(one_value_stream(f)));
  }
}

TEST(PgCopyEncoder, WideStreamRoundTrip) {
  WideStream w = wide_stream();
  std::vector<PgColumn> scalars;
  for (const PgColumn& c : w.columns) {
    if (element_oid(c.type_oid) == 0) scalars.push_back(c);
  }
  std::vector<std::string> values, nulls;
  for (const Fixture& f : kFixtures) {
    if (is_array(f)) continue;
    values.push_back(field_of(f));
    nulls.push_back(null_field());
  }
  const std::string body = tuple(values) + tuple(nulls) + tuple(values);
  const Batch b = decode_all(scalars, header() + body + trailer());
  CopyEncoder encoder(scalars);
  ASSERT_TRUE(encoder.binary_ok(b));
  std::string out;
  encoder.encode_binary(b, out);
  EXPECT_EQ(to_hex(out), to_hex(body));
}

Batch one_column(ColumnType type, const std::string& name = "v") {
  Batch b;
  Column& c = b.columns.emplace_back();
  c.name = name;
  c.type = type;
  return b;
}

std::string numeric_hex(std::string_view text) {
  std::string out;
  const char* reason = numeric_from_text(text, out);
  return reason ? std::string("error: ") + reason : to_hex(out);
}

std::string numeric_round_trip(std::string_view text) {
  std::string bin, back;
  if (numeric_from_text(text, bin) != nullptr) return "error";
  if (!numeric_to_text(bin, back)) return "bad binary";
  return back;
}

TEST(PgNumeric, TextToBinaryMatchesPostgres) {
  EXPECT_EQ(numeric_hex("0"), "0000000000000000");
  EXPECT_EQ(numeric_hex("-0"), "0000000000000000");
  EXPECT_EQ(numeric_hex("0.00"), "0000000000000002");
  EXPECT_EQ(numeric_hex("12.50"), "0002000000000002000c1388");
  EXPECT_EQ(numeric_hex("-0.001"), "0001ffff40000003000a");
  EXPECT_EQ(numeric_hex("10000"), "00010001000000000001");
  EXPECT_EQ(numeric_hex("0.00000001"), "0001fffe000000080001");
  EXPECT_EQ(numeric_hex("123456789012345678901234567890.123456789"),
            "000b000700000009000c0d801ed204d2162e23340d801ed204d2162e2328");
  EXPECT_EQ(numeric_hex("NaN"), "00000000c0000000");
  EXPECT_EQ(numeric_hex(" -inf "), "00000000f0000020");
  EXPECT_EQ(numeric_hex("+Infinity"), "00000000d0000020");
  EXPECT_EQ(numeric_hex("abc"), "error: not a number");
  EXPECT_EQ(numeric_hex("1e"), "error: not a number");
  EXPECT_EQ(numeric_hex("."), "error: not a number");
  EXPECT_EQ(numeric_hex("1.2.3"), "error: not a number");
  EXPECT_EQ(numeric_hex("-NaN"), "error: not a number");
  EXPECT_EQ(numeric_hex("1e-20000"), "error: out of numeric range");
  EXPECT_EQ(numeric_hex("1e200000"), "error: out of numeric range");
}

TEST(PgNumeric, TextRoundTripsExactly) {
  for (const char* text : {"0",
                           "0.00",
                           "1",
                           "-1",
                           "12.50",
                           "-0.001",
                           "9999",
                           "10000",
                           "10001",
                           "99999999.9999",
                           "0.1",
                           "0.0001",
                           "0.00001",
                           "1234.5678",
                           "-123456789012345678901234567890.123456789",
                           "100000000000000000000",
                           "0.000000000000000000000000000000000000001",
                           "NaN",
                           "Infinity",
                           "-Infinity"}) {
    EXPECT_EQ(numeric_round_trip(text), text);
  }
  EXPECT_EQ(numeric_round_trip("1.5e3"), "1500");
  EXPECT_EQ(numeric_round_trip("1.50E1"), "15.0");
  EXPECT_EQ(numeric_round_trip("1.5e-3"), "0.0015");
  EXPECT_EQ(numeric_round_trip(".5"), "0.5");
  EXPECT_EQ(numeric_round_trip("5."), "5");
  EXPECT_EQ(numeric_round_trip("+007.10"), "7.10");
  EXPECT_EQ(numeric_round_trip("-0.000"), "0.000");
}

TEST(PgCopyEncoder, IntegersAndDoublesIntoNumeric) {
  Batch b = one_column(ColumnType::Int64);
  b.columns[0].append_int(std::numeric_limits<int64_t>::min());
  b.columns[0].append_int(0);
  Batch d = one_column(ColumnType::Double);
  for (double v : {0.1, 1e20, -2.5, std::numeric_limits<double>::quiet_NaN(),
                   -std::numeric_limits<double>::infinity(), 5e-324}) {
    d.columns[0].append_double(v);
  }
  const std::vector<PgColumn> target{{"n", oid::kNumeric, -1, "numeric"}};
  CopyEncoder encoder(target);
  ASSERT_TRUE(encoder.binary_ok(b));
  ASSERT_TRUE(encoder.binary_ok(d));
  std::string stream = header();
  encoder.encode_binary(b, stream);
  encoder.encode_binary(d, stream);
  stream += trailer();
  const Batch back = decode_all(target, stream);
  std::vector<std::string> got;
  for (size_t r = 0; r < back.num_rows(); ++r) got.push_back(render(back.columns[0], r));
  const std::string tiny = "0." + std::string(323, '0') + "5";
  EXPECT_EQ(got,
            (std::vector<std::string>{"-9223372036854775808", "0", "0.1", "100000000000000000000",
                                      "-2.5", "NaN", "-Infinity", tiny}));
}

void expect_refused(const Batch& b, const std::vector<PgColumn>& target,
                    const std::string& fragment) {
  CopyEncoder encoder(target);
  ASSERT_TRUE(encoder.binary_ok(b));
  std::string out;
  try {
    encoder.encode_binary(b, out);
    ADD_FAILURE() << "no throw for " << fragment;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Data);
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(PgCopyEncoder, RangeChecksRaiseDataErrors) {
  Batch small = one_column(ColumnType::Int64, "qty");
  small.columns[0].append_int(32767);
  small.columns[0].append_int(32768);
  expect_refused(small, {{"qty", oid::kInt2, -1, "smallint"}},
                 "column \"qty\" (smallint), row 2 of the batch: value '32768' is out of range");
  Batch wide = one_column(ColumnType::Int64, "id");
  wide.columns[0].append_int(-2147483649LL);
  expect_refused(wide, {{"id", oid::kInt4, -1, "integer"}}, "'-2147483649' is out of range");
  Batch real = one_column(ColumnType::Double, "x");
  real.columns[0].append_double(std::numeric_limits<double>::infinity());
  real.columns[0].append_double(std::numeric_limits<double>::quiet_NaN());
  real.columns[0].append_double(3.4e38);
  real.columns[0].append_double(1e39);
  expect_refused(real, {{"x", oid::kFloat4, -1, "real"}}, "'1e+39' is out of range for real");
  Batch num = one_column(ColumnType::Numeric, "amount");
  num.columns[0].append_string("12.5x");
  expect_refused(num, {{"amount", oid::kNumeric, -1, "numeric(12,2)"}},
                 "column \"amount\" (numeric(12,2)), row 1 of the batch: value '12.5x' is not a "
                 "number");
  Batch uuid = one_column(ColumnType::Uuid, "u");
  uuid.columns[0].append_string("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1");
  expect_refused(uuid, {{"u", oid::kUuid, -1, "uuid"}}, "is not a uuid");
  Batch uuid_text = one_column(ColumnType::Text, "u");
  uuid_text.columns[0].append_string(" a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
  expect_refused(uuid_text, {{"u", oid::kUuid, -1, "uuid"}},
                 "value ' a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11' is not a uuid");
  Batch iv = one_column(ColumnType::Interval, "i");
  iv.columns[0].append_string("1 day");
  expect_refused(iv, {{"i", oid::kInterval, -1, "interval"}}, "not an ISO 8601 interval");
  Batch ts = one_column(ColumnType::Timestamp, "t");
  ts.columns[0].append_int(std::numeric_limits<int64_t>::min() + 1);  // before 4714 BC
  expect_refused(ts, {{"t", oid::kTimestamp, -1, "timestamp"}}, "out of range");
  Batch time = one_column(ColumnType::Time, "t");
  time.columns[0].append_int(-1);
  expect_refused(time, {{"t", oid::kTime, -1, "time"}}, "not a time of day");
}

TEST(PgCopyEncoder, UuidInputForms) {
  Batch b = one_column(ColumnType::Uuid);
  for (const char* text :
       {"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", "{a0eebc99-9c0b4ef8-bb6d6bb9-bd380a11}",
        "a0eebc999c0b4ef8bb6d6bb9bd380a11"}) {
    b.columns[0].append_string(text);
  }
  const std::vector<PgColumn> target{{"u", oid::kUuid, -1, "uuid"}};
  std::string stream = header();
  CopyEncoder(target).encode_binary(b, stream);
  stream += trailer();
  const Batch back = decode_all(target, stream);
  for (size_t r = 0; r < 3; ++r) {
    EXPECT_EQ(back.columns[0].strings[r], "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
  }
}

TEST(PgCopyEncoder, BinaryOkOnlyForNativePairs) {
  auto ok = [](ColumnType type, uint32_t target) {
    return CopyEncoder({{"c", target, -1, ""}}).binary_ok(one_column(type));
  };
  EXPECT_TRUE(ok(ColumnType::Int64, oid::kInt2));
  EXPECT_TRUE(ok(ColumnType::Int64, oid::kNumeric));
  EXPECT_TRUE(ok(ColumnType::Double, oid::kFloat4));
  EXPECT_TRUE(ok(ColumnType::Text, oid::kJsonb));
  EXPECT_TRUE(ok(ColumnType::Json, oid::kJson));
  EXPECT_TRUE(ok(ColumnType::TimestampTz, oid::kTimestamp));
  EXPECT_TRUE(ok(ColumnType::Text, oid::kUuid));  // a SQLite TEXT column of uuids
  EXPECT_FALSE(ok(ColumnType::Json, oid::kUuid));
  EXPECT_FALSE(ok(ColumnType::Int64, oid::kFloat8));
  EXPECT_FALSE(ok(ColumnType::Text, oid::kDate));
  EXPECT_FALSE(ok(ColumnType::Text, oid::kNumeric));
  EXPECT_FALSE(ok(ColumnType::Array, 1007));
  EXPECT_FALSE(ok(ColumnType::Any, oid::kText));
  EXPECT_FALSE(ok(ColumnType::Blob, oid::kText));
  EXPECT_FALSE(CopyEncoder({}).binary_ok(one_column(ColumnType::Int64)));
  std::string out;
  EXPECT_THROW(CopyEncoder({}).encode_binary(one_column(ColumnType::Int64), out), Error);
}

TEST(PgCopyEncoder, TextFormatEscapesAndFormats) {
  Batch b;
  auto add = [&](const char* name, ColumnType type) -> Column& {
    Column& c = b.columns.emplace_back();
    c.name = name;
    c.type = type;
    return c;
  };
  Column& text = add("text", ColumnType::Text);
  text.append_string("a\tb\nc\rd\\e");
  text.append_string("");
  text.append_null();
  Column& dbl = add("dbl", ColumnType::Double);
  dbl.append_double(std::numeric_limits<double>::quiet_NaN());
  dbl.append_double(-std::numeric_limits<double>::infinity());
  dbl.append_double(0.1);
  Column& flag = add("flag", ColumnType::Bool);
  flag.append_int(1);
  flag.append_int(0);
  flag.append_null();
  Column& blob = add("blob", ColumnType::Blob);
  blob.append_string(std::string("\0\xff", 2));
  blob.append_string("");
  blob.append_null();
  Column& any = add("any", ColumnType::Any);
  any.values = {Value(int64_t{42}), Value(1e20), Value(Blob{"\x01"})};
  any.nulls = {0, 0, 0};
  Column& day = add("day", ColumnType::Date);
  day.append_int(10957);
  day.append_int(kFixtureBcDays);
  day.append_null();
  Column& ts = add("ts", ColumnType::TimestampTz);
  ts.append_int(-14182940000000);
  ts.append_null();
  ts.append_null();
  Column& num = add("num", ColumnType::Numeric);
  num.append_string("-0.001");
  num.append_null();
  num.append_string("NaN");
  std::vector<PgColumn> target;
  for (const Column& c : b.columns) target.push_back(PgColumn{c.name, oid::kText, -1, "text"});
  std::string out;
  CopyEncoder(target).encode_text(b, out);
  EXPECT_EQ(
      out,
      "a\\tb\\nc\\rd\\\\e\tNaN\tt\t\\\\x00ff\t42\t2000-01-01\t1969-07-20 20:17:40+00\t-0.001\n"
      "\t-Infinity\tf\t\\\\x\t1e+20\t0044-03-15 BC\t\\N\t\\N\n"
      "\\N\t0.1\t\\N\t\\N\t\\\\x01\t\\N\t\\N\tNaN\n");
}

// --- hashing -----------------------------------------------------------------------------

TEST(PgTupleHasher, CountsAndHashesAcrossSplitsIndependentOfOrder) {
  const std::string a = tuple({field(be32(1)), field("x")});
  const std::string b = tuple({field(be32(2)), null_field()});
  const std::string c = tuple({field(be32(3)), field("")});
  auto hash_of = [](const std::string& stream) {
    TupleHasher h;
    h.feed(stream);
    return std::make_pair(h.rows(), h.hash());
  };
  const auto abc = hash_of(header() + a + b + c + trailer());
  EXPECT_EQ(abc.first, 3);
  EXPECT_EQ(hash_of(header() + c + a + b + trailer()), abc);
  EXPECT_NE(hash_of(header() + a + b + a + trailer()).second, abc.second);
  EXPECT_NE(hash_of(header() + a + b + trailer()).second, abc.second);
  // The header's extension does not take part.
  const std::string extended = std::string("PGCOPY\n\377\r\n\0", 11) + be32(0) + be32(2) + "ab";
  EXPECT_EQ(hash_of(extended + b + c + a + trailer()), abc);
  // Parts hash to the sum of the whole.
  TupleHasher first, second;
  first.feed(header() + a + trailer());
  second.feed(header() + b + c + trailer());
  EXPECT_EQ(first.hash() + second.hash(), abc.second);

  const std::string stream = header() + a + b + c + trailer();
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    TupleHasher h;
    h.feed(stream.substr(0, cut));
    h.feed(stream.substr(cut));
    ASSERT_EQ(std::make_pair(h.rows(), h.hash()), abc) << "cut at " << cut;
  }
  TupleHasher bytewise;
  for (char ch : stream) bytewise.feed(std::string_view(&ch, 1));
  EXPECT_EQ(std::make_pair(bytewise.rows(), bytewise.hash()), abc);
  bytewise.feed("");
  EXPECT_THROW(bytewise.feed("x"), Error);
  TupleHasher bad;
  EXPECT_THROW(bad.feed("PGCOPZ"), Error);
}

// --- rows with their positions --------------------------------------------------------

TEST(PgPositionedRow, DropsTheCtidAndKeepsTheRowsBytesAsSelectStarSendsThem) {
  // ctid (7, 3): block 7, line pointer 3.
  const std::string ctid = field(be32(7) + be16(3));
  const std::string a = tuple({field(be32(1)), field("x")});
  const std::string with_ctid = tuple({ctid, field(be32(1)), field("x")});
  std::string first = header() + with_ctid;
  bool header_done = false;
  PositionedRow cut = cut_positioned_row(first.data(), first.size(), header_done);
  EXPECT_TRUE(header_done);
  EXPECT_EQ(cut.block, 7);
  EXPECT_EQ(to_hex(cut.row), to_hex(a));

  // A later row: no header; a block past 2^31 stays positive; NULL fields pass.
  const std::string b = tuple({null_field(), field("")});
  std::string second = tuple({field(be32(int64_t{3000000000}) + be16(1)), null_field(), field("")});
  cut = cut_positioned_row(second.data(), second.size(), header_done);
  EXPECT_EQ(cut.block, int64_t{3000000000});
  EXPECT_EQ(to_hex(cut.row), to_hex(b));

  // The trailer ends the rows; an empty table sends it with the header.
  std::string end = trailer();
  EXPECT_TRUE(cut_positioned_row(end.data(), end.size(), header_done).row.empty());
  std::string empty = header() + trailer();
  bool fresh = false;
  EXPECT_TRUE(cut_positioned_row(empty.data(), empty.size(), fresh).row.empty());

  // Two rows in one message, a cut row, or a first field that is not a ctid: refused.
  for (std::string bad : {with_ctid + with_ctid, with_ctid.substr(0, with_ctid.size() - 1),
                          tuple({field(be32(1)), field("x")}), std::string("\0\1", 2)}) {
    EXPECT_THROW(cut_positioned_row(bad.data(), bad.size(), header_done), Error) << to_hex(bad);
  }
}

TEST(PgBytesRowSource, DecodesThePasssRowsInBatchesAsOneStreamWould) {
  const std::vector<PgColumn> cols{{"id", oid::kInt4, -1, "integer"},
                                   {"s", oid::kText, -1, "text"}};
  std::string rows;
  for (int i = 0; i < 10; ++i) {
    rows += tuple({field(be32(i)), i % 3 == 0 ? null_field() : field(std::string(i, 'x'))});
  }
  const std::string head = header();
  auto rows_of = [](const Batch& b, std::vector<std::string>& out) {
    for (size_t r = 0; r < b.num_rows(); ++r) {
      out.push_back(render(b.columns[0], r) + "|" + render(b.columns[1], r));
    }
  };
  std::vector<std::string> whole;
  rows_of(decode_all(cols, head + rows + trailer()), whole);
  ASSERT_EQ(whole.size(), 10u);
  // Batches of 4 rows, then batches bounded by bytes only: together, the same rows.
  for (const auto& [batch_rows, batch_bytes] : {std::pair<size_t, size_t>{4, 0}, {100, 40}}) {
    PgBytesRowSource source(cols, head, rows, batch_rows, batch_bytes);
    std::vector<std::string> got;
    Batch b;
    int batches = 0;
    while (source.next(b)) {
      ++batches;
      EXPECT_LE(b.num_rows(), batch_rows);
      rows_of(b, got);
    }
    EXPECT_EQ(got, whole);
    EXPECT_GE(batches, 3);
  }
  // Rows cut short, or holding the trailer: refused, never a short batch.
  for (const std::string& bad : {rows.substr(0, rows.size() - 1), rows + trailer()}) {
    PgBytesRowSource source(cols, head, bad, 100, 0);
    Batch b;
    EXPECT_THROW(source.next(b), Error);
  }
}

// --- throughput --------------------------------------------------------------------------

TEST(PgCopyThroughput, DISABLED_MillionMixedRows) {
  const std::vector<PgColumn> cols{{"id", oid::kInt8, -1, "bigint"},
                                   {"qty", oid::kInt4, -1, "integer"},
                                   {"price", oid::kFloat8, -1, "double precision"},
                                   {"name", oid::kText, -1, "text"},
                                   {"amount", oid::kNumeric, -1, "numeric(12,2)"},
                                   {"at", oid::kTimestampTz, -1, "timestamptz"},
                                   {"ok", oid::kBool, -1, "boolean"},
                                   {"note", oid::kText, -1, "text"}};
  constexpr size_t kRows = 1'000'000;
  std::vector<std::string> messages;
  messages.reserve(kRows + 1);
  size_t bytes = 0;
  for (size_t i = 0; i < kRows; ++i) {
    std::string m = i == 0 ? header() : std::string();
    m += tuple({field(be64(static_cast<int64_t>(i))), field(be32(static_cast<int64_t>(i % 1000))),
                field(be64(0x3fb999999999999aLL)), field("customer name " + std::to_string(i)),
                field(from_hex("0002 0000 0000 0002 000c 1388")),
                field(be64(static_cast<int64_t>(i) * 1'000'000)), field(from_hex("01")),
                i % 3 == 0 ? null_field() : field("n")});
    bytes += m.size();
    messages.push_back(std::move(m));
  }
  messages.push_back(trailer());
  using Clock = std::chrono::steady_clock;
  CopyDecoder decoder(cols);
  Batch batch = decoder.make_batch();
  auto t0 = Clock::now();
  size_t rows = 0;
  for (const std::string& m : messages) rows += decoder.feed(m, batch);
  const double decode_s = std::chrono::duration<double>(Clock::now() - t0).count();
  ASSERT_EQ(rows, kRows);

  CopyEncoder encoder(cols);
  ASSERT_TRUE(encoder.binary_ok(batch));
  std::string out;
  t0 = Clock::now();
  encoder.encode_binary(batch, out);
  const double encode_s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::string text;
  t0 = Clock::now();
  encoder.encode_text(batch, text);
  const double text_s = std::chrono::duration<double>(Clock::now() - t0).count();
  TupleHasher hasher;
  t0 = Clock::now();
  for (const std::string& m : messages) hasher.feed(m);
  const double hash_s = std::chrono::duration<double>(Clock::now() - t0).count();
  ASSERT_EQ(hasher.rows(), static_cast<int64_t>(kRows));
  const double mb = static_cast<double>(bytes) / 1e6;
  std::printf(
      "%zu rows, %.0f MB: decode %.0f rows/s (%.0f MB/s), encode binary %.0f rows/s, "
      "encode text %.0f rows/s, hash %.0f rows/s\n",
      kRows, mb, kRows / decode_s, mb / decode_s, kRows / encode_s, kRows / text_s, kRows / hash_s);
}

}  // namespace
}  // namespace parmap::pg
