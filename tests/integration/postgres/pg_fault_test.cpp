// PostgreSQL faults: a connection that stops answering (chunk_timeout_s), a restarted target.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "parmap/parmap.h"
#include "support/pg_support.h"
#include "support/tcp_proxy.h"
#include "support/test_support.h"

namespace parmap {
namespace {

using Clock = std::chrono::steady_clock;

using test::Pg;
using test::pg_checksum;
using test::url_with;

/// The parts of a test server URL (scheme://[userinfo@]host:port/database[?params]).
struct UrlParts {
  std::string head;      ///< "postgresql://user@"
  std::string hostport;  ///< "127.0.0.1:5432"
  std::string database;
  std::string query;  ///< "?..." or ""
};

UrlParts split_url(const std::string& url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) throw std::runtime_error("not a URL: " + url);
  const size_t auth_begin = scheme_end + 3;
  size_t auth_end = url.find_first_of("/?", auth_begin);
  if (auth_end == std::string::npos) auth_end = url.size();
  const std::string authority = url.substr(auth_begin, auth_end - auth_begin);
  const size_t at = authority.rfind('@');
  UrlParts p;
  p.head = url.substr(0, auth_begin) + (at == std::string::npos ? "" : authority.substr(0, at + 1));
  p.hostport = at == std::string::npos ? authority : authority.substr(at + 1);
  const size_t query = url.find('?', auth_begin);
  const size_t db_begin = auth_end < url.size() && url[auth_end] == '/' ? auth_end + 1 : auth_end;
  p.database = url.substr(db_begin, (query == std::string::npos ? url.size() : query) - db_begin);
  p.query = query == std::string::npos ? "" : url.substr(query);
  return p;
}

std::string join_url(const UrlParts& p) { return p.head + p.hostport + "/" + p.database + p.query; }

/// `url` pointing at 127.0.0.1:`port` (a proxy) instead of its own host and port.
std::string through_port(const std::string& url, int port) {
  UrlParts p = split_url(url);
  p.hostport = "127.0.0.1:" + std::to_string(port);
  return join_url(p);
}

/// `url` with one more libpq parameter.
std::string with_param(const std::string& url, const std::string& key_value) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + key_value;
}

/// A source and a target database on the shared test server, dropped at the end.
class PgFaultTest : public test::PgTwoDatabasesTest {
 protected:
  /// Source table k with `rows` rows (wide enough that a chunk is many COPY messages).
  void make_source(int64_t rows) {
    src_->exec(
        "CREATE TABLE k (id int8 PRIMARY KEY, v int8, s text); INSERT INTO k SELECT g, g * 3, "
        "'row ' || g || ' ' || md5(g::text) || md5((g * 7)::text) FROM generate_series(1, " +
        std::to_string(rows) + ") g; ANALYZE k");
  }

  /// Copies k into k through a proxy on the source's or the target's side, freezes the proxy
  /// once the first chunk has committed, and checks that the job still ends exactly.
  void copy_through_frozen_proxy(bool source_side);

};

