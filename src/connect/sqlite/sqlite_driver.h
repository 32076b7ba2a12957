// The SQLite driver's entry point: registers "sqlite" URLs with the driver registry.
#pragma once

#include "parmap/connection.h"

namespace parmap::sqlite {

/// Adds the "sqlite" scheme to `registry`.
void register_driver(DriverRegistry& registry);

}  // namespace parmap::sqlite
