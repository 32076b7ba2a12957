// The parallelism settings table and its resolution: defaults < MAPPER_* environment < params.
#include "parmap/config.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <functional>
#include <optional>
#include <thread>

#include "parmap/error.h"

extern char** environ;  // POSIX; declared here because <unistd.h> only does so with _GNU_SOURCE

namespace parmap {

namespace {

std::string_view trim(std::string_view s) {
  const auto is_space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
  };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string to_lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), lower);
  return out;
}

size_t levenshtein(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t subst = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

/// Parses a whole decimal number within [min, max]; nullopt for anything else
/// (fractions, signs out of range, trailing text, overflow, empty).
std::optional<int64_t> parse_int(std::string_view text, int64_t min, int64_t max) {
  text = trim(text);
  if (text.empty()) return std::nullopt;
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  if (v < min || v > max) return std::nullopt;
  return v;
}

constexpr const char* kBoolAccepted = "true/false, yes/no, y/n, on/off or 1/0";

/// One row of the settings table with what it needs to parse and apply a value.
struct Setting {
  SettingInfo info;
  bool is_bool;
  int64_t min, max;  // accepted range, integer settings only
  std::function<void(ParallelConfig&, int64_t)> apply;
  std::function<void(ParallelConfig&)> apply_auto = {};  ///< set: the value "auto" is accepted
};

const std::vector<Setting>& settings() {
  static const std::vector<Setting> kSettings = {
      {{"enable_parallel", "MAPPER_PARALLEL_ENABLED",
        "run chunks in parallel when the estimate reaches min_rows_for_parallel"},
       true,
       0,
       1,
       [](ParallelConfig& c, int64_t v) { c.enable_parallel = v != 0; }},
      {{"max_workers", "MAPPER_MAX_WORKERS",
        "worker threads, each with its own source and target connection (default: CPU "
        "cores - 1); auto: start with 1 and add workers while rows/s rises by 10% or more, "
        "up to 8, keeping the best count"},
       false,
       1,
       1024,
       [](ParallelConfig& c, int64_t v) {
         c.max_workers = static_cast<int>(v);
         c.max_workers_auto = false;
       },
       [](ParallelConfig& c) {
         c.max_workers = kAutoWorkersCeiling;
         c.max_workers_auto = true;
       }},
      {{"chunk_size", "MAPPER_CHUNK_SIZE",
        "rows per chunk, the unit of resume; a number: one target transaction each; auto "
        "(the default): chunks of 50000 rows, committed in groups of consecutive chunks of "
        "about 2 seconds each, sized from the measured rate"},
       false,
       1,
       100'000'000,
       [](ParallelConfig& c, int64_t v) {
         c.chunk_size = v;
         c.chunk_size_auto = false;
       },
       [](ParallelConfig& c) { c.chunk_size_auto = true; }},
      {{"min_rows_for_parallel", "MAPPER_MIN_ROWS_FOR_PARALLEL",
        "estimated rows below which the job runs serially"},
       false,
       0,
       1'000'000'000'000'000,
       [](ParallelConfig& c, int64_t v) { c.min_rows_for_parallel = v; }},
      {{"max_retries", "MAPPER_MAX_RETRIES", "retries per chunk after a transient error"},
       false,
       0,
       100,
       [](ParallelConfig& c, int64_t v) { c.max_retries = static_cast<int>(v); }},
      {{"retry_backoff_ms", "MAPPER_RETRY_BACKOFF_MS",
        "first retry delay in milliseconds; doubles each retry, capped, with jitter"},
       false,
       0,
       600'000,
       [](ParallelConfig& c, int64_t v) { c.retry_backoff_ms = static_cast<int>(v); }},
      {{"chunk_timeout_s", "MAPPER_CHUNK_TIMEOUT_S",
        "seconds one attempt at a chunk may run before its connections are interrupted and "
        "it is retried on new ones (a stalled network or server); 0: no limit"},
       false,
       0,
       604'800,
       [](ParallelConfig& c, int64_t v) { c.chunk_timeout_s = static_cast<int>(v); }},
      {{"max_batch_bytes", "MAPPER_MAX_BATCH_BYTES",
        "bytes one worker may buffer for a chunk before writing"},
       false,
       65'536,
       int64_t{1} << 34,
       [](ParallelConfig& c, int64_t v) { c.max_batch_bytes = v; }},
      {{"max_rejects", "MAPPER_MAX_REJECTS",
        "rows the target may refuse (written to the reject file) before the job fails; 0: "
        "the first refused row fails it, naming the row"},
       false,
       0,
       1'000'000'000'000,
       [](ParallelConfig& c, int64_t v) { c.max_rejects = v; }},
  };
  return kSettings;
}

std::string accepted_keys() {
  std::string out;
  for (const auto& s : settings()) {
    if (!out.empty()) out += ", ";
    out += s.info.param;
  }
  return out;
}

/// Parses `value` for `setting`; `where` names the source in errors
/// ("MAPPER_CHUNK_SIZE" or "job param 'chunk_size'").
int64_t parse_setting(const Setting& setting, const std::string& where, const std::string& value) {
  if (setting.is_bool) return parse_bool(where, value) ? 1 : 0;
  if (auto v = parse_int(value, setting.min, setting.max)) return *v;
  throw_config(where, value,
               fmt::format("a whole number from {} to {}{}", setting.min, setting.max,
                           setting.apply_auto ? " or auto" : ""));
}

int max_workers_for(unsigned cores) {
  if (cores <= 1) return 1;
  return static_cast<int>(std::min<unsigned>(cores - 1, 1024));
}

}  // namespace

const std::vector<SettingInfo>& settings_table() {
  static const std::vector<SettingInfo> kTable = [] {
    std::vector<SettingInfo> out;
    for (const auto& s : settings()) out.push_back(s.info);
    return out;
  }();
  return kTable;
}

