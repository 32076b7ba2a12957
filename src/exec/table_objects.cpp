// Indexes and constraints after the data (see table_objects.h).
#include "exec/table_objects.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "parmap/error.h"

namespace parmap {
namespace {

/// One object to make on one target table.
struct Task {
  const ObjectJob* job;
  TableObject object;
  std::optional<TableRef> references;  ///< a foreign key's target-side referenced table
};

/// "schema.name" of a source table as the catalog names it, and the bare name.
std::string key_of(const TableRef& t) { return t.schema + "." + t.name; }

const char* kind_name(TableObject::Kind kind) {
  switch (kind) {
    case TableObject::Kind::Index:
      return "index";
    case TableObject::Kind::Constraint:
      return "constraint";
    case TableObject::Kind::ForeignKey:
      return "foreign key";
  }
  return "object";
}

/// Runs `tasks` on up to `workers` threads, each with its own session per target URL.
void run_tasks(const std::vector<Task>& tasks, int workers, ObjectOutcome& out, std::mutex& mu) {
  std::atomic<size_t> next{0};
  auto worker = [&] {
    std::map<std::string, std::unique_ptr<Connection>> sessions;
    for (size_t i; (i = next++) < tasks.size();) {
      const Task& task = tasks[i];
      const ObjectJob& job = *task.job;
      std::string sql;
      try {
        auto& db = sessions[job.target_url];
        if (!db) db = connection_factory(job.target_url)();
        if (db->has_table_object(job.target, task.object)) {
          std::lock_guard lock(mu);
          ++out.present;
          continue;
        }
        sql = db->table_object_sql(job.target, task.object, task.references);
        db->execute(sql);
        std::lock_guard lock(mu);
        ++(task.object.kind == TableObject::Kind::Index ? out.indexes : out.constraints);
      } catch (const Error& e) {
        // The session may be gone with the statement: the next task opens a new one.
        if (auto& db = sessions[job.target_url]) {
          db->close();
          db.reset();
        }
        std::lock_guard lock(mu);
        out.errors[job.job].push_back(
            fmt::format("table {}: {} {} not made: {}{}", job.target.display(),
                        kind_name(task.object.kind), task.object.name, e.what(),
                        sql.empty() ? "" : fmt::format(" (statement: {})", sql)));
      }
    }
    for (auto& [url, db] : sessions) {
      if (db) db->close();
    }
  };
  const int n = static_cast<int>(std::min<size_t>(static_cast<size_t>(std::max(1, workers)),
                                                  tasks.size()));
  out.sessions = std::max(out.sessions, n);
  std::vector<std::thread> threads;
  for (int t = 0; t < n; ++t) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
}

}  // namespace

ObjectOutcome make_table_objects(const std::vector<ObjectJob>& jobs,
                                 const std::vector<TableRef>& incomplete, int max_workers) {
  const auto t0 = std::chrono::steady_clock::now();
  ObjectOutcome out;
  std::mutex mu;
  // Where each copied source table went, for foreign keys between them.
  std::map<std::string, TableRef> copy_of;
  for (const ObjectJob& job : jobs) copy_of[key_of(job.source)] = job.target;
  std::vector<std::string> waiting;
  for (const TableRef& t : incomplete) waiting.push_back(key_of(t));

  std::vector<Task> first, foreign_keys;
  std::map<std::string, std::unique_ptr<Connection>> sources;
  for (const ObjectJob& job : jobs) {
    try {
      auto& src = sources[job.source_url];
      if (!src) src = connection_factory(job.source_url)();
      for (TableObject& object : src->table_objects(job.source)) {
        Task task{&job, std::move(object), std::nullopt};
        if (task.object.kind != TableObject::Kind::ForeignKey) {
          first.push_back(std::move(task));
          continue;
        }
        const std::string referenced = key_of(*task.object.references);
        if (std::find(waiting.begin(), waiting.end(), referenced) != waiting.end()) {
          out.errors[job.job].push_back(fmt::format(
              "table {}: foreign key {} not made: the table it references, {}, is not complete; "
              "rerun the same command to make it",
              job.target.display(), task.object.name, task.object.references->display()));
          continue;
        }
        auto copied = copy_of.find(referenced);
        task.references = copied != copy_of.end() ? copied->second : *task.object.references;
        foreign_keys.push_back(std::move(task));
      }
    } catch (const Error& e) {
      out.errors[job.job].push_back(fmt::format("table {}: reading the indexes and constraints "
                                                "of {}: {}",
                                                job.target.display(), job.source.display(),
                                                e.what()));
    }
  }
  for (auto& [url, db] : sources) {
    if (db) db->close();
  }
  run_tasks(first, max_workers, out, mu);
  run_tasks(foreign_keys, max_workers, out, mu);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace parmap
