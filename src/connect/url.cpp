// Connection URLs: parsing, percent-decoding and password masking.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>

#include "parmap/connection.h"
#include "parmap/error.h"

namespace parmap {

namespace {

constexpr const char* kMask = "****";
constexpr const char* kAcceptedSchemes =
    "postgresql (or postgres), mysql (or mariadb), sqlite (or sqlite3), odbc";

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_password_key(std::string_view key) {
  const std::string k = to_lower(key);
  return k == "password" || k == "pwd" || k == "passwd";
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// Decodes %XX escapes; nullopt on a malformed escape. '+' stays '+' (as libpq reads it).
std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    const int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

/// Percent-encodes everything but RFC 3986 unreserved characters and `also_keep`, so
/// that masked() output parses back to the same fields.
std::string percent_encode(std::string_view s, std::string_view also_keep = {}) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' ||
        also_keep.find(static_cast<char>(c)) != std::string_view::npos) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

bool is_token_end(char c) {
  return std::isspace(static_cast<unsigned char>(c)) || c == '"' || c == '\'' || c == '<' ||
         c == '>';
}

/// Masks `scheme://user:password@` occurrences. The password runs from the first ':'
/// after "://" to the last '@' of the token, so unencoded '@', '/' or '?' in a password
/// are covered too (over-masking is the safe side).
std::string mask_userinfo(std::string_view text) {
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t sep = text.find("://", pos);
    if (sep == std::string_view::npos) break;
    const size_t start = sep + 3;
    size_t end = start;
    while (end < text.size() && !is_token_end(text[end])) ++end;
    const std::string_view token = text.substr(start, end - start);
    const size_t at = token.rfind('@');
    const size_t colon = at == std::string_view::npos ? at : token.substr(0, at).find(':');
    out.append(text.substr(pos, start - pos));
    if (colon != std::string_view::npos) {
      out.append(token.substr(0, colon + 1));
      out.append(kMask);
      out.append(token.substr(at));
    } else {
      out.append(token);
    }
    pos = end;
  }
  out.append(text.substr(pos));
  return out;
}

/// Masks `password=value` (also pwd=, passwd=) as in query strings and ODBC connection
/// strings. The value ends at whitespace, '&', ';' or a quote.
std::string mask_key_values(std::string_view text) {
  static constexpr std::array<std::string_view, 3> kKeys = {"password=", "passwd=", "pwd="};
  const std::string lower = to_lower(text);
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t best = std::string::npos, key_len = 0;
    for (auto key : kKeys) {
      size_t found = lower.find(key, pos);
      // Only whole keys: "xpwd=" is not a password key.
      while (
          found != std::string::npos && found > 0 &&
          (std::isalnum(static_cast<unsigned char>(lower[found - 1])) || lower[found - 1] == '_')) {
        found = lower.find(key, found + 1);
      }
      if (found < best) {
        best = found;
        key_len = key.size();
      }
    }
    if (best == std::string::npos) break;
    const size_t value_start = best + key_len;
    size_t value_end = value_start;
    while (value_end < text.size() && !is_token_end(text[value_end]) && text[value_end] != '&' &&
           text[value_end] != ';') {
      ++value_end;
    }
    out.append(text.substr(pos, value_start - pos));
    if (value_end > value_start) out.append(kMask);
    pos = value_end;
  }
  out.append(text.substr(pos));
  return out;
}

/// Masks a whole URL given to parse_url, stricter than mask_password: the URL is one
/// token (a password may hold spaces), and a URL without "//" ("mysql:u:pw@h",
/// "alice:pw@h") has everything from its first ':' to its last '@' masked.
std::string mask_whole_url(std::string_view url) {
  const size_t colon = url.find(':');
  const size_t at = url.rfind('@');
  if (colon == std::string_view::npos || at == std::string_view::npos || at < colon) {
    return mask_key_values(url);
  }
  size_t start = colon + 1;
  if (url.substr(start, 2) == "//") {
    start += 2;
    const size_t pw = url.substr(start, at - start).find(':');
    if (pw == std::string_view::npos) return mask_key_values(url);
    start += pw + 1;
  }
  std::string out(url.substr(0, start));
  out += kMask;
  out += url.substr(at);
  return mask_key_values(out);
}

