#!/usr/bin/env bash
# Runs every fuzz target (or those named) under libFuzzer with AddressSanitizer and leak checks, each for
# SECONDS or RUNS inputs, with inputs up to the target's own length bound (`custos-fuzz list`, second
# column; the third says whether leaks are checked after each input or once at the end), from a scratch
# copy of its committed seed corpus; prints the inputs run per target and fails on the first crash, leak or hang, leaving the input in Fuzz/crashes/.
# With FUZZ_MERGE=1, a fewest set of the inputs a run found that reach code (edges, not hit counts) its
# target's committed corpus does not is merged into Fuzz/corpus/TARGET afterwards (also when stopped), so
# the next run, and the tests that replay the corpus, start where this one got to.
#
#   [FUZZ_MERGE=1] scripts/fuzz.sh FUZZ_BINARY LIST_BINARY [-seconds N | -runs N] [TARGET...]
set -euo pipefail
fuzzer=$1 lister=$2 budget=$3 amount=$4
shift 4
root=$(cd "$(dirname "$0")/.." && pwd)
targets=("$@")
listing=$("$lister" list)
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cut -f1 <<<"$listing")
case $budget in
  -seconds) limit=(-max_total_time="$amount") ;;
  -runs) limit=(-runs="$amount") ;;
  *) echo "budget: -seconds N or -runs N" >&2; exit 2 ;;
esac
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# Stopped early (SIGINT or SIGTERM to this script): libFuzzer is interrupted in turn, so it prints its
# final stats, and the row of the target it was running is printed before the scratch logs go.
fuzzing=
stopped() {
  if [ -n "$fuzzing" ]; then
    kill -INT "$fuzzing" 2>/dev/null || true
    wait "$fuzzing" 2>/dev/null || true
    report "$target" "stopped"
    merge "$target"
  fi
  exit 130
}
trap stopped INT TERM
report() {
  local runs rate rss
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log")
  printf '%-18s %12s %10s %8s %8s %s\n' "$1" "$runs" "$rate" "$rss" "$max_len" "${2:-}"
}
# Becomes libFuzzer on `target`, in the environment every run gets: call it in a subshell (or in the
# background, where $! is then the fuzzer itself, which `stopped` signals).
exec_target() {
  exec env CUSTOS_FUZZ_TARGET="$target" SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=symbolize=1:detect_leaks=1 \
    LSAN_OPTIONS=suppressions="$root/Fuzz/lsan.supp" "$fuzzer" -max_len="$max_len" "$@"
}
merge() {
  [ "${FUZZ_MERGE:-0}" = 1 ] || return 0
  local into="$root/Fuzz/corpus/$1" before
  before=$(find "$into" -type f | wc -l)
  if ! (exec_target -set_cover_merge=1 -use_counters=0 -detect_leaks=0 -timeout=10 -rss_limit_mb=2048 "$into" "$scratch/$1") >"$scratch/$1.merge.log" 2>&1; then
    grep -v 'ld.gold' "$scratch/$1.merge.log" | tail -20 >&2
    echo "merging $1's corpus failed; Fuzz/corpus/$1 may hold part of it (git status shows what)" >&2
    return 1
  fi
  echo "$1: $(($(find "$into" -type f | wc -l) - before)) inputs that reach new code merged into Fuzz/corpus/$1"
}
mkdir -p "$root/Fuzz/crashes"
printf '%-18s %12s %10s %8s %8s\n' target inputs per-second rss-mb max-len
for target in "${targets[@]}"; do
  mkdir -p "$scratch/$target"
  log="$scratch/$target.log"
  read -r max_len each_input < <(awk -F'\t' -v t="$target" '$1 == t { print $2, $3 }' <<<"$listing") || true
  [ -n "${max_len:-}" ] || { echo "unknown fuzz target $target" >&2; exit 2; }
  # In the background and waited for, so a signal to this script is handled at once (see `stopped`).
  exec_target "${limit[@]}" -timeout=10 -rss_limit_mb=2048 -detect_leaks="$each_input" -print_final_stats=1 \
    -artifact_prefix="$root/Fuzz/crashes/$target-" "$scratch/$target" "$root/Fuzz/corpus/$target" >"$log" 2>&1 &
  fuzzing=$!
  status=0
  wait "$fuzzing" || status=$?
  fuzzing=
  if [ "$status" -ne 0 ]; then
    grep -v 'ld.gold' "$log" | tail -40 >&2
    echo "fuzz target $target failed: the input is in Fuzz/crashes/ (replay: .build/debug/custos-fuzz replay $target FILE)" >&2
    exit 1
  fi
  report "$target"
  merge "$target"
done
