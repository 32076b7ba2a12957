// The PostgreSQL driver's entry point: registers "postgresql" URLs with the driver registry.
#include "connect/postgres/pg_driver.h"

#include "connect/postgres/pg_connection.h"

namespace parmap::pg {

void register_driver(DriverRegistry& registry) {
  registry.add("postgresql", [](const ConnectionUrl& url) -> std::unique_ptr<Connection> {
    return PgConnection::open(url);
  });
}

}  // namespace parmap::pg
