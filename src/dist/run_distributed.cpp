// One job on every rank: rank 0 leads (plans, holds the snapshot and the queue, answers
// asks, gathers the results), the other ranks follow its stored plan.
#include <mpi.h>

#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "dist/distributed.h"
#include "dist/rank_feed.h"
#include "dist/wire.h"
#include "exec/executor.h"

namespace parmap::dist {

namespace {

std::string host_name() {
  char name[MPI_MAX_PROCESSOR_NAME] = {};
  int length = 0;
  MPI_Get_processor_name(name, &length);
  return std::string(name, static_cast<size_t>(length));
}

/// The worker threads of a started run, each taking chunks until step() says no more.
std::vector<std::thread> start_workers(Executor& ex, int count) {
  std::vector<std::thread> threads;
  for (int i = 0; i < count; ++i) {
    threads.emplace_back([&ex] {
      while (ex.step()) {
      }
      ex.release_thread();
    });
  }
  return threads;
}

void join(std::vector<std::thread>& threads) {
  for (auto& t : threads) t.join();
}

void send_start(const Session& session, const nlohmann::json& start) {
  const std::string text = start.dump();
  for (int r = 1; r < session.size(); ++r) send_text(text, r, kTagStart);
}

ParallelResult lead(Session& session, Executor& ex, const ParallelOptions& options) {
  ex.distribute();
  const ParallelResult* started = nullptr;
  try {
    started = &ex.start();
  } catch (const std::exception& e) {
    send_start(session, {{"ok", false}, {"error", mask_password(e.what())}});
    throw;
  }
  const ParallelResult& planned = *started;
  send_start(
      session,
      {{"ok", true}, {"job_id", ex.job_id()}, {"run", planned.run}, {"snapshot", ex.snapshot()}});
  std::vector<RankShare> shares(static_cast<size_t>(session.size()));
  for (int r = 0; r < session.size(); ++r) shares[static_cast<size_t>(r)].rank = r;
  shares[0].host = host_name();
  shares[0].workers = planned.workers_used;
  std::vector<std::thread> workers = start_workers(ex, planned.workers_used);

  // Rank 0's MPI thread: answers asks at once, in arrival order, until every rank said bye.
  int byes = 0;
  while (byes < session.size() - 1) {
    int ready = 0;
    MPI_Status status;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &ready, &status);
    if (!ready) {
      // SIGINT or SIGTERM: the launcher forwards the user's cancel to every rank, and ends
      // the job with SIGTERM when a rank died. Rank 0 stops at once, while it can still say
      // so; the ledger, not the other ranks' last words, tells a rerun what is committed.
      if (options.cancel && options.cancel->load()) break;
      std::this_thread::sleep_for(std::chrono::microseconds(50));
      continue;
    }
    const int from = status.MPI_SOURCE;
    const std::string text = receive_text(status);
    RankShare& share = shares[static_cast<size_t>(from)];
    if (status.MPI_TAG == kTagAsk) {
      const std::optional<uint32_t> index = ex.claim_for(from);
      send_text(index ? std::to_string(*index) : "-1", from, kTagChunk);
      share.messages += 2;
    } else if (status.MPI_TAG == kTagDone) {
      const auto j = nlohmann::json::parse(text);
      const auto index = j.at("chunk").get<uint32_t>();
      if (j.contains("error")) {
        ex.remote_failed(from, index, j.at("error").get<std::string>(),
                         j.at("refused").get<bool>());
      } else {
        ex.remote_committed(from, index, j.at("rows").get<int64_t>(), j.at("attempt").get<int>());
        share.chunks += 1;
        share.rows += j.at("rows").get<int64_t>();
      }
      share.messages += 1;
    } else if (status.MPI_TAG == kTagBye) {
      const auto j = nlohmann::json::parse(text);
      share.host = j.at("host").get<std::string>();
      share.workers = j.at("workers").get<int>();
      share.messages = j.at("messages").get<int64_t>() + 1;
      share.wait_ms = j.at("wait_ms").get<double>();
      share.error = j.at("error").get<std::string>();
      // A rank that stopped early ends the run: what it would have copied stays undone, and
      // the summary says which chunks and how to resume.
      if (!share.error.empty()) ex.halt(fmt::format("rank {} stopped: {}", from, share.error));
      ++byes;
    }
  }
  join(workers);
  ex.record_ranks(std::move(shares));
  return ex.finish();
}

ParallelResult follow(Executor& ex) {
  MPI_Status status;
  MPI_Probe(0, kTagStart, MPI_COMM_WORLD, &status);
  const auto start = nlohmann::json::parse(receive_text(status));
  // Rank 0 failed to plan and says why itself.
  if (!start.at("ok").get<bool>()) return ParallelResult{};

  RankFeed feed;
  ex.follow(start.at("job_id").get<std::string>(), start.at("run").get<int64_t>(),
            start.at("snapshot").get<std::string>(), &feed);
  int workers_used = 0;
  std::string error;
  std::thread runner([&] {
    try {
      workers_used = ex.start().workers_used;
      std::vector<std::thread> workers = start_workers(ex, workers_used);
      join(workers);
    } catch (const std::exception& e) {
      error = e.what();
      spdlog::error("{}", mask_password(error));
    }
    feed.close();
  });
  feed.pump();
  runner.join();
  ParallelResult mine = ex.leave();
  if (!error.empty()) mine.errors.push_back(error);
  send_text(nlohmann::json{{"host", host_name()},
                           {"workers", workers_used},
                           {"messages", feed.messages()},
                           {"wait_ms", feed.wait_ms()},
                           {"error", mask_password(error)}}
                .dump(),
            0, kTagBye);
  return mine;
}

}  // namespace

ParallelResult run_distributed(Session& session, const std::string& source_url,
                               const std::string& source_sql, const std::string& target_url,
                               const TableRef& target_table, const ParallelOptions& options) {
  spdlog::default_logger_raw();
  ParallelOptions opts = options;
  const ConnectionUrl source = parse_url(source_url), target = parse_url(target_url);
  if (opts.job_id.empty()) {
    opts.job_id = derive_job_id(identity_of(source), source_sql, identity_of(target),
                                target_table.display(), opts.mode);
  }
  check_url(source, "source", true);
  check_url(target, "target", false);
  if (session.rank() != 0) {
    // Rank 0 started the run (or resumed it, or started it over): this rank runs that run.
    opts.fresh = false;
    opts.on_progress = nullptr;
  }
  Executor ex(connection_factory(source_url), source_sql, connection_factory(target_url),
              target_table, opts, opts.job_id);
  return session.rank() == 0 ? lead(session, ex, opts) : follow(ex);
}

}  // namespace parmap::dist
