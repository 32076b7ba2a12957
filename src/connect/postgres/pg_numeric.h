// PostgreSQL numeric's binary form (base-10000 digits) <-> exact decimal text, never via double.
#pragma once

#include <string>
#include <string_view>

namespace parmap::pg {

/// Appends the decimal text of one binary numeric value (the bytes numeric_send produces:
/// int16 ndigits, weight, sign, dscale, then ndigits base-10000 int16 digits) to `out`, with
/// exactly dscale fraction digits: "12.50", "-0.001", "0", "NaN", "Infinity", "-Infinity".
/// Returns false, leaving `out` unspecified, when the bytes are malformed (length, sign,
/// a digit above 9999). Thread-safe; allocates only by growing `out`.
bool numeric_to_text(std::string_view bytes, std::string& out);

/// Appends the binary numeric (numeric_recv's input, normalised as PostgreSQL stores it: no
/// leading or trailing zero digit groups, zero has weight 0 and a positive sign) for decimal
/// text to `out`. Accepts what numeric_in accepts: optional surrounding spaces and sign,
/// digits with an optional point, an optional exponent ("1.5e-3"), "NaN", "Infinity", "Inf"
/// (any case). dscale is the number of digits after the point (less the exponent). Returns
/// nullptr on success, else the reason ("not a number", "out of numeric range"), leaving
/// `out` as it was. Thread-safe.
const char* numeric_from_text(std::string_view text, std::string& out);

}  // namespace parmap::pg