[[noreturn]] void fail(std::string_view url, const std::string& what) {
  throw Error(ErrorKind::Config,
              fmt::format("invalid connection URL '{}': {}", mask_whole_url(url), what));
}

std::string decode_or_fail(std::string_view url, std::string_view part, const char* name) {
  auto decoded = percent_decode(part);
  // Names the part, never its text: the part may be the password.
  if (!decoded) fail(url, fmt::format("malformed percent-encoding in the {}", name));
  return *decoded;
}

void parse_params(std::string_view url, std::string_view query, ConnectionUrl& out) {
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string_view::npos) amp = query.size();
    const std::string_view pair = query.substr(pos, amp - pos);
    if (!pair.empty()) {
      const size_t eq = pair.find('=');
      const std::string_view key = pair.substr(0, eq);
      const std::string_view value = eq == std::string_view::npos ? "" : pair.substr(eq + 1);
      if (key.empty()) fail(url, "a query parameter has no name");
      std::string k = decode_or_fail(url, key, "query parameters");
      out.params[k] = decode_or_fail(url, value, "query parameters");
    }
    pos = amp + 1;
  }
}

void parse_sqlite(std::string_view url, std::string_view rest, ConnectionUrl& out) {
  if (rest == ":memory:") {
    out.database = ":memory:";
    return;
  }
  if (rest.substr(0, 2) != "//") {
    fail(url,
         "expected sqlite:///absolute/path.db, sqlite://relative/path.db or sqlite://:memory:");
  }
  rest.remove_prefix(2);
  const size_t q = rest.find('?');
  const std::string_view path = rest.substr(0, q);
  if (q != std::string_view::npos) parse_params(url, rest.substr(q + 1), out);
  if (path.empty()) fail(url, "no database file (expected sqlite:///path/to/file.db)");
  out.database = decode_or_fail(url, path, "database path");
}

void parse_server(std::string_view url, std::string_view rest, ConnectionUrl& out) {
  if (rest.substr(0, 2) != "//") {
    fail(url, fmt::format("expected {}://user:password@host:port/database", out.scheme));
  }
  rest.remove_prefix(2);

  // userinfo ends at the last '@' that is not inside a query string (a '?' followed by a
  // key=value before it), so that an unencoded '@', '/' or '?' inside a password still
  // parses, and "?application_name=me@work" does not end the user info.
  size_t at = rest.size();
  for (size_t cand = rest.rfind('@'); cand != std::string_view::npos;
       cand = cand == 0 ? std::string_view::npos : rest.rfind('@', cand - 1)) {
    const std::string_view before = rest.substr(0, cand);
    const size_t q = before.find('?');
    if (q == std::string_view::npos || before.find('=', q) == std::string_view::npos) {
      at = cand;
      break;
    }
  }
  // With an '@' after the chosen split (or none found), the split may be wrong and a bad
  // "port" may be a piece of a password: then the port text is not echoed.
  const bool unsure_userinfo =
      rest.find('@', at == rest.size() ? 0 : at + 1) != std::string_view::npos;
  std::string_view hostpart = rest;
  if (at != rest.size()) {
    const std::string_view userinfo = rest.substr(0, at);
    hostpart = rest.substr(at + 1);
    const size_t colon = userinfo.find(':');
    out.user = decode_or_fail(url, userinfo.substr(0, colon), "user name");
    if (colon != std::string_view::npos) {
      out.password = decode_or_fail(url, userinfo.substr(colon + 1), "password");
    }
  }

  const size_t q = hostpart.find('?');
  if (q != std::string_view::npos) parse_params(url, hostpart.substr(q + 1), out);
  const std::string_view before_query = hostpart.substr(0, q);
  const size_t slash = before_query.find('/');
  std::string_view authority = before_query.substr(0, slash);
  if (slash != std::string_view::npos) {
    out.database = decode_or_fail(url, before_query.substr(slash + 1), "database name");
  }

  std::string_view port_text;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) fail(url, "IPv6 host has no closing ']'");
    out.host = std::string(authority.substr(1, close - 1));
    const std::string_view tail = authority.substr(close + 1);
    if (!tail.empty()) {
      if (tail.front() != ':') fail(url, "unexpected text after the IPv6 host's ']'");
      port_text = tail.substr(1);
      has_port = true;
    }
  } else {
    // The first ':' so that "h:1:2" is a bad port, not host "h:1".
    const size_t colon = authority.find(':');
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      has_port = true;
      authority = authority.substr(0, colon);
    }
    out.host = decode_or_fail(url, authority, "host");
  }
  if (has_port) {
    int port = 0;
    bool ok = !port_text.empty() && port_text.size() <= 5;
    for (char c : port_text) {
      if (c < '0' || c > '9') ok = false;
      if (ok) port = port * 10 + (c - '0');
    }
    if (!ok || port < 1 || port > 65535) {
      if (unsure_userinfo) {
        fail(url, "invalid port; if the password holds special characters, percent-encode them");
      }
      fail(url, fmt::format("invalid port '{}': expected a number from 1 to 65535", port_text));
    }
    out.port = port;
  }
}

}  // namespace