void PgFaultTest::copy_through_frozen_proxy(bool source_side) {
  const int64_t n = std::min<int64_t>(200000, test::test_rows());
  make_source(n);
  // No unique key on the target: a chunk loaded twice would show in the count.
  dst_->exec("CREATE TABLE k (id int8, v int8, s text)");
  if (!source_side) {
    // A frozen session may be idle inside its transaction, holding its chunk's ledger key
    // until the server ends it; a production server has timeouts or keepalives for that.
    dst_->exec("ALTER DATABASE " + dst_db_ + " SET idle_in_transaction_session_timeout = '1s'");
  }
  const std::string want = pg_checksum(*src_, "k");

  const UrlParts server = split_url(base_);
  const size_t colon = server.hostport.rfind(':');
  test::TcpProxy proxy(server.hostport.substr(0, colon),
                       std::stoi(server.hostport.substr(colon + 1)));
  const std::string proxied = through_port(source_side ? src_url() : dst_url(), proxy.port());

  ParallelOptions opts;
  opts.config = resolve_config({{"max_workers", "3"},
                                {"chunk_size", std::to_string(std::max<int64_t>(100, n / 16))},
                                {"min_rows_for_parallel", "10"},
                                {"chunk_timeout_s", "2"},
                                {"retry_backoff_ms", "50"},
                                {"max_retries", "5"}},
                               {}, 8);
  opts.job_id = source_side ? "frozen-source" : "frozen-target";
  // Both paths: the fast one (COPY bytes passed through) and the typed one (decoded).
  if (!source_side) opts.transform = [](Batch&) {};
  std::atomic<bool> frozen{false};
  std::atomic<size_t> frozen_links{0}, accepted_before{0};
  std::atomic<int64_t> frozen_at_ms{0};
  const auto t0 = Clock::now();
  opts.on_progress = [&](const ProgressEvent& ev) {
    if (ev.kind != ProgressKind::ChunkDone || frozen.exchange(true)) return;
    accepted_before = proxy.connections();
    frozen_links = proxy.freeze();
    frozen_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  };

  ConnectionFactory source = connection_factory(source_side ? proxied : src_url());
  ConnectionFactory target = connection_factory(dst_url());
  if (!source_side) {
    // The workers' target sessions go through the proxy; the coordinator's (the calling
    // thread's) does not: its final ledger update is not a chunk, and is not what this tests.
    const auto coordinator = std::this_thread::get_id();
    target = [direct = connection_factory(dst_url()), via_proxy = connection_factory(proxied),
              coordinator] {
      return std::this_thread::get_id() == coordinator ? direct() : via_proxy();
    };
  }

  std::optional<ParallelResult> r;
  try {
    r = execute_query_parallel(source, "SELECT * FROM k ORDER BY id", target, "", "k", opts);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "execute_query_parallel threw: " << e.what();
  }
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  ASSERT_TRUE(r);
  std::printf(
      "[ fault    ] %s side frozen at %lld ms (%zu connection(s)), job done in %.2f s: %lld "
      "chunks, %lld retries, %zu connections through the proxy (%zu before the freeze)\n",
      source_side ? "source" : "target", static_cast<long long>(frozen_at_ms.load()),
      frozen_links.load(), secs, static_cast<long long>(r->chunks_done),
      static_cast<long long>(r->retries), proxy.connections(), accepted_before.load());
  EXPECT_TRUE(r->ok()) << (r->errors.empty() ? "" : r->errors.front());
  EXPECT_TRUE(frozen) << "no chunk committed";
  EXPECT_GE(r->chunks_planned, 10) << r->reason;
  EXPECT_EQ(r->chunks_done, r->chunks_planned);
  EXPECT_EQ(r->chunks_failed, 0);
  EXPECT_GT(frozen_links.load(), 0u);
  EXPECT_GT(r->retries, 0) << "no attempt timed out";
  // Retries went through new connections, which the proxy forwards normally.
  EXPECT_GT(proxy.connections(), accepted_before.load());
  // A commit whose answer was frozen counts its rows in no run's total (the ledger resolves
  // it as committed); with the source frozen every commit is answered.
  if (source_side) {
    EXPECT_EQ(r->total_rows_processed, n);
  }
  EXPECT_EQ(pg_checksum(*dst_, "k"), want);
  EXPECT_EQ(dst_->scalar("SELECT count(*) FROM parmap_ledger WHERE job_id = '" + opts.job_id + "'"),
            std::to_string(r->chunks_planned));
  // The stalled attempts waited for the limit, not forever.
  EXPECT_LT(secs, 120);
}

TEST_F(PgFaultTest, FrozenSourceConnectionTimesOutAndTheChunkIsRetriedOnANewOne) {
  copy_through_frozen_proxy(true);
}

TEST_F(PgFaultTest, FrozenTargetConnectionTimesOutAndTheChunkIsRetriedOnANewOne) {
  copy_through_frozen_proxy(false);
}

/// A private PostgreSQL cluster (scripts/pg_test_server.sh) in a temporary folder, stopped and
/// removed by the destructor whatever happened.
class PrivateCluster {
 public:
  PrivateCluster() {
    std::string tmpl = "/tmp/parmap-fault-pg-XXXXXX";  // short: the socket path must fit
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    try {
      url_ = script("start");
    } catch (...) {
      cleanup();
      throw;
    }
  }
  ~PrivateCluster() { cleanup(); }
  PrivateCluster(const PrivateCluster&) = delete;
  PrivateCluster& operator=(const PrivateCluster&) = delete;

  const std::string& url() const { return url_; }
  /// A fast shutdown (sessions are cut) and a start on the same port.
  void restart() { script("restart"); }

