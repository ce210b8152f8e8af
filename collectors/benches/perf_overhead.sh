#!/usr/bin/env bash
# Cost of sampling: the README's main job on a reduced parameter set, run
# alternately without and with `--collect probes,perf` (default frequency),
# several times. Prints the median wall and CPU time of whole runs, and the
# median over points of the per-call latency ratio (perf / no perf) read
# from the bundles. Target (issue 15): sampling adds <= 2%.
#
# The comparison is checked before it is quoted: the probes-only bundles
# must hold no sampled stacks and the probes+perf ones must hold some;
# otherwise the script stops with exit 1.
#
# AA=1 runs the same comparison with `--collect probes` on both sides
# (same binary, same flags): the noise floor of the figures above.
#
# usage: collectors/benches/perf_overhead.sh [SENTRYPROF]
# env: RUNS=N (default 5), WORK=DIR (kept), EXTRA="more run flags", MAIN=1, AA=1
set -euo pipefail

. "$(dirname "$0")/common.sh"
runs=${RUNS:-5}
bench_work perf-overhead
need_sentryprof

python3 - "$sp" "$work" "$runs" "${EXTRA:-}" "${AA:-0}" <<'PY'
import json, os, resource, shutil, statistics, subprocess, sys, time
sp, work, runs, extra = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].split()
aa = sys.argv[5] == "1"
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
variants = {"probes": ["--collect", "probes"], "probes,perf": ["--collect", "probes,perf"]}
if aa:
    # Same-binary A/A: the second side also runs probes-only (kept under
    # the name "probes,perf" so the figures below read the same way).
    variants["probes,perf"] = ["--collect", "probes"]
    print("A/A: both sides run --collect probes (the ratios are the noise floor)")
res = {k: [] for k in variants}
lat = {k: {} for k in variants}
notes = {}
loads = []
for i in range(runs):
    for name, flags in variants.items():
        out = os.path.join(work, f"{name.replace(',', '+')}-{i}")
        shutil.rmtree(out, ignore_errors=True)
        loads.append(os.getloadavg()[0])
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run([sp] + base + flags + ["--out", out], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        res[name].append((wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)))
        run = json.load(open(os.path.join(out, "run.json")))
        for p in run["points"]:
            key = (p["platform"], p.get("search"), p["iterations"])
            lat[name].setdefault(key, []).append(p["latency_ns"]["median"])
        samples = (run.get("profile") or {}).get("samples", 0)
        folded = os.path.join(out, "stacks.folded")
        stacked = os.path.exists(folded) and os.path.getsize(folded) > 0
        if (name == "probes" or aa) and (samples or stacked):
            sys.exit(f"error: {out}: the probes-only run sampled ({samples} samples): the comparison would not measure sampling")
        if name == "probes,perf" and not aa and not (samples or stacked):
            sys.exit(f"error: {out}: the probes+perf run holds no samples: nothing was sampled")
        if run.get("profile"):
            notes[name] = (run["profile"]["event"], run["profile"]["samples"], run["profile"]["lost_samples"])
print(f"load average (1 min) at the runs' starts: {min(loads):.1f}-{max(loads):.1f}")
for name in variants:
    w = statistics.median(x for x, _ in res[name]); c = statistics.median(x for _, x in res[name])
    print(f"{name:>12}: median wall {w:7.3f} s, CPU {c:7.3f} s over {runs} runs")
wr = statistics.median(x for x, _ in res["probes,perf"]) / statistics.median(x for x, _ in res["probes"])
cr = statistics.median(x for _, x in res["probes,perf"]) / statistics.median(x for _, x in res["probes"])
print(f"whole run, perf / no perf: wall {wr:.3f}x, CPU {cr:.3f}x")
ratios = []
for key in sorted(lat["probes"], key=str):
    a = statistics.median(lat["probes"][key]); b = statistics.median(lat["probes,perf"].get(key, [a]))
    ratios.append(b / a)
    print(f"  point {key}: {a:9.1f} ns/call -> {b:9.1f} ns/call ({b/a:.3f}x)")
print(f"per-call latency, median ratio over points: {statistics.median(ratios):.3f}x (target <= 1.02x)")
if "probes,perf" in notes:
    ev, n, lost = notes["probes,perf"]
    print(f"sampling event {ev}, {n} samples in the last run, {lost} lost")
PY
