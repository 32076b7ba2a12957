// ODBC connection strings from parmap's connection URLs.
#include "connect/odbc/odbc_url.h"

#include <cctype>

namespace parmap::odbc {
namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

void add(std::string& out, std::string_view key, std::string_view value) {
  out += key;
  out += '=';
  out += attribute_value(value);
  out += ';';
}

}  // namespace

std::string attribute_value(std::string_view value) {
  const bool padded = !value.empty() && (std::isspace(static_cast<unsigned char>(value.front())) ||
                                         std::isspace(static_cast<unsigned char>(value.back())));
  if (!padded && value.find_first_of(";{}") == std::string_view::npos) return std::string(value);
  std::string out = "{";
  for (char c : value) {
    out += c;
    if (c == '}') out += '}';
  }
  out += '}';
  return out;
}

std::string connection_string(const ConnectionUrl& url) {
  std::string out;
  // The data source or driver first: some drivers read the attributes in order.
  if (!url.host.empty()) add(out, "DSN", url.host);
  for (const auto& [key, value] : url.params) {
    const std::string k = lower(key);
    if (k == "dsn" || k == "driver") add(out, key, value);
  }
  if (url.port) add(out, "PORT", std::to_string(*url.port));
  if (!url.database.empty()) add(out, "DATABASE", url.database);
  if (!url.user.empty()) add(out, "UID", url.user);
  if (!url.password.empty()) add(out, "PWD", url.password);
  for (const auto& [key, value] : url.params) {
    const std::string k = lower(key);
    if (k != "dsn" && k != "driver") add(out, key, value);
  }
  return out;
}

}  // namespace parmap::odbc
