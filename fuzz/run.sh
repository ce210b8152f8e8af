#!/usr/bin/env bash
# Build each fuzz target and run it for SECONDS (default 600), one after the
# other, then print a table: target, executions, corpus size, crashes.
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). The toolchain here is
# stable, so RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its nightly-only flags
# (-Zsanitizer, coverage instrumentation). Runs under `nice -n 10`. Not run
# by CI. Corpora grow in fuzz/corpus/TARGET, seeded from the fixtures;
# crashing inputs land in fuzz/artifacts/TARGET/ (each one found becomes a
# regression test in its crate, with the input as a fixture file).
set -euo pipefail

secs=${1:-600}
shift || true
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cd "$here"

all_targets=(strace_parse perf_script bundle_run_json)
if [ "$#" -gt 0 ]; then targets=("$@"); else targets=("${all_targets[@]}"); fi

seeds_of() {
  case "$1" in
    strace_parse) echo "$root/instrumented-sentry/fixtures/traces" ;;
    perf_script) echo "$root/collectors/fixtures/perf-script $root/collectors/fixtures/bad $root/collectors/fixtures/lenient $root/collectors/fixtures/event-forms" ;;
    bundle_run_json) echo "$here/seeds/bundle_run_json" ;;
    *) echo "fuzz/run.sh: unknown target $1 (targets: ${all_targets[*]})" >&2; exit 2 ;;
  esac
}

export RUSTC_BOOTSTRAP=1
# Safe Rust: the address sanitizer adds little and halves the speed; debug
# assertions (-a) make integer overflow a crash.
fuzz_flags=(--release --debug-assertions --sanitizer none)

for t in "${targets[@]}"; do
  seeds_of "$t" >/dev/null
  nice -n 10 cargo fuzz build "${fuzz_flags[@]}" "$t"
done

rows=()
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  log="artifacts/$t/last-run.log"
  before=$(find "artifacts/$t" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  # shellcheck disable=SC2046
  nice -n 10 cargo fuzz run "${fuzz_flags[@]}" "$t" "corpus/$t" $(seeds_of "$t") -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="artifacts/$t/" >"$log" 2>&1 || true
  after=$(find "artifacts/$t" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{print $2}' | tail -1)
  if [ -z "$execs" ]; then
    # Stopped by a crash before the final stats: the last status line.
    execs=$(grep -o '^#[0-9]*' "$log" | tr -d '#' | sort -n | tail -1)
  fi
  corpus=$(find "corpus/$t" -type f | wc -l)
  rows+=("$t ${execs:-0} $corpus $((after - before))")
done

echo
printf '%-18s %14s %8s %8s\n' target executions corpus crashes
for r in "${rows[@]}"; do
  # shellcheck disable=SC2086
  printf '%-18s %14s %8s %8s\n' $r
done
echo "(${secs} s per target; crashing inputs in fuzz/artifacts/TARGET/; logs in fuzz/artifacts/TARGET/last-run.log)"