 private:
  /// Runs the script with `command` on our folder; its last output line. Throws on failure.
  std::string script(const std::string& command) const {
    const std::string cmd = std::string(PARMAP_SOURCE_DIR) + "/scripts/pg_test_server.sh " +
                            command + " '" + dir_ + "' 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    if (p == nullptr) throw std::runtime_error("cannot run " + cmd);
    std::string out;
    char buf[4096];
    size_t got = 0;
    while ((got = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, got);
    const int status = pclose(p);
    if (status != 0) throw std::runtime_error(cmd + " failed: " + out);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    const size_t nl = out.rfind('\n');
    return nl == std::string::npos ? out : out.substr(nl + 1);
  }

  void cleanup() noexcept {
    try {
      script("stop");
    } catch (const std::exception& e) {
      ADD_FAILURE() << "stopping the private cluster: " << e.what();
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::string dir_, url_;
};

TEST_F(PgFaultTest, TargetServerRestartedMidRunRetriesOrResumesExactly) {
  const int64_t n = std::min<int64_t>(200000, test::test_rows());
  make_source(n);
  const std::string want = pg_checksum(*src_, "k");
  PrivateCluster cluster;
  {
    Pg tgt(cluster.url());
    // Each COPY into k takes 50 ms more: the run lasts long enough for a restart to land in
    // its middle, whatever the machine.
    tgt.exec(
        "CREATE TABLE k (id int8, v int8, s text);"
        "CREATE FUNCTION slow_copy() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN PERFORM pg_sleep(0.05); RETURN NULL; END $$;"
        "CREATE TRIGGER slow_copy BEFORE INSERT ON k FOR EACH STATEMENT "
        "EXECUTE FUNCTION slow_copy()");
  }
  const std::vector<std::string> args = {"run",
                                         "--source",
                                         src_url(),
                                         "--query",
                                         "SELECT * FROM k ORDER BY id",
                                         "--target",
                                         cluster.url(),
                                         "--target-table",
                                         "k",
                                         "--workers",
                                         "2",
                                         "--chunk-size",
                                         std::to_string(std::max<int64_t>(100, n / 40)),
                                         "--min-rows-for-parallel",
                                         "10",
                                         "--job-id",
                                         "restarted",
                                         "--output",
                                         "json"};
  const std::vector<std::string> env = {"MAPPER_MAX_RETRIES=10", "MAPPER_RETRY_BACKOFF_MS=100",
                                        "MAPPER_CHUNK_TIMEOUT_S=60"};

  // Restart the target once two chunks have committed, while the run goes on.
  const std::string probe_url = with_param(cluster.url(), "connect_timeout=2");
  bool restarted = false;
  std::string restart_error;
  int64_t committed_before = 0;
  auto restart_midway = [&] {
    if (restarted || !restart_error.empty()) return false;
    try {
      Pg probe(probe_url);
      committed_before = std::stoll(probe.scalar("SELECT count(*) FROM parmap_ledger"));
    } catch (const std::exception&) {
      return false;  // no ledger yet
    }
    if (committed_before < 2) return false;
    try {
      cluster.restart();
      restarted = true;
    } catch (const std::exception& e) {
      restart_error = e.what();
    }
    return false;  // never kill parmap: it must cope on its own
  };
  const auto t0 = Clock::now();
  const test::RunResult first = test::run_parmap(args, env, restart_midway);
  const double first_secs = std::chrono::duration<double>(Clock::now() - t0).count();
  ASSERT_TRUE(restart_error.empty()) << restart_error;
  ASSERT_TRUE(restarted) << "the job ended before two chunks were seen committed: " << first.err;
  const size_t retried = [&] {
    size_t count = 0;
    for (size_t at = first.err.find("retrying"); at != std::string::npos;
         at = first.err.find("retrying", at + 1)) {
      ++count;
    }
    return count;
  }();
  std::printf(
      "[ fault    ] target restarted after %lld chunks; first run: exit %d in %.2f s, %zu "
      "retry warnings\n",
      static_cast<long long>(committed_before), first.exit_code, first_secs, retried);
  // Either outcome is right: it retried through the restart and finished, or it stopped with
  // a failure that a rerun resumes.
  ASSERT_TRUE(first.exit_code == 0 || first.exit_code == 1) << first.err;
  if (first.exit_code == 0) {
    const auto j = nlohmann::json::parse(first.out);
    EXPECT_GT(j.at("retries").get<int64_t>(), 0) << first.out;
    EXPECT_TRUE(j.at("ok").get<bool>()) << first.out;
  }

  // A finished job's rerun would be its next run (appending again): rerun only a failed one.
  nlohmann::json j = first.exit_code == 0 ? nlohmann::json::parse(first.out) : nlohmann::json{};
  if (first.exit_code == 1) {
    const test::RunResult second = test::run_parmap(args, env);
    ASSERT_EQ(second.exit_code, 0) << second.err << second.out;
    j = nlohmann::json::parse(second.out);
    EXPECT_TRUE(j.at("ok").get<bool>()) << second.out;
    EXPECT_TRUE(j.at("resumed").get<bool>()) << second.out;
    std::printf("[ fault    ] rerun: exit %d, %lld chunks skipped, %lld done\n",
                second.exit_code, static_cast<long long>(j.at("chunks_skipped").get<int64_t>()),
                static_cast<long long>(j.at("chunks_done").get<int64_t>()));
  }

  Pg tgt(cluster.url());
  EXPECT_EQ(pg_checksum(tgt, "k"), want);
  EXPECT_EQ(tgt.scalar("SELECT count(*) FROM parmap_ledger WHERE job_id = 'restarted'"),
            std::to_string(j.at("chunks_planned").get<int64_t>()));
  EXPECT_EQ(tgt.scalar("SELECT sum(rows_written) FROM parmap_ledger WHERE job_id = 'restarted'"),
            std::to_string(n));
  EXPECT_NE(tgt.scalar("SELECT finished_at FROM parmap_jobs WHERE job_id = 'restarted'"), "");
}

}  // namespace
}  // namespace parmap
