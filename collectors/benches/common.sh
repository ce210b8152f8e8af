# What the bench scripts beside this file share. Sourced with `.` after
# `set -euo pipefail`, so `$1` is the script's own first argument.
#
# Sets `here` (the workspace) and `sp` (the sentryprof binary: `$1`, else
# the release build under $CARGO_TARGET_DIR or target/).

here=$(cd "$(dirname "$0")/../.." && pwd)
sp=${1:-${CARGO_TARGET_DIR:-$here/target}/release/sentryprof}

# bench_work NAME: sets `work` to $WORK (kept) or a fresh /tmp/NAME.XXXXXX,
# and makes it.
bench_work() {
  work=${WORK:-$(mktemp -d "/tmp/$1.XXXXXX")}
  mkdir -p "$work"
}

# need_sentryprof: exits 2 when `sp` is not built.
need_sentryprof() {
  [ -x "$sp" ] || { echo "error: $sp not built (cargo build --release -p sentryprof)"; exit 2; }
}

# need_perf: a SKIP line and exit 0 when perf is not installed.
need_perf() {
  command -v perf >/dev/null || { echo "SKIP: perf is not installed"; exit 0; }
}

# need_inferno PATH [VERSION]: installs inferno (VERSION, else the newest)
# into /tmp/inferno when PATH is not there (comparison only, not a
# dependency).
need_inferno() {
  [ -x "$1" ] && return 0
  if [ -n "${2:-}" ]; then
    echo "installing inferno $2 into /tmp/inferno (comparison only)"
    cargo install --quiet --root /tmp/inferno inferno --version "$2"
  else
    echo "installing inferno into /tmp/inferno (comparison only)"
    cargo install --quiet --root /tmp/inferno inferno
  fi
}
