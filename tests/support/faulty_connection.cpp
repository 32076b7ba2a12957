// A Connection decorator that has the server terminate its own PostgreSQL backend just before
// a chosen call (see faulty_connection.h).
#include "support/faulty_connection.h"

#include <stdexcept>
#include <utility>
#include <vector>

#include "support/pg_support.h"

namespace parmap::test {

FaultPlan::FaultPlan(const std::string& admin_url, Call call, std::string sql_contains, int times)
    : call_(call),
      sql_contains_(std::move(sql_contains)),
      times_(times),
      admin_(std::make_unique<Pg>(admin_url)) {}

FaultPlan::~FaultPlan() = default;

void FaultPlan::before(Call call, std::string_view sql, int64_t pid) {
  if (call != call_) return;
  if (!sql_contains_.empty() && sql.find(sql_contains_) == std::string_view::npos) return;
  std::lock_guard lock(mu_);
  if (matched_ >= times_) return;
  ++matched_;
  // With a timeout, pg_terminate_backend waits until the backend has exited: the call that
  // follows meets a dead session, never a race with a backend still on its way out.
  const std::string done = admin_->scalar("SELECT pg_terminate_backend(" + std::to_string(pid) +
                                          ", 10000)");
  if (done != "t") {
    throw std::runtime_error("pg_terminate_backend(" + std::to_string(pid) + ") said " + done);
  }
  ++struck_;
}

namespace {

/// Forwards every call to the real connection, after asking the plan whether to strike.
class FaultyConnection final : public Connection {
 public:
  FaultyConnection(std::unique_ptr<Connection> inner, std::shared_ptr<FaultPlan> plan)
      : inner_(std::move(inner)), plan_(std::move(plan)) {
    set_identity(inner_->identity());
    const auto rows = inner_->query("SELECT pg_backend_pid()");
    if (rows.size() != 1 || rows[0].size() != 1 || rows[0][0].is_null()) {
      throw std::runtime_error("SELECT pg_backend_pid() gave no pid");
    }
    const Value& v = rows[0][0];
    pid_ = v.is_int() ? v.as_int() : std::stoll(v.as_text());
  }

  std::string engine() const override { return inner_->engine(); }
  Capabilities capabilities() const override { return inner_->capabilities(); }
  std::string quote_identifier(std::string_view name) const override {
    return inner_->quote_identifier(name);
  }

  void execute(std::string_view sql) override {
    strike(Call::Execute, sql);
    inner_->execute(sql);
  }
  std::vector<std::vector<Value>> query(std::string_view sql,
                                        const std::vector<Value>& params) override {
    strike(Call::Query, sql);
    return inner_->query(sql, params);
  }
  void begin() override {
    strike(Call::Begin, {});
    inner_->begin();
  }
  void commit() override {
    strike(Call::Commit, {});
    inner_->commit();
  }
  void rollback() noexcept override { inner_->rollback(); }

  TableSchema describe_query(std::string_view sql) override {
    strike(Call::DescribeQuery, sql);
    return inner_->describe_query(sql);
  }
  std::optional<TableSchema> describe_table(const TableRef& table) override {
    strike(Call::DescribeTable, table.display());
    return inner_->describe_table(table);
  }
  std::optional<std::string> integer_primary_key(const TableRef& table) override {
    return inner_->integer_primary_key(table);
  }
  int64_t estimate_rows(std::string_view sql) override {
    strike(Call::EstimateRows, sql);
    return inner_->estimate_rows(sql);
  }
  KeyStats key_stats(std::string_view sql, std::string_view column, int max_sample) override {
    strike(Call::KeyStats, sql);
    return inner_->key_stats(sql, column, max_sample);
  }
  void create_table(const TableRef& table, const TableSchema& schema) override {
    inner_->create_table(table, schema);
  }

  std::unique_ptr<RowSource> open_source(std::string_view sql, const std::vector<Value>& params,
                                         size_t batch_rows, size_t max_batch_bytes) override {
    strike(Call::OpenSource, sql);
    return inner_->open_source(sql, params, batch_rows, max_batch_bytes);
  }
  std::unique_ptr<RowSink> open_sink(const TableRef& table,
                                     const std::vector<std::string>& columns) override {
    strike(Call::OpenSink, table.display());
    return inner_->open_sink(table, columns);
  }
  std::string chunk_query(std::string_view sql, const Chunk& chunk,
                          std::vector<Value>& params) const override {
    return inner_->chunk_query(sql, chunk, params);
  }
  std::optional<std::string> range_filter_problem(std::string_view sql,
                                                  std::string_view column) override {
    return inner_->range_filter_problem(sql, column);
  }

  std::optional<std::string> export_snapshot() override {
    strike(Call::ExportSnapshot, {});
    return inner_->export_snapshot();
  }
  void import_snapshot(const std::string& id) override {
    strike(Call::ImportSnapshot, {});
    inner_->import_snapshot(id);
  }

  std::string native_format() const override { return inner_->native_format(); }
  std::unique_ptr<NativeSource> open_native_source(std::string_view sql,
                                                   const std::vector<Value>& params) override {
    strike(Call::OpenNativeSource, sql);
    return inner_->open_native_source(sql, params);
  }
  std::unique_ptr<NativeSink> open_native_sink(const TableRef& table,
                                               const std::vector<std::string>& columns) override {
    strike(Call::OpenNativeSink, table.display());
    return inner_->open_native_sink(table, columns);
  }

  std::mutex* writer_lock() override { return inner_->writer_lock(); }
  bool try_lock_job(std::string_view key) override { return inner_->try_lock_job(key); }
  void interrupt() noexcept override { inner_->interrupt(); }
  void close() noexcept override { inner_->close(); }

 private:
  void strike(Call call, std::string_view sql) { plan_->before(call, sql, pid_); }

  std::unique_ptr<Connection> inner_;
  std::shared_ptr<FaultPlan> plan_;
  int64_t pid_ = 0;
};

}  // namespace

ConnectionFactory faulty_factory(ConnectionFactory inner, std::shared_ptr<FaultPlan> plan) {
  return [inner = std::move(inner), plan = std::move(plan)]() -> std::unique_ptr<Connection> {
    return std::make_unique<FaultyConnection>(inner(), plan);
  };
}

}  // namespace parmap::test
