// Table references, schemas, the driver registry and connection factories.
#include "parmap/connection.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <filesystem>
#include <map>

#include "parmap/error.h"
#include "plan/plan.h"

namespace parmap {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

[[noreturn]] void bad_table(std::string_view text, std::string_view why) {
  throw Error(ErrorKind::Config,
              fmt::format("invalid table name '{}': {}; expected table, schema.table or "
                          "\"Quoted Schema\".\"quoted table\" (or `quoted`, [quoted])",
                          text, why));
}

}  // namespace

std::string TableRef::display() const { return schema.empty() ? name : schema + "." + name; }

UnquotedNames unquoted_names_of(std::string_view url) {
  return url.rfind("postgresql:", 0) == 0 || url.rfind("postgres:", 0) == 0
             ? UnquotedNames::Lower
             : UnquotedNames::AsWritten;
}

TableRef parse_table_ref(std::string_view text, UnquotedNames unquoted) {
  const std::string_view input = trim(text);
  if (input.empty()) bad_table(text, "it is empty");

  std::vector<std::string> parts;
  size_t i = 0;
  while (true) {
    while (i < input.size() && is_space(input[i])) ++i;
    std::string part;
    // Quoted as SQL does ("name"), as MySQL and MariaDB do (`name`) or as SQL Server does
    // ([name]): the closing mark doubled is a literal one; dots and spaces are the name's.
    const char open = i < input.size() ? input[i] : '\0';
    const char close = open == '"' ? '"' : open == '`' ? '`' : open == '[' ? ']' : '\0';
    if (close != '\0') {
      ++i;
      bool closed = false;
      while (i < input.size()) {
        if (input[i] == close) {
          if (i + 1 < input.size() && input[i + 1] == close) {
            part.push_back(close);
            i += 2;
            continue;
          }
          ++i;
          closed = true;
          break;
        }
        part.push_back(input[i++]);
      }
      if (!closed) bad_table(text, fmt::format("a quoted name has no closing '{}'", close));
      if (part.empty()) bad_table(text, "a quoted name is empty");
      while (i < input.size() && is_space(input[i])) ++i;
    } else {
      const size_t start = i;
      auto quote_mark = [](char c) { return c == '"' || c == '`' || c == '['; };
      while (i < input.size() && input[i] != '.' && !quote_mark(input[i])) ++i;
      part = std::string(trim(input.substr(start, i - start)));
      if (i < input.size() && quote_mark(input[i])) {
        bad_table(text, "a quote inside an unquoted name");
      }
      if (part.empty()) bad_table(text, "a name part is empty");
      if (unquoted == UnquotedNames::Lower) {
        for (char& c : part) {
          if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        }
      }
    }
    parts.push_back(std::move(part));
    if (i == input.size()) break;
    if (input[i] != '.') bad_table(text, "unexpected text after a quoted name");
    ++i;
    if (i == input.size()) bad_table(text, "a name part is empty");
  }
  if (parts.size() > 2) bad_table(text, "more than two dotted parts");
  TableRef ref;
  if (parts.size() == 2) {
    ref.schema = std::move(parts[0]);
    ref.name = std::move(parts[1]);
  } else {
    ref.name = std::move(parts[0]);
  }
  return ref;
}

int TableSchema::find(std::string_view name) const {
  // An exact match wins over a case-insensitive one ("id" and "ID" may both exist).
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].name == name) return static_cast<int>(i);
  }
  for (size_t i = 0; i < columns.size(); ++i) {
    if (iequals(columns[i].name, name)) return static_cast<int>(i);
  }
  return -1;
}

std::string Connection::quote_table(const TableRef& table) const {
  if (table.schema.empty()) return quote_identifier(table.name);
  return quote_identifier(table.schema) + "." + quote_identifier(table.name);
}

DriverRegistry& DriverRegistry::instance() {
  static DriverRegistry registry;
  return registry;
}

void DriverRegistry::add(const std::string& scheme, Opener opener, Checker checker) {
  std::lock_guard lock(mu_);
  openers_[scheme] = std::move(opener);
  if (checker) checkers_[scheme] = std::move(checker);
}

