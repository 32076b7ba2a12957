// ODBC connection strings from parmap's connection URLs.
#pragma once

#include <string>
#include <string_view>

#include "parmap/connection.h"

namespace parmap::odbc {

/// The connection string for SQLDriverConnect of an "odbc" URL:
///  - odbc://user:password@DSN[:port][/database][?key=value...] -> "DSN=DSN;UID=user;PWD=...;"
///    then PORT= and DATABASE= when given;
///  - odbc://[user:password@]/?driver=SQLite3&database=/tmp/a.db -> "DRIVER=SQLite3;
///    DATABASE=/tmp/a.db;" (no DSN: the driver and its attributes come from the query string).
/// Every query parameter becomes a "key=value;" attribute, DSN and DRIVER first. Values with
/// ';', '{', '}' or surrounding spaces are braced ("{a;b}", '}' doubled). Holds the password:
/// never print it. Pure.
std::string connection_string(const ConnectionUrl& url);

/// A value as a connection-string attribute may carry it (see connection_string). Pure.
std::string attribute_value(std::string_view value);

}  // namespace parmap::odbc
