#!/usr/bin/env bash
# What one cpu-clock sample costs the sampled thread, measured from the
# thread's side: a small C program spins reading the TSC at a call depth of
# 30 frames and records every gap between two reads longer than 1 us (an
# interruption: timer tick, sample, IPI; gaps over 300 us are preemptions
# by other tasks and are left out). Run alternately unsampled, under
# `sentryprof record --perf-freq F` for each F, and under `perf record -e
# cpu-clock -F 999` with and without call chains (`-g`), with an 8 KiB
# user stack copy per sample (`--call-graph dwarf,8192`), and CPU-wide
# (`-a -g`, as `sentryprof run` samples), when perf is installed. Prints medians over the rounds: interruptions per second of
# time run, their median length, the share of the time run they take, and
# the added share divided by F: the cost of one sample.
#
# `sentryprof record` and `perf record --call-graph dwarf` copy up to 8 KiB
# of the sampled user stack into every sample; the loop's own stack is
# shallow, so STACK_KB=16 reserves (and touches) 16 KiB of stack below
# main before spinning, so that each copy is a full 8 KiB (default 0: as
# before).
#
# usage: collectors/benches/sample_interrupt_cost.sh [SENTRYPROF]
# env: ROUNDS=N (default 4), SECS=S per run (default 2), FREQS="99 999 1999 4999", WORK=DIR,
#      STACK_KB=N (default 0)
set -euo pipefail

. "$(dirname "$0")/common.sh"
bench_work sample-cost
need_sentryprof
command -v cc >/dev/null || { echo "error: needs a C compiler (cc)"; exit 2; }

cat > "$work/gaps.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <alloca.h>
#include <x86intrin.h>
static unsigned long gaps[4000000];
static long ng;
static double ghz;
/* Spin at the bottom of `depth` frames so each sample has a call chain. */
__attribute__((noinline)) void spin(double secs, int depth) {
    if (depth > 0) { spin(secs, depth - 1); return; }
    unsigned long end = __rdtsc() + (unsigned long)(secs * ghz * 1e9), prev = __rdtsc();
    while (prev < end) {
        unsigned long t = __rdtsc();
        if (t - prev > ghz * 1000 && ng < 4000000) gaps[ng++] = t - prev;
        prev = t;
    }
}
static int cmp(const void *a, const void *b) {
    unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;
    return x < y ? -1 : x > y;
}
int main(int argc, char **argv) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    unsigned long t0 = __rdtsc();
    do clock_gettime(CLOCK_MONOTONIC, &b); while ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec) < 50e6);
    ghz = (__rdtsc() - t0) / ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec));
    double secs = atof(argv[1]);
    /* STACK_KB: a deeper stack above the spinning frames, touched. */
    long kb = argc > 2 ? atol(argv[2]) : 0;
    if (kb > 0) {
        char *pad = alloca(kb * 1024);
        memset(pad, 1, kb * 1024);
        __asm__ volatile("" : : "r"(pad) : "memory");
    }
    spin(secs, 30);
    qsort(gaps, ng, sizeof *gaps, cmp);
    long n = 0; double sum = 0, all = 0;
    for (long i = 0; i < ng; i++) { all += gaps[i]; if (gaps[i] <= 300 * ghz * 1000) { n++; sum += gaps[i]; } }
    double run = secs * ghz * 1e9 - (all - sum);
    printf("%f %f %f %f\n", run / ghz / 1e9, n / (run / ghz / 1e9), n ? gaps[n / 2] / ghz / 1000 : 0, sum / run);
}
C
cc -O2 -fno-omit-frame-pointer -o "$work/gaps" "$work/gaps.c"

python3 - "$sp" "$work" "${ROUNDS:-4}" "${SECS:-2}" "${FREQS:-99 999 1999 4999}" <<'PY'
import os, shutil, statistics, subprocess, sys
sp, work, rounds, secs, freqs = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], [int(f) for f in sys.argv[5].split()]
gaps = [os.path.join(work, "gaps"), secs, os.environ.get("STACK_KB", "0")]
variants = [("unsampled", [], 0)]
variants += [(f"sentryprof record {f} Hz", [sp, "record", "--quiet", "--perf-freq", str(f), "--out", os.path.join(work, "rec"), "--"], f) for f in freqs]
if shutil.which("perf"):
    data = os.path.join(work, "perf.data")
    variants += [("perf record 999 Hz", ["perf", "record", "-q", "-e", "cpu-clock", "-F", "999", "-o", data, "--"], 999),
                 ("perf record -g 999 Hz", ["perf", "record", "-q", "-e", "cpu-clock", "-F", "999", "-g", "-o", data, "--"], 999),
                 # User registers and an 8 KiB user stack copy per sample, as `sentryprof` takes.
                 ("perf record dwarf 999 Hz", ["perf", "record", "-q", "-e", "cpu-clock", "-F", "999", "--call-graph", "dwarf,8192", "-o", data, "--"], 999),
                 # CPU-wide, as `sentryprof run` samples its own process tree.
                 ("perf record -a -g 999 Hz", ["perf", "record", "-q", "-a", "-e", "cpu-clock", "-F", "999", "-g", "-o", data, "--"], 999)]
res, loads = {}, []
for r in range(rounds):
    for name, pre, f in variants:
        shutil.rmtree(os.path.join(work, "rec"), ignore_errors=True)
        loads.append(os.getloadavg()[0])
        out = subprocess.run(pre + gaps, check=True, capture_output=True, text=True).stdout.split()
        res.setdefault(name, []).append([float(x) for x in out[:4]])
print(f"load average (1 min) at the runs' starts: {min(loads):.1f}-{max(loads):.1f}; {rounds} alternating rounds of {secs} s")
base = statistics.median(x[3] for x in res["unsampled"])
for name, _, f in variants:
    v = res[name]
    per_s, med, share = (statistics.median(x[i] for x in v) for i in (1, 2, 3))
    line = f"{name:>26}: {per_s:6.0f} interruptions/s run, median {med:5.1f} us, {share*100:5.2f}% of the time run"
    if f:
        line += f", +{(share-base)*100:4.2f} pp: {(share-base)/f*1e6:5.1f} us per sample"
    print(line)
# Least squares of the share over the rate, over every run of the
# unsampled and `sentryprof record` variants: the slope is the cost of one
# sample, less sensitive to one noisy frequency than the ratios above.
pts = [(f, x[3]) for name, _, f in variants if not name.startswith("perf") for x in res[name]]
mf = statistics.mean(f for f, _ in pts); ms = statistics.mean(s for _, s in pts)
slope = sum((f - mf) * (s - ms) for f, s in pts) / sum((f - mf) ** 2 for f, _ in pts)
print(f"least squares over {len(pts)} runs: {slope*1e6:.1f} us of the sampled thread's time per sample "
      f"({slope*999*100:.2f}% at 999 Hz, {slope*99*100:.2f}% at 99 Hz)")
PY
