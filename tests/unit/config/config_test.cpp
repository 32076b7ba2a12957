// Unit tests for ParallelConfig resolution: defaults < environment < job params, and errors.
#include "parmap/config.h"

#include <gtest/gtest.h>

#include <functional>

#include "parmap/error.h"

namespace parmap {
namespace {

constexpr unsigned kCores = 8;  // every test passes its core count: results are machine-free

/// One integer or boolean setting as the tests see it.
struct Case {
  std::string param;
  std::string env;
  int64_t default_value;
  std::string env_text;  // a valid value distinct from the default ...
  int64_t env_value;     // ... and what it parses to
  std::string param_text;
  int64_t param_value;
  std::vector<std::string> bad;  // values every source must reject
  std::function<int64_t(const ParallelConfig&)> get;
};

std::vector<Case> cases() {
  return {
      {"enable_parallel",
       "MAPPER_PARALLEL_ENABLED",
       1,
       "N",
       0,
       "yes",
       1,
       {"", "maybe", "2", "truee", "-1", "t r u e"},
       [](const ParallelConfig& c) -> int64_t { return c.enable_parallel ? 1 : 0; }},
      {"max_workers",
       "MAPPER_MAX_WORKERS",
       kCores - 1,
       "3",
       3,
       "12",
       12,
       {"", "abc", "12abc", "1.5", "-3", "0", "1025", "99999999999999999999999", "0x10", "1e3", "+",
        "4 4"},
       [](const ParallelConfig& c) -> int64_t { return c.max_workers; }},
      {"chunk_size",
       "MAPPER_CHUNK_SIZE",
       50000,
       "1000",
       1000,
       "100000000",
       100000000,
       {"", "abc", "0", "-1", "100000001", "1.0", "50k", "9223372036854775808"},
       [](const ParallelConfig& c) -> int64_t { return c.chunk_size; }},
      {"min_rows_for_parallel",
       "MAPPER_MIN_ROWS_FOR_PARALLEL",
       100000,
       "0",
       0,
       "1000000000000000",
       1000000000000000,
       {"", "x", "-1", "1000000000000001", "1e6", "18446744073709551616"},
       [](const ParallelConfig& c) -> int64_t { return c.min_rows_for_parallel; }},
      {"max_retries",
       "MAPPER_MAX_RETRIES",
       3,
       "0",
       0,
       "100",
       100,
       {"", "many", "-1", "101", "3.0"},
       [](const ParallelConfig& c) -> int64_t { return c.max_retries; }},
      {"retry_backoff_ms",
       "MAPPER_RETRY_BACKOFF_MS",
       200,
       "600000",
       600000,
       "0",
       0,
       {"", "1s", "-5", "600001", "2.5"},
       [](const ParallelConfig& c) -> int64_t { return c.retry_backoff_ms; }},
      {"chunk_timeout_s",
       "MAPPER_CHUNK_TIMEOUT_S",
       3600,
       "0",
       0,
       "604800",
       604800,
       {"", "1h", "-1", "604801", "2.5", "30s", "99999999999999999999"},
       [](const ParallelConfig& c) -> int64_t { return c.chunk_timeout_s; }},
      {"max_batch_bytes",
       "MAPPER_MAX_BATCH_BYTES",
       int64_t{32} << 20,
       "65536",
       65536,
       "17179869184",
       int64_t{1} << 34,
       {"", "64MiB", "65535", "17179869185", "-65536", "1e9"},
       [](const ParallelConfig& c) -> int64_t { return c.max_batch_bytes; }},
      {"max_rejects",
       "MAPPER_MAX_REJECTS",
       0,
       "0",
       0,
       "1000000000000",
       1'000'000'000'000,
       {"", "many", "-1", "1000000000001", "2.5"},
       [](const ParallelConfig& c) -> int64_t { return c.max_rejects; }},
  };
}

std::string message_of(const ParamMap& params, const EnvMap& env) {
  try {
    resolve_config(params, env, kCores);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config);
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return {};
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(ConfigTest, SettingsTableListsEveryCompatibilityName) {
  const auto& table = settings_table();
  ASSERT_EQ(table.size(), cases().size());
  size_t i = 0;
  for (const auto& c : cases()) {
    EXPECT_EQ(table[i].param, c.param);
    EXPECT_EQ(table[i].env, c.env);
    EXPECT_NE(std::string(table[i].help), "");
    ++i;
  }
}

TEST(ConfigTest, Defaults) {
  const ParallelConfig config = resolve_config({}, {}, kCores);
  for (const auto& c : cases()) {
    EXPECT_EQ(c.get(config), c.default_value) << c.param;
    EXPECT_EQ(config.origin.at(c.param), Source::Default) << c.param;
  }
  EXPECT_EQ(config.origin.size(), cases().size());
}

TEST(ConfigTest, EnvironmentOverridesDefault) {
  for (const auto& c : cases()) {
    const ParallelConfig config = resolve_config({}, {{c.env, c.env_text}}, kCores);
    EXPECT_EQ(c.get(config), c.env_value) << c.env;
    EXPECT_EQ(config.origin.at(c.param), Source::Environment) << c.env;
    // The others stay at their defaults.
    for (const auto& other : cases()) {
      if (other.param == c.param) continue;
      EXPECT_EQ(other.get(config), other.default_value) << other.param;
      EXPECT_EQ(config.origin.at(other.param), Source::Default) << other.param;
    }
  }
}

TEST(ConfigTest, ParamOverridesEnvironmentAndDefault) {
  for (const auto& c : cases()) {
    // param only
    ParallelConfig config = resolve_config({{c.param, c.param_text}}, {}, kCores);
    EXPECT_EQ(c.get(config), c.param_value) << c.param;
    EXPECT_EQ(config.origin.at(c.param), Source::Param) << c.param;
    // param and env: param wins
    config = resolve_config({{c.param, c.param_text}}, {{c.env, c.env_text}}, kCores);
    EXPECT_EQ(c.get(config), c.param_value) << c.param;
    EXPECT_EQ(config.origin.at(c.param), Source::Param) << c.param;
    // a bad environment value is never read when a param overrides it
    config = resolve_config({{c.param, c.param_text}}, {{c.env, "garbage"}}, kCores);
    EXPECT_EQ(c.get(config), c.param_value) << c.param;
  }
}

TEST(ConfigTest, AllSourcesAtOnce) {
  EnvMap env;
  ParamMap params;
  const auto all = cases();
  // Even settings from env, odd ones from params, with a conflicting env value as well.
  for (size_t i = 0; i < all.size(); ++i) {
    env[all[i].env] = all[i].env_text;
    if (i % 2) params[all[i].param] = all[i].param_text;
  }
  const ParallelConfig config = resolve_config(params, env, kCores);
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].get(config), i % 2 ? all[i].param_value : all[i].env_value) << all[i].param;
    EXPECT_EQ(config.origin.at(all[i].param), i % 2 ? Source::Param : Source::Environment);
  }
}

