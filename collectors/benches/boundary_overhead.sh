#!/bin/sh
# Alternating rounds: main's binary vs the boundary branch, both with perf sampling.
for r in 1 2 3; do
  for b in main boundary; do
    if [ $b = main ]; then bin=${MAIN:-/work/main/target/release/sentryprof}; else bin=${BOUNDARY:-target/release/sentryprof}; fi
    rm -rf /tmp/bov_$b
    echo "round $r $b load $(cut -d' ' -f1-3 /proc/loadavg)"
    $bin run --workload exp1 --mapping private --platform kvm,systrap,ptrace --search maxgap --iterations 5000 --trials 5 --warmup-trials 1 --collect probes,perf --out /tmp/bov_$b 2>&1 | grep "µs/call"
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
