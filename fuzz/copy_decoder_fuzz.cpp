// Fuzzes the PostgreSQL binary COPY decoder (pg::CopyDecoder) and the fast path's row hasher
// (pg::TupleHasher).
//
// Input layout:
//   byte 0            number of columns (mod 9: 0..8)
//   1 byte a column   its type, an index into kTypes below
//   1 byte            number of piece sizes k (mod 16)
//   k bytes           piece sizes, used in turn to cut the stream (0 is an empty piece)
//   the rest          the COPY stream
//
// Properties beyond "no crash":
// - feed() returns or throws parmap::Error, nothing else (TupleHasher the same);
// - the stream fed in one piece and in pieces gives the same outcome: both accept it with
//   the same batch, row count and finished(), or both throw;
// - an accepted stream leaves every column of the batch with one entry a row, in the storage
//   its type uses; TupleHasher counts the same rows whole and in pieces, with the same hash.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "connect/postgres/pg_copy.h"
#include "parmap/error.h"

namespace {

using parmap::Batch;
using parmap::Column;
using parmap::ColumnType;
using parmap::pg::PgColumn;

struct TypeChoice {
  uint32_t oid;
  const char* name;
};

// Every type the decoder knows, their arrays, and two it does not (point, inet).
constexpr TypeChoice kTypes[] = {
    {16, "boolean"},          {17, "bytea"},
    {18, "\"char\""},         {19, "name"},
    {20, "bigint"},           {21, "smallint"},
    {23, "integer"},          {25, "text"},
    {26, "oid"},              {114, "json"},
    {700, "real"},            {701, "double precision"},
    {1042, "character(3)"},   {1043, "character varying"},
    {1082, "date"},           {1083, "time without time zone"},
    {1114, "timestamp"},      {1184, "timestamp with time zone"},
    {1186, "interval"},       {1700, "numeric(12,2)"},
    {2950, "uuid"},           {3802, "jsonb"},
    {1000, "boolean[]"},      {1001, "bytea[]"},
    {1002, "\"char\"[]"},     {1003, "name[]"},
    {1005, "smallint[]"},     {1007, "integer[]"},
    {1009, "text[]"},         {1014, "character(3)[]"},
    {1015, "character varying[]"}, {1016, "bigint[]"},
    {1021, "real[]"},         {1022, "double precision[]"},
    {1028, "oid[]"},          {199, "json[]"},
    {1182, "date[]"},         {1183, "time[]"},
    {1115, "timestamp[]"},    {1185, "timestamp with time zone[]"},
    {1187, "interval[]"},     {1231, "numeric[]"},
    {2951, "uuid[]"},         {3807, "jsonb[]"},
    {600, "point"},           {869, "inet"},
};
constexpr size_t kNumTypes = sizeof kTypes / sizeof kTypes[0];

std::string_view g_input;

[[noreturn]] void finding(const char* what, std::string_view detail) {
  std::fprintf(stderr,
               "\n*** copy_decoder_fuzz finding: %s\n*** detail: %.*s\n*** input (%zu bytes): ",
               what, static_cast<int>(detail.size()), detail.data(), g_input.size());
  for (unsigned char c : g_input) std::fprintf(stderr, "%02x", c);
  std::fprintf(stderr, "\n");
  std::abort();
}

template <typename F>
std::optional<std::string> run(const char* step, F&& f) {
  try {
    f();
    return std::nullopt;
  } catch (const parmap::Error& e) {
    return std::string(e.what());
  } catch (const std::exception& e) {
    finding(step, std::string("threw something else than parmap::Error: ") + e.what());
  } catch (...) {
    finding(step, "threw a non-std exception");
  }
}

struct Outcome {
  std::optional<std::string> error;  // set when feed() threw
  Batch batch;
  size_t rows = 0;
  bool finished = false;
};

// Feeds `stream` into a fresh decoder in pieces of the given sizes (in turn; the rest in one
// piece when `sizes` is empty).
Outcome decode(const std::vector<PgColumn>& cols, std::string_view stream,
               const std::vector<size_t>& sizes) {
  parmap::pg::CopyDecoder decoder(cols);
  Outcome o;
  o.batch = decoder.make_batch();
  o.error = run("CopyDecoder::feed", [&] {
    size_t pos = 0, turn = 0;
    do {
      const size_t n = sizes.empty() ? stream.size() - pos
                                     : std::min(sizes[turn++ % sizes.size()], stream.size() - pos);
      o.rows += decoder.feed(stream.substr(pos, n), o.batch);
      pos += n;
    } while (pos < stream.size());
  });
  o.finished = decoder.finished();
  return o;
}

bool same_double(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

void check_shape(const Batch& b, size_t rows) {
  for (const Column& c : b.columns) {
    if (c.size() != rows) finding("batch shape", "a column's length differs from the rows");
    const size_t ints = parmap::stored_as_int(c.type) ? rows : 0;
    const size_t doubles = c.type == ColumnType::Double ? rows : 0;
    const size_t strings = parmap::stored_as_string(c.type) ? rows : 0;
    const size_t values = c.type == ColumnType::Any ? rows : 0;
    if (c.ints.size() != ints || c.doubles.size() != doubles || c.strings.size() != strings ||
        c.values.size() != values) {
      finding("batch shape", "a column's storage does not match its type and rows");
    }
  }
}

void compare(const Outcome& whole, const Outcome& pieces) {
  if (whole.error.has_value() != pieces.error.has_value()) {
    finding("one piece and pieces disagree on accepting the stream",
            whole.error ? *whole.error : *pieces.error);
  }
  if (whole.error) return;
  if (whole.rows != pieces.rows || whole.finished != pieces.finished) {
    finding("one piece and pieces disagree", "rows or finished() differ");
  }
  const Batch& a = whole.batch;
  const Batch& b = pieces.batch;
  if (!a.columns.empty() && a.num_rows() != whole.rows) {
    finding("feed()'s row count", "the returned rows differ from the batch's");
  }
  check_shape(a, a.num_rows());
  check_shape(b, b.num_rows());
  for (size_t i = 0; i < a.columns.size(); ++i) {
    const Column& x = a.columns[i];
    const Column& y = b.columns[i];
    bool same = x.type == y.type && x.name == y.name && x.declared_type == y.declared_type &&
                x.ints == y.ints && x.strings == y.strings && x.values == y.values &&
                x.nulls == y.nulls && x.doubles.size() == y.doubles.size();
    for (size_t r = 0; same && r < x.doubles.size(); ++r) {
      same = same_double(x.doubles[r], y.doubles[r]);
    }
    if (!same) finding("one piece and pieces give different batches", x.name);
  }
}

void check_hasher(std::string_view stream, const std::vector<size_t>& sizes,
                  const Outcome& decoded) {
  parmap::pg::TupleHasher whole, pieces;
  const auto e1 = run("TupleHasher::feed", [&] { whole.feed(stream); });
  const auto e2 = run("TupleHasher::feed", [&] {
    size_t pos = 0, turn = 0;
    do {
      const size_t n = sizes.empty() ? stream.size() - pos
                                     : std::min(sizes[turn++ % sizes.size()], stream.size() - pos);
      pieces.feed(stream.substr(pos, n));
      pos += n;
    } while (pos < stream.size());
  });
  if (e1 || e2) return;  // the hasher checks less than the decoder; its errors may differ
  if (whole.rows() != pieces.rows() || whole.hash() != pieces.hash()) {
    finding("TupleHasher whole and in pieces differ", "rows or hash");
  }
  if (!decoded.error && static_cast<size_t>(whole.rows()) != decoded.rows) {
    finding("TupleHasher and CopyDecoder count different rows", "");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  g_input = std::string_view(reinterpret_cast<const char*>(data), size);
  std::string_view in = g_input;
  if (in.empty()) return 0;
  const size_t ncols = static_cast<uint8_t>(in[0]) % 9;
  in.remove_prefix(1);
  if (in.size() < ncols + 1) return 0;
  std::vector<PgColumn> cols;
  for (size_t i = 0; i < ncols; ++i) {
    const TypeChoice& t = kTypes[static_cast<uint8_t>(in[i]) % kNumTypes];
    cols.push_back({"c" + std::to_string(i + 1), t.oid, -1, t.name});
  }
  in.remove_prefix(ncols);
  const size_t k = static_cast<uint8_t>(in[0]) % 16;
  in.remove_prefix(1);
  if (in.size() < k) return 0;
  std::vector<size_t> sizes;
  for (size_t i = 0; i < k; ++i) sizes.push_back(static_cast<uint8_t>(in[i]));
  in.remove_prefix(k);
  // Pieces of 0 bytes only would never end.
  bool progress = false;
  for (size_t s : sizes) progress = progress || s > 0;
  if (!progress) sizes.assign({1});

  const Outcome whole = decode(cols, in, {});
  const Outcome pieces = decode(cols, in, sizes);
  compare(whole, pieces);
  check_hasher(in, sizes, whole);
  return 0;
}
