#!/usr/bin/env bash
# What each sample costs: the main job's 25,000-call points (native,
# systrap/maxgap, inproc/maxgap; inproc/linear is left out, it alone takes
# longer than the rest) run alternately probes-only and with
# `--collect probes,perf --perf-freq F` for each F, several rounds. Prints
# per point and frequency the median per-call latency, its ratio to
# probes-only, the samples the point took (from points/NNN.folded: each
# cpu-clock sample weighs its period) and the added time per sample
# ((latency_F - latency_0) * calls / samples), plus the machine's local
# timer and IRQ-work interrupts per second of run (/proc/interrupts).
#
# usage: collectors/benches/perf_freq_sweep.sh [SENTRYPROF]
# env: RUNS=N (default 3), FREQS="99 999 1999 4999", WORK=DIR (kept)
set -euo pipefail

. "$(dirname "$0")/common.sh"
bench_work perf-sweep
need_sentryprof

python3 - "$sp" "$work" "${RUNS:-3}" "${FREQS:-99 999 1999 4999}" <<'PY'
import json, os, shutil, statistics, subprocess, sys, time
sp, work, runs, freqs = sys.argv[1], sys.argv[2], int(sys.argv[3]), [int(f) for f in sys.argv[4].split()]
calls, trials = 25000, 12
base = ["run", "--workload", "exp1", "--mapping", "private", "--search", "maxgap",
        "--platform", "native,systrap/maxgap,inproc", "--iterations", str(calls),
        "--size", "4K", "--trials", str(trials), "--warmup-trials", "2"]
variants = [("probes", ["--collect", "probes"], 0)] + [
    (f"{f}Hz", ["--collect", "probes,perf", "--perf-freq", str(f)], f) for f in freqs]
def irqs():
    out = {}
    for line in open("/proc/interrupts"):
        parts = line.split()
        if parts and parts[0] in ("LOC:", "IWI:"):
            out[parts[0][:-1]] = sum(int(x) for x in parts[1:] if x.isdigit())
    return out
lat, samples, rates, loads = {}, {}, {}, []
for i in range(runs):
    for name, flags, f in variants:
        out = os.path.join(work, f"{name}-{i}")
        shutil.rmtree(out, ignore_errors=True)
        loads.append(os.getloadavg()[0])
        i0, t0 = irqs(), time.perf_counter()
        subprocess.run([sp] + base + flags + ["--out", out], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        dt, i1 = time.perf_counter() - t0, irqs()
        for k in i1:
            rates.setdefault((name, k), []).append((i1[k] - i0[k]) / dt)
        run = json.load(open(os.path.join(out, "run.json")))
        for n, p in enumerate(run["points"]):
            key = p["platform"]
            lat.setdefault((name, key), []).append(p["latency_ns"]["median"])
            folded = os.path.join(out, "points", f"{n:03}.folded")
            if f and os.path.exists(folded):
                w = sum(int(l.rsplit(" ", 1)[1]) for l in open(folded) if l.strip())
                samples.setdefault((name, key), []).append(w * f / 1e9)
print(f"load average (1 min) at the runs' starts: {min(loads):.1f}-{max(loads):.1f}; {runs} alternating rounds")
for name, _, f in variants:
    r = {k: statistics.median(v) for (n, k), v in rates.items() if n == name}
    print(f"{name:>8}: interrupts per second of run, both CPUs: local timer {r.get('LOC', 0):7.0f}, IRQ work {r.get('IWI', 0):6.0f}")
for key in sorted({k for _, k in lat}):
    a = statistics.median(lat[("probes", key)])
    print(f"{key}: probes-only {a:9.1f} ns/call")
    for name, _, f in variants[1:]:
        b = statistics.median(lat[(name, key)])
        s = statistics.median(samples.get((name, key), [0]))
        per = (b - a) * calls * trials / s / 1000 if s else float("nan")
        print(f"  {name:>7}: {b:9.1f} ns/call ({b/a:.3f}x), {s:7.0f} samples in the point's counted trials, {per:7.1f} us added per sample")
PY
