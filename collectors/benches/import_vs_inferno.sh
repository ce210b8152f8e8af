#!/usr/bin/env bash
# Side-by-side check of `sentryprof import perf-script` against
# `inferno-collapse-perf` on a real `perf script` file of >= 10 MB recorded
# here: same folded stacks (byte for byte) and time ratio (target <= 1.5x).
#
# usage: collectors/benches/import_vs_inferno.sh [SENTRYPROF] [INFERNO_COLLAPSE_PERF]
#   SENTRYPROF defaults to $CARGO_TARGET_DIR/release/sentryprof (or target/).
#   inferno (comparison only, not a dependency) is installed with
#   `cargo install --root /tmp/inferno inferno --version 0.12.8` when missing.
# env: WORK=DIR keeps the files there; RUNS=N timed runs of each (default 7);
#      BIG=FILE uses an existing perf script file instead of recording one.
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
sp=${1:-${CARGO_TARGET_DIR:-$here/target}/release/sentryprof}
inf=${2:-/tmp/inferno/bin/inferno-collapse-perf}
runs=${RUNS:-7}
work=${WORK:-$(mktemp -d /tmp/import-vs-inferno.XXXXXX)}
mkdir -p "$work"

if ! command -v perf >/dev/null; then
  echo "SKIP: perf is not installed"; exit 0
fi
if [ ! -x "$sp" ]; then
  echo "error: $sp not built (cargo build --release -p sentryprof)"; exit 2
fi
if [ ! -x "$inf" ]; then
  echo "installing inferno 0.12.8 into /tmp/inferno (comparison only)"
  cargo install --quiet --root /tmp/inferno inferno --version 0.12.8
fi

# 1. A real perf script file of >= 10 MB: an archive-and-compress job
#    (deep kernel stacks from the file system, user stacks from gzip),
#    sampled with call chains. BIG=FILE reuses an existing file.
big=${BIG:-$work/big.perf.txt}
if [ -z "${BIG:-}" ]; then
  secs=5
  while :; do
    perf record -q -g -F 4999 -o "$work/big.data" -- \
      timeout "$secs" sh -c 'tar cf - /usr/lib /usr/share 2>/dev/null | gzip -1 > /dev/null' \
      >/dev/null 2>&1 || true
    perf script -i "$work/big.data" > "$big" 2>/dev/null
    size=$(stat -c %s "$big")
    if [ "$size" -ge $((10 * 1024 * 1024)) ]; then break; fi
    secs=$((secs * 2))
    if [ "$secs" -gt 160 ]; then echo "error: could not record 10 MB of perf script"; exit 2; fi
  done
fi
size=$(stat -c %s "$big")
echo "perf script file: $big ($((size / 1024 / 1024)) MB, $(grep -c '^$' "$big") samples)"

# 2. Same stacks?
"$inf" "$big" > "$work/inferno.folded"
rm -rf "$work/bundle"
"$sp" import perf-script "$big" --out "$work/bundle" >/dev/null
if cmp -s "$work/inferno.folded" "$work/bundle/stacks.folded"; then
  echo "folded stacks: IDENTICAL ($(wc -l < "$work/inferno.folded") distinct stacks)"
else
  echo "folded stacks: DIFFERENT"; diff "$work/inferno.folded" "$work/bundle/stacks.folded" | head -20
  exit 1
fi

# 3. Time both, alternating, medians of wall and CPU (user+sys).
python3 - "$sp" "$inf" "$big" "$work" "$runs" <<'PY'
import os, resource, shutil, statistics, subprocess, sys, time
sp, inf, big, work, runs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
def timed(cmd, out=None):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(out or os.devnull, "w") as f:
        subprocess.run(cmd, stdout=f, check=True)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
res = {"inferno": [], "sentryprof": []}
for i in range(runs):
    res["inferno"].append(timed([inf, big], os.path.join(work, "inferno.folded")))
    out = os.path.join(work, "bundle")
    res["sentryprof"].append(timed([sp, "import", "perf-script", big, "--out", out]))
med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in res.items()}
for k, (w, c) in med.items():
    print(f"{k:>10}: median wall {w*1000:8.1f} ms, CPU {c*1000:8.1f} ms over {runs} runs")
print(f"ratio sentryprof/inferno: wall {med['sentryprof'][0]/med['inferno'][0]:.2f}x, "
      f"CPU {med['sentryprof'][1]/med['inferno'][1]:.2f}x (target <= 1.5x)")
PY
