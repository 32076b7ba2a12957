// Planning as pure functions: query checks by token scan, and key-range chunk planning.
#include "plan/plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstddef>
#include <limits>
#include <utility>

#include "parmap/error.h"

namespace parmap {
namespace {

// ---------------------------------------------------------------------------------------
// Tokenizer: just enough lexing to tell keywords and calls apart from the same words
// inside literals, comments and quoted identifiers, and to know the parenthesis depth.

enum class TokKind { Word, Quoted, String, Number, Punct };

struct Token {
  TokKind kind;
  std::string text;  // Word: as written; Quoted: unescaped; Punct: the character(s)
  int depth;         // parenthesis depth outside the token ('(' and ')' get the outer depth)
  size_t offset = 0; // where it starts in the SQL text
};

bool is_ident_start(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}

bool is_ident_char(char c) {
  return is_ident_start(c) || std::isdigit(static_cast<unsigned char>(c)) || c == '$';
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Reads a quoted run starting at sql[i] == quote, where a doubled quote stands for one.
// Returns the unescaped content and leaves i after the closing quote (or at the end when
// the text is unterminated: a half-typed query still scans without throwing).
std::string read_quoted(std::string_view sql, size_t& i, char quote, bool backslash_escapes) {
  std::string out;
  ++i;
  while (i < sql.size()) {
    char c = sql[i];
    if (backslash_escapes && c == '\\' && i + 1 < sql.size()) {
      out += sql[i + 1];
      i += 2;
      continue;
    }
    if (c == quote) {
      if (i + 1 < sql.size() && sql[i + 1] == quote) {
        out += quote;
        i += 2;
        continue;
      }
      ++i;
      return out;
    }
    out += c;
    ++i;
  }
  return out;
}

// At sql[i] == '$': the length of a dollar-quote opener ("$$" or "$tag$"), or 0 when this
// '$' starts something else (a "$1" parameter, say).
size_t dollar_tag_length(std::string_view sql, size_t i) {
  size_t j = i + 1;
  if (j < sql.size() && sql[j] == '$') return 2;
  if (j >= sql.size() || !is_ident_start(sql[j])) return 0;
  while (j < sql.size() &&
         (is_ident_start(sql[j]) || std::isdigit(static_cast<unsigned char>(sql[j]))))
    ++j;
  if (j < sql.size() && sql[j] == '$') return j - i + 1;
  return 0;
}

std::vector<Token> tokenize(std::string_view sql) {
  std::vector<Token> out;
  int depth = 0;
  size_t i = 0;
  const size_t n = sql.size();
  while (i < n) {
    const size_t at = i;
    const size_t tokens = out.size();
    char c = sql[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '-' && i + 1 < n && sql[i + 1] == '-') {
      while (i < n && sql[i] != '\n') ++i;
    } else if (c == '/' && i + 1 < n && sql[i + 1] == '*') {
      size_t end = sql.find("*/", i + 2);
      i = end == std::string_view::npos ? n : end + 2;
    } else if (c == '\'') {
      out.push_back({TokKind::String, read_quoted(sql, i, '\'', false), depth});
    } else if (c == '"' || c == '`') {
      out.push_back({TokKind::Quoted, read_quoted(sql, i, c, false), depth});
    } else if (c == '$' && dollar_tag_length(sql, i) > 0) {
      size_t len = dollar_tag_length(sql, i);
      std::string_view tag = sql.substr(i, len);
      size_t end = sql.find(tag, i + len);
      size_t stop = end == std::string_view::npos ? n : end;
      out.push_back({TokKind::String, std::string(sql.substr(i + len, stop - i - len)), depth});
      i = end == std::string_view::npos ? n : end + len;
    } else if ((c == 'e' || c == 'E') && i + 1 < n && sql[i + 1] == '\'') {
      // PostgreSQL escape string E'...': a backslash escapes the next character.
      ++i;
      out.push_back({TokKind::String, read_quoted(sql, i, '\'', true), depth});
    } else if (is_ident_start(c)) {
      size_t start = i;
      while (i < n && is_ident_char(sql[i])) ++i;
      out.push_back({TokKind::Word, std::string(sql.substr(start, i - start)), depth});
    } else if (std::isdigit(static_cast<unsigned char>(c)) ||
               (c == '.' && i + 1 < n && std::isdigit(static_cast<unsigned char>(sql[i + 1])))) {
      size_t start = i;
      while (i < n &&
             (std::isalnum(static_cast<unsigned char>(sql[i])) || sql[i] == '.' || sql[i] == '_'))
        ++i;
      out.push_back({TokKind::Number, std::string(sql.substr(start, i - start)), depth});
    } else if (c == '(') {
      out.push_back({TokKind::Punct, "(", depth});
      ++depth;
      ++i;
    } else if (c == ')') {
      // An unbalanced ')' must not push the depth below zero and hide top-level words.
      depth = std::max(0, depth - 1);
      out.push_back({TokKind::Punct, ")", depth});
      ++i;
    } else {
      out.push_back({TokKind::Punct, std::string(1, c), depth});
      ++i;
    }
    if (out.size() > tokens) out.back().offset = at;
  }
  return out;
}

bool is_word(const Token& t, std::string_view lowercase_word) {
  return t.kind == TokKind::Word && lower(t.text) == lowercase_word;
}

bool is_punct(const Token& t, std::string_view p) {
  return t.kind == TokKind::Punct && t.text == p;
}

bool next_is_punct(const std::vector<Token>& toks, size_t i, std::string_view p) {
  return i + 1 < toks.size() && is_punct(toks[i + 1], p);
}

// Functions whose value changes from call to call: a chunk re-running the query would
// see different rows or values than its neighbours.
constexpr std::string_view kVolatileFunctions[] = {
    "random",  "randomblob",        "rand",      "random_uuid", "gen_random_uuid", "uuid",
    "newid",   "clock_timestamp",   "timeofday", "nextval",     "setseed",         "sys_guid",
    "changes", "last_insert_rowid",
};

constexpr std::string_view kAggregateFunctions[] = {
    "count",      "sum",       "avg",
    "min",        "max",       "group_concat",
    "string_agg", "array_agg", "json_group_array",
    "total",
};

// Words that can follow OVER without being a window name (OVER used as a column alias).
constexpr std::string_view kClauseWords[] = {
    "from",   "where",     "group",  "having", "order", "limit", "offset", "fetch", "union",
    "except", "intersect", "window", "into",   "for",   "as",    "and",    "or",
};

template <size_t N>
bool in_list(const std::string_view (&list)[N], std::string_view word) {
  return std::find(std::begin(list), std::end(list), word) != std::end(list);
}

// Number of arguments of the call whose '(' is toks[open]: SQLite's min(a, b) and
// max(a, b) with two or more arguments are scalar functions, not aggregates.
int call_argument_count(const std::vector<Token>& toks, size_t open) {
  int inner = toks[open].depth + 1;
  int args = 0;
  bool any = false;
  for (size_t i = open + 1; i < toks.size(); ++i) {
    if (is_punct(toks[i], ")") && toks[i].depth == toks[open].depth) break;
    if (toks[i].depth == inner && is_punct(toks[i], ",")) ++args;
    any = true;
  }
  return any ? args + 1 : 0;
}

QueryCheck not_splittable(std::string reason) { return QueryCheck{false, std::move(reason)}; }

constexpr std::string_view kAggregateWhy =
    "a key-range filter over an aggregate would recompute the whole aggregate for every chunk";

// A column reference at toks[i]: name ('.' name)*, names plain words or quoted. Returns the
// last part (the column) and sets `end` to the index after it.
std::optional<std::string> column_reference(const std::vector<Token>& toks, size_t i, size_t& end) {
  std::optional<std::string> name;
  while (i < toks.size()) {
    const Token& t = toks[i];
    if (t.kind == TokKind::Quoted) {
      name = t.text;
    } else if (t.kind == TokKind::Word) {
      name = t.text;
    } else {
      return std::nullopt;
    }
    ++i;
    if (i + 1 < toks.size() && is_punct(toks[i], ".")) {
      ++i;
      continue;
    }
    break;
  }
  if (!name || name->empty()) return std::nullopt;
  end = i;
  return name;
}

// Words that begin an expression rather than name a column.
constexpr std::string_view kExpressionWords[] = {
    "case",   "cast",   "not",      "null",         "true",         "false",
    "exists", "select", "interval", "current_date", "current_time", "current_timestamp",
    "array",  "row",
};

// ---------------------------------------------------------------------------------------
// Chunk planning helpers.

constexpr int64_t kMaxChunks = 1'000'000;  // beyond this the plan itself would not fit memory

bool is_number(const Value& v) { return v.is_int() || v.is_double(); }

double to_double(const Value& v) {
  return v.is_int() ? static_cast<double>(v.as_int()) : v.as_double();
}

bool less(const Value& a, const Value& b) { return a < b; }

// Boundaries from sample quantiles: the key at position i * s / n for i = 1..n-1, dropping
// repeats of the previous boundary (so a hot key lands in one chunk instead of being split)
// and keys at or below the minimum (whose chunk below would hold nothing).
std::vector<Value> quantile_boundaries(const std::vector<Value>& sorted, int64_t n,
                                       const Value& min) {
  std::vector<Value> bounds;
  const auto s = static_cast<__int128>(sorted.size());
  for (int64_t i = 1; i < n; ++i) {
    const Value& b = sorted[static_cast<size_t>(s * i / n)];
    // Equality, not Value's order: the sample is in the engine's order, which may differ.
    if (b == min) continue;
    if (!bounds.empty() && b == bounds.back()) continue;
    bounds.push_back(b);
  }
  return bounds;
}

// Integer boundaries splitting [lo, hi] into n ranges of about equal width. __int128 keeps
// INT64_MIN..INT64_MAX (a width of 2^64) exact.
std::vector<Value> int_boundaries(int64_t lo, int64_t hi, int64_t n) {
  std::vector<Value> bounds;
  const __int128 span = static_cast<__int128>(hi) - lo + 1;
  const __int128 parts = std::min<__int128>(n, span);
  for (__int128 i = 1; i < parts; ++i) {
    bounds.emplace_back(static_cast<int64_t>(lo + span * i / parts));
  }
  return bounds;
}

std::vector<Value> double_boundaries(double lo, double hi, int64_t n) {
  std::vector<Value> bounds;
  for (int64_t i = 1; i < n; ++i) {
    const double t = static_cast<double>(i) / static_cast<double>(n);
    // lo*(1-t) + hi*t cannot overflow where lo + (hi-lo)*t can (hi-lo may exceed DBL_MAX).
    const double b = lo * (1.0 - t) + hi * t;
    if (!std::isfinite(b) || !(b > lo) || !(b < hi)) continue;
    if (!bounds.empty() && !(bounds.back().as_double() < b)) continue;
    bounds.emplace_back(b);
  }
  return bounds;
}

}  // namespace

// -----------------------------------------------------------------------------------------

std::string Chunk::describe() const {
  if (key.empty()) return fmt::format("chunk {} (whole query)", index);
  auto bounds = [](const KeyRange& r) {
    // fmt, not "[" + ...: GCC 12 at -O3 warns (-Wrestrict) on the inlined string insert.
    const std::string lo = r.lo.is_null() ? "(-inf" : fmt::format("[{}", r.lo.to_display());
    const std::string hi = r.hi.is_null() ? "+inf" : r.hi.to_display();
    return fmt::format("{}, {})", lo, hi);
  };
  if (slice) {
    return fmt::format("chunk {} ({} {}, {} {})", index, key,
                       slice->value.is_null() ? std::string("IS NULL")
                                               : fmt::format("= {}", slice->value.to_display()),
                       slice->position, bounds(slice->range));
  }
  if (range.nulls) return fmt::format("chunk {} ({} IS NULL)", index, key);
  return fmt::format("chunk {} {}", index, bounds(range));
}

Chunk whole_query_chunk() { return Chunk{}; }

QueryCheck check_query_splittable(std::string_view sql) {
  const std::vector<Token> toks = tokenize(sql);
  for (size_t i = 0; i < toks.size(); ++i) {
    const Token& t = toks[i];
    if (t.kind != TokKind::Word) continue;
    const std::string w = lower(t.text);
    const bool call = next_is_punct(toks, i, "(");

    if (t.depth == 0 && (w == "limit" || w == "offset")) {
      return not_splittable(fmt::format(
          "the query has {} at its top level: a key-range filter would change which rows it "
          "returns",
          w == "limit" ? "LIMIT" : "OFFSET"));
    }
    if (t.depth == 0 && w == "fetch" && i + 1 < toks.size() &&
        (is_word(toks[i + 1], "first") || is_word(toks[i + 1], "next"))) {
      return not_splittable(fmt::format(
          "the query has FETCH {} at its top level: a key-range filter would change which "
          "rows it returns",
          is_word(toks[i + 1], "first") ? "FIRST" : "NEXT"));
    }
    if (t.depth == 0 && w == "top" && i > 0 &&
        (is_word(toks[i - 1], "select") || is_word(toks[i - 1], "distinct") ||
         is_word(toks[i - 1], "all")) &&
        i + 1 < toks.size() && (toks[i + 1].kind == TokKind::Number || call)) {
      return not_splittable(
          "the query has SELECT TOP at its top level: a key-range filter would change which "
          "rows it returns");
    }
    if (call && in_list(kVolatileFunctions, w)) {
      return not_splittable(fmt::format(
          "the query calls {}(), a volatile function: every chunk would see different values", w));
    }
    // OVER after a call's ')' followed by '(' or a window name: a window function.
    if (w == "over" && i > 0 && is_punct(toks[i - 1], ")") && i + 1 < toks.size() &&
        (call ||
         ((toks[i + 1].kind == TokKind::Word && !in_list(kClauseWords, lower(toks[i + 1].text))) ||
          toks[i + 1].kind == TokKind::Quoted))) {
      return not_splittable(
          "the query uses a window function (OVER): every chunk would compute the windows "
          "over all rows again, and a key-range filter inside the query would change what "
          "each window sees");
    }
    if (t.depth == 0 && w == "group" && i + 1 < toks.size() && is_word(toks[i + 1], "by")) {
      return not_splittable(
          fmt::format("the query has GROUP BY at its top level: {}", kAggregateWhy));
    }
    if (t.depth == 0 && w == "having") {
      return not_splittable(
          fmt::format("the query has HAVING at its top level: {}", kAggregateWhy));
    }
    if (call && in_list(kAggregateFunctions, w)) {
      if ((w == "min" || w == "max") && call_argument_count(toks, i + 1) >= 2) continue;
      return not_splittable(
          fmt::format("the query calls {}(), an aggregate function: {}", w, kAggregateWhy));
    }
  }
  return QueryCheck{};
}

/// The token of the query's trailing top-level ORDER BY's "order" (the last one at depth 0).
std::optional<size_t> last_order_by(const std::vector<Token>& toks) {
  std::optional<size_t> order;
  for (size_t i = 0; i + 1 < toks.size(); ++i) {
    if (toks[i].depth == 0 && is_word(toks[i], "order") && is_word(toks[i + 1], "by")) order = i;
  }
  return order;
}

std::optional<std::string> order_by_key(std::string_view sql) {
  const std::vector<Token> toks = tokenize(sql);
  const std::optional<size_t> order = last_order_by(toks);
  if (!order) return std::nullopt;
  const size_t first = *order + 2;
  if (first >= toks.size()) return std::nullopt;
  if (toks[first].kind == TokKind::Word && in_list(kExpressionWords, lower(toks[first].text))) {
    return std::nullopt;
  }
  size_t end = first;
  std::optional<std::string> name;
  if (toks[first].kind == TokKind::Number &&
      toks[first].text.find_first_not_of("0123456789") == std::string::npos) {
    name = toks[first].text;  // ORDER BY 2: the second column, by position
    end = first + 1;
  } else {
    name = column_reference(toks, first, end);
  }
  if (!name) return std::nullopt;
  // What may follow a plain column: the end, the next item, a direction, a collation or
  // the clauses that can come after ORDER BY. Anything else makes it an expression.
  if (end == toks.size()) return name;
  const Token& next = toks[end];
  if (is_punct(next, ",") || is_punct(next, ";")) return name;
  if (next.kind == TokKind::Word) {
    static constexpr std::string_view kAfter[] = {"asc",   "desc",   "nulls", "collate",
                                                  "limit", "offset", "fetch", "for"};
    if (in_list(kAfter, lower(next.text))) return name;
  }
  return std::nullopt;
}

bool ends_in_line_comment(std::string_view sql) {
  const size_t line = sql.rfind('\n');
  return sql.find("--", line == std::string_view::npos ? 0 : line) != std::string_view::npos;
}

std::string_view without_order_by(std::string_view sql) {
  const std::vector<Token> toks = tokenize(sql);
  const std::optional<size_t> order = last_order_by(toks);
  if (!order) return sql;
  // Rows limited, or locked, after the ordering: the ORDER BY decides which rows they are.
  for (size_t i = *order + 2; i < toks.size(); ++i) {
    if (toks[i].depth != 0 || toks[i].kind != TokKind::Word) continue;
    static constexpr std::string_view kAfter[] = {"limit", "offset", "fetch", "for"};
    if (in_list(kAfter, lower(toks[i].text))) return sql;
  }
  return sql.substr(0, toks[*order].offset);
}

std::optional<TableRef> simple_table_of(std::string_view sql) {
  std::vector<Token> toks = tokenize(sql);
  while (!toks.empty() && is_punct(toks.back(), ";")) toks.pop_back();
  if (toks.size() < 4 || !is_word(toks[0], "select") || !is_punct(toks[1], "*") ||
      !is_word(toks[2], "from")) {
    return std::nullopt;
  }
  // The table: one or two name parts, plain or quoted; a plain word must not be a keyword.
  std::vector<std::string> parts;
  size_t i = 3;
  while (i < toks.size()) {
    const Token& t = toks[i];
    if (t.kind == TokKind::Quoted && !t.text.empty()) {
      parts.push_back(t.text);
    } else if (t.kind == TokKind::Word && !in_list(kClauseWords, lower(t.text)) &&
               !is_word(t, "select") && !is_word(t, "lateral")) {
      parts.push_back(t.text);
    } else {
      return std::nullopt;
    }
    ++i;
    if (i < toks.size() && is_punct(toks[i], ".")) {
      ++i;
      continue;
    }
    break;
  }
  if (parts.empty() || parts.size() > 2) return std::nullopt;
  if (i < toks.size()) {
    // Only "ORDER BY col [ASC|DESC] [NULLS FIRST|LAST], ..." may follow.
    if (i + 2 >= toks.size() || !is_word(toks[i], "order") || !is_word(toks[i + 1], "by")) {
      return std::nullopt;
    }
    i += 2;
    while (true) {
      size_t end = i;
      if (!column_reference(toks, i, end)) return std::nullopt;
      i = end;
      if (i < toks.size() && (is_word(toks[i], "asc") || is_word(toks[i], "desc"))) ++i;
      if (i + 1 < toks.size() && is_word(toks[i], "nulls") &&
          (is_word(toks[i + 1], "first") || is_word(toks[i + 1], "last"))) {
        i += 2;
      }
      if (i == toks.size()) break;
      if (!is_punct(toks[i], ",")) return std::nullopt;
      ++i;
    }
  }
  TableRef ref;
  if (parts.size() == 2) ref.schema = parts[0];
  ref.name = parts.back();
  return ref;
}

bool query_names_table(std::string_view sql, const TableRef& table) {
  const std::vector<Token> toks = tokenize(sql);
  const std::string name = lower(table.name);
  auto is_name = [](const Token& t) { return t.kind == TokKind::Word || t.kind == TokKind::Quoted; };
  for (size_t i = 0; i < toks.size(); ++i) {
    if (!is_name(toks[i]) || lower(toks[i].text) != name) continue;
    // "other_schema.name" is another table; "schema.name", or the name alone (which the
    // search path may resolve to it), is this one.
    if (i >= 2 && is_punct(toks[i - 1], ".") && is_name(toks[i - 2]) && !table.schema.empty() &&
        lower(toks[i - 2].text) != lower(table.schema)) {
      continue;
    }
    return true;
  }
  return false;
}

std::vector<Chunk> plan_chunks(const KeyStats& stats, int64_t chunk_size) {
  if (chunk_size <= 0) {
    throw Error(ErrorKind::Internal,
                fmt::format("plan_chunks: chunk_size must be > 0, got {}", chunk_size));
  }
  const int64_t rows = std::max<int64_t>(0, stats.rows);
  int64_t n = rows / chunk_size + (rows % chunk_size != 0 ? 1 : 0);
  n = std::clamp<int64_t>(n, 1, kMaxChunks);

  std::vector<Value> sample;
  sample.reserve(stats.sample.size());
  for (const Value& v : stats.sample) {
    if (!v.is_null()) sample.push_back(v);
  }
  // The sample stays in the engine's order: its collation may differ from Value's byte
  // order, and boundaries that are not increasing in the engine's order would make its
  // range filters overlap.

  std::vector<Value> bounds;
  bool from_sample = false;
  bool int_split = false;
  const bool empty = stats.min.is_null() || rows == 0;
  if (!empty && n > 1) {
    const bool int_key = (stats.type == ColumnType::Int64 || stats.type == ColumnType::Bool) &&
                         stats.min.is_int() && stats.max.is_int();
    const bool double_key = stats.type == ColumnType::Double && is_number(stats.min) &&
                            is_number(stats.max) && std::isfinite(to_double(stats.min)) &&
                            std::isfinite(to_double(stats.max));
    const bool numeric = stats.type == ColumnType::Int64 || stats.type == ColumnType::Bool ||
                         stats.type == ColumnType::Double;
    const bool sample_enough = static_cast<int64_t>(sample.size()) >= 2 * n;
    if (!sample.empty() && (sample_enough || !numeric || (!int_key && !double_key))) {
      bounds = quantile_boundaries(sample, n, stats.min);
      from_sample = true;
    } else if (int_key && stats.min.as_int() < stats.max.as_int()) {
      bounds = int_boundaries(stats.min.as_int(), stats.max.as_int(), n);
      int_split = true;
    } else if (double_key && to_double(stats.min) < to_double(stats.max)) {
      bounds = double_boundaries(to_double(stats.min), to_double(stats.max), n);
    }
    // Otherwise (a single key value, or no way to place boundaries): one open chunk.
  }

  std::vector<Chunk> chunks;
  chunks.reserve(bounds.size() + 2);
  for (size_t i = 0; i <= bounds.size(); ++i) {
    Chunk c;
    c.index = static_cast<uint32_t>(chunks.size());
    c.key = stats.column;
    if (i > 0) c.range.lo = bounds[i - 1];
    if (i < bounds.size()) c.range.hi = bounds[i];
    chunks.push_back(std::move(c));
  }

  // Estimates: the sample's share of each range when the bounds came from it, otherwise
  // the share of the integer or real width, otherwise an even split.
  if (from_sample) {
    const auto s = static_cast<double>(sample.size());
    for (Chunk& c : chunks) {
      auto lo_it = c.range.lo.is_null()
                       ? sample.begin()
                       : std::lower_bound(sample.begin(), sample.end(), c.range.lo, less);
      auto hi_it = c.range.hi.is_null()
                       ? sample.end()
                       : std::lower_bound(sample.begin(), sample.end(), c.range.hi, less);
      c.estimated_rows =
          std::llround(static_cast<double>(rows) * static_cast<double>(hi_it - lo_it) / s);
    }
  } else if (int_split) {
    const __int128 lo = stats.min.as_int();
    const __int128 span = static_cast<__int128>(stats.max.as_int()) - lo + 1;
    for (Chunk& c : chunks) {
      const __int128 a = c.range.lo.is_null() ? lo : static_cast<__int128>(c.range.lo.as_int());
      const __int128 b =
          c.range.hi.is_null() ? lo + span : static_cast<__int128>(c.range.hi.as_int());
      c.estimated_rows = static_cast<int64_t>(static_cast<__int128>(rows) * (b - a) / span);
    }
  } else {
    const auto m = static_cast<int64_t>(chunks.size());
    for (Chunk& c : chunks) {
      c.estimated_rows = rows / m + (static_cast<int64_t>(c.index) < rows % m ? 1 : 0);
    }
  }

  if (stats.null_rows > 0) {
    Chunk c;
    c.index = static_cast<uint32_t>(chunks.size());
    c.key = stats.column;
    c.range.nulls = true;
    c.estimated_rows = stats.null_rows;
    chunks.push_back(std::move(c));
  }
  return chunks;
}

}  // namespace parmap