int default_max_workers() { return max_workers_for(std::thread::hardware_concurrency()); }

bool parse_bool(std::string_view setting, std::string_view value) {
  const std::string v = to_lower(trim(value));
  if (v == "true" || v == "yes" || v == "y" || v == "1" || v == "on") return true;
  if (v == "false" || v == "no" || v == "n" || v == "0" || v == "off") return false;
  throw_config(std::string(setting), std::string(value), kBoolAccepted);
}

namespace {

bool is_setting(const std::string& key) {
  return std::any_of(settings().begin(), settings().end(),
                     [&key](const Setting& s) { return key == s.info.param; });
}

/// The setting `key` is a near miss of, or "".
std::string setting_like(const std::string& key) {
  std::vector<std::string> names;
  for (const auto& s : settings()) names.emplace_back(s.info.param);
  return did_you_mean(key, names);
}

/// Applies defaults < env < the params that are settings (all others are the caller's to
/// judge before).
ParallelConfig apply_settings(const ParamMap& params, const EnvMap& env, unsigned cpu_cores);

}  // namespace

ParallelConfig resolve_config(const ParamMap& params, const EnvMap& env, unsigned cpu_cores) {
  // Unknown keys first: a typo must not silently fall back to a default.
  for (const auto& [key, value] : params) {
    if (is_setting(key)) continue;
    const std::string suggestion = setting_like(key);
    const std::string hint =
        suggestion.empty() ? "" : fmt::format(" (did you mean '{}'?)", suggestion);
    throw Error(ErrorKind::Config,
                fmt::format("unknown job param '{}'{}; accepted: {}", key, hint, accepted_keys()));
  }
  return apply_settings(params, env, cpu_cores);
}

ParallelConfig resolve_job_config(const ParamMap& params, const EnvMap& env, unsigned cpu_cores) {
  std::vector<std::string> ignored;
  for (const auto& [key, value] : params) {
    if (is_setting(key)) continue;
    if (const std::string suggestion = setting_like(key); !suggestion.empty()) {
      throw Error(ErrorKind::Config,
                  fmt::format("job param '{}' is not a parallelism setting but looks like a typo "
                              "of one (did you mean '{}'?); accepted: {}",
                              key, suggestion, accepted_keys()));
    }
    ignored.push_back(key);
  }
  ParallelConfig config = apply_settings(params, env, cpu_cores);
  if (!ignored.empty()) {
    spdlog::info("job params left to the job (no parallelism setting): {}",
                 fmt::join(ignored, ", "));
  }
  config.ignored_params = std::move(ignored);
  return config;
}

namespace {

ParallelConfig apply_settings(const ParamMap& params, const EnvMap& env, unsigned cpu_cores) {
  for (const auto& warning : unknown_environment_warnings(env)) spdlog::warn("{}", warning);

  ParallelConfig config;
  config.max_workers =
      max_workers_for(cpu_cores == 0 ? std::thread::hardware_concurrency() : cpu_cores);
  config.chunk_size_auto = true;  // unless chunk_size is set
  auto apply = [&config](const Setting& setting, const std::string& where,
                         const std::string& value) {
    if (setting.apply_auto && to_lower(trim(value)) == "auto") {
      setting.apply_auto(config);
    } else {
      setting.apply(config, parse_setting(setting, where, value));
    }
  };
  for (const auto& setting : settings()) {
    Source origin = Source::Default;
    if (auto p = params.find(setting.info.param); p != params.end()) {
      apply(setting, fmt::format("job param '{}'", p->first), p->second);
      origin = Source::Param;
    } else if (auto e = env.find(setting.info.env); e != env.end()) {
      apply(setting, e->first, e->second);
      origin = Source::Environment;
    }
    config.origin[setting.info.param] = origin;
  }
  return config;
}

}  // namespace

EnvMap process_environment() {
  EnvMap env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    if (text.rfind("MAPPER_", 0) != 0) continue;
    const size_t eq = text.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
  }
  return env;
}

std::vector<std::string> unknown_environment_warnings(const EnvMap& env) {
  constexpr std::string_view kPrefix = "MAPPER_";
  // Compared without the shared prefix, so that it does not widen the edit distance allowed.
  std::vector<std::string> suffixes;
  for (const auto& s : settings()) suffixes.emplace_back(s.info.env + kPrefix.size());
  std::vector<std::string> out;
  for (const auto& [name, value] : env) {
    if (name.rfind(kPrefix, 0) != 0) continue;
    const std::string suffix = name.substr(kPrefix.size());
    if (std::find(suffixes.begin(), suffixes.end(), suffix) != suffixes.end()) continue;
    const std::string suggestion = did_you_mean(suffix, suffixes);
    out.push_back(fmt::format(
        "environment variable {} is not a parmap setting and is ignored{}", name,
        suggestion.empty() ? std::string()
                           : fmt::format(" (did you mean {}{}?)", kPrefix, suggestion)));
  }
  return out;
}

ParallelConfig get_parallel_config_from_params(const ParamMap& params) {
  return resolve_job_config(params, process_environment());
}

bool should_use_parallel_processing(const ParallelConfig& config, int64_t estimated_rows) {
  return config.enable_parallel && estimated_rows >= config.min_rows_for_parallel &&
         config.max_workers > 1;
}

std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates) {
  const std::string w = to_lower(word);
  // Short words tolerate two edits; long ones up to a third of their length.
  const size_t limit = std::max<size_t>(2, w.size() / 3);
  std::string best;
  size_t best_distance = limit + 1;
  for (const auto& candidate : candidates) {
    const size_t d = levenshtein(w, to_lower(candidate));
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  return best;
}

}  // namespace parmap
