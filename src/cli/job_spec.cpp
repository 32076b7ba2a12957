// Job files (YAML) and --set assignments into a JobSpec, with errors that name the key and line.
#include "cli/job_spec.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <fnmatch.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace parmap::cli {
namespace {

/// `text` with control and other non-printable bytes shown as \xNN, so that a message about
/// a binary or mis-encoded file stays one readable line.
std::string printable(const std::string& text) {
  std::string out;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  return out;
}

std::string where(const std::string& path, const YAML::Node& node) {
  const auto mark = node.Mark();
  if (mark.line < 0) return path;
  return fmt::format("{}:{}", path, mark.line + 1);
}

/// A map key as a name; Error(Config) at its line for a list or map used as a key, and for a
/// key given twice in the same map (YAML would silently keep the last one).
std::string key_name(const std::string& path, const YAML::Node& key, const std::string& in,
                     std::vector<std::string>& seen) {
  if (!key.IsScalar()) {
    throw Error(ErrorKind::Config, fmt::format("{}: a key {} must be a name, not a list or map",
                                               where(path, key), in));
  }
  const std::string name = key.Scalar();
  if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
    throw Error(ErrorKind::Config,
                fmt::format("{}: key '{}' is given twice {}", where(path, key), name, in));
  }
  seen.push_back(name);
  return name;
}

/// A parameter name that is not a setting: Error(Config) at its line, with a "did you mean".
void check_param_name(const std::string& path, const YAML::Node& key_node,
                      const std::string& name) {
  std::vector<std::string> names;
  for (const auto& s : settings_table()) names.push_back(s.param);
  if (std::find(names.begin(), names.end(), name) != names.end()) return;
  const std::string hint = did_you_mean(name, names);
  throw Error(
      ErrorKind::Config,
      fmt::format("{}: unknown job param '{}' in params{}; accepted: {}", where(path, key_node),
                  name, hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint),
                  fmt::join(names, ", ")));
}

std::string scalar(const std::string& path, const std::string& key, const YAML::Node& node) {
  if (!node.IsScalar()) {
    throw Error(ErrorKind::Config, fmt::format("{}: '{}' must be a single value, not a list or map",
                                               where(path, node), key));
  }
  return node.Scalar();
}

Value yaml_value(const YAML::Node& node) {
  if (node.IsNull()) return Value();
  const std::string& s = node.Scalar();
  // Quoted YAML scalars stay text; plain ones that look like numbers are numbers.
  if (node.Tag() != "!") {
    int64_t i;
    if (YAML::convert<int64_t>::decode(node, i) && s.find_first_of(".eE") == std::string::npos) {
      return Value(i);
    }
    double d;
    if (YAML::convert<double>::decode(node, d)) return Value(d);
  }
  return Value(s);
}

ColumnMapping mapping_entry(const std::string& path, const YAML::Node& node, size_t index) {
  ColumnMapping m;
  if (node.IsScalar()) {
    m.name = node.Scalar();
    return m;
  }
  if (!node.IsMap()) {
    throw Error(ErrorKind::Config,
                fmt::format("{}: columns[{}] must be a column name or a map with name, from, "
                            "type, value",
                            where(path, node), index));
  }
  static const std::vector<std::string> keys{"name", "from", "type", "value"};
  std::vector<std::string> seen;
  for (const auto& kv : node) {
    const std::string key = key_name(path, kv.first, fmt::format("in columns[{}]", index), seen);
    if (key == "name") {
      m.name = scalar(path, "columns.name", kv.second);
    } else if (key == "from") {
      m.from = scalar(path, "columns.from", kv.second);
    } else if (key == "type" || key == "cast") {
      try {
        m.cast = column_type_from_string(scalar(path, "columns.type", kv.second));
      } catch (const Error& e) {
        throw Error(ErrorKind::Config, fmt::format("{}: {}", where(path, kv.second), e.what()));
      }
    } else if (key == "value") {
      m.value = yaml_value(kv.second);
    } else {
      const std::string hint = did_you_mean(key, keys);
      throw Error(ErrorKind::Config,
                  fmt::format("{}: unknown key '{}' in columns[{}]{}; accepted: name, from, "
                              "type, value",
                              where(path, kv.first), key, index,
                              hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint)));
    }
  }
  if (m.name.empty()) {
    throw Error(ErrorKind::Config,
                fmt::format("{}: columns[{}] has no 'name'", where(path, node), index));
  }
  if (!m.from.empty() && m.value) {
    throw Error(ErrorKind::Config,
                fmt::format("{}: columns[{}] ('{}') has both 'from' and 'value'; use one",
                            where(path, node), index, m.name));
  }
  return m;
}

