#!/usr/bin/env bash
# Side-by-side check of `sentryprof import perf.data` against
# `perf script | inferno-collapse-perf` on a perf.data of >= 100 MB recorded
# here: same folded stacks (byte for byte) and whole wall time of each
# (target: import >= 5x faster).
#
# usage: collectors/benches/perf_data_vs_perf_script.sh [SENTRYPROF] [INFERNO_COLLAPSE_PERF]
#   SENTRYPROF defaults to $CARGO_TARGET_DIR/release/sentryprof (or target/).
#   inferno (comparison only, not a dependency) is installed with
#   `cargo install --root /tmp/inferno inferno` when missing.
# env: WORK=DIR keeps the files there; RUNS=N timed runs of each (default 5);
#      BIG=FILE uses an existing perf.data instead of recording one;
#      MIN_MB=N the size to record (default 100).
set -euo pipefail

. "$(dirname "$0")/common.sh"
inf=${2:-/tmp/inferno/bin/inferno-collapse-perf}
runs=${RUNS:-5}
min_mb=${MIN_MB:-100}
bench_work perfdata-vs-script

need_perf
need_sentryprof
need_inferno "$inf"

# 1. A perf.data of >= MIN_MB: an archive-and-compress job (deep kernel
#    stacks from the file system, user stacks from tar, gzip and libc)
#    sampled with call chains, recorded for SECS seconds (default 200; the
#    rate it gets depends on the machine's load), doubled until the file is
#    big enough. BIG=FILE reuses a file. (System-wide `-a` recordings meet
#    cases the import does not name as perf does: see docs/collectors.md.)
big=${BIG:-$work/big.data}
if [ -z "${BIG:-}" ]; then
  secs=${SECS:-200}
  while :; do
    if ! perf record -q -g -e cpu-clock -F 20000 -o "$big" -- \
      timeout "$secs" sh -c 'while :; do tar cf - /usr/lib /usr/share 2>/dev/null | gzip -1 > /dev/null; done' \
      >/dev/null 2>&1; then
      [ -s "$big" ] || { echo "SKIP: perf record refused here (perf_event_open)"; exit 0; }
    fi
    size=$(stat -c %s "$big")
    if [ "$size" -ge $((min_mb * 1024 * 1024)) ]; then break; fi
    secs=$((secs * 2))
    if [ "$secs" -gt 1600 ]; then echo "error: could not record $min_mb MB of perf.data"; exit 2; fi
  done
fi
size=$(stat -c %s "$big")
echo "perf.data: $big ($((size / 1024 / 1024)) MB)"

# 2. Same stacks?
perf script -i "$big" 2>/dev/null | "$inf" > "$work/inferno.folded"
rm -rf "$work/bundle"
"$sp" import perf.data "$big" --out "$work/bundle"
if cmp -s <(sort "$work/inferno.folded") <(sort "$work/bundle/stacks.folded"); then
  echo "folded stacks: IDENTICAL ($(wc -l < "$work/inferno.folded") distinct stacks)"
else
  echo "folded stacks: DIFFERENT (lines only in one of them, < perf script, > import):"
  diff <(sort "$work/inferno.folded") <(sort "$work/bundle/stacks.folded") | head -20
  exit 1
fi

# 3. Time both, alternating, medians of wall time (the whole pipeline for
#    perf script | inferno).
python3 - "$sp" "$inf" "$big" "$work" "$runs" <<'PY'
import os, resource, statistics, subprocess, sys, time
sp, inf, big, work, runs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
def timed(cmd, shell=False):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, shell=shell, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
pipe = f"perf script -i '{big}' 2>/dev/null | '{inf}' > '{work}/inferno.folded'"
A, B = "perf script | inferno-collapse-perf", "sentryprof import perf.data"
res = {A: [], B: []}
for i in range(runs):
    res[A].append(timed(pipe, shell=True))
    res[B].append(timed([sp, "import", "perf.data", big, "--out", os.path.join(work, "bundle")]))
    print("load:", open("/proc/loadavg").read().strip(), flush=True)
med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in res.items()}
for k, v in res.items():
    print(f"{k:38} median wall {med[k][0]:6.2f} s, CPU {med[k][1]:6.2f} s; walls {' '.join(f'{w:.2f}' for w, _ in v)}")
print(f"import perf.data: {med[A][0] / med[B][0]:.1f}x faster by wall time, {med[A][1] / med[B][1]:.1f}x by CPU time (target >= 5x by wall)")
PY
