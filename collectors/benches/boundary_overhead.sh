#!/bin/sh
# Alternating rounds: main's binary vs the boundary branch, both with perf sampling;
# the branch's binary records boundary stacks on every platform (--collect ...,boundary;
# BOUNDARY_COLLECT overrides, e.g. probes,perf for the defaults).
for r in 1 2 3; do
  for b in main boundary; do
    if [ $b = main ]; then bin=${MAIN:-/work/main/target/release/sentryprof}; col=probes,perf; else bin=${BOUNDARY:-target/release/sentryprof}; col=${BOUNDARY_COLLECT:-probes,perf,boundary}; fi
    rm -rf /tmp/bov_$b
    echo "round $r $b load $(cut -d' ' -f1-3 /proc/loadavg)"
    $bin run --workload exp1 --mapping private --platform kvm,systrap,ptrace --search maxgap --iterations 5000 --trials 5 --warmup-trials 1 --collect $col --out /tmp/bov_$b 2>&1 | grep "µs/call"
    python3 - /tmp/bov_$b/run.json <<'PY'
import json,sys
r=json.load(open(sys.argv[1]))
for p in r['points']:
    e=p.get('extra') or {}
    c=(e.get('guest_call_cycles') or {}).get('median') or e.get('stub_call_median_cycles')
    print('  ', p['platform'], 'call median cycles', c)
PY
  done
done
