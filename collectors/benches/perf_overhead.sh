#!/usr/bin/env bash
# Cost of sampling: the README's main job on a reduced parameter set, run
# alternately without and with `--collect probes,perf` (default frequency),
# several times. Prints, per side, the median wall time, CPU time (user +
# system) and max RSS of whole runs, their ratios, and the median over
# points of the per-call latency ratio (perf / no perf) read from the
# bundles, with the load average at the runs' starts. Target (issue 15):
# sampling adds <= 2%.
#
# The comparison is checked before it is quoted: the probes-only bundles
# must hold no sampled stacks and the probes+perf ones must hold some;
# otherwise the script stops with exit 1. The `[unknown]` stacks of the
# probes+perf bundles are counted (the main job should have none).
#
# AA=1 runs the same comparison with `--collect probes` on both sides
# (same binary, same flags): the noise floor of the figures above.
# BASE=BINARY adds a third side in the same alternation: that binary (e.g.
# main's build) with `--collect probes,perf`, so two builds' sampling
# costs are read against the same probes-only runs.
#
# usage: collectors/benches/perf_overhead.sh [SENTRYPROF]
# env: RUNS=N (default 5), WORK=DIR (kept), EXTRA="more run flags", MAIN=1,
#      AA=1, BASE=BINARY
set -euo pipefail

. "$(dirname "$0")/common.sh"
runs=${RUNS:-5}
bench_work perf-overhead
need_sentryprof

[ -z "${BASE:-}" ] || [ -x "$BASE" ] || { echo "error: BASE=$BASE is not an executable"; exit 2; }

python3 - "$sp" "$work" "$runs" "${EXTRA:-}" "${AA:-0}" "${BASE:-}" <<'PY'
import json, os, shutil, statistics, subprocess, sys, time
sp, work, runs, extra = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].split()
aa = sys.argv[5] == "1"
base_bin = sys.argv[6]
# MAIN=1: the main job's parameters (`experiments::plan::MAIN_JOB`, what
# `sentryprof` with no arguments runs), spelled out so --collect can vary.
if os.environ.get("MAIN") == "1":
    base = ["run", "--workload", "exp1", "--mapping", "private", "--search", "linear,maxgap",
            "--platform", "native,systrap/maxgap,inproc", "--iterations", "5000,10000,25000",
            "--size", "4K", "--trials", "12", "--warmup-trials", "2"] + extra
else:
    base = ["run", "--workload", "exp1", "--mapping", "private", "--search", "linear,maxgap",
            "--platform", "native,inproc", "--iterations", "2000,5000", "--size", "4K",
            "--trials", "5", "--warmup-trials", "1"] + extra
# side name -> (binary, --collect flags)
variants = {"probes": (sp, ["--collect", "probes"]), "probes,perf": (sp, ["--collect", "probes,perf"])}
if aa:
    # Same-binary A/A: the second side also runs probes-only (kept under
    # the name "probes,perf" so the figures below read the same way).
    variants["probes,perf"] = (sp, ["--collect", "probes"])
    print("A/A: both sides run --collect probes (the ratios are the noise floor)")
if base_bin:
    variants["BASE probes,perf"] = (base_bin, ["--collect", "probes,perf"])
    print(f"BASE: {base_bin} with --collect probes,perf in the same alternation")
res = {k: [] for k in variants}
lat = {k: {} for k in variants}
unknown = {k: [] for k in variants}
notes = {}
loads = []

def run_one(cmd):
    """Run `cmd`; its wall time (s), CPU time (s) and max RSS (KB), from
    wait4's rusage of this child alone."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} exited with {p.returncode}")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss

for i in range(runs):
    for name, (binary, flags) in variants.items():
        out = os.path.join(work, f"{name.replace(',', '+').replace(' ', '-')}-{i}")
        shutil.rmtree(out, ignore_errors=True)
        loads.append(os.getloadavg()[0])
        res[name].append(run_one([binary] + base + flags + ["--out", out]))
        run = json.load(open(os.path.join(out, "run.json")))
        for p in run["points"]:
            key = (p["platform"], p.get("search"), p["iterations"])
            lat[name].setdefault(key, []).append(p["latency_ns"]["median"])
        samples = (run.get("profile") or {}).get("samples", 0)
        folded = os.path.join(out, "stacks.folded")
        stacked = os.path.exists(folded) and os.path.getsize(folded) > 0
        if (name == "probes" or aa) and (samples or stacked):
            sys.exit(f"error: {out}: the probes-only run sampled ({samples} samples): the comparison would not measure sampling")
        if name != "probes" and not aa and not (samples or stacked):
            sys.exit(f"error: {out}: the {name} run holds no samples: nothing was sampled")
        if stacked:
            unknown[name].append(sum("[unknown]" in l for l in open(folded)))
        if run.get("profile"):
            notes[name] = (run["profile"]["event"], run["profile"]["samples"], run["profile"]["lost_samples"])
print(f"load average (1 min) at the runs' starts: {min(loads):.1f}-{max(loads):.1f} (median {statistics.median(loads):.1f})")
med = lambda name, k: statistics.median(r[k] for r in res[name])
for name in variants:
    unk = f", [unknown] stacks {'/'.join(map(str, unknown[name]))}" if unknown[name] else ""
    print(f"{name:>16}: median wall {med(name, 0):7.3f} s, CPU {med(name, 1):7.3f} s, "
          f"max RSS {med(name, 2) / 1024:6.1f} MB (max {max(r[2] for r in res[name]) / 1024:.1f}) over {runs} runs{unk}")
for name in variants:
    if name == "probes":
        continue
    wr = med(name, 0) / med("probes", 0)
    cr = med(name, 1) / med("probes", 1)
    ratios = [statistics.median(lat[name].get(k, lat["probes"][k])) / statistics.median(v)
              for k, v in sorted(lat["probes"].items(), key=str)]
    print(f"{name} / probes: wall {wr:.3f}x, CPU {cr:.3f}x, per-call median over {len(ratios)} points "
          f"{statistics.median(ratios):.3f}x, max RSS +{(med(name, 2) - med('probes', 2)) / 1024:.1f} MB (target <= 1.02x)")
print("per point, median ns/call:", "  ".join(f"[{n}]" for n in variants))
for key in sorted(lat["probes"], key=str):
    a = statistics.median(lat["probes"][key])
    cols = [f"{a:9.1f}"] + [f"{statistics.median(lat[n].get(key, [a])):9.1f} ({statistics.median(lat[n].get(key, [a])) / a:.3f}x)"
                           for n in variants if n != "probes"]
    print(f"  {key}: " + " -> ".join(cols))
for name, (ev, n, lost) in notes.items():
    print(f"{name}: sampling event {ev}, {n} samples in the last run, {lost} lost")
PY
