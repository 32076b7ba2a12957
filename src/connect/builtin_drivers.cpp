// Registers the drivers compiled into this build, by explicit call (no static initialisers).
#include <mutex>

#include "connect/mariadb/mariadb_driver.h"
#include "connect/odbc/odbc_driver.h"
#include "connect/postgres/pg_driver.h"
#include "connect/sqlite/sqlite_driver.h"
#include "parmap/connection.h"

namespace parmap {

void register_builtin_drivers() {
  static std::once_flag once;
  std::call_once(once, [] {
    sqlite::register_driver(DriverRegistry::instance());
    pg::register_driver(DriverRegistry::instance());
    mariadb::register_driver(DriverRegistry::instance());
    odbc::register_driver(DriverRegistry::instance());
  });
}

}  // namespace parmap
