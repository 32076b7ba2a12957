// The PostgreSQL connection's planning: row estimates, key statistics and samples, a table's
// extent in blocks and whether its rows moved, chunk queries, and whether a key-range filter
// reaches the table (read from EXPLAIN).
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string_view>
#include <vector>
#include <nlohmann/json.hpp>

#include "connect/postgres/pg_connection.h"
#include "connect/postgres/pg_native_source.h"
#include "connect/postgres/pg_connection_internal.h"
#include "connect/postgres/pg_libpq.h"
#include "parmap/error.h"
#include "plan/plan.h"

namespace parmap::pg {

namespace {

// Rows above which a query's keys are not read in full (for the sample or the null count);
// the planner then splits [min, max] evenly.
constexpr int64_t kSmallQueryRows = 1'000'000;
// Tables above this many rows (estimated) are sampled by blocks (TABLESAMPLE); such a sample
// is trusted when it holds at least kMinBlockSample keys.
constexpr int64_t kBlockSampleRows = 200'000;
constexpr int64_t kMinBlockSample = 500;
constexpr std::string_view kProbeStatement = "parmap_range_probe";
// undefined_function: what ORDER BY and >= raise for a type with no ordering.
constexpr std::string_view kUndefinedFunction = "42883";
// The first release with the TID range scan: before it a ctid range reads the whole table.
constexpr int kTidRangeScanVersion = 140000;

/// A partition key's value as a chunk bound: read_value, except that a bool stays the text
/// "false"/"true", because a bound is inlined into the chunk's query and an integer literal
/// does not compare with a bool column.
Value key_value(const PGresult* result, int row, int col) {
  if (PQftype(result, col) == oid::kBool && PQgetisnull(result, row, col) == 0) {
    return Value(PQgetvalue(result, row, col)[0] == 't' ? "true" : "false");
  }
  return read_value(result, row, col);
}

double cell_double(const PGresult* result, int row, int col) {
  const std::string_view text = cell(result, row, col);
  double v = 0;
  std::from_chars(text.data(), text.data() + text.size(), v);
  return v;
}

/// Whether the plan node's `key` is a condition mentioning the chunk's first parameter ($1).
bool mentions_param(const nlohmann::json& node, std::string_view key) {
  const auto it = node.find(std::string(key));
  return it != node.end() && it->is_string() &&
         it->get<std::string>().find("$1") != std::string::npos;
}

/// The first non-empty answer of `visit` over the plan tree, top-down, or "" when none.
template <typename Visit>
std::string first_in_plan(const nlohmann::json& node, const Visit& visit) {
  if (!node.is_object()) return {};
  std::string found = visit(node);
  if (!found.empty()) return found;
  const auto plans = node.find("Plans");
  if (plans != node.end() && plans->is_array()) {
    for (const nlohmann::json& child : *plans) {
      found = first_in_plan(child, visit);
      if (!found.empty()) return found;
    }
  }
  return {};
}

/// The first plan node (top-down) that applies a condition mentioning $1 without being a
/// scan of a relation, or "" when every such condition sits in a scan.
std::string node_filtering_above_scan(const nlohmann::json& plan) {
  static constexpr std::array<std::string_view, 10> kScans = {
      "Seq Scan", "Index Scan",     "Index Only Scan", "Bitmap Index Scan", "Bitmap Heap Scan",
      "Tid Scan", "Tid Range Scan", "Sample Scan",     "Foreign Scan",      "Custom Scan"};
  static constexpr std::array<std::string_view, 8> kConditions = {
      "Filter",   "Join Filter", "Index Cond",      "Recheck Cond",
      "TID Cond", "Hash Cond",   "One-Time Filter", "Run Condition"};
  return first_in_plan(plan, [](const nlohmann::json& node) -> std::string {
    const std::string type = node.value("Node Type", std::string());
    if (std::find(kScans.begin(), kScans.end(), type) != kScans.end()) return {};
    for (std::string_view key : kConditions) {
      if (mentions_param(node, key)) return type;
    }
    return {};
  });
}

/// The first scan (top-down) that tests a condition mentioning $1 on every row it reads, as a
/// filter rather than as an index or TID condition: "<relation> is read by a <scan>", or ""
/// when there is none. Every chunk would read what that scan reads, whichever its range.
std::string relation_scanned_for_filter(const nlohmann::json& plan) {
  static constexpr std::array<std::string_view, 7> kScans = {
      "Seq Scan",       "Index Scan", "Index Only Scan", "Bitmap Heap Scan",
      "Tid Range Scan", "Tid Scan",   "Sample Scan"};
  return first_in_plan(plan, [](const nlohmann::json& node) -> std::string {
    const std::string type = node.value("Node Type", std::string());
    if (std::find(kScans.begin(), kScans.end(), type) == kScans.end() ||
        !mentions_param(node, "Filter") || mentions_param(node, "Index Cond") ||
        mentions_param(node, "Recheck Cond") || mentions_param(node, "TID Cond")) {
      return {};
    }
    const std::string relation = node.value("Relation Name", std::string("a table"));
    if (type == "Seq Scan") return relation + " is read by a sequential scan";
    const std::string index = node.value("Index Name", std::string());
    return fmt::format("{} is read by {} {}{}, testing the key on each row it reads", relation,
                       type.front() == 'I' ? "an" : "a", type,
                       index.empty() ? "" : " using " + index);
  });
}

/// "Plan Rows" of the top node of an EXPLAIN (FORMAT JSON) document.
int64_t plan_rows(std::string_view json_text) {
  const nlohmann::json doc = nlohmann::json::parse(json_text, nullptr, false);
  if (doc.is_discarded() || !doc.is_array() || doc.empty() || !doc[0].contains("Plan")) return -1;
  const nlohmann::json& plan = doc[0]["Plan"];
  const auto rows = plan.find("Plan Rows");
  if (rows == plan.end() || !rows->is_number()) return -1;
  return std::llround(rows->get<double>());
}

// A table's extent in blocks, for splitting it by block ranges, and whether it can be split
// so: an ordinary table or materialized view by its own pages; a partitioned table by its
// largest leaf partition's, since a ctid range on the parent reads that block range of every
// partition (a TID range scan on each). A partition that is not an ordinary table (a foreign
// table) has no blocks to read by, and neither has a partitioned table with no partitions.
constexpr std::string_view kBlocksSql =
    "SELECT CASE WHEN c.relkind = 'p' THEN (SELECT max(pg_catalog.pg_relation_size(t.relid)) "
    "FROM pg_catalog.pg_partition_tree(c.oid) t WHERE t.isleaf) "
    "ELSE pg_catalog.pg_relation_size(c.oid) END / current_setting('block_size')::int8, "
    "CASE WHEN c.relkind IN ('r', 'm') THEN true "
    "WHEN c.relkind = 'p' THEN NOT EXISTS (SELECT 1 FROM pg_catalog.pg_partition_tree(c.oid) t "
    "JOIN pg_catalog.pg_class l ON l.oid = t.relid WHERE t.isleaf AND l.relkind <> 'r') "
    "AND EXISTS (SELECT 1 FROM pg_catalog.pg_partition_tree(c.oid) t WHERE t.isleaf) "
    "ELSE false END "
    "FROM pg_catalog.pg_class c WHERE c.oid = to_regclass($1)";

// The files that hold a table's rows, as text: its relfilenode, or a partitioned table's leaf
// partitions' in partition order. Another value after a rewrite, or a partition attached or
// detached, means that the positions a plan cut may have moved.
constexpr std::string_view kFilesExpr =
    "CASE WHEN c.relkind = 'p' THEN (SELECT string_agg(l.relfilenode::text, '.' ORDER BY l.oid) "
    "FROM pg_catalog.pg_partition_tree(c.oid) t JOIN pg_catalog.pg_class l ON l.oid = t.relid "
    "WHERE t.isleaf) ELSE c.relfilenode::text END";

}  // namespace

std::optional<std::string> block_ranges_problem(int server_version) {
  if (server_version >= kTidRangeScanVersion) return std::nullopt;
  return fmt::format(
      "the server's server_version_num is {}, older than PostgreSQL 14 ({}), which added the "
      "TID range scan: every ctid block range would read the whole table",
      server_version, kTidRangeScanVersion);
}

namespace {

// A plain table never analyzed (reltuples -1: the server's planner would guess its rows from
// its columns' types, 4 times too many for a test's table of long text): its pages.
constexpr std::string_view kNeverAnalyzedSql =
    "SELECT pg_catalog.pg_relation_size(c.oid), "
    "pg_catalog.pg_relation_size(c.oid) / current_setting('block_size')::int8 "
    "FROM pg_catalog.pg_class c WHERE c.oid = to_regclass($1) AND c.relkind = 'r' AND "
    "c.reltuples < 0";

// The average size of the rows of the pages TABLESAMPLE SYSTEM picks ($1: that share of the
// table's pages, in percent): PostgreSQL counts a tuple header (24 bytes) in a row's size as
// a composite value; with its line pointer, the bytes it takes on disk.
constexpr std::string_view kRowSizeSampleSql =
    "SELECT avg(pg_catalog.pg_column_size(s.*))::float8 + 4 FROM "
    "(SELECT * FROM {} TABLESAMPLE SYSTEM ($1)) s";

}  // namespace

std::optional<double> PgConnection::sampled_row_bytes(const TableRef& table, int64_t pages) {
  const double share = std::min(100.0, 100.0 * 64 / std::max<double>(1, pages));
  ResultPtr sample = exec_params(fmt::format(kRowSizeSampleSql, quote_table(table)),
                                 {Value(share)}, "row size sample", table.display());
  if (PQntuples(sample.get()) != 1 || PQgetisnull(sample.get(), 0, 0) != 0) return std::nullopt;
  const double bytes = std::strtod(std::string(cell(sample.get(), 0, 0)).c_str(), nullptr);
  return bytes > 0 ? std::optional<double>(bytes) : std::nullopt;
}

int64_t PgConnection::estimate_rows(std::string_view sql) {
  ensure_read_snapshot();
  if (const std::optional<TableRef> table = simple_table_of(strip_sql(sql))) {
    auto sampled = [&]() -> int64_t {
      ResultPtr pages = exec_params(kNeverAnalyzedSql, {Value(quote_table(*table))},
                                    "table pages", table->display());
      if (PQntuples(pages.get()) != 1) return -1;
      const int64_t size = cell_int(pages.get(), 0, 0);
      const std::optional<double> bytes = sampled_row_bytes(*table, cell_int(pages.get(), 0, 1));
      if (!bytes) return size == 0 ? 0 : -1;
      return static_cast<int64_t>(static_cast<double>(size) / *bytes);
    };
    const int64_t rows = exported_ ? guarded(sampled) : sampled();
    if (rows >= 0) return rows;
  }
  auto run = [&] {
    const std::string text = fmt::format("EXPLAIN (FORMAT JSON) {}", strip_sql(sql));
    ResultPtr result = exec(text, PGRES_TUPLES_OK, "estimate rows");
    std::string json;
    for (int r = 0; r < PQntuples(result.get()); ++r) json += cell(result.get(), r, 0);
    const int64_t rows = plan_rows(json);
    if (rows < 0) {
      throw Error(ErrorKind::Internal,
                  fmt::format("postgresql {}: estimate rows: no \"Plan Rows\" in the plan", url_),
                  {}, pg_context(text));
    }
    return rows;
  };
  return exported_ ? guarded(run) : run();
}

KeyStats PgConnection::key_stats(std::string_view sql, std::string_view column, int max_sample) {
  ensure_read_snapshot();
  auto run = [&]() -> KeyStats {
    const std::string inner(strip_sql(sql));
    const std::optional<TableRef> table = simple_table_of(inner);
    KeyStats stats;

    if (column == "ctid") {
      // Block numbers of the table: chunk_query turns [lo, hi) into a TID range scan.
      if (!table) {
        throw Error(ErrorKind::Config,
                    fmt::format("postgresql {}: the key ctid needs a query of the form SELECT * "
                                "FROM <table>",
                                url_),
                    {}, pg_context(inner));
      }
      if (auto problem = block_ranges_problem(server_version())) {
        throw Error(ErrorKind::Config,
                    fmt::format("postgresql {}: cannot split by ctid: {}", url_, *problem), {},
                    pg_context(inner));
      }
      ResultPtr result =
          exec_params(kBlocksSql, {Value(quote_table(*table))}, "table pages", table->display());
      if (PQntuples(result.get()) == 0 || cell(result.get(), 0, 1) != "t") {
        throw Error(ErrorKind::Config,
                    fmt::format("postgresql {}: the key ctid needs a table (or a partitioned "
                                "table whose partitions are tables); {} is not one",
                                url_, table->display()),
                    {}, pg_context(inner, table->display()));
      }
      stats.column = "ctid";
      stats.type = ColumnType::Int64;
      stats.min = Value(int64_t{0});
      stats.max = Value(cell_int(result.get(), 0, 0));
      stats.rows = estimate_rows(inner);
      return stats;
    }

    const std::vector<PgColumn> columns = describe_columns(inner);
    const int index = find_column(columns, column);
    if (index < 0) {
      throw Error(ErrorKind::Schema,
                  fmt::format("postgresql {}: key column '{}' is not a column of the query; its "
                              "columns are: {}",
                              url_, column, column_names(columns)),
                  {}, pg_context(inner));
    }
    const PgColumn& key = columns[static_cast<size_t>(index)];
    const std::string quoted = quote_identifier(key.name);
    stats.column = key.name;
    stats.type = column_type_for_oid(key.type_oid);

    // The least and greatest keys by ORDER BY ... LIMIT 1 rather than min()/max(), which
    // uuid, bool and many other ordered types do not have. Through the wrapper PostgreSQL
    // pulls the subquery up and reads the ends of an index on the key when there is one.
    // A type with no ordering (json, xml, point) fails here: its rows are not split. The
    // query's own ORDER BY goes: under it the server would read the whole query for its last
    // row (0.65 s a million rows) instead of one step back along the index.
    bool unordered = false;
    try {
      guarded([&] {
        for (const char* direction : {"", " DESC"}) {
          const std::string end_sql = fmt::format(
              "SELECT {0} FROM ({1}) AS src WHERE {0} IS NOT NULL ORDER BY {0}{2} LIMIT 1",
              quoted, without_order_by(inner), direction);
          ResultPtr result = exec_params(end_sql, {}, "key statistics");
          Value end = PQntuples(result.get()) == 0 ? Value() : key_value(result.get(), 0, 0);
          (*direction == '\0' ? stats.min : stats.max) = std::move(end);
        }
        return true;
      });
    } catch (const Error& e) {
      if (e.native_code() != kUndefinedFunction) throw;
      unordered = true;
    }
    const int64_t estimate = estimate_rows(inner);

    // A plain table (not a view) has statistics and can be sampled by blocks.
    //
    // NULL keys: the planner gives them a chunk only when null_rows > 0, so an estimate of 0
    // where NULLs are possible would lose those rows. 0 is reported only when it is certain
    // (a NOT NULL column, or an exact count); an estimate from statistics, which may be stale,
    // is at least 1.
    bool plain_table = false;
    std::optional<int64_t> null_rows;
    if (table) {
      constexpr std::string_view kStatsSql =
          "SELECT c.relkind, "
          "(SELECT a.attnotnull FROM pg_catalog.pg_attribute a "
          " WHERE a.attrelid = c.oid AND a.attname = $2 AND NOT a.attisdropped), "
          "(SELECT s.null_frac::float8 FROM pg_catalog.pg_stats s "
          " WHERE s.schemaname = n.nspname AND s.tablename = c.relname AND s.attname = $2 "
          " LIMIT 1) "
          "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
          "WHERE c.oid = to_regclass($1)";
      ResultPtr result = exec_params(kStatsSql, {Value(quote_table(*table)), Value(key.name)},
                                     "key statistics", table->display());
      if (PQntuples(result.get()) == 1) {
        const std::string_view kind = cell(result.get(), 0, 0);
        plain_table = kind == "r" || kind == "m" || kind == "p";
        if (cell(result.get(), 0, 1) == "t") {
          null_rows = 0;
        } else if (PQgetisnull(result.get(), 0, 2) == 0) {
          const double frac = cell_double(result.get(), 0, 2);
          null_rows = std::max<int64_t>(1, std::llround(frac * static_cast<double>(estimate)));
        }
      }
    }
    if (!null_rows) {
      if (estimate < kSmallQueryRows) {
        const std::string count_sql =
            fmt::format("SELECT count(*) FROM ({1}) AS src WHERE {0} IS NULL", quoted, inner);
        ResultPtr result = exec_params(count_sql, {}, "count null keys");
        null_rows = cell_int(result.get(), 0, 0);
      } else {
        // Counting would read the whole large query, and there are no statistics to go by:
        // report 1 (not 0) so that the NULL-key chunk is planned and no NULL key is lost.
        null_rows = 1;
      }
    }
    stats.null_rows = std::max<int64_t>(0, *null_rows);
    if (unordered) {
      // No bounds: the planner reads every non-null key as one chunk (IS NOT NULL), and the
      // NULL keys as another, which needs no ordering either.
      spdlog::warn("postgresql {}: key '{}' has type {}, which has no ordering (no btree "
                   "operator class): its rows are not split into ranges",
                   url_, key.name, key.type_name);
      stats.min = stats.max = Value();
      stats.rows = std::max<int64_t>(0, estimate - stats.null_rows);
      return stats;
    }
    if (stats.min.is_null()) {
      stats.rows = 0;
      return stats;
    }
    stats.rows = std::max<int64_t>(1, estimate - stats.null_rows);

    if (max_sample <= 0) return stats;
    auto take_sample = [&](const std::string& sample_sql) {
      ResultPtr result = exec_params(sample_sql, {}, "key sample");
      const int n = PQntuples(result.get());
      // TABLESAMPLE's size is approximate: thin it evenly to max_sample.
      const int every = std::max(1, (n + max_sample - 1) / max_sample);
      stats.sample.clear();
      stats.sample.reserve(static_cast<size_t>(std::min(n, max_sample)));
      for (int r = 0; r < n && static_cast<int>(stats.sample.size()) < max_sample; r += every) {
        stats.sample.push_back(key_value(result.get(), r, 0));
      }
    };
    // A table of some size: TABLESAMPLE SYSTEM reads a share of its blocks, not every key
    // (reading every key of a 1,000,000-row table took half a second, 5% of its copy). At
    // least 1% of the table or 50,000 rows' worth, whichever is less, so that the sample
    // comes from many blocks; more when max_sample asks for it.
    if (plain_table && estimate > kBlockSampleRows) {
      const double rows = static_cast<double>(estimate);
      const double percent =
          std::min(100.0, std::max(100.0 * max_sample / rows, std::min(1.0, 100.0 * 50000 / rows)));
      take_sample(fmt::format(
          "SELECT {0} FROM {1} TABLESAMPLE SYSTEM ({2}) WHERE {0} IS NOT NULL ORDER BY {0}", quoted,
          quote_table(*table), format_double(percent)));
      // Page sampling can come back nearly empty (stale statistics, a table mostly empty
      // pages): then the exact sample below, where the query is small enough to read.
      if (static_cast<int64_t>(stats.sample.size()) >= kMinBlockSample) return stats;
    }
    if (estimate <= kSmallQueryRows) {
      // Every k-th key of the sorted keys, picked by the server so that only the sample
      // crosses the wire.
      const int64_t every = std::max<int64_t>(1, (estimate + max_sample - 1) / max_sample);
      take_sample(fmt::format(
          "SELECT k FROM (SELECT {0} AS k, row_number() OVER (ORDER BY {0}) - 1 AS rn "
          "FROM ({1}) AS src WHERE {0} IS NOT NULL) AS s WHERE rn % {2} = 0 ORDER BY k",
          quoted, inner, every));
    }
    // A large query that is not a table: reading its keys would cost as much as the copy.
    // No sample; the planner splits [min, max] evenly.
    return stats;
  };
  return exported_ ? guarded(run) : run();
}

std::optional<PhysicalExtent> PgConnection::physical_extent(std::string_view sql) {
  const std::optional<TableRef> table = simple_table_of(strip_sql(sql));
  if (!table || block_ranges_problem(server_version())) return std::nullopt;
  ensure_read_snapshot();
  auto run = [&]() -> std::optional<PhysicalExtent> {
    ResultPtr result =
        exec_params(kBlocksSql, {Value(quote_table(*table))}, "table pages", table->display());
    if (PQntuples(result.get()) == 0 || PQgetisnull(result.get(), 0, 0) != 0 ||
        cell(result.get(), 0, 1) != "t") {
      return std::nullopt;
    }
    return PhysicalExtent{"ctid", 0, std::max<int64_t>(1, cell_int(result.get(), 0, 0))};
  };
  return exported_ ? guarded(run) : run();
}

std::string PgConnection::position_token(std::string_view sql) {
  const std::optional<TableRef> table = simple_table_of(strip_sql(sql));
  if (!table) return {};
  ensure_read_snapshot();
  auto run = [&]() -> std::string {
    // The plan's snapshot ("xmin:xmax:in-progress,..."): a row written by a transaction it
    // saw as committed was in place for the plan; one written later, or by a transaction
    // then in progress, may not have been.
    const std::string token_sql = fmt::format(
        "SELECT {}, pg_current_snapshot()::text FROM pg_catalog.pg_class c "
        "WHERE c.oid = to_regclass($1)",
        kFilesExpr);
    ResultPtr result =
        exec_params(token_sql, {Value(quote_table(*table))}, "table positions", table->display());
    if (PQntuples(result.get()) == 0 || PQgetisnull(result.get(), 0, 0) != 0) return {};
    return fmt::format("{}:{}", cell(result.get(), 0, 0), cell(result.get(), 0, 1));
  };
  return exported_ ? guarded(run) : run();
}

namespace {

// Whether a table's rows can be read in one pass in block order: an ordinary table or
// materialized view with no inheritance children; whether it is larger than a quarter of
// shared_buffers (initscan's rule for a sequential scan's ring of buffers); its bytes a row
// on disk, and its columns. The bytes a row come from the rows a page held when the table was
// last analyzed or vacuumed, as the server's planner scales them: a table that grew tenfold
// since keeps its rows' size, where its size over that old count would be ten times it. NULL
// for a table never analyzed (reltuples -1).
constexpr std::string_view kOnePassSql =
    "SELECT c.relkind IN ('r', 'm') AND NOT c.relhassubclass, "
    "pg_catalog.pg_relation_size(c.oid) / current_setting('block_size')::int8 > "
    "pg_catalog.pg_size_bytes(current_setting('shared_buffers')) / "
    "current_setting('block_size')::int8 / 4, "
    "CASE WHEN c.reltuples > 0 AND c.relpages > 0 THEN "
    "current_setting('block_size')::float8 * c.relpages / c.reltuples END, "
    "c.relnatts, pg_catalog.pg_relation_size(c.oid) / current_setting('block_size')::int8 "
    "FROM pg_catalog.pg_class c WHERE c.oid = to_regclass($1)";

}  // namespace

int64_t PgConnection::one_pass_chunk_rows(std::string_view sql, int64_t chunk_bytes) {
  const std::optional<TableRef> table = simple_table_of(strip_sql(sql));
  if (!table) return 0;
  ensure_read_snapshot();
  auto run = [&]() -> int64_t {
    ResultPtr result =
        exec_params(kOnePassSql, {Value(quote_table(*table))}, "table size", table->display());
    if (PQntuples(result.get()) != 1 || cell(result.get(), 0, 0) != "t" ||
        cell(result.get(), 0, 1) != "t") {
      return 0;
    }
    double disk_bytes = 0;
    if (PQgetisnull(result.get(), 0, 2) == 0) {
      disk_bytes = std::strtod(std::string(cell(result.get(), 0, 2)).c_str(), nullptr);
    } else if (const auto sampled = sampled_row_bytes(*table, cell_int(result.get(), 0, 4))) {
      disk_bytes = *sampled;
    } else {
      return 0;
    }
    // A row in binary COPY: its size on disk less the tuple header and line pointer (28
    // bytes) COPY does not send, plus the field count and a length word for each column. Off
    // by a few percent either way: 300 bytes for bench/pg_copy.sh's 277 (12 columns), 2,412
    // for its wide table's 2,476 (200 columns; 1,638 on disk).
    const double row_bytes =
        disk_bytes - 26 + 4 * std::strtod(std::string(cell(result.get(), 0, 3)).c_str(), nullptr);
    return std::max<int64_t>(
        1, static_cast<int64_t>(static_cast<double>(chunk_bytes) / std::max(row_bytes, 1.0)));
  };
  return exported_ ? guarded(run) : run();
}

std::unique_ptr<PositionScan> PgConnection::open_position_scan(std::string_view sql) {
  const std::optional<TableRef> table = simple_table_of(strip_sql(sql));
  if (!table) return nullptr;
  ensure_read_snapshot();
  // Asked again, in the run's snapshot: the plan may be an earlier run's, and the table may
  // since have gained inheritance children or become another kind of relation.
  ResultPtr kind =
      exec_params(kOnePassSql, {Value(quote_table(*table))}, "table kind", table->display());
  if (PQntuples(kind.get()) != 1 || cell(kind.get(), 0, 0) != "t") return nullptr;
  // A scan started where another one is (synchronize_seqscans) wraps around the table's end,
  // and a parallel one interleaves blocks: either would break the block order.
  exec("SET synchronize_seqscans = off", PGRES_COMMAND_OK, "one pass over the table");
  exec("SET max_parallel_workers_per_gather = 0", PGRES_COMMAND_OK, "one pass over the table");
  const std::string copy_sql = fmt::format(
      "COPY (SELECT ctid, * FROM {}) TO STDOUT (FORMAT binary)", quote_table(*table));
  start_copy_out(copy_sql, table->display());
  return std::make_unique<PgPositionScan>(session_, copy_sql);
}

std::string PgConnection::table_token(const TableRef& table) {
  // TRUNCATE, and DROP with CREATE, give the table another file (and another oid).
  const std::string token_sql = fmt::format(
      "SELECT c.oid::text || '/' || ({}) FROM pg_catalog.pg_class c WHERE c.oid = "
      "to_regclass($1)",
      kFilesExpr);
  ResultPtr result =
      exec_params(token_sql, {Value(quote_table(table))}, "target table storage", table.display());
  if (PQntuples(result.get()) == 0 || PQgetisnull(result.get(), 0, 0) != 0) return {};
  return std::string(cell(result.get(), 0, 0));
}

std::optional<std::string> PgConnection::positions_moved(std::string_view sql,
                                                         const std::string& token) {
  const std::optional<TableRef> table = simple_table_of(strip_sql(sql));
  const size_t colon = token.find(':');
  if (!table || colon == std::string::npos) return std::nullopt;
  const std::string relfilenode = token.substr(0, colon);
  // Since when a row is newer than the plan. Transaction ids wrap at 2^32: "x is not older
  // than b" is the forward distance from b to x being under 2^31.
  auto not_older = [](int64_t bound) {
    return fmt::format("((xmin::text::int8 - {}) % 4294967296 + 4294967296) % 4294967296 < 2147483648",
                       bound % (int64_t{1} << 32));
  };
  std::string newer_than_plan;
  const std::string snapshot = token.substr(colon + 1);
  if (const size_t c1 = snapshot.find(':'); c1 == std::string::npos) {
    // A plan stored by an earlier version kept the snapshot's xmin only: a row of any
    // transaction at or after it counts as newer (safe, and refuses more often).
    newer_than_plan = not_older(std::stoll(snapshot));
  } else {
    // xmin:xmax:xip: newer when written at or after xmax, or by a transaction in progress
    // then (in xip). A transaction between xmin and xmax and not in xip had committed: a
    // long transaction elsewhere on the server no longer makes every row look new.
    const size_t c2 = snapshot.find(':', c1 + 1);
    newer_than_plan = not_older(std::stoll(snapshot.substr(c1 + 1, c2 - c1 - 1)));
    std::vector<std::string> in_progress;
    if (c2 != std::string::npos) {
      std::string_view rest = std::string_view(snapshot).substr(c2 + 1);
      while (!rest.empty()) {
        const size_t comma = rest.find(',');
        const int64_t xid = std::stoll(std::string(rest.substr(0, comma)));
        in_progress.push_back(std::to_string(xid % (int64_t{1} << 32)));
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      }
    }
    if (!in_progress.empty()) {
      newer_than_plan = fmt::format("({}) OR xmin::text::int8 IN ({})", newer_than_plan,
                                    fmt::join(in_progress, ", "));
    }
  }
  ensure_read_snapshot();
  auto run = [&]() -> std::optional<std::string> {
    ResultPtr file = exec_params(
        fmt::format("SELECT {} FROM pg_catalog.pg_class c WHERE c.oid = to_regclass($1)",
                    kFilesExpr),
        {Value(quote_table(*table))}, "table positions", table->display());
    if (PQntuples(file.get()) == 0 || std::string(cell(file.get(), 0, 0)) != relfilenode) {
      return fmt::format("{} was rewritten since the plan was made (VACUUM FULL, CLUSTER, "
                         "TRUNCATE, an ALTER TABLE that rewrites it, or a partition attached "
                         "or detached)",
                         table->display());
    }
    const std::string newer_sql =
        fmt::format("SELECT count(*) FROM (SELECT 1 FROM {} WHERE {} LIMIT 1000000) AS moved",
                    quote_table(*table), newer_than_plan);
    ResultPtr newer = exec_params(newer_sql, {}, "rows changed since the plan", table->display());
    const int64_t rows = cell_int(newer.get(), 0, 0);
    if (rows == 0) return std::nullopt;
    return fmt::format("{}{} row(s) of {} were inserted or updated since the plan was made, which "
                       "puts them in other blocks",
                       rows >= 1000000 ? "at least " : "", rows, table->display());
  };
  return exported_ ? guarded(run) : run();
}

std::string PgConnection::chunk_query(std::string_view sql, const Chunk& chunk,
                                      std::vector<Value>& params) const {
  const size_t first = params.size();
  std::string out = block_chunk_query(sql, chunk, params);
  // Integer bounds go as untyped literals ('1'), which the server reads as the key's own type:
  // a bare 1 does not compare with a boolean key (the planner's probes read bools as 0/1).
  for (size_t i = first; i < params.size(); ++i) {
    if (params[i].is_int()) params[i] = Value(std::to_string(params[i].as_int()));
  }
  return out;
}

std::string PgConnection::block_chunk_query(std::string_view sql, const Chunk& chunk,
                                            std::vector<Value>& params) const {
  const bool block_slice = chunk.slice && chunk.slice->position == "ctid";
  if (chunk.key != "ctid" && !block_slice) return Connection::chunk_query(sql, chunk, params);
  const std::optional<TableRef> table = simple_table_of(sql);
  if (!table) {
    throw Error(ErrorKind::Config,
                fmt::format("postgresql {}: the key ctid needs a query of the form SELECT * FROM "
                            "<table>",
                            url_),
                {}, pg_context(sql));
  }
  std::string where;
  KeyRange blocks = chunk.range;
  if (block_slice) {
    // One key value's rows, by block ranges of the table: a TID range scan or the key's
    // index, whichever the planner finds cheaper.
    const std::string key = quote_identifier(chunk.key);
    if (chunk.slice->value.is_null()) {
      where = key + " IS NULL";
    } else {
      where = key + " = ?";
      params.push_back(chunk.slice->value);
    }
    blocks = chunk.slice->range;
  }
  auto bound = [&](const Value& v, const char* op) {
    if (v.is_null()) return;
    if (!v.is_int() || v.as_int() < 0) {
      throw Error(ErrorKind::Internal,
                  fmt::format("postgresql {}: ctid chunk bound {} is not a block number", url_,
                              v.to_display()),
                  {}, pg_context(sql));
    }
    where += fmt::format("{}ctid {} '({},0)'::tid", where.empty() ? "" : " AND ", op, v.as_int());
  };
  bound(blocks.lo, ">=");
  bound(blocks.hi, "<");
  std::string out = fmt::format("SELECT * FROM {}", quote_table(*table));
  if (!where.empty()) out += " WHERE " + where;
  return out;
}

std::optional<std::string> PgConnection::range_filter_problem(std::string_view sql,
                                                              std::string_view column) {
  ensure_read_snapshot();
  const std::string inner(strip_sql(sql));
  std::vector<PgColumn> columns;
  try {
    columns = guarded([&] { return describe_columns(inner); });
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::Config || e.kind() == ErrorKind::Schema) return std::nullopt;
    throw;
  }
  const int index = find_column(columns, column);
  if (index < 0) return std::nullopt;
  const PgColumn& key = columns[static_cast<size_t>(index)];

