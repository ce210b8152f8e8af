#!/usr/bin/env bash
# Side-by-side check of `sentryprof import perf-script` against
# `inferno-collapse-perf` on a real `perf script` file of >= 50 MB recorded
# here: same folded stacks (byte for byte), then alternating timed runs of
# both, medians of wall time, CPU time and peak RSS (issue 12's targets:
# wall <= inferno's, peak RSS <= 2x inferno's), with the load.
#
# usage: collectors/benches/import_vs_inferno.sh [SENTRYPROF] [INFERNO_COLLAPSE_PERF]
#   SENTRYPROF defaults to $CARGO_TARGET_DIR/release/sentryprof (or target/).
#   inferno (comparison only, not a dependency) is installed with
#   `cargo install --root /tmp/inferno inferno --version 0.12.8` when missing.
# env: WORK=DIR keeps the files there; RUNS=N timed runs of each (default 7);
#      BIG=FILE uses an existing perf script file instead of recording one;
#      MIN_MB=N the size to record at least (default 50).
set -euo pipefail

. "$(dirname "$0")/common.sh"
inf=${2:-/tmp/inferno/bin/inferno-collapse-perf}
runs=${RUNS:-7}
min_mb=${MIN_MB:-50}
bench_work import-vs-inferno

need_perf
need_sentryprof
need_inferno "$inf" 0.12.8

# 1. A real perf script file of >= MIN_MB: an archive-and-compress job,
#    repeated for the whole recording (deep kernel stacks from the file
#    system, user stacks from tar and gzip), sampled with call chains.
#    BIG=FILE reuses an existing file.
big=${BIG:-$work/big.perf.txt}
if [ -z "${BIG:-}" ]; then
  secs=20
  while :; do
    perf record -q -g -F 4999 -o "$work/big.data" -- \
      timeout "$secs" sh -c 'while :; do tar cf - /usr/lib /usr/share 2>/dev/null | gzip -1 > /dev/null; done' \
      >/dev/null 2>&1 || true
    perf script -i "$work/big.data" > "$big" 2>/dev/null
    size=$(stat -c %s "$big")
    if [ "$size" -ge $((min_mb * 1024 * 1024)) ]; then break; fi
    # Record long enough for the size, from the rate just seen.
    secs=$(( secs * (min_mb * 1024 * 1024 * 11 / 10) / (size + 1) + 1 ))
    if [ "$secs" -gt 900 ]; then echo "error: could not record $min_mb MB of perf script"; exit 2; fi
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

# 3. Time both, alternating, medians of wall, CPU (user+sys) and peak RSS
#    (`/usr/bin/time -f %M`, the "Maximum resident set size" of
#    /usr/bin/time -v: measured from a small parent, as a child forked from
#    this Python script would count the script's own pages).
echo "load before: $(uptime)"
python3 - "$sp" "$inf" "$big" "$work" "$runs" <<'PY'
import os, statistics, subprocess, sys, time
sp, inf, big, work, runs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
rss_file = os.path.join(work, "maxrss")
def timed(cmd, out=None):
    with open(out or os.devnull, "w") as f:
        t0 = time.perf_counter()
        p = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", rss_file] + cmd, stdout=f,
                             stderr=subprocess.DEVNULL)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{cmd[0]} failed: {status}")
    with open(rss_file) as f:
        maxrss_kb = int(f.read().split()[-1])
    return wall, ru.ru_utime + ru.ru_stime, maxrss_kb
res = {"inferno": [], "sentryprof": []}
for i in range(runs):
    res["inferno"].append(timed([inf, big], os.path.join(work, "inferno.folded")))
    out = os.path.join(work, "bundle")
    res["sentryprof"].append(timed([sp, "import", "perf-script", big, "--out", out]))
med = {k: tuple(statistics.median(r[j] for r in v) for j in range(3)) for k, v in res.items()}
for k, (w, c, m) in med.items():
    print(f"{k:>10}: median wall {w*1000:8.1f} ms, CPU {c*1000:8.1f} ms, peak RSS {m/1024:6.1f} MB over {runs} runs")
    print(f"{'':>12}walls (ms): {' '.join(f'{r[0]*1000:.0f}' for r in res[k])}")
s, i = med["sentryprof"], med["inferno"]
print(f"ratio sentryprof/inferno: wall {s[0]/i[0]:.2f}x (target <= 1.0x), "
      f"CPU {s[1]/i[1]:.2f}x, peak RSS {s[2]/i[2]:.2f}x (target <= 2x)")
PY
echo "load after: $(uptime)"