TEST(ConfigTest, BadValuesFromEnvironmentNameTheVariable) {
  for (const auto& c : cases()) {
    for (const auto& bad : c.bad) {
      const std::string msg = message_of({}, {{c.env, bad}});
      EXPECT_TRUE(contains(msg, c.env)) << msg;
      EXPECT_TRUE(contains(msg, "'" + bad + "'")) << msg;
      EXPECT_TRUE(contains(msg, "expected")) << msg;
    }
  }
}

TEST(ConfigTest, BadValuesFromParamsNameTheKey) {
  for (const auto& c : cases()) {
    for (const auto& bad : c.bad) {
      const std::string msg = message_of({{c.param, bad}}, {});
      EXPECT_TRUE(contains(msg, "'" + c.param + "'")) << msg;
      EXPECT_FALSE(contains(msg, c.env)) << msg;
      EXPECT_TRUE(contains(msg, "'" + bad + "'")) << msg;
      EXPECT_TRUE(contains(msg, "expected")) << msg;
    }
  }
}

TEST(ConfigTest, ErrorMessagesSayWhatIsAccepted) {
  EXPECT_EQ(message_of({}, {{"MAPPER_MAX_WORKERS", "abc"}}),
            "invalid value 'abc' for MAPPER_MAX_WORKERS: expected a whole number from 1 to 1024 "
            "or auto");
  EXPECT_TRUE(contains(message_of({{"chunk_size", "0"}}, {}),
                       "invalid value '0' for job param 'chunk_size': expected a whole number "
                       "from 1 to 100000000"));
  EXPECT_TRUE(
      contains(message_of({}, {{"MAPPER_MAX_BATCH_BYTES", "1"}}), "from 65536 to 17179869184"));
  const std::string b = message_of({}, {{"MAPPER_PARALLEL_ENABLED", "maybe"}});
  EXPECT_TRUE(contains(b, "true/false")) << b;
  EXPECT_TRUE(contains(b, "y/n")) << b;
}

