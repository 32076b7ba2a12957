// The SQLite driver's entry point: registers "sqlite" URLs with the driver registry.
#include "connect/sqlite/sqlite_driver.h"

#include "connect/sqlite/sqlite_connection.h"

namespace parmap::sqlite {

void register_driver(DriverRegistry& registry) {
  registry.add("sqlite", [](const ConnectionUrl& url) -> std::unique_ptr<Connection> {
    return SqliteConnection::open(url);
  });
}

}  // namespace parmap::sqlite
