// SQL of the fidelity matrix in each engine's own dialect: literals for the source tables,
// and the predicates that check a target's values.
#pragma once

#include <optional>
#include <string>

#include "integration/fidelity/fidelity_cases.h"

namespace parmap::test::fidelity {

/// A text literal of UTF-8 `text` in `engine`'s SQL, spelled in hex so that no quoting or
/// escaping rule of the engine is involved.
std::string text_literal(Engine engine, const std::string& text);

/// A condition true when `column` of the current row holds `value` (nullopt: NULL) of `kind`
/// exactly, in `engine`'s SQL: typed equality, text byte for byte, and on SQLite the storage
/// class too.
std::string holds(Engine engine, Kind kind, const std::string& column,
                  const std::optional<std::string>& value);

/// A query of one row and column: the type `engine`'s catalog gives `column` of `table`.
std::string column_type_query(Engine engine, const std::string& table, const std::string& column);

}  // namespace parmap::test::fidelity
