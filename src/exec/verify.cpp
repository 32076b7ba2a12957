// Verify: the target compared with the source (or the ledger) range by range, in rows and
// content checksums.
#include "exec/executor.h"

namespace parmap {

namespace {

// A timestamp with time zone written to an engine without time zones is held there as UTC and
// reads back as a timestamp: compared as what was written. Not for a comparison with the
// ledger, whose hashes were taken of the rows as written.
Transform comparable_form(std::vector<ColumnType> written) {
  return [written = std::move(written)](Batch& batch) {
    for (size_t i = 0; i < batch.columns.size() && i < written.size(); ++i) {
      Column& c = batch.columns[i];
      if (written[i] == ColumnType::TimestampTz && c.type == ColumnType::Timestamp) {
        c.type = ColumnType::TimestampTz;
      }
    }
  };
}

}  // namespace

std::pair<int64_t, std::string> Executor::sum_target(Connection& tgt, const Chunk& chunk,
                                                     const std::string& kind) {
  std::vector<std::string> cols;
  for (const auto& c : out_columns_) cols.push_back(tgt.quote_identifier(c));
  const std::string table_sql =
      fmt::format("SELECT {} FROM {}", fmt::join(cols, ", "), tgt.quote_table(table_));
  std::vector<Value> params;
  const std::string sql = tgt.chunk_query(table_sql, chunk, params);
  if (kind == kBytesHashPrefix) {
    auto source = tgt.open_native_source(sql, params);
    for (std::string_view data; source->next(data);) {
      if (cancelled()) throw Error(ErrorKind::Cancelled, "verify cancelled");
    }
    return {source->rows(), kind + hash_hex(source->row_hash())};
  }
  Transform form;
  if (!verifying_ledger_) {
    std::vector<ColumnType> written;
    for (const auto& c : out_schema_.columns) written.push_back(c.type);
    form = comparable_form(std::move(written));
  }
  const bool fnv = kind == kFnvValuesHashPrefix;
  const ContentChecksum sum =
      content_checksum(tgt, sql, params, form, opts_.cancel, config_.max_batch_bytes,
                       fnv ? RowHashVersion::Fnv1a : RowHashVersion::Words);
  return {sum.rows, (fnv ? kFnvValuesHashPrefix : kValuesHashPrefix) + hash_hex(sum.hash)};
}

std::pair<int64_t, std::string> Executor::sum_source(Connection& src, const Chunk& chunk) {
  if (!snapshot_.empty()) src.import_snapshot(snapshot_);
  std::vector<Value> params;
  const std::string sql = source_chunk_sql(src, sql_, chunk, params);
  const ContentChecksum sum = content_checksum(src, sql, params, opts_.transform, opts_.cancel,
                                               config_.max_batch_bytes);
  return {sum.rows, kValuesHashPrefix + hash_hex(sum.hash)};
}

VerifyResult Executor::verify(bool against_ledger) {
  const auto t0 = Clock::now();
  verifying_ = true;
  verifying_ledger_ = against_ledger;
  VerifyResult v;
  v.against_ledger = against_ledger;
  std::map<uint32_t, LedgerEntry> entries;
  if (against_ledger) {
    // The source is not read at all: the ledger says what each chunk wrote.
    coord_tgt_ = target_factory_();
    if (job_id_.empty()) {
      job_id_ = derive_job_id(source_factory_()->identity(), sql_, coord_tgt_->identity(),
                              table_.display(), opts_.mode);
    }
    lock_job();
    Ledger ledger(*coord_tgt_);
    if (ledger.exists()) stored_ = ledger.load_plan(job_id_);
    if (!stored_) {
      throw Error(ErrorKind::Config,
                  fmt::format("job '{}' has no ledger in the target (no row in {}): verify "
                              "--ledger checks what a run recorded; run the job first, or "
                              "verify against the source without --ledger",
                              job_id_, Ledger::kJobsTable));
    }
    if (stored_->columns.empty()) {
      throw Error(ErrorKind::Config,
                  fmt::format("job '{}' was recorded without its column list (an older "
                              "parmap); verify it against the source, without --ledger",
                              job_id_));
    }
    plan_ = *stored_;
    out_columns_ = plan_.columns;
    entries = ledger.committed(job_id_);
    target_schema_ = coord_tgt_->describe_table(table_);
    v.snapshot = "not read: the ledger's hashes stand for the source";
  } else {
    with_retries("planning the verify", [&](int attempt) {
      if (attempt > 0) reset_plan();
      coord_src_ = source_factory_();
      coord_tgt_ = target_factory_();
      bool interrupted = false;
      watchdog_.guard("planning the verify", {coord_src_.get(), coord_tgt_.get()}, interrupted,
                      [&] { prepare(); });
      if (interrupted) throw watchdog_.timeout_error("planning the verify", nullptr);
    });
    v.snapshot = result_.snapshot;
  }
  if (!target_schema_) {
    throw Error(ErrorKind::Schema,
                fmt::format("target table {} does not exist: nothing to verify", table_.display()));
  }

  // Chunk ranges can be read back from the target when it has the partition column; ranges of
  // physical positions and a key the mapping dropped leave one comparison of everything.
  const std::string& key = plan_.partition_column;
  // Chunks inside one key value are cut by the source's physical positions too.
  const bool sliced = std::any_of(plan_.chunks.begin(), plan_.chunks.end(),
                                  [](const Chunk& c) { return c.slice.has_value(); });
  const bool by_chunk =
      key.empty() ||
      ((position_key_.empty() || key != position_key_) && !sliced &&
       std::find(out_columns_.begin(), out_columns_.end(), key) != out_columns_.end());
  std::vector<Chunk> ranges;
  if (by_chunk) {
    ranges = plan_.chunks;
    v.scope = key.empty() ? "the whole query (one chunk)"
                          : fmt::format("{} chunk range(s) of {}", ranges.size(), key);
  } else {
    ranges = {whole_query_chunk()};
    v.scope = fmt::format(
        "the whole table: the chunks are cut on {}, which {}", key,
        key == "ctid" ? "are the source's blocks, not the target's"
        : sliced      ? "splits some values by the source's physical positions"
                      : "the target does not have");
    // Hashes add up only when every chunk's was taken by one function.
    const bool mixed = std::any_of(entries.begin(), entries.end(), [&](const auto& e) {
      return e.second.row_hash.substr(0, 2) != entries.begin()->second.row_hash.substr(0, 2);
    });
    if (mixed) {
      v.scope += "; rows counted only: the run's chunks were hashed by two versions of parmap "
                 "(its ledger holds both kinds of hash), whose sums do not compare";
    }
  }

  // What each range should hold, for verify --ledger: the committed chunk's rows and hash.
  // Over the whole table: the sums (hashes add up), comparable when all share one kind.
  auto expected_of = [&](const Chunk& range) -> std::optional<std::pair<int64_t, std::string>> {
    if (by_chunk) {
      const auto it = entries.find(range.index);
      if (it == entries.end()) return std::nullopt;
      return std::make_pair(it->second.rows, it->second.row_hash);
    }
    int64_t rows = 0;
    uint64_t hash = 0;
    std::string kind;
    for (const auto& [id, e] : entries) {
      rows += e.rows;
      hash += std::stoull(e.row_hash.substr(2), nullptr, 16);
      const std::string k = e.row_hash.substr(0, 2);
      kind = kind.empty() || kind == k ? k : "?";
    }
    return std::make_pair(rows, kind + hash_hex(hash));
  };

  std::mutex mu;
  std::vector<ChunkDifference> diffs;
  std::atomic<size_t> next{0};
  std::exception_ptr failure;
  // One range read on both sides, under the watchdog, and retried on new connections after a
  // transient error as a chunk is.
  struct Sums {
    std::optional<std::pair<int64_t, std::string>> want;  ///< nullopt: not in the ledger
    std::pair<int64_t, std::string> got;
  };
  auto read_range = [&](const Chunk& range) {
    std::mt19937_64 rng(std::hash<std::thread::id>{}(std::this_thread::get_id()) ^ range.index);
    for (int attempt = 0;; ++attempt) {
      try {
        Connection& tgt = pool_.get_target_connection();
        Connection* src = against_ledger ? nullptr : &pool_.get_source_connection();
        auto read = [&] {
          Sums sums;
          if (src) {
            sums.want = sum_source(*src, range);
          } else {
            sums.want = expected_of(range);
          }
          sums.got = sum_target(tgt, range,
                                sums.want ? sums.want->second.substr(0, 2) : kValuesHashPrefix);
          return sums;
        };
        bool interrupted = false;
        Sums sums = src ? watchdog_.guard(range, {src, &tgt}, interrupted, read)
                        : watchdog_.guard(range, {&tgt}, interrupted, read);
        if (interrupted) {
          pool_.discard_source_connection();
          pool_.discard_target_connection();
        }
        return sums;
      } catch (const Error& e) {
        pool_.discard_source_connection();
        pool_.discard_target_connection();
        if (!retryable(e.kind()) || attempt >= config_.max_retries || cancelled()) throw;
        ++retries_;
        spdlog::warn("verify of job {}, {}: {} (attempt {} of {}), retrying", job_id_,
                     range.describe(), e.what(), attempt + 1, config_.max_retries + 1);
        std::this_thread::sleep_for(backoff_delay(config_, attempt, rng));
      }
    }
  };
  auto check = [&](const Chunk& range) {
    const Sums sums = read_range(range);
    ChunkDifference d;
    d.index = range.index;
    d.bounds = range.describe();
    if (!sums.want) {
      d.target_rows = sums.got.first;
      d.problem = "not in the ledger: the job has not committed this chunk";
      std::lock_guard lock(mu);
      v.target_rows += sums.got.first;
      diffs.push_back(std::move(d));
      return;
    }
    const auto& want = sums.want;
    const auto& got = sums.got;
    d.expected_rows = want->first;
    d.target_rows = got.first;
    if (got.first != want->first) {
      d.problem = fmt::format("{} row(s) {}, {} in the target", want->first,
                              against_ledger ? "in the ledger" : "in the source", got.first);
      // Rows the target refused explain a shortfall; the reject file holds them.
      const auto it = committed_.find(range.index);
      if (!against_ledger && by_chunk && it != committed_.end() &&
          it->second.rows_read > it->second.rows) {
        d.problem += fmt::format(" (the run rejected {} row(s) of this chunk: see the reject file)",
                                 it->second.rows_read - it->second.rows);
      }
    } else if (want->second.rfind("?", 0) == 0) {
      d.problem.clear();  // mixed hash kinds: the count is all that compares
    } else if (got.second != want->second) {
      d.problem = "same row count, different content (checksum)";
    }
    std::lock_guard lock(mu);
    v.expected_rows += want->first;
    v.target_rows += got.first;
    if (d.problem.empty()) {
      ++v.ranges_matching;
    } else {
      diffs.push_back(std::move(d));
    }
  };
  auto worker = [&] {
    try {
      for (;;) {
        const size_t i = next.fetch_add(1);
        if (i >= ranges.size() || cancelled()) break;
        check(ranges[i]);
      }
    } catch (...) {
      std::lock_guard lock(mu);
      if (!failure) failure = std::current_exception();
      next = ranges.size();
    }
    pool_.release_thread_connections();
  };
  const size_t workers = std::max<size_t>(
      1, std::min<size_t>(static_cast<size_t>(config_.max_workers), ranges.size()));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < workers; ++i) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  pool_.close_all_connections();
  if (failure) std::rethrow_exception(failure);
  if (cancelled()) throw Error(ErrorKind::Cancelled, fmt::format("verify of job '{}' cancelled", job_id_));

  v.job_id = job_id_;
  std::sort(diffs.begin(), diffs.end(),
            [](const ChunkDifference& a, const ChunkDifference& b) { return a.index < b.index; });
  v.ranges_checked = static_cast<int64_t>(ranges.size());
  v.retries = retries_;
  v.differences = std::move(diffs);
  v.elapsed_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return v;
}

}  // namespace parmap
