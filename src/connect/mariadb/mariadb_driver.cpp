// The MariaDB/MySQL driver's entry point: registers "mysql" URLs with the driver registry.
#include "connect/mariadb/mariadb_driver.h"

#include <mysql.h>

#include "connect/mariadb/mariadb_connection.h"

namespace parmap::mariadb {

void register_driver(DriverRegistry& registry) {
  // mysql_init() would initialise the library on first use, which is not safe from several
  // threads at once (workers connect in parallel): done here, once, before any connection.
  mysql_library_init(0, nullptr, nullptr);
  registry.add("mysql", [](const ConnectionUrl& url) -> std::unique_ptr<Connection> {
    return MariadbConnection::open(url);
  });
}

}  // namespace parmap::mariadb
