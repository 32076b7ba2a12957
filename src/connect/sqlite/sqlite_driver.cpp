// The SQLite driver's entry point: registers "sqlite" URLs with the driver registry.
#include "connect/sqlite/sqlite_driver.h"

#include <fmt/format.h>

#include <filesystem>

#include "connect/sqlite/sqlite_connection.h"
#include "parmap/error.h"

namespace parmap::sqlite {
namespace {

// A source file must exist (opening it would create an empty one), a target's folder must.
// :memory: and file: URIs pass.
void check_file(const ConnectionUrl& url, std::string_view setting, bool is_source) {
  if (url.database == ":memory:" || url.database.rfind("file:", 0) == 0) return;
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path path(url.database);
  if (fs::is_directory(path, ec)) {
    throw Error(ErrorKind::Config, fmt::format("{} {}: '{}' is a folder, not a SQLite file",
                                               setting, url.masked(), url.database));
  }
  if (is_source && !fs::exists(path, ec)) {
    throw Error(ErrorKind::Config, fmt::format("{} {}: SQLite file '{}' does not exist", setting,
                                               url.masked(), url.database));
  }
  const fs::path folder = path.parent_path();
  if (!is_source && !folder.empty() && !fs::is_directory(folder, ec)) {
    throw Error(ErrorKind::Config,
                fmt::format("{} {}: folder '{}' does not exist (parmap creates the SQLite file, "
                            "not its folder)",
                            setting, url.masked(), folder.string()));
  }
}

}  // namespace

void register_driver(DriverRegistry& registry) {
  registry.add(
      "sqlite",
      [](const ConnectionUrl& url) -> std::unique_ptr<Connection> {
        return SqliteConnection::open(url);
      },
      check_file);
}

}  // namespace parmap::sqlite