  // A generic plan keeps $1 and $2 parameters, as a chunk's bounds are, so the plan shows
  // where the filter lands; constants could be folded or estimated away. With sequential
  // scans disabled the planner takes any index that can answer the range: a sequential scan
  // left filtering on $1 means that none can, and every chunk would read the whole table.
  const std::string quoted_key = quote_identifier(key.name);
  const std::string probe = fmt::format("SELECT * FROM ({}) AS src WHERE {} >= $1 AND {} < $2",
                                        inner, quoted_key, quoted_key);
  bool prepared = false;
  bool generic = false;
  auto run = [&]() -> std::string {
    PGconn* c = conn();
    const std::array<Oid, 2> types = {key.type_oid, key.type_oid};
    const std::string name(kProbeStatement);
    ResultPtr result(PQprepare(c, name.c_str(), probe.c_str(), 2, types.data()));
    if (!result || PQresultStatus(result.get()) != PGRES_COMMAND_OK) {
      fail(result.get(), "check the key-range filter", probe);
    }
    prepared = true;
    exec("SET plan_cache_mode = force_generic_plan", PGRES_COMMAND_OK, "plan cache mode");
    exec("SET enable_seqscan = off", PGRES_COMMAND_OK, "planner setting");
    generic = true;
    ResultPtr plan =
        exec(fmt::format("EXPLAIN (FORMAT JSON) EXECUTE {}(NULL, NULL)", kProbeStatement),
             PGRES_TUPLES_OK, "check the key-range filter");
    std::string json;
    for (int r = 0; r < PQntuples(plan.get()); ++r) json += cell(plan.get(), r, 0);
    exec("RESET plan_cache_mode", PGRES_COMMAND_OK, "plan cache mode");
    exec("RESET enable_seqscan", PGRES_COMMAND_OK, "planner setting");
    generic = false;
    exec(fmt::format("DEALLOCATE {}", kProbeStatement), PGRES_COMMAND_OK, "deallocate");
    prepared = false;
    return json;
  };
  std::string json;
  try {
    json = guarded(run);
  } catch (const Error& e) {
    // Undo what a failure left behind: prepared statements outlive a rolled-back savepoint,
    // and outside a transaction the SET stays.
    if (session_ && session_->conn && PQstatus(session_->conn.get()) == CONNECTION_OK &&
        PQtransactionStatus(session_->conn.get()) != PQTRANS_INERROR) {
      PGconn* c = session_->conn.get();
      if (prepared) {
        ResultPtr ignored(PQexec(c, fmt::format("DEALLOCATE {}", kProbeStatement).c_str()));
      }
      if (generic && PQtransactionStatus(c) == PQTRANS_IDLE) {
        ResultPtr ignored(PQexec(c, "RESET plan_cache_mode"));
        ResultPtr ignored_too(PQexec(c, "RESET enable_seqscan"));
      }
    }
    if (e.native_code() == kUndefinedFunction) {
      return fmt::format(
          "the key {} has type {}, which PostgreSQL cannot order or compare with >= (no btree "
          "operator class), so it cannot be cut into ranges",
          key.name, key.type_name);
    }
    if (e.kind() == ErrorKind::Config || e.kind() == ErrorKind::Schema) return std::nullopt;
    throw;
  }
  const nlohmann::json doc = nlohmann::json::parse(json, nullptr, false);
  if (doc.is_discarded() || !doc.is_array() || doc.empty() || !doc[0].contains("Plan")) {
    return std::nullopt;
  }
  const std::string node = node_filtering_above_scan(doc[0]["Plan"]);
  if (!node.empty()) {
    return fmt::format(
        "the key-range filter on {} cannot be pushed into the query (PostgreSQL plans a {} "
        "with the filter on top), so every chunk would run the whole query",
        key.name, node);
  }
  const std::string scanned = relation_scanned_for_filter(doc[0]["Plan"]);
  if (scanned.empty()) return std::nullopt;
  return fmt::format(
      "no index on {} answers a key range ({}), so every chunk would read all of it",
      key.name, scanned);
}

}  // namespace parmap::pg