void set_key(JobSpec& spec, const std::string& key, const std::string& value) {
  if (key == "job")
    spec.job_id = value;
  else if (key == "source")
    spec.source = value;
  else if (key == "target")
    spec.target = value;
  else if (key == "query")
    spec.query = value;
  else if (key == "table")
    spec.table = value;
  else if (key == "target_table")
    spec.target_table = value;
  else if (key == "partition_column")
    spec.partition_column = value;
  else if (key == "mode")
    spec.mode = target_mode_from_string(value);
  else
    spec.params[key] = value;  // validated with the other params by resolve_config
}

}  // namespace

const std::vector<std::string>& job_file_keys() {
  static const std::vector<std::string> keys{"job",     "source",       "target",           "query",
                                             "table",   "target_table", "partition_column", "mode",
                                             "columns", "params"};
  return keys;
}

namespace {

/// The parsed YAML of a job file; Error(Config) for a file that is not a YAML map.
YAML::Node read_job_yaml(const std::string& path, const std::vector<std::string>& accepted) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw Error(ErrorKind::Config,
                fmt::format("cannot read job file '{}': it is a folder, not a file", path));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw Error(
        ErrorKind::Config,
        fmt::format("cannot read job file '{}': {}", path,
                    std::filesystem::exists(path, ec) ? "permission denied" : "no such file"));
  }
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) throw Error(ErrorKind::Config, fmt::format("cannot read job file '{}'", path));
  if (text.find('\0') != std::string::npos) {
    throw Error(ErrorKind::Config,
                fmt::format("{}: not a text file (it holds NUL bytes); a job file is YAML", path));
  }
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw Error(ErrorKind::Config,
                fmt::format("{}:{}:{}: not valid YAML: {}", path, e.mark.line + 1,
                            e.mark.column + 1, printable(e.msg)));
  }
  if (!root.IsMap()) {
    throw Error(ErrorKind::Config,
                fmt::format("{}: {}; a job file is a map of keys ({})", path,
                            root.IsNull()       ? "the file is empty"
                            : root.IsSequence() ? "the top level is a list"
                                                : "the top level is a single value",
                            fmt::join(accepted, ", ")));
  }
  return root;
}

/// Applies one key of a job (`in` says where, for messages); `accepted` lists the keys of
/// that place, for an unknown key's message. A job's `columns` replace any given before.
void apply_job_key(JobSpec& spec, const std::string& path, const YAML::Node& key_node,
                   const std::string& key, const YAML::Node& value, const std::string& in,
                   const std::vector<std::string>& accepted) {
  if (key == "params") {
    if (value.IsNull()) return;
    if (!value.IsMap()) {
      throw Error(ErrorKind::Config,
                  fmt::format("{}: 'params' must be a map of name: value", where(path, value)));
    }
    std::vector<std::string> seen_params;
    for (const auto& p : value) {
      const std::string name = key_name(path, p.first, "in params", seen_params);
      check_param_name(path, p.first, name);
      spec.params[name] = scalar(path, "params." + name, p.second);
    }
  } else if (key == "columns") {
    if (!value.IsSequence()) {
      throw Error(ErrorKind::Config,
                  fmt::format("{}: 'columns' must be a list", where(path, value)));
    }
    spec.columns.clear();
    for (size_t i = 0; i < value.size(); ++i) {
      spec.columns.push_back(mapping_entry(path, value[i], i));
    }
  } else if (std::find(job_file_keys().begin(), job_file_keys().end(), key) !=
             job_file_keys().end()) {
    try {
      set_key(spec, key, scalar(path, key, value));
    } catch (const Error& e) {
      throw Error(ErrorKind::Config, fmt::format("{}: {}", where(path, value), e.what()));
    }
  } else {
    std::vector<std::string> candidates = accepted;
    for (const auto& s : settings_table()) candidates.push_back(s.param);
    const std::string hint = did_you_mean(key, candidates);
    const bool is_param = std::any_of(settings_table().begin(), settings_table().end(),
                                      [&](const SettingInfo& s) { return key == s.param; });
    throw Error(ErrorKind::Config,
                fmt::format("{}: unknown key '{}'{}{}; accepted: {}", where(path, key_node), key,
                            in.empty() ? "" : " " + in,
                            is_param ? fmt::format("{} (job params go under 'params:')",
                                                   in.empty() ? " at the top level" : "")
                            : hint.empty() ? ""
                                           : fmt::format(" (did you mean '{}'?)", hint),
                            fmt::join(accepted, ", ")));
  }
}