void DriverRegistry::check(const ConnectionUrl& url, std::string_view setting,
                           bool is_source) const {
  Checker checker;
  {
    std::lock_guard lock(mu_);
    auto it = checkers_.find(url.scheme);
    if (it == checkers_.end()) return;
    checker = it->second;
  }
  checker(url, setting, is_source);
}

void check_url(const ConnectionUrl& url, std::string_view setting, bool is_source) {
  register_builtin_drivers();
  DriverRegistry::instance().check(url, setting, is_source);
}

std::unique_ptr<Connection> DriverRegistry::open(const ConnectionUrl& url) const {
  Opener opener;
  {
    std::lock_guard lock(mu_);
    auto it = openers_.find(url.scheme);
    if (it == openers_.end()) {
      std::string available;
      for (const auto& [scheme, unused] : openers_) {
        available += available.empty() ? scheme : ", " + scheme;
      }
      throw Error(ErrorKind::Config,
                  fmt::format("no driver for scheme '{}' in this build (URL '{}'); available: {}",
                              url.scheme, url.masked(), available.empty() ? "none" : available));
    }
    opener = it->second;
  }
  // Connect outside the lock: opening may take seconds and other workers open in parallel.
  std::unique_ptr<Connection> conn = opener(url);
  conn->set_identity(identity_of(url));
  return conn;
}

std::string identity_of(const ConnectionUrl& url) {
  if (url.scheme == "sqlite") {
    if (url.database == ":memory:" || url.database.rfind("file:", 0) == 0) {
      return "sqlite://" + url.database;
    }
    std::error_code ec;
    const auto path = std::filesystem::weakly_canonical(url.database, ec);
    return "sqlite://" + (ec ? url.database : path.string());
  }
  if (url.scheme == "odbc") {
    // The data source, or the connection attributes that name a database (driver, server,
    // port, database); never the user, the password or session options.
    static constexpr std::array<std::string_view, 9> kIdentityKeys = {
        "driver", "dsn", "server", "servername", "host", "port", "database", "dbname", "db"};
    // By lower-case key, so that "Server" and "server" name the same database.
    std::map<std::string, std::string> kept;
    for (const auto& [key, value] : url.params) {
      std::string k = key;
      for (char& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (std::find(kIdentityKeys.begin(), kIdentityKeys.end(), k) == kIdentityKeys.end()) continue;
      kept[k] = value;
    }
    std::string attributes;
    for (const auto& [key, value] : kept) {
      attributes += fmt::format("{}{}={}", attributes.empty() ? "?" : "&", key, value);
    }
    return fmt::format("odbc://{}{}/{}{}", url.host, url.port ? fmt::format(":{}", *url.port) : "",
                       url.database, attributes);
  }
  int port = url.port.value_or(0);
  if (!url.port && url.scheme == "postgresql") port = 5432;
  if (!url.port && url.scheme == "mysql") port = 3306;
  return fmt::format("{}://{}{}/{}", url.scheme, url.host, port ? fmt::format(":{}", port) : "",
                     url.database);
}

bool DriverRegistry::has(const std::string& scheme) const {
  std::lock_guard lock(mu_);
  return openers_.count(scheme) != 0;
}

ConnectionFactory connection_factory(const std::string& url) {
  register_builtin_drivers();
  ConnectionUrl parsed = parse_url(url);
  // A missing driver is a usage error: report it now, before any work starts.
  if (!DriverRegistry::instance().has(parsed.scheme)) DriverRegistry::instance().open(parsed);
  return [parsed = std::move(parsed)]() { return DriverRegistry::instance().open(parsed); };
}

}  // namespace parmap

