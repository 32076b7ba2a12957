// SQL text and parameters for PostgreSQL: `?` placeholders rewritten, parameters as the text
// the server reads, and parameters inlined as literals where a statement takes none (COPY).
#include <fmt/format.h>
#include <libpq-fe.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <system_error>

#include "connect/postgres/pg_connection.h"
#include "connect/postgres/pg_connection_internal.h"
#include "connect/postgres/pg_errors.h"
#include "connect/postgres/pg_libpq.h"
#include "parmap/error.h"

namespace parmap::pg {

namespace {

bool is_ident_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '$' ||
         static_cast<unsigned char>(c) >= 0x80;
}

std::string hex_bytea(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\\x";
  out.reserve(2 + bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 0xf];
  }
  return out;
}

}  // namespace

std::string format_double(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  std::array<char, 64> buf{};
  const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  return std::string(buf.data(), ec == std::errc() ? end : buf.data());
}

std::string param_text(const Value& value) {
  if (value.is_int()) return std::to_string(value.as_int());
  if (value.is_double()) return format_double(value.as_double());
  if (value.is_blob()) return hex_bytea(value.as_blob().bytes);
  return value.as_text();
}

// ---------------------------------------------------------------------------------------

Error placeholders_mismatch(std::string_view url, std::string_view sql, size_t placeholders,
                            size_t params) {
  return Error(ErrorKind::Config,
               fmt::format("postgresql {}: the statement has {} '?' placeholders but {} "
                           "parameters were given",
                           url, placeholders, params),
               {}, pg_context(sql));
}

std::string rewrite_placeholders(std::string_view sql, size_t& count,
                                 const std::function<std::string(size_t)>& replace) {
  std::string out;
  out.reserve(sql.size() + 16);
  count = 0;
  const size_t n = sql.size();
  size_t i = 0;
  // Copies sql[from, to) and moves on.
  auto copy_to = [&](size_t to) {
    out.append(sql.substr(i, std::min(to, n) - i));
    i = std::min(to, n);
  };
  while (i < n) {
    const char c = sql[i];
    const char next = i + 1 < n ? sql[i + 1] : '\0';
    if (c == '\'') {
      // E'...' strings take backslash escapes; '' is a quote in both kinds.
      const bool escapes = i > 0 && (sql[i - 1] == 'e' || sql[i - 1] == 'E') &&
                           (i < 2 || !is_ident_char(sql[i - 2]));
      size_t j = i + 1;
      while (j < n) {
        if (escapes && sql[j] == '\\') {
          j += 2;
        } else if (sql[j] == '\'') {
          if (j + 1 < n && sql[j + 1] == '\'') {
            j += 2;
          } else {
            ++j;
            break;
          }
        } else {
          ++j;
        }
      }
      copy_to(j);
    } else if (c == '"') {
      const size_t close = sql.find('"', i + 1);
      copy_to(close == std::string_view::npos ? n : close + 1);
    } else if (c == '-' && next == '-') {
      const size_t eol = sql.find('\n', i);
      copy_to(eol == std::string_view::npos ? n : eol + 1);
    } else if (c == '/' && next == '*') {
      // Block comments nest in PostgreSQL.
      size_t j = i + 2;
      int depth = 1;
      while (j < n && depth > 0) {
        if (sql[j] == '/' && j + 1 < n && sql[j + 1] == '*') {
          ++depth;
          j += 2;
        } else if (sql[j] == '*' && j + 1 < n && sql[j + 1] == '/') {
          --depth;
          j += 2;
        } else {
          ++j;
        }
      }
      copy_to(j);
    } else if (c == '$' && (i == 0 || !is_ident_char(sql[i - 1]))) {
      // $tag$ ... $tag$ (the tag may be empty); $1 and a lone $ are not quotes.
      size_t j = i + 1;
      while (j < n && is_ident_char(sql[j]) && sql[j] != '$') ++j;
      const bool tag_ok = j < n && sql[j] == '$' &&
                          (j == i + 1 || std::isdigit(static_cast<unsigned char>(sql[i + 1])) == 0);
      if (tag_ok) {
        const std::string_view tag = sql.substr(i, j - i + 1);
        const size_t close = sql.find(tag, j + 1);
        copy_to(close == std::string_view::npos ? n : close + tag.size());
      } else {
        copy_to(i + 1);
      }
    } else if (c == '?') {
      out += replace(count++);
      ++i;
    } else {
      out += c;
      ++i;
    }
  }
  return out;
}

std::string PgConnection::inline_params(std::string_view sql, const std::vector<Value>& params) {
  if (params.empty()) return std::string(sql);
  PGconn* c = conn();
  auto literal = [&](const Value& v) -> std::string {
    if (v.is_null()) return "NULL";
    if (v.is_int()) {
      // Parenthesised so that "x -?" cannot become the comment "x --5".
      return v.as_int() < 0 ? fmt::format("({})", v.as_int()) : std::to_string(v.as_int());
    }
    if (v.is_double()) {
      const double d = v.as_double();
      if (!std::isfinite(d)) return fmt::format("'{}'::float8", format_double(d));
      const std::string text = format_double(d);
      return d < 0 ? "(" + text + ")" : text;
    }
    const std::string text = param_text(v);
    if (v.is_text() && text.find('\0') != std::string::npos) {
      throw Error(ErrorKind::Data,
                  fmt::format("postgresql {}: a parameter holds a NUL byte, which PostgreSQL "
                              "text cannot store",
                              url_),
                  {}, pg_context(sql));
    }
    PqBuffer escaped(PQescapeLiteral(c, text.c_str(), text.size()));
    if (!escaped) {
      throw Error(ErrorKind::Data,
                  fmt::format("postgresql {}: cannot quote a parameter: {}", url_,
                              one_line(PQerrorMessage(c))),
                  {}, pg_context(sql));
    }
    return v.is_blob() ? std::string(escaped.get()) + "::bytea" : std::string(escaped.get());
  };
  size_t count = 0;
  std::string out = rewrite_placeholders(sql, count, [&](size_t i) {
    return i < params.size() ? literal(params[i]) : std::string("?");
  });
  if (count != params.size()) throw placeholders_mismatch(url_, sql, count, params.size());
  return out;
}

}  // namespace parmap::pg
