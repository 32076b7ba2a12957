// The ODBC driver's entry point: registers "odbc" URLs with the driver registry.
#pragma once

#include "parmap/connection.h"

namespace parmap::odbc {

/// Adds the "odbc" scheme to `registry`.
void register_driver(DriverRegistry& registry);

}  // namespace parmap::odbc
