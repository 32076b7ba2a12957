// The ledger tables on the target: the stored plan per job and one row per committed chunk.
#include "exec/ledger.h"

#include <fmt/format.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "parmap/error.h"

namespace parmap {
namespace {

std::string now_utc() {
  const auto now = std::chrono::system_clock::now();
  const auto secs = std::chrono::time_point_cast<std::chrono::seconds>(now);
  const std::time_t t = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

std::string now_utc_millis() {
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::time_point_cast<std::chrono::milliseconds>(now);
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03}Z", buf, ms.time_since_epoch().count() % 1000);
}

std::string hash_hex(uint64_t hash) { return fmt::format("{:016x}", hash); }

std::string StoredPlan::to_json() const {
  nlohmann::json j;
  j["version"] = 1;
  j["source_sql"] = source_sql;
  j["target_table"] = target_table;
  j["partition_column"] = partition_column;
  j["parallel"] = parallel;
  j["reason"] = reason;
  j["estimated_rows"] = estimated_rows;
  j["columns"] = columns;
  if (!position_token.empty()) j["position_token"] = position_token;
  if (!target_token.empty()) j["target_token"] = target_token;
  auto& chunks_json = j["chunks"] = nlohmann::json::array();
  for (const auto& c : chunks) {
    chunks_json.push_back({{"index", c.index},
                           {"lo", c.range.lo.serialize()},
                           {"hi", c.range.hi.serialize()},
                           {"nulls", c.range.nulls},
                           {"estimated_rows", c.estimated_rows}});
    // Only chunks inside one key value carry a slice; plans without any read as before.
    if (c.slice) {
      chunks_json.back()["slice"] = {{"value", c.slice->value.serialize()},
                                     {"position", c.slice->position},
                                     {"lo", c.slice->range.lo.serialize()},
                                     {"hi", c.slice->range.hi.serialize()}};
    }
  }
  return j.dump();
}

StoredPlan StoredPlan::from_json(const std::string& text) {
  try {
    const auto j = nlohmann::json::parse(text);
    StoredPlan plan;
    plan.source_sql = j.value("source_sql", "");
    plan.target_table = j.value("target_table", "");
    plan.partition_column = j.at("partition_column").get<std::string>();
    plan.parallel = j.at("parallel").get<bool>();
    plan.reason = j.at("reason").get<std::string>();
    plan.estimated_rows = j.at("estimated_rows").get<int64_t>();
    plan.columns = j.value("columns", std::vector<std::string>{});
    plan.position_token = j.value("position_token", "");
    plan.target_token = j.value("target_token", "");
    for (const auto& c : j.at("chunks")) {
      Chunk chunk;
      chunk.index = c.at("index").get<uint32_t>();
      chunk.key = plan.partition_column;
      chunk.range.lo = Value::deserialize(c.at("lo").get<std::string>());
      chunk.range.hi = Value::deserialize(c.at("hi").get<std::string>());
      chunk.range.nulls = c.at("nulls").get<bool>();
      chunk.estimated_rows = c.at("estimated_rows").get<int64_t>();
      if (const auto it = c.find("slice"); it != c.end()) {
        KeySlice slice;
        slice.value = Value::deserialize(it->at("value").get<std::string>());
        slice.position = it->at("position").get<std::string>();
        slice.range.lo = Value::deserialize(it->at("lo").get<std::string>());
        slice.range.hi = Value::deserialize(it->at("hi").get<std::string>());
        chunk.slice = std::move(slice);
      }
      plan.chunks.push_back(std::move(chunk));
    }
    return plan;
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorKind::Internal,
                fmt::format("the stored plan in {} cannot be read ({}); rerun with --fresh",
                            Ledger::kJobsTable, e.what()));
  }
}

void Ledger::ensure_tables() {
  // The same tables on every engine; only the names of their column types are the engine's.
  const std::string text = db_.sql_type(LedgerType::Text, 0);
  const std::string bigint = db_.sql_type(LedgerType::BigInt, 0);
  auto bounded = [&](int max_chars) { return db_.sql_type(LedgerType::BoundedText, max_chars); };
  const std::string id = bounded(200), stamp = bounded(32);
  create_table(kJobsTable,
               fmt::format("job_id {} NOT NULL PRIMARY KEY, target_table {} NOT NULL, plan {} NOT "
                           "NULL, started_at {} NOT NULL, finished_at {}, run {} NOT NULL "
                           "DEFAULT 1",
                           id, text, text, stamp, stamp, bigint));
  // A ledger made before runs were recorded: its jobs are each in their first run.
  add_column(kJobsTable, "run", bigint + " NOT NULL DEFAULT 1");
  create_table(kRunsTable,
               fmt::format("job_id {} NOT NULL, run {} NOT NULL, target_table {} NOT NULL, "
                           "mode {} NOT NULL, started_at {} NOT NULL, finished_at {}, "
                           "chunks_planned {} NOT NULL, chunks_done {}, rows_written {}, "
                           "PRIMARY KEY (job_id, run)",
                           id, bigint, text, bounded(16), stamp, stamp, bigint, bigint, bigint));
  create_table(kChunksTable,
               fmt::format("job_id {} NOT NULL, chunk_id {} NOT NULL, lo {}, hi {}, rows_read {} "
                           "NOT NULL, rows_written {} NOT NULL, row_hash {} NOT NULL, "
                           "committed_at {} NOT NULL, started_at {}, worker {}, attempt {}, "
                           "PRIMARY KEY (job_id, chunk_id)",
                           id, bigint, text, text, bigint, bigint, bounded(40), stamp, stamp,
                           bigint, bigint));
  // A ledger made before chunks recorded when and by whom: their rows keep nulls there.
  add_column(kChunksTable, "started_at", stamp);
  add_column(kChunksTable, "worker", bigint);
  add_column(kChunksTable, "attempt", bigint);
}

void Ledger::create_table(std::string_view table, const std::string& columns) {
  once([&] { return db_.describe_table(TableRef{"", std::string(table)}).has_value(); },
       fmt::format("CREATE TABLE IF NOT EXISTS {} ({})", table, columns));
}

void Ledger::add_column(std::string_view table, std::string_view column,
                        const std::string& definition) {
  once(
      [&] {
        const auto schema = db_.describe_table(TableRef{"", std::string(table)});
        return !schema || schema->find(column) >= 0;
      },
      fmt::format("ALTER TABLE {} ADD COLUMN {} {}", table, column, definition));
}

void Ledger::once(const std::function<bool()>& done, const std::string& ddl) {
  if (done()) return;
  // Another process making or upgrading the same ledger at the same moment (two jobs into
  // one new target) may get there first: PostgreSQL then refuses this statement once the
  // other commits, even CREATE TABLE IF NOT EXISTS. Under a savepoint, so that the refusal
  // does not spoil the caller's transaction, and what the other made is taken as it is.
  constexpr std::string_view kSavepoint = "parmap_ledger_ddl";
  db_.savepoint(kSavepoint);
  try {
    db_.execute(ddl);
    db_.release_savepoint(kSavepoint);
  } catch (const Error&) {
    try {
      db_.rollback_to_savepoint(kSavepoint);
      db_.release_savepoint(kSavepoint);
    } catch (const Error&) {
      // An engine whose DDL commits at once (MariaDB) has no savepoint left to go back to.
    }
    if (done()) return;
    throw;
  }
}

bool Ledger::exists() {
  return db_.describe_table(TableRef{"", kJobsTable}).has_value() &&
         db_.describe_table(TableRef{"", kChunksTable}).has_value();
}

std::optional<StoredPlan> Ledger::load_plan(const std::string& job_id) {
  const auto rows =
      db_.query(fmt::format("SELECT plan FROM {} WHERE job_id = ?", kJobsTable), {job_id});
  if (rows.empty()) return std::nullopt;
  return StoredPlan::from_json(rows[0][0].as_text());
}

std::optional<JobRecord> Ledger::load_job(const std::string& job_id) {
  const auto jobs = db_.describe_table(TableRef{"", kJobsTable});
  const bool has_run = jobs && jobs->find("run") >= 0;
  const auto rows = db_.query(
      fmt::format("SELECT plan, finished_at, {} FROM {} WHERE job_id = ?",
                  has_run ? "run" : "1", kJobsTable),
      {job_id});
  if (rows.empty()) return std::nullopt;
  JobRecord job;
  job.plan = StoredPlan::from_json(rows[0][0].as_text());
  job.finished = !rows[0][1].is_null();
  job.run = rows[0][2].is_int() ? rows[0][2].as_int() : 1;
  return job;
}

std::vector<RunRecord> Ledger::runs(const std::string& job_id) {
  std::vector<RunRecord> out;
  if (!db_.describe_table(TableRef{"", kRunsTable})) return out;
  const std::string where = job_id.empty() ? "" : "WHERE r.job_id = ? ";
  std::vector<Value> params;
  if (!job_id.empty()) params.emplace_back(job_id);
  // The current run's totals come from the ledger (they grow while it runs); earlier runs'
  // were stored when they finished.
  const auto rows = db_.query(
      fmt::format(
          "SELECT r.job_id, r.run, r.target_table, r.mode, r.started_at, r.finished_at, "
          "r.chunks_planned, r.chunks_done, r.rows_written, "
          "CASE WHEN j.run = r.run THEN 1 ELSE 0 END, "
          "(SELECT COUNT(*) FROM {2} l WHERE l.job_id = r.job_id), "
          "(SELECT SUM(l.rows_written) FROM {2} l WHERE l.job_id = r.job_id) "
          "FROM {0} r LEFT JOIN {1} j ON j.job_id = r.job_id {3}ORDER BY r.job_id, r.run",
          kRunsTable, kJobsTable, kChunksTable, where),
      params);
  for (const auto& r : rows) {
    RunRecord rec;
    rec.job_id = r[0].as_text();
    rec.run = r[1].as_int();
    rec.target_table = r[2].as_text();
    rec.mode = r[3].as_text();
    rec.started_at = r[4].as_text();
    rec.finished_at = r[5].is_null() ? "" : r[5].as_text();
    rec.chunks_planned = r[6].as_int();
    rec.current = r[9].is_int() && r[9].as_int() == 1;
    if (rec.current) {
      rec.chunks_done = r[10].is_int() ? r[10].as_int() : 0;
      rec.rows = r[11].is_int() ? r[11].as_int() : 0;
    } else {
      rec.chunks_done = r[7].is_int() ? r[7].as_int() : 0;
      rec.rows = r[8].is_int() ? r[8].as_int() : 0;
    }
    out.push_back(std::move(rec));
  }
  return out;
}

std::map<uint32_t, LedgerEntry> Ledger::committed(const std::string& job_id) {
  std::map<uint32_t, LedgerEntry> out;
  const auto rows = db_.query(
      fmt::format("SELECT chunk_id, rows_written, row_hash, rows_read FROM {} WHERE job_id = ?",
                  kChunksTable),
      {job_id});
  for (const auto& r : rows) {
    LedgerEntry e;
    e.chunk_id = static_cast<uint32_t>(r[0].as_int());
    e.rows = r[1].as_int();
    e.row_hash = r[2].as_text();
    e.rows_read = r[3].as_int();
    out.emplace(e.chunk_id, e);
  }
  return out;
}

std::vector<LedgerChunk> Ledger::chunk_history(const std::string& job_id) {
  const auto table = db_.describe_table(TableRef{"", kChunksTable});
  const bool stamped = table && table->find("started_at") >= 0 && table->find("worker") >= 0 &&
                       table->find("attempt") >= 0;
  const auto rows = db_.query(
      fmt::format("SELECT chunk_id, lo, hi, rows_written, committed_at, {} FROM {} "
                  "WHERE job_id = ? ORDER BY chunk_id",
                  stamped ? "started_at, worker, attempt" : "NULL, NULL, NULL", kChunksTable),
      {job_id});
  std::vector<LedgerChunk> out;
  for (const auto& r : rows) {
    LedgerChunk c;
    c.chunk_id = static_cast<uint32_t>(r[0].as_int());
    c.lo = r[1].is_null() ? "" : r[1].as_text();
    c.hi = r[2].is_null() ? "" : r[2].as_text();
    c.rows = r[3].as_int();
    c.committed_at = r[4].as_text();
    c.started_at = r[5].is_null() ? "" : r[5].as_text();
    c.worker = r[6].is_int() ? static_cast<int>(r[6].as_int()) : -1;
    c.attempt = r[7].is_int() ? static_cast<int>(r[7].as_int()) : -1;
    out.push_back(std::move(c));
  }
  return out;
}

std::optional<int64_t> Ledger::committed_rows(const std::string& job_id, uint32_t chunk_id) {
  const auto rows = db_.query(
      fmt::format("SELECT rows_written FROM {} WHERE job_id = ? AND chunk_id = ?", kChunksTable),
      {job_id, Value(int64_t{chunk_id})});
  if (rows.empty()) return std::nullopt;
  return rows[0][0].as_int();
}

void Ledger::start_run(const std::string& job_id, const std::string& target_table,
                       const StoredPlan& plan, int64_t run, const std::string& mode) {
  const std::string now = now_utc();
  db_.query(fmt::format("DELETE FROM {} WHERE job_id = ?", kChunksTable), {job_id});
  db_.query(fmt::format("DELETE FROM {} WHERE job_id = ?", kJobsTable), {job_id});
  db_.query(fmt::format("DELETE FROM {} WHERE job_id = ? AND run >= ?", kRunsTable),
            {job_id, Value(run)});
  db_.query(fmt::format("INSERT INTO {} (job_id, target_table, plan, started_at, run) "
                        "VALUES (?, ?, ?, ?, ?)",
                        kJobsTable),
            {job_id, target_table, plan.to_json(), now, Value(run)});
  db_.query(fmt::format("INSERT INTO {} (job_id, run, target_table, mode, started_at, "
                        "chunks_planned) VALUES (?, ?, ?, ?, ?, ?)",
                        kRunsTable),
            {job_id, Value(run), target_table, mode, now,
             Value(static_cast<int64_t>(plan.chunks.size()))});
}

void Ledger::record_chunk(const std::string& job_id, const Chunk& chunk, int64_t rows_read,
                          int64_t rows_written, HashKind kind, uint64_t row_hash,
                          const ChunkStamp& stamp) {
  const std::string now = now_utc_millis();
  db_.query(fmt::format("INSERT INTO {} (job_id, chunk_id, lo, hi, rows_read, rows_written, "
                        "row_hash, committed_at, started_at, worker, attempt) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        kChunksTable),
            {job_id, Value(int64_t{chunk.index}), chunk.range.lo.serialize(),
             chunk.range.hi.serialize(), Value(rows_read), Value(rows_written),
             (kind == HashKind::Values ? kValuesHashPrefix : kBytesHashPrefix) +
                 hash_hex(row_hash),
             now,
             stamp.started_at.empty() ? now : stamp.started_at, Value(int64_t{stamp.worker}),
             Value(int64_t{stamp.attempt})});
}

void Ledger::mark_finished(const std::string& job_id, int64_t run) {
  const std::string now = now_utc();
  db_.query(fmt::format("UPDATE {} SET finished_at = ? WHERE job_id = ?", kJobsTable),
            {now, job_id});
  db_.query(fmt::format("UPDATE {0} SET finished_at = ?, "
                        "chunks_done = (SELECT COUNT(*) FROM {1} WHERE job_id = ?), "
                        "rows_written = (SELECT COALESCE(SUM(rows_written), 0) FROM {1} "
                        "WHERE job_id = ?) WHERE job_id = ? AND run = ?",
                        kRunsTable, kChunksTable),
            {now, job_id, job_id, job_id, Value(run)});
}

}  // namespace parmap
