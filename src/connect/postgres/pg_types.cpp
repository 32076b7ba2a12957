// PostgreSQL type oids and parmap's column types.
#include "connect/postgres/pg_copy.h"

#include <fmt/format.h>

#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include "common/hash.h"
#include "common/temporal.h"
#include "connect/postgres/pg_numeric.h"
#include "connect/postgres/pg_wire.h"
#include "parmap/error.h"

namespace parmap::pg {

// --- types ---------------------------------------------------------------------------------

ColumnType column_type_for_oid(uint32_t type_oid) {
  switch (type_oid) {
    case oid::kInt2:
    case oid::kInt4:
    case oid::kInt8:
    case oid::kOid:
      return ColumnType::Int64;
    case oid::kFloat4:
    case oid::kFloat8:
      return ColumnType::Double;
    case oid::kNumeric:
      return ColumnType::Numeric;
    case oid::kBool:
      return ColumnType::Bool;
    case oid::kDate:
      return ColumnType::Date;
    case oid::kTime:
      return ColumnType::Time;
    case oid::kTimestamp:
      return ColumnType::Timestamp;
    case oid::kTimestampTz:
      return ColumnType::TimestampTz;
    case oid::kInterval:
      return ColumnType::Interval;
    case oid::kUuid:
      return ColumnType::Uuid;
    case oid::kJson:
    case oid::kJsonb:
      return ColumnType::Json;
    case oid::kBytea:
      return ColumnType::Blob;
    default:
      return element_oid(type_oid) != 0 ? ColumnType::Array : ColumnType::Text;
  }
}

uint32_t element_oid(uint32_t array_oid) {
  switch (array_oid) {
    case 1000:
      return oid::kBool;
    case 1001:
      return oid::kBytea;
    case 1002:
      return oid::kChar;
    case 1003:
      return oid::kName;
    case 1005:
      return oid::kInt2;
    case 1007:
      return oid::kInt4;
    case 1009:
      return oid::kText;
    case 1014:
      return oid::kBpchar;
    case 1015:
      return oid::kVarchar;
    case 1016:
      return oid::kInt8;
    case 1021:
      return oid::kFloat4;
    case 1022:
      return oid::kFloat8;
    case 1028:
      return oid::kOid;
    case 199:
      return oid::kJson;
    case 1182:
      return oid::kDate;
    case 1183:
      return oid::kTime;
    case 1115:
      return oid::kTimestamp;
    case 1185:
      return oid::kTimestampTz;
    case 1187:
      return oid::kInterval;
    case 1231:
      return oid::kNumeric;
    case 2951:
      return oid::kUuid;
    case 3807:
      return oid::kJsonb;
    default:
      return 0;
  }
}

bool supported_oid(uint32_t type_oid) {
  switch (type_oid) {
    case oid::kBool:
    case oid::kBytea:
    case oid::kChar:
    case oid::kName:
    case oid::kInt8:
    case oid::kInt2:
    case oid::kInt4:
    case oid::kText:
    case oid::kOid:
    case oid::kJson:
    case oid::kFloat4:
    case oid::kFloat8:
    case oid::kBpchar:
    case oid::kVarchar:
    case oid::kDate:
    case oid::kTime:
    case oid::kTimestamp:
    case oid::kTimestampTz:
    case oid::kInterval:
    case oid::kNumeric:
    case oid::kUuid:
    case oid::kJsonb:
      return true;
    default:
      return element_oid(type_oid) != 0;
  }
}

}  // namespace parmap::pg