TEST(ConfigTest, IntegersTolerateSurroundingWhitespace) {
  const ParallelConfig config =
      resolve_config({{"chunk_size", " 10 "}}, {{"MAPPER_MAX_WORKERS", "\t4\n"}}, kCores);
  EXPECT_EQ(config.chunk_size, 10);
  EXPECT_EQ(config.max_workers, 4);
}

TEST(ConfigTest, BooleanSpellings) {
  for (const char* yes : {"true", "TRUE", "True", "y", "Y", "yes", "YES", "Yes", "1", "on", "ON",
                          " true ", "\tY\n"}) {
    EXPECT_TRUE(parse_bool("x", yes)) << yes;
    EXPECT_TRUE(resolve_config({}, {{"MAPPER_PARALLEL_ENABLED", yes}}, kCores).enable_parallel)
        << yes;
    EXPECT_TRUE(resolve_config({{"enable_parallel", yes}}, {}, kCores).enable_parallel) << yes;
  }
  for (const char* no : {"false", "FALSE", "False", "n", "N", "no", "NO", "No", "0", "off", "OFF",
                         " false ", " n "}) {
    EXPECT_FALSE(parse_bool("x", no)) << no;
    EXPECT_FALSE(resolve_config({}, {{"MAPPER_PARALLEL_ENABLED", no}}, kCores).enable_parallel)
        << no;
    EXPECT_FALSE(resolve_config({{"enable_parallel", no}}, {}, kCores).enable_parallel) << no;
  }
  try {
    parse_bool("MAPPER_PARALLEL_ENABLED", "nope");
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config);
    EXPECT_TRUE(contains(e.what(), "MAPPER_PARALLEL_ENABLED"));
    EXPECT_TRUE(contains(e.what(), "'nope'"));
  }
}

TEST(ConfigTest, UnknownParamWithSuggestion) {
  const std::string msg = message_of({{"max_worker", "4"}}, {});
  EXPECT_TRUE(contains(msg,
                       "unknown job param 'max_worker' (did you mean 'max_workers'?); "
                       "accepted: enable_parallel, max_workers, chunk_size"))
      << msg;
  EXPECT_TRUE(contains(msg, "max_batch_bytes")) << msg;

  EXPECT_TRUE(contains(message_of({{"CHUNK_SIZE", "4"}}, {}), "did you mean 'chunk_size'"));
  EXPECT_TRUE(
      contains(message_of({{"enable_paralel", "y"}}, {}), "did you mean 'enable_parallel'"));
  EXPECT_TRUE(contains(message_of({{"min_row_for_paralel", "1"}}, {}),
                       "did you mean 'min_rows_for_parallel'"));

  const std::string far = message_of({{"colour", "red"}}, {});
  EXPECT_TRUE(contains(far, "unknown job param 'colour'; accepted: enable_parallel")) << far;
  EXPECT_FALSE(contains(far, "did you mean")) << far;
}

TEST(ConfigTest, UnknownEnvironmentVariablesAreIgnored) {
  const ParallelConfig config =
      resolve_config({}, {{"MAPPER_SOMETHING_ELSE", "x"}, {"PATH", "/bin"}}, kCores);
  EXPECT_EQ(config.chunk_size, 50000);
}

TEST(ConfigTest, ChunkTimeoutRangeIsInTheMessage) {
  EXPECT_EQ(message_of({}, {{"MAPPER_CHUNK_TIMEOUT_S", "-1"}}),
            "invalid value '-1' for MAPPER_CHUNK_TIMEOUT_S: expected a whole number from 0 to "
            "604800");
  EXPECT_TRUE(contains(message_of({{"chunk_timeout_s", "1w"}}, {}),
                       "invalid value '1w' for job param 'chunk_timeout_s': expected a whole "
                       "number from 0 to 604800"));
  EXPECT_TRUE(contains(message_of({{"chunk_timeout", "5"}}, {}), "did you mean 'chunk_timeout_s'"));
}

