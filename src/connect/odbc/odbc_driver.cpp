// The ODBC driver's entry point: registers "odbc" URLs with the driver registry.
#include "connect/odbc/odbc_driver.h"

#include "connect/odbc/odbc_connection.h"

namespace parmap::odbc {

void register_driver(DriverRegistry& registry) {
  registry.add("odbc", [](const ConnectionUrl& url) -> std::unique_ptr<Connection> {
    return OdbcConnection::open(url);
  });
}

}  // namespace parmap::odbc