std::vector<std::string> string_list(const std::string& path, const std::string& key,
                                     const YAML::Node& node) {
  std::vector<std::string> out;
  if (node.IsScalar()) {
    out.push_back(node.Scalar());
    return out;
  }
  if (!node.IsSequence()) {
    throw Error(ErrorKind::Config,
                fmt::format("{}: '{}' must be a list of names or patterns", where(path, node), key));
  }
  for (const auto& item : node) out.push_back(scalar(path, key, item));
  return out;
}

}  // namespace

JobSpec load_job_file(const std::string& path) {
  const YAML::Node root = read_job_yaml(path, job_file_keys());
  JobSpec spec;
  std::vector<std::string> seen;
  for (const auto& kv : root) {
    const std::string key = key_name(path, kv.first, "at the top level", seen);
    apply_job_key(spec, path, kv.first, key, kv.second, "", job_file_keys());
  }
  return spec;
}

const std::vector<std::string>& job_set_keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> k = job_file_keys();
    for (const char* extra : {"jobs", "tables", "exclude", "target_schema", "on_error"}) {
      k.push_back(extra);
    }
    return k;
  }();
  return keys;
}

JobSet load_job_set(const std::string& path) {
  const YAML::Node root = read_job_yaml(path, job_set_keys());
  JobSet set;
  std::vector<std::string> seen;
  YAML::Node jobs;
  bool has_jobs = false;
  for (const auto& kv : root) {
    const std::string key = key_name(path, kv.first, "at the top level", seen);
    const YAML::Node& value = kv.second;
    if (key == "jobs") {
      if (!value.IsSequence() || value.size() == 0) {
        throw Error(ErrorKind::Config,
                    fmt::format("{}: 'jobs' must be a list of jobs, each a map of a job's keys",
                                where(path, value)));
      }
      jobs = value;
      has_jobs = true;
    } else if (key == "tables") {
      set.tables = string_list(path, key, value);
      if (set.tables.empty()) {
        throw Error(ErrorKind::Config,
                    fmt::format("{}: 'tables' is empty; give patterns such as sales.* or "
                                "public.orders",
                                where(path, value)));
      }
    } else if (key == "exclude") {
      set.exclude = string_list(path, key, value);
    } else if (key == "target_schema") {
      set.target_schema = value.IsNull() ? std::string() : scalar(path, key, value);
    } else if (key == "on_error") {
      const std::string text = scalar(path, key, value);
      try {
        set.on_error = on_error_from_string(text);
      } catch (const Error& e) {
        throw Error(ErrorKind::Config, fmt::format("{}: {}", where(path, value), e.what()));
      }
    } else {
      apply_job_key(set.defaults, path, kv.first, key, value, "", job_set_keys());
    }
  }
  auto refuse = [&](const std::string& what) {
    throw Error(ErrorKind::Config, fmt::format("{}: {}", path, what));
  };
  if (has_jobs && !set.tables.empty()) refuse("give either 'jobs' or 'tables', not both");
  if (!set.exclude.empty() && set.tables.empty()) refuse("'exclude' needs 'tables'");
  if (set.target_schema && set.tables.empty()) refuse("'target_schema' needs 'tables'");
  if (!set.tables.empty() && (!set.defaults.query.empty() || !set.defaults.table.empty() ||
                              !set.defaults.target_table.empty())) {
    refuse("'tables' chooses the source and target tables: drop 'query', 'table' and "
           "'target_table'");
  }
  for (size_t i = 0; has_jobs && i < jobs.size(); ++i) {
    const YAML::Node& node = jobs[i];
    if (!node.IsMap()) {
      throw Error(ErrorKind::Config, fmt::format("{}: jobs[{}] must be a map of a job's keys ({})",
                                                 where(path, node), i,
                                                 fmt::join(job_file_keys(), ", ")));
    }
    JobSpec spec = set.defaults;
    spec.job_id.clear();
    std::vector<std::string> job_seen;
    const std::string in = fmt::format("in jobs[{}]", i);
    for (const auto& kv : node) {
      const std::string key = key_name(path, kv.first, in, job_seen);
      apply_job_key(spec, path, kv.first, key, kv.second, in, job_file_keys());
    }
    if (spec.job_id.empty() && !set.defaults.job_id.empty()) {
      spec.job_id = fmt::format("{}.{}", set.defaults.job_id, i + 1);
    }
    set.jobs.push_back(std::move(spec));
  }
  return set;
}