TEST(ConfigTest, UnknownMapperVariablesAreNamedWithASuggestion) {
  const auto warnings = unknown_environment_warnings({{"MAPPER_MAX_WORKER", "4"},
                                                      {"MAPPER_CHUNK_TIMEOUT", "5"},
                                                      {"MAPPER_LOG_DIR", "/tmp"},
                                                      {"MAPPER_CHUNK_SIZE", "10"},
                                                      {"PATH", "/bin"},
                                                      {"XMAPPER_MAX_WORKER", "1"}});
  ASSERT_EQ(warnings.size(), 3u);
  // Name order.
  EXPECT_EQ(warnings[0],
            "environment variable MAPPER_CHUNK_TIMEOUT is not a parmap setting and is ignored "
            "(did you mean MAPPER_CHUNK_TIMEOUT_S?)");
  EXPECT_EQ(warnings[1],
            "environment variable MAPPER_LOG_DIR is not a parmap setting and is ignored");
  EXPECT_EQ(warnings[2],
            "environment variable MAPPER_MAX_WORKER is not a parmap setting and is ignored "
            "(did you mean MAPPER_MAX_WORKERS?)");
  EXPECT_TRUE(unknown_environment_warnings({}).empty());
  // Every setting's own variable is known.
  EnvMap all;
  for (const auto& s : settings_table()) all[s.env] = "1";
  EXPECT_TRUE(unknown_environment_warnings(all).empty());
  // A warning, never an error: the known variables still apply.
  const ParallelConfig config =
      resolve_config({}, {{"MAPPER_MAX_WORKER", "x"}, {"MAPPER_CHUNK_SIZE", "10"}}, kCores);
  EXPECT_EQ(config.chunk_size, 10);
  EXPECT_EQ(config.max_workers, static_cast<int>(kCores) - 1);
}

TEST(ConfigTest, DidYouMean) {
  const std::vector<std::string> names = {"max_workers", "chunk_size", "enable_parallel"};
  EXPECT_EQ(did_you_mean("max_worker", names), "max_workers");
  EXPECT_EQ(did_you_mean("MAX_WORKERS", names), "max_workers");
  EXPECT_EQ(did_you_mean("chunksize", names), "chunk_size");
  EXPECT_EQ(did_you_mean("chnk_size", names), "chunk_size");
  EXPECT_EQ(did_you_mean("parallel", names), "");
  EXPECT_EQ(did_you_mean("xyz", names), "");
  EXPECT_EQ(did_you_mean("anything", {}), "");
}

TEST(ConfigTest, DefaultMaxWorkersFollowsCores) {
  EXPECT_EQ(resolve_config({}, {}, 1).max_workers, 1);
  EXPECT_EQ(resolve_config({}, {}, 2).max_workers, 1);
  EXPECT_EQ(resolve_config({}, {}, 8).max_workers, 7);
  EXPECT_EQ(resolve_config({}, {}, 4096).max_workers, 1024);
  EXPECT_GE(resolve_config({}, {}, 0).max_workers, 1);
  EXPECT_GE(default_max_workers(), 1);
  // An explicit setting is not capped by the core count.
  EXPECT_EQ(resolve_config({{"max_workers", "16"}}, {}, 2).max_workers, 16);
}

TEST(ConfigTest, ShouldUseParallelProcessing) {
  ParallelConfig config = resolve_config({}, {}, kCores);
  EXPECT_TRUE(should_use_parallel_processing(config, 100000));
  EXPECT_TRUE(should_use_parallel_processing(config, 5000000));
  EXPECT_FALSE(should_use_parallel_processing(config, 99999));
  config.enable_parallel = false;
  EXPECT_FALSE(should_use_parallel_processing(config, 5000000));
  config = resolve_config({}, {}, 2);  // one worker
  EXPECT_FALSE(should_use_parallel_processing(config, 5000000));
  config = resolve_config({{"min_rows_for_parallel", "0"}}, {}, kCores);
  EXPECT_TRUE(should_use_parallel_processing(config, 0));
}

}  // namespace
}  // namespace parmap

