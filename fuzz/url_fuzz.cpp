// Fuzzes parse_url, ConnectionUrl::masked and mask_password.
//
// Properties beyond "no crash":
// - parse_url returns or throws parmap::Error, nothing else;
// - a parsed URL's masked() never shows its password (nor the value of a password=
//   parameter), and masked() parses back to the same fields with the password as "****";
// - an Error's what() never shows the password the URL was built with.
//
// Input: the first byte chooses a mode. Even: the rest is a URL as it is. Odd: the rest is
// "user \0 password \0 tail", assembled as scheme://user:password@tail (bits of the first
// byte pick the scheme, percent-encoding of the password, whether "//" and the user are
// there), so that the harness knows which bytes are the password; a marker in the password
// (at each \x01, else first) must never show in an Error's message.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "parmap/connection.h"
#include "parmap/error.h"

namespace {

[[noreturn]] void finding(const char* what, std::string_view detail, std::string_view input) {
  std::fprintf(stderr, "\n*** url_fuzz finding: %s\n*** detail: %.*s\n*** input (%zu bytes): ",
               what, static_cast<int>(detail.size()), detail.data(), input.size());
  for (unsigned char c : input) std::fprintf(stderr, "%02x", c);
  std::fprintf(stderr, "\n");
  std::abort();
}

bool contains(std::string_view hay, std::string_view needle) {
  return hay.find(needle) != std::string_view::npos;
}

size_t count(std::string_view hay, std::string_view needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string_view::npos; at = hay.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

bool is_password_key(const std::string& key) {
  std::string k;
  for (char c : key) k += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return k == "password" || k == "pwd" || k == "passwd";
}

// A secret worth checking: long enough not to occur by chance in fixed text, and not made of
// the mask's own '*'.
bool checkable(std::string_view secret) {
  return secret.size() >= 4 && secret.find('*') == std::string_view::npos;
}

// Percent-encodes every byte (so that the password cannot be read as structure).
std::string encode_all(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    out += '%';
    out += kHex[c >> 4];
    out += kHex[c & 0xF];
  }
  return out;
}

void check_masked(const parmap::ConnectionUrl& url, std::string_view input) {
  const std::string masked = url.masked();
  // The same URL with other secrets: what shows in both comes from the non-secret fields.
  parmap::ConnectionUrl other = url;
  if (!other.password.empty()) other.password = "\x01";
  std::vector<std::string> secrets;
  if (!url.password.empty()) secrets.push_back(url.password);
  for (auto& [key, value] : other.params) {
    if (is_password_key(key) && !value.empty()) {
      secrets.push_back(value);
      value = "\x01";
    }
  }
  const std::string other_masked = other.masked();
  for (const std::string& secret : secrets) {
    if (checkable(secret) && contains(masked, secret) && !contains(other_masked, secret)) {
      finding("masked() shows the password", masked, input);
    }
  }
  if (masked != other_masked) finding("masked() depends on the password", masked, input);

  // masked() parses back to the same fields (its documented purpose).
  parmap::ConnectionUrl again;
  try {
    again = parmap::parse_url(masked);
  } catch (const parmap::Error& e) {
    finding("masked() does not parse back", e.what(), input);
  }
  parmap::ConnectionUrl expect = url;
  if (!expect.password.empty()) expect.password = "****";
  for (auto& [key, value] : expect.params) {
    if (is_password_key(key)) value = "****";
  }
  if (again.scheme != expect.scheme || again.user != expect.user ||
      again.password != expect.password || again.host != expect.host ||
      again.port != expect.port || again.database != expect.database ||
      again.params != expect.params) {
    finding("masked() parses back to other fields", masked, input);
  }
}

// Returns the parsed URL's check, or the Error's message (empty when it parsed).
std::string parse_and_check(std::string_view url, std::string_view input) {
  try {
    const parmap::ConnectionUrl parsed = parmap::parse_url(url);
    check_masked(parsed, input);
    return {};
  } catch (const parmap::Error& e) {
    return std::string(" ") + e.what();  // never empty
  } catch (const std::exception& e) {
    finding("parse_url threw something else than parmap::Error", e.what(), input);
  } catch (...) {
    finding("parse_url threw a non-std exception", "", input);
  }
}

void fuzz_mask_password(std::string_view text, std::string_view input) {
  try {
    (void)parmap::mask_password(text);
  } catch (const std::exception& e) {
    finding("mask_password threw", e.what(), input);
  } catch (...) {
    finding("mask_password threw a non-std exception", "", input);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto mode = static_cast<uint8_t>(input[0]);
  const std::string_view rest = input.substr(1);

  if ((mode & 1) == 0) {
    (void)parse_and_check(rest, input);
    fuzz_mask_password(rest, input);
    return 0;
  }

  static const char* const kSchemes[] = {"postgresql", "postgres", "mysql",  "mariadb",
                                         "odbc",       "sqlite",   "MySQL", "PostgreSQL"};
  const std::string_view scheme = kSchemes[(mode >> 1) & 7];
  const bool encode = (mode & 0x10) != 0;
  const bool no_slashes = (mode & 0x20) != 0;
  const bool no_user = (mode & 0x40) != 0;
  const size_t z1 = rest.find('\0');
  if (z1 == std::string_view::npos) return 0;
  const size_t z2 = rest.find('\0', z1 + 1);
  if (z2 == std::string_view::npos) return 0;
  const std::string_view user = rest.substr(0, z1);
  const std::string_view password = rest.substr(z1 + 1, z2 - z1 - 1);
  const std::string_view tail = rest.substr(z2 + 1);
  // The secret: the password with each \x01 replaced by a marker that occurs nowhere
  // else (or the marker first, when it has none), so that any piece of the password that
  // shows can be told from the same text elsewhere in the URL or in the message's wording.
  constexpr std::string_view kMarker = "Zq7Xv9Kp";
  std::string secret;
  for (char c : password) {
    if (c == '\x01') {
      secret += kMarker;
    } else {
      secret += c;
    }
  }
  if (secret.size() == password.size()) secret.insert(0, kMarker);
  const std::string written = encode ? encode_all(secret) : secret;

  std::string prefix(scheme);
  prefix += no_slashes ? ":" : "://";
  if (!no_user) prefix += user;
  prefix += ':';
  const std::string suffix = "@" + std::string(tail);
  const std::string url = prefix + written + suffix;

  const std::string error = parse_and_check(url, input);
  fuzz_mask_password(url, input);
  if (error.empty()) return 0;
  // (Unless the user or the tail holds the marker too, as it is or percent-encoded.)
  for (const std::string& marker : {std::string(kMarker), encode_all(kMarker)}) {
    if (count(url, marker) == count(written, marker) && contains(error, marker)) {
      finding("an Error's message shows (a piece of) the password", error, input);
    }
  }
  return 0;
}
