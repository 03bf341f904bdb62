#!/usr/bin/env bash
# Wall time of a 6-hour simulated kidney-hmp run at 100 Hz (2.16 million ticks), in release.
# A benchmark, not a test: it reports numbers and asserts nothing. Usage: bench/kidney-hmp-6h.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-7}
cargo build --release --quiet
times=()
for _ in $(seq "$runs"); do
    # Not recorded: the figure is the control tick's (recording costs are in the README).
    line=$(./target/release/perfuse run protocols/kidney-hmp.ron --duration 6h --seed 1 --quiet --no-record)
    times+=("$(sed -n 's/.* in \([0-9.]*\) s wall .*/\1/p' <<< "$line")")
done
printf '%s\n' "${times[@]}" | sort -g | awk -v n="$runs" '
    { t[NR] = $1 }
    END {
        printf "kidney-hmp 6 h at 100 Hz, %d runs: min %.2f s, median %.2f s, max %.2f s (%.0f ns per tick at the median)\n",
            n, t[1], t[int((n + 1) / 2)], t[n], t[int((n + 1) / 2)] / 2160000 * 1e9
    }'