namespace parmap {
namespace {

std::string job_config_message(const ParamMap& params) {
  try {
    resolve_job_config(params, {}, kCores);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config);
    return e.what();
  }
  return "";
}

TEST(ConfigTest, DefaultConstructedConfigUsesCoresMinusOne) {
  // It said "CPU cores - 1" but was 1: a default-constructed config ran serially.
  EXPECT_EQ(ParallelConfig{}.max_workers, default_max_workers());
  EXPECT_EQ(ParallelConfig{}.chunk_size, 50000);
}

TEST(ConfigTest, JobParamsKeepTheJobsOwnKeysAndReportThem) {
  const ParallelConfig config = resolve_job_config({{"enable_parallel", "N"},
                                                    {"max_workers", "3"},
                                                    {"run_date", "2026-12-01"},
                                                    {"batch_id", "42"},
                                                    {"source_system", "crm"}},
                                                   {{"MAPPER_CHUNK_SIZE", "7"}}, kCores);
  EXPECT_FALSE(config.enable_parallel);
  EXPECT_EQ(config.max_workers, 3);
  EXPECT_EQ(config.chunk_size, 7);
  EXPECT_EQ(config.ignored_params,
            (std::vector<std::string>{"batch_id", "run_date", "source_system"}));
  EXPECT_EQ(config.origin.at("max_workers"), Source::Param);
  EXPECT_EQ(config.origin.at("chunk_size"), Source::Environment);
}

TEST(ConfigTest, JobParamsStillRefuseTyposAndBadValues) {
  EXPECT_TRUE(contains(job_config_message({{"max_worker", "3"}}), "did you mean 'max_workers'"));
  EXPECT_TRUE(contains(job_config_message({{"Chunk_Size", "3"}}), "did you mean 'chunk_size'"));
  EXPECT_TRUE(contains(job_config_message({{"chunk_size", "many"}}),
                       "invalid value 'many' for job param 'chunk_size'"));
  EXPECT_TRUE(contains(job_config_message({{"enable_parallel", "maybe"}}), "enable_parallel"));
  EXPECT_EQ(job_config_message({{"colour", "red"}}), "");
}

TEST(ConfigTest, StrictResolutionStillRefusesTheJobsKeys) {
  EXPECT_TRUE(contains(message_of({{"run_date", "2026-12-01"}}, {}), "unknown job param"));
}

TEST(ConfigTest, ChunkSizeAutoIsTheDefaultAndANumberIsExact) {
  // Not given, or "auto" in any case: chunks of 50000 committed in groups.
  for (const ParallelConfig& c :
       {resolve_config({}, {}, kCores), resolve_config({{"chunk_size", "auto"}}, {}, kCores),
        resolve_config({}, {{"MAPPER_CHUNK_SIZE", " AUTO "}}, kCores)}) {
    EXPECT_TRUE(c.chunk_size_auto);
    EXPECT_EQ(c.chunk_size, 50000);
  }
  // A number, from either place: one transaction per chunk of exactly that size; a param
  // beats an environment "auto".
  const ParallelConfig exact =
      resolve_config({{"chunk_size", "2000"}}, {{"MAPPER_CHUNK_SIZE", "auto"}}, kCores);
  EXPECT_FALSE(exact.chunk_size_auto);
  EXPECT_EQ(exact.chunk_size, 2000);
  EXPECT_EQ(exact.origin.at("chunk_size"), Source::Param);
  EXPECT_FALSE(resolve_config({}, {{"MAPPER_CHUNK_SIZE", "7"}}, kCores).chunk_size_auto);
  // The library's own default-constructed config is exact.
  EXPECT_FALSE(ParallelConfig{}.chunk_size_auto);
  // A bad value says that auto is accepted too; "auto" is no value for the others.
  try {
    resolve_config({{"chunk_size", "automatic"}}, {}, kCores);
    ADD_FAILURE() << "chunk_size 'automatic' was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("or auto"), std::string::npos) << e.what();
  }
  EXPECT_THROW(resolve_config({{"max_retries", "auto"}}, {}, kCores), Error);
}

}  // namespace
}  // namespace parmap