namespace parmap {

std::string Connection::sql_type(LedgerType type, int max_chars) const {
  switch (type) {
    case LedgerType::Text:
      return "TEXT";
    case LedgerType::BoundedText:
      return fmt::format("VARCHAR({})", max_chars);
    case LedgerType::BigInt:
      return "BIGINT";
  }
  return "TEXT";
}

void Connection::savepoint(std::string_view name) { execute(fmt::format("SAVEPOINT {}", name)); }

void Connection::release_savepoint(std::string_view name) {
  execute(fmt::format("RELEASE SAVEPOINT {}", name));
}

void Connection::rollback_to_savepoint(std::string_view name) {
  execute(fmt::format("ROLLBACK TO SAVEPOINT {}", name));
}

std::vector<TableRef> Connection::list_tables() {
  throw Error(ErrorKind::Config,
              fmt::format("a table selection ('tables:') is not supported on a {} source; list "
                          "the jobs under 'jobs:' instead",
                          engine()));
}

void Connection::create_schema(const std::string& schema) {
  throw Error(ErrorKind::Config,
              fmt::format("target schema '{}': a {} target has no schemas to create; drop the "
                          "schema from the target table's name",
                          schema, engine()));
}

std::string Connection::table_object_sql(const TableRef& table, const TableObject& object,
                                         const std::optional<TableRef>& /*references*/) const {
  throw Error(ErrorKind::Internal,
              fmt::format("{}: cannot make index or constraint {} of {}", engine(), object.name,
                          table.display()));
}

void Connection::truncate_in_transaction(const TableRef& table) {
  execute(fmt::format("DELETE FROM {}", quote_table(table)));
}

std::string Connection::chunk_query(std::string_view sql, const Chunk& chunk,
                                    std::vector<Value>& params) const {
  if (chunk.key.empty()) return std::string(sql);
  const std::string key = quote_identifier(chunk.key);
  std::string where;
  if (chunk.slice) {
    // A position pseudo-column is visible on the table only, not through a subquery.
    const std::optional<TableRef> table = simple_table_of(sql);
    if (!table) {
      throw Error(ErrorKind::Internal,
                  fmt::format("{}: {} splits a key value by {}, which needs a query of the form "
                              "SELECT * FROM <table>",
                              engine(), chunk.describe(), chunk.slice->position));
    }
    const KeySlice& slice = *chunk.slice;
    if (slice.value.is_null()) {
      where = key + " IS NULL";
    } else {
      where = key + " = ?";
      params.push_back(slice.value);
    }
    // The driver named the pseudo-column (rowid): written as is, never quoted.
    if (!slice.range.lo.is_null()) {
      where += fmt::format(" AND {} >= ?", slice.position);
      params.push_back(slice.range.lo);
    }
    if (!slice.range.hi.is_null()) {
      where += fmt::format(" AND {} < ?", slice.position);
      params.push_back(slice.range.hi);
    }
    return fmt::format("SELECT * FROM {} WHERE {}", quote_table(*table), where);
  }
  if (chunk.range.nulls) {
    where = key + " IS NULL";
  } else {
    if (!chunk.range.lo.is_null()) {
      where = key + " >= ?";
      params.push_back(chunk.range.lo);
    }
    if (!chunk.range.hi.is_null()) {
      where += (where.empty() ? "" : " AND ") + key + " < ?";
      params.push_back(chunk.range.hi);
    }
    // Both bounds open: every non-null key (NULL keys have a chunk of their own).
    if (where.empty()) where = key + " IS NOT NULL";
  }
  return fmt::format("SELECT * FROM ({}) AS src WHERE {}", sql, where);
}

std::unique_ptr<NativeSource> Connection::open_native_source(std::string_view,
                                                             const std::vector<Value>&) {
  throw Error(ErrorKind::Internal, fmt::format("{} has no native bulk stream", engine()));
}

std::unique_ptr<NativeSink> Connection::open_native_sink(const TableRef&,
                                                         const std::vector<std::string>&) {
  throw Error(ErrorKind::Internal, fmt::format("{} has no native bulk stream", engine()));
}

AttachedSource Connection::attach_source(Connection& source, std::string_view, const TableRef&) {
  return {"", fmt::format("{} to {} has no in-engine copy", source.engine(), engine())};
}

LocalCopyResult Connection::copy_local(const TableRef&, const std::vector<std::string>&,
                                       std::string_view, const std::vector<Value>&,
                                       const std::function<void(int64_t, int64_t)>&) {
  throw Error(ErrorKind::Internal, fmt::format("{} has no in-engine copy", engine()));
}

std::string quote_ansi_identifier(std::string_view name) {
  std::string quoted;
  quoted.reserve(name.size() + 2);
  quoted += '"';
  for (char c : name) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  quoted += '"';
  return quoted;
}

std::string job_lock_key(std::string_view job_id, std::string_view target_table) {
  return fmt::format("parmap job {} into {}", job_id, target_table);
}

}  // namespace parmap