namespace {

/// The table's name with each part between `mark`s (a mark inside doubled): "s"."t", or `t`.
/// parse_table_ref reads it back as written.
std::string quoted_name(const TableRef& t, char mark) {
  auto quote = [mark](const std::string& s) {
    std::string q(1, mark);
    for (char c : s) q += (c == mark) ? std::string(2, mark) : std::string(1, c);
    return q + mark;
  };
  return t.schema.empty() ? quote(t.name) : quote(t.schema) + "." + quote(t.name);
}

}  // namespace

std::vector<JobSpec> select_tables(const JobSet& set, const std::vector<TableRef>& available) {
  auto matches = [](const std::string& pattern, const TableRef& t) {
    // A pattern with a dot names schema and table; without one, the table in any schema.
    const bool qualified = pattern.find('.') != std::string::npos;
    if (qualified && t.schema.empty()) return false;
    const std::string name = qualified ? t.schema + "." + t.name : t.name;
    return fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
  };
  const std::vector<std::string> ledger{"parmap_jobs", "parmap_ledger", "parmap_runs"};
  std::vector<JobSpec> out;
  std::vector<bool> used(set.tables.size(), false);
  for (const TableRef& t : available) {
    bool chosen = false;
    for (size_t p = 0; p < set.tables.size(); ++p) {
      if (matches(set.tables[p], t)) chosen = used[p] = true;
    }
    if (!chosen) continue;
    if (std::find(ledger.begin(), ledger.end(), t.name) != ledger.end()) continue;
    if (std::any_of(set.exclude.begin(), set.exclude.end(),
                    [&](const std::string& x) { return matches(x, t); })) {
      continue;
    }
    JobSpec spec = set.defaults;
    // The catalog's names, exactly: quoted, so that no engine reads them otherwise.
    spec.table = quoted_name(t, '"');
    const TableRef target{set.target_schema.value_or(t.schema), t.name};
    spec.target_table = quoted_name(target, '"');
    if (!set.defaults.job_id.empty()) spec.job_id = set.defaults.job_id + "." + t.display();
    out.push_back(std::move(spec));
  }
  for (size_t p = 0; p < set.tables.size(); ++p) {
    if (!used[p]) {
      throw Error(ErrorKind::Config,
                  fmt::format("tables: '{}' matches no table of the source", set.tables[p]));
    }
  }
  if (out.empty()) {
    throw Error(ErrorKind::Config, "tables: every matching table is excluded; nothing to copy");
  }
  return out;
}

void apply_set(JobSpec& spec, const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw_config("--set", assignment, "key=value, e.g. --set max_workers=4");
  }
  const std::string key = assignment.substr(0, eq);
  if (key == "columns" || key == "params") {
    throw Error(ErrorKind::Config,
                fmt::format("--set: '{}' cannot be set with --set; put it in the job file{}", key,
                            key == "params" ? ", or set one param: --set max_workers=4" : ""));
  }
  std::vector<std::string> keys;
  for (const auto& k : job_file_keys()) {
    if (k != "columns" && k != "params") keys.push_back(k);
  }
  for (const auto& s : settings_table()) keys.push_back(s.param);
  if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
    const std::string hint = did_you_mean(key, keys);
    throw Error(ErrorKind::Config,
                fmt::format("--set: unknown key '{}'{}; accepted: {}", key,
                            hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint),
                            fmt::join(keys, ", ")));
  }
  set_key(spec, key, assignment.substr(eq + 1));
}

std::string source_query(const JobSpec& spec) {
  if (!spec.query.empty() && !spec.table.empty()) {
    throw Error(ErrorKind::Config, "give either 'query' or 'table', not both");
  }
  if (!spec.query.empty()) return spec.query;
  if (spec.table.empty()) {
    throw Error(ErrorKind::Config,
                "no source query: give --query SQL or --table NAME (job file: 'query' or "
                "'table')");
  }
  // An unquoted name means what it means in the source's SQL (PostgreSQL: MyTable is mytable),
  // and is then quoted as the source engine quotes names: MySQL and MariaDB with backticks (their
  // double quotes are string literals), the others with double quotes.
  const std::string_view url = spec.source;
  const TableRef t = parse_table_ref(spec.table, unquoted_names_of(url));
  const bool backticks = url.rfind("mysql:", 0) == 0 || url.rfind("mariadb:", 0) == 0;
  return "SELECT * FROM " + quoted_name(t, backticks ? '`' : '"');
}

}  // namespace parmap::cli
