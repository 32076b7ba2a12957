#!/usr/bin/env bash
# Builds the libFuzzer harnesses (fuzz/) with clang, ASan and UBSan into build-fuzz, replays
# every saved regression input, then fuzzes each target for SECONDS_PER_TARGET (default 60)
# from its seed corpus. Exits non-zero on any finding; the input that found it is left in
# build-fuzz/findings/<target>/ (copy it into fuzz/regressions/<target>/ once fixed).
#   scripts/fuzz.sh [SECONDS_PER_TARGET]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
case "$seconds" in
  '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET]" >&2; exit 2 ;;
esac
targets=(url_fuzz job_file_fuzz copy_decoder_fuzz)
dir=build-fuzz

# clang and its runtimes: -fsanitize=fuzzer needs libclang_rt.fuzzer (libclang-rt-14-dev on
# Debian 12, which the clang package does not always pull in).
need_clang() {
  command -v clang >/dev/null && command -v clang++ >/dev/null || return 0
  local rt
  rt=$(clang -print-file-name=libclang_rt.fuzzer-x86_64.a 2>/dev/null || true)
  [ -n "$rt" ] && [ -f "$rt" ] && return 1
  rt=$(clang --print-runtime-dir 2>/dev/null || true)
  [ -n "$rt" ] && ls "$rt"/libclang_rt.fuzzer*.a >/dev/null 2>&1 && return 1
  return 0
}
if need_clang; then
  sudo=
  [ "$(id -u)" = 0 ] || sudo=sudo
  pkgs=(clang libclang-rt-dev)
  echo "== installing ${pkgs[*]}"
  if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      "${pkgs[@]}"; then
    $sudo apt-get update
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${pkgs[@]}"
  fi
fi
scripts/setup.sh  # the library's own dependencies

# A separate folder: clang, instrumented, no tests. Warnings are errors here too.
CC=clang CXX=clang++ cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPARMAP_FUZZ=ON -DPARMAP_BUILD_TESTS=OFF -DPARMAP_WERROR=ON >/dev/null
cmake --build "$dir" -j"$(nproc)" --target "${targets[@]}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
for t in "${targets[@]}"; do
  name=${t%_fuzz}
  regressions=fuzz/regressions/$name
  findings=$dir/findings/$name
  work=$dir/corpus/$name  # grows while fuzzing; the seeds in fuzz/corpus stay as they are
  mkdir -p "$regressions" "$findings" "$work"
  log=$dir/$t.log

  # 1. Every input that ever found a bug, replayed as it is.
  mapfile -t saved < <(find "$regressions" -type f ! -name '.*' ! -name '*.md' | sort)
  if [ "${#saved[@]}" -gt 0 ]; then
    echo "== $t: replaying ${#saved[@]} regression input(s)"
    if ! "$dir/fuzz/$t" -runs=1 "${saved[@]}" >"$log" 2>&1; then
      tail -n 60 "$log" >&2
      echo "== $t: a regression input fails again (log: $log)" >&2
      failed+=("$t")
      continue
    fi
  fi

  # 2. Fuzzing from the seeds (and what earlier runs in this folder found), regressions too.
  echo "== $t: fuzzing for ${seconds}s"
  if "$dir/fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
      -print_final_stats=1 -artifact_prefix="$findings/" \
      "$work" "fuzz/corpus/$name" "$regressions" >"$log" 2>&1; then
    grep -E '^#[0-9]+.*(DONE|pulse)' "$log" | tail -n 1 || true
    grep -E '^stat::number_of_executed_units' "$log" || true
  else
    tail -n 80 "$log" >&2
    echo "== $t: FINDING (log: $log; input in $findings/)" >&2
    failed+=("$t")
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "== fuzzing found problems in: ${failed[*]}" >&2
  exit 1
fi
echo "== fuzzing: no findings (${#targets[@]} targets, ${seconds}s each)"
