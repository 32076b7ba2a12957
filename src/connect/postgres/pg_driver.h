// The PostgreSQL driver's entry point: registers "postgresql" URLs with the driver registry.
#pragma once

#include "parmap/connection.h"

namespace parmap::pg {

/// Adds the "postgresql" scheme to `registry`.
void register_driver(DriverRegistry& registry);

}  // namespace parmap::pg
