// The MariaDB/MySQL driver's entry point.
#pragma once

#include "parmap/connection.h"

namespace parmap::mariadb {

/// Registers "mysql" URLs (mysql:// and mariadb://) with the registry.
void register_driver(DriverRegistry& registry);

}  // namespace parmap::mariadb
