// The MariaDB/MySQL driver's entry point: registers "mysql" URLs with the driver registry.
#include "connect/mariadb/mariadb_driver.h"

#include "connect/mariadb/mariadb_connection.h"

namespace parmap::mariadb {

void register_driver(DriverRegistry& registry) {
  registry.add("mysql", [](const ConnectionUrl& url) -> std::unique_ptr<Connection> {
    return MariadbConnection::open(url);
  });
}

}  // namespace parmap::mariadb
