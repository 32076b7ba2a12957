// Planning a job: the partition key, the parallel decision and the chunks (make_plan), and
// whether chunks move native bytes or typed batches (choose_path).
#include "exec/executor.h"
#include "exec/plan_probe.h"

namespace parmap {

namespace {

/// Whether the query's relation really splits by physical positions (a table, not a view):
/// the driver says so by answering key_stats for its position key.
bool splits_by_positions(Connection& src, const std::string& sql, const std::string& position) {
  try {
    src.key_stats(sql, position, 0);
    return true;
  } catch (const Error&) {
    return false;
  }
}

/// The table's primary key's columns in the key's order, for cutting ranges of its first
/// (they are exact, whatever its type: every row falls in one); nullopt without a key, or a
/// key of several columns whose order is unknown.
std::optional<std::vector<std::string>> primary_key_columns(Connection& src,
                                                            const TableRef& table) {
  const std::optional<TableSchema> schema = src.describe_table(table);
  if (!schema) return std::nullopt;
  if (!schema->primary_key.empty()) return schema->primary_key;
  std::optional<std::vector<std::string>> key;
  for (const ColumnInfo& column : schema->columns) {
    if (!column.primary_key) continue;
    if (key) return std::nullopt;  // several, in no known order
    key = std::vector<std::string>{column.name};
  }
  return key;
}

}  // namespace

StoredPlan Executor::make_plan(Connection& src, const TableSchema& src_schema) {
  StoredPlan p;
  p.source_sql = sql_;
  p.target_table = table_.display();
  std::vector<std::string> why;

  // The partition key: the job's partition_column, else the ORDER BY key, else, for a plain
  // "SELECT * FROM table", its integer primary key, its physical positions, or its primary
  // key of one column of another type.
  std::string key;
  int64_t chunk_rows = config_.chunk_size;  // smaller where the one pass needs it
  const QueryCheck check = check_query_splittable(sql_);
  auto resolve = [&](const std::string& name) -> std::string {
    const int i = src_schema.find(name);
    return i < 0 ? std::string() : src_schema.columns[i].name;
  };
  // An ORDER BY item: a column's name, or its position ("2": the second column).
  auto by_order = [&](const std::string& item) -> std::string {
    std::string name = resolve(item);
    if (!name.empty() || item.empty() || item.size() > 6 ||
        item.find_first_not_of("0123456789") != std::string::npos) {
      return name;
    }
    const size_t n = std::stoul(item);
    return n >= 1 && n <= src_schema.columns.size() ? src_schema.columns[n - 1].name : name;
  };
  const auto table = simple_table_of(sql_);
  const Capabilities caps = src.capabilities();
  // The engine's key of physical positions ("ctid"), when the query is a plain table.
  const std::string& position = caps.position_key;
  const bool blocks = table && !position.empty() && caps.block_ranges;
  auto split_by_positions = [&] { return blocks && splits_by_positions(src, sql_, position); };
  if (!opts_.partition_column.empty()) {
    if (!position.empty() && opts_.partition_column == position) {
      if (!blocks) {
        throw_config("partition_column", position,
                     fmt::format("a column of the source query; '{}' (the rows' physical "
                                 "positions) needs a plain 'SELECT * FROM table' query and a "
                                 "server that scans ranges of them",
                                 position));
      }
      key = position;
    } else {
      key = resolve(opts_.partition_column);
    }
    if (key.empty()) {
      std::vector<std::string> names;
      for (const auto& c : src_schema.columns) names.push_back(c.name);
      throw_config("partition_column", opts_.partition_column,
                   fmt::format("a column of the source query: {}", fmt::join(names, ", ")));
    }
    why.push_back(fmt::format("partition column '{}' from the job", key));
    // A key the engine cannot order or compare (json, point) cannot be cut into ranges.
    if (key != position) {
      if (auto problem = src.range_filter_problem(sql_, key)) {
        why.push_back(*problem);
        key.clear();
        if (split_by_positions()) {
          key = position;
          why.push_back(
              fmt::format("{} split by physical positions ({}) instead", table->display(), key));
        } else {
          why.push_back("streamed as one chunk");
        }
      }
    }
  } else if (!check.splittable) {
    why.push_back(check.reason + "; streamed as one chunk (set partition_column to override)");
  } else {
    // A table too large for the server's cache is read in one sequential pass, cut into
    // chunks by position (start_position_stream): ranges of a key would each read their pages
    // into the cache, evicting others. Its rows pass through (fast path) or are decoded by
    // writers that may overlap (typed path: a target taking one writer at a time gains
    // nothing, and its chunks of 2 MB each commit alone: 3.5 s against 3.2 s for 1,000,000
    // rows into SQLite); the in-engine path's target reads the source itself.
    // Its chunks must fit what the pass holds for a writer (one_pass_chunk_bytes, by the
    // engine's estimate of a row's size). chunk_size auto cuts them to its aim
    // (one_pass_auto_chunk_bytes), or for rows too wide for that to the whole buffer, with a
    // tenth to spare, down to kFewestPassRows (commit groups join them again); otherwise a
    // wider table keeps its key. A chunk that does not fit after all is read by its writer.
    constexpr int64_t kFewestPassRows = 1000;
    const bool pass_may_run =
        !local_path_ && blocks && (fast_path_ || coord_tgt_->writer_lock() == nullptr);
    const int64_t pass_limit = one_pass_chunk_bytes(config_.max_batch_bytes, !fast_path_);
    int64_t pass_bytes = pass_limit;
    int64_t fit = 0;
    int64_t pass_rows = chunk_rows;
    if (pass_may_run && config_.chunk_size_auto) {
      for (int64_t bytes : {one_pass_auto_chunk_bytes(config_.max_batch_bytes, !fast_path_),
                            pass_limit}) {
        fit = src.one_pass_chunk_rows(sql_, bytes);
        pass_bytes = bytes;
        if (fit * 9 / 10 >= kFewestPassRows || fit == 0 || bytes == pass_limit) break;
      }
      if (fit * 9 / 10 >= kFewestPassRows) pass_rows = std::min(chunk_rows, fit * 9 / 10);
    } else if (pass_may_run) {
      fit = src.one_pass_chunk_rows(sql_, pass_limit);
    }
    if (fit >= pass_rows && split_by_positions()) {
      key = position;
      why.push_back(fmt::format(
          "{} split by physical positions ({}) and read in one pass: it is larger than a "
          "quarter of the server's shared_buffers, where one sequential scan reads faster than "
          "ranges of a key (set partition_column to choose the key)",
          table->display(), key));
      if (pass_rows < chunk_rows) {
        why.push_back(fmt::format(
            "chunk_size auto: chunks of {} rows, about {} MB in the pass's buffer for a "
            "writer{}",
            pass_rows, pass_bytes >> 20,
            fast_path_ ? "" : " on the typed path"));
        chunk_rows = pass_rows;
      }
    }
    const auto ordered_by = key.empty() ? order_by_key(sql_) : std::nullopt;
    if (ordered_by) key = by_order(*ordered_by);
    if (ordered_by && !key.empty()) {
      why.push_back(fmt::format("partition column '{}' from the query's ORDER BY", key));
    } else if (ordered_by) {
      // ORDER BY rowid, or a column the select list renames or leaves out.
      why.push_back(fmt::format("the query's ORDER BY {} is not a column it returns (select it, "
                                "e.g. SELECT rowid AS rid, ... ORDER BY rid, to split by it)",
                                *ordered_by));
    }
    if (key.empty() && table) {
      if (auto pk = src.integer_primary_key(*table); pk && !resolve(*pk).empty()) {
        key = resolve(*pk);
        why.push_back(fmt::format("partition column '{}', the integer primary key of {}", key,
                                  table->display()));
      }
    }
    // An engine with no physical positions to split by (MariaDB, ODBC, a SQLite table
    // WITHOUT ROWID) would read the whole table as one stream: its primary key of one column
    // of another type (a uuid, a code), or the first column of a key of several, cuts ranges
    // the key's index answers, as an ORDER BY on it would. The range check below still
    // refuses a key the engine cannot use.
    if (key.empty() && table && !blocks) {
      if (auto pk = primary_key_columns(src, *table); pk && !resolve(pk->front()).empty()) {
        key = resolve(pk->front());
        why.push_back(pk->size() == 1
                          ? fmt::format("partition column '{}', the primary key of {}", key,
                                        table->display())
                          : fmt::format("partition column '{}', the first column of the primary "
                                        "key ({}) of {}",
                                        key, fmt::join(*pk, ", "), table->display()));
      }
    }
    // A filter the engine cannot push into the scan would make every chunk run the whole
    // query: one stream is cheaper.
    // So would a key no index can answer: every chunk would read the whole table. A table
    // is then split by block ranges where the engine has them, else read as one stream.
    bool refused = false;
    if (!key.empty() && key != position) {
      if (auto problem = src.range_filter_problem(sql_, key)) {
        why.push_back(*problem);
        key.clear();
        refused = true;
      }
    }
    if (key.empty() && split_by_positions()) {
      key = position;
      why.push_back(fmt::format("{}{} split by physical positions ({})",
                                refused ? "" : "no usable key column: ", table->display(), key));
    } else if (refused) {
      why.push_back("streamed as one chunk");
    } else if (key.empty() && (why.empty() || ordered_by)) {
      why.push_back(ordered_by ? "streamed as one chunk"
                               : "no partition key (no ORDER BY column, no integer primary key, "
                                 "no partition_column): streamed as one chunk");
    }
  }

  // A driver that counts the rows as it reads the keys is asked for the keys first: an
  // estimate before them would read the rows twice. Their sample is sized before the rows
  // are known: fine enough to cut chunk_size chunks from the keys alone up to tens of
  // millions of rows (32 keys a chunk), small enough to stay a few MB.
  constexpr int kCountedKeysSample = 16384;
  std::optional<KeyStats> read_keys;
  if (caps.keys_counted && !key.empty() && key != position) {
    read_keys = src.key_stats(sql_, key, kCountedKeysSample);
    p.estimated_rows = read_keys->rows + read_keys->null_rows;
  } else {
    p.estimated_rows = src.estimate_rows(sql_);
  }
  const char* estimated = read_keys ? "counted" : "estimated";

  // An estimate that says "small" can be far too low (a join, a view, stale statistics):
  // there a bounded count of the real rows decides.
  int64_t rows = p.estimated_rows;
  if (!key.empty() && key != position && !read_keys) {
    const int64_t enough = config_.enable_parallel && config_.max_workers > 1
                               ? std::max(chunk_rows, config_.min_rows_for_parallel)
                               : chunk_rows;
    if (rows <= enough) {
      const int64_t counted = count_rows_upto(src, sql_, nullptr, enough + 1);
      if (counted > rows) {
        why.push_back(fmt::format("estimated {} rows, but counted {}{}", rows,
                                  counted > enough ? "more than " : "", std::min(counted, enough)));
        rows = counted;
      }
    }
  }
  const bool parallel_ok = should_use_parallel_processing(config_, rows);
  if (!config_.enable_parallel) {
    why.push_back("parallel processing is disabled (enable_parallel / MAPPER_PARALLEL_ENABLED)");
  } else if (config_.max_workers <= 1) {
    why.push_back("max_workers is 1");
  } else if (rows < config_.min_rows_for_parallel) {
    why.push_back(fmt::format("{} {} rows < min_rows_for_parallel {}",
                              rows == p.estimated_rows ? estimated : "counted", rows,
                              config_.min_rows_for_parallel));
  }

  // Chunks keep a rerun's unit of work small even when one worker runs them.
  if (key.empty() || (!parallel_ok && rows <= chunk_rows)) {
    p.partition_column.clear();
    p.chunks = {whole_query_chunk()};
    p.chunks[0].estimated_rows = rows;
    p.parallel = false;
  } else {
    const int64_t n = std::max<int64_t>(1, (rows + chunk_rows - 1) / chunk_rows);
    const int max_sample = static_cast<int>(std::clamp<int64_t>(n * 32, 1024, 200000));
    KeyStats stats = read_keys ? std::move(*read_keys) : src.key_stats(sql_, key, max_sample);
    // Keys read to the last are counted; an estimate is only raised to what is known.
    if (stats.sample_every == 0) stats.rows = std::max(stats.rows, rows - stats.null_rows);
    p.partition_column = key;
    p.chunks = plan_chunks(stats, chunk_rows);
    // The estimate cut the chunks; the real rows decide their final size.
    PlanProbe probe(src, sql_, chunk_rows);
    p.chunks = probe.fit(std::move(p.chunks), !stats.sample.empty(), stats.sample_every,
                         stats.every_integer);
    if (const std::string probed = probe.summary(); !probed.empty()) why.push_back(probed);
    p.parallel = parallel_ok && p.chunks.size() > 1;
    // Chunks cut by physical position stay exact on resume only while no row moves: remember
    // where the rows were, so that a resume can tell.
    const bool by_position =
        key == position || std::any_of(p.chunks.begin(), p.chunks.end(),
                                     [](const Chunk& c) { return c.slice.has_value(); });
    if (by_position) p.position_token = src.position_token(sql_);
  }
  if (p.parallel) {
    why.insert(why.begin(), fmt::format("parallel: {} {} rows >= min_rows_for_parallel {}",
                                        rows == p.estimated_rows ? estimated : "counted at least",
                                        rows, config_.min_rows_for_parallel));
  } else {
    why.insert(why.begin(), "serial");
  }
  p.reason = fmt::format("{}", fmt::join(why, "; "));
  return p;
}

void Executor::choose_path(Connection& src, Connection& tgt, const TableSchema& src_schema,
                           const std::optional<TableSchema>& target_schema) {
  const std::string format = src.native_format();
  std::string why;
  if (opts_.transform) {
    why = "a transformation needs the values";
  } else if (format.empty() || format != tgt.native_format()) {
    why = fmt::format("{} to {} has no shared native format", src.engine(), tgt.engine());
  } else if (target_schema) {
    auto lower = [](std::string t) {
      for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return t;
    };
    for (const auto& c : src_schema.columns) {
      if (out_schema_.find(c.name) < 0) continue;  // generated by the target: not copied
      const auto& t = target_schema->columns[target_schema->find(c.name)];
      if (c.declared_type.empty() || lower(c.declared_type) != lower(t.declared_type)) {
        why = fmt::format("column {} is {} in the source and {} in the target", c.name,
                          c.declared_type.empty() ? "of unknown type" : c.declared_type,
                          t.declared_type);
        break;
      }
    }
  }
  fast_path_ = why.empty();
  result_.fast_path = fast_path_;
  result_.path = fast_path_ ? fmt::format("fast path: {} bytes passed through, not decoded", format)
                            : "typed path: " + why;
  // Where the target's engine can read the source itself, rows need not leave it at all.
  local_path_ = false;
  if (!fast_path_ && !opts_.transform) {
    const AttachedSource attached = tgt.attach_source(src, sql_, table_);
    tgt.detach_source();  // each worker's own session attaches before its first chunk
    if (attached.problem.empty()) {
      local_path_ = true;
      result_.path = fmt::format(
          "in-engine path: {} reads the source's rows itself (one INSERT ... SELECT a chunk), "
          "values never leave it",
          tgt.engine());
    } else if (src.engine() == tgt.engine()) {
      result_.path += fmt::format("; no in-engine copy: {}", attached.problem);
    }
  }
  if (!generated_.empty()) {
    result_.path += fmt::format("; column(s) {} not copied: {} generates them",
                                fmt::join(generated_, ", "), table_.display());
  }
}

}  // namespace parmap