std::string mask_password(std::string_view text) { return mask_key_values(mask_userinfo(text)); }

ConnectionUrl parse_url(std::string_view url) {
  const size_t colon = url.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    fail(url, fmt::format("no scheme; expected one of {}", kAcceptedSchemes));
  }
  const std::string raw_scheme = to_lower(url.substr(0, colon));
  ConnectionUrl out;
  if (raw_scheme == "postgres" || raw_scheme == "postgresql") {
    out.scheme = "postgresql";
  } else if (raw_scheme == "mysql" || raw_scheme == "mariadb") {
    out.scheme = "mysql";
  } else if (raw_scheme == "sqlite" || raw_scheme == "sqlite3") {
    out.scheme = "sqlite";
  } else if (raw_scheme == "odbc") {
    out.scheme = "odbc";
  } else {
    fail(url, fmt::format("unsupported scheme '{}'; accepted: {}", url.substr(0, colon),
                          kAcceptedSchemes));
  }
  const std::string_view rest = url.substr(colon + 1);
  if (out.scheme == "sqlite") {
    parse_sqlite(url, rest, out);
  } else {
    parse_server(url, rest, out);
  }
  return out;
}

std::string ConnectionUrl::masked() const {
  std::string out = scheme + "://";
  if (scheme == "sqlite") {
    out += percent_encode(database, "/:");
  } else {
    if (!user.empty() || !password.empty()) {
      out += percent_encode(user);
      if (!password.empty()) out += fmt::format(":{}", kMask);
      out += '@';
    }
    // An IPv6 literal goes in brackets as it is (a bracketed host is not %-decoded); any other
    // host is %-encoded, so that one with ':' or "[]/?@#" in it (from %-escapes) parses back.
    const bool ipv6 = host.find(':') != std::string::npos &&
                      host.find_first_of("[]/?@#") == std::string::npos;
    out += ipv6 ? fmt::format("[{}]", host) : percent_encode(host);
    if (port) out += fmt::format(":{}", *port);
    if (!database.empty()) {
      // Two appends, not "/" + ...: GCC 12 at -O3 warns (-Wrestrict) on the inlined insert.
      out += '/';
      out += percent_encode(database, "/");
    }
  }
  char sep = '?';
  for (const auto& [key, value] : params) {
    out += sep;
    out += percent_encode(key);
    out += '=';
    out += is_password_key(key) ? std::string(kMask) : percent_encode(value);
    sep = '&';
  }
  return out;
}

}  // namespace parmap
