#!/usr/bin/env bash
# The Modbus HAL on loopback: liver-nmp in real time on `perfuse devsim`, with 20 channels
# polled at 100 Hz (its 14 sensors and 6 of its actuators, each a command write and a
# delivered-value read per cycle; the 3 syringe channels at 20 Hz). Reports each device link's
# round trips (p50, p99, max, in 10-us buckets), timeouts and the controller's overruns.
# A benchmark, not a test: it asserts nothing. Usage: bench/modbus-loopback.sh [DURATION]
# [PRIORITY]; with a PRIORITY, devsim and the controller run with --rt-priority PRIORITY, and a
# bare sleep loop at the same priority runs beside them in a process of its own (the lateness
# example's `bare-only` mode), printing when it woke more than a period late, so that the
# controller's missed deadlines can be told apart from the machine's stalls.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10m}
rt=()
if [ -n "${2:-}" ]; then rt=(--rt-priority "$2"); fi
cargo build --release --quiet
cargo build --release --quiet --example lateness
dir=$(mktemp -d)
bare=
trap 'kill "$devsim" $bare 2>/dev/null || true; rm -rf "$dir"' EXIT
# Every channel but the syringe driver's at 10 ms, every device's timeout 10 ms.
sed -e '/syringe_driver/!s/poll_ms: [0-9]*/poll_ms: 10/' -e 's/timeout_ms: [0-9]*/timeout_ms: 10/' \
    profiles/liver-nmp.ron > "$dir/profile.ron"
./target/release/perfuse devsim protocols/liver-nmp.ron --profile "$dir/profile.ron" \
    --listen 127.0.0.1:0 "${rt[@]}" > "$dir/devsim.out" 2> "$dir/devsim.err" &
devsim=$!
for _ in $(seq 100); do grep -q listening "$dir/devsim.out" 2>/dev/null && break; sleep 0.1; done
addr=$(sed -n 's/listening on //p' "$dir/devsim.out")
steal() { awk '/^cpu /{print $9}' /proc/stat; }
steal_before=$(steal)
if [ -n "${2:-}" ]; then
    secs=$(python3 -c "import sys; d = sys.argv[1]; print(float(d[:-1]) * {'s': 1, 'm': 60, 'h': 3600}[d[-1]])" "$duration")
    ./target/release/examples/lateness "$secs" "$2" bare-only > "$dir/bare.out" &
    bare=$!
fi
started=$(date +%s.%N)
./target/release/perfuse run protocols/liver-nmp.ron --hal modbus --profile "$dir/profile.ron" \
    --devices "$addr" --realtime --duration "$duration" --no-record --quiet "${rt[@]}" \
    --summary "$dir/summary.json" 2> "$dir/run.err"
grep '^device ' "$dir/run.err"
echo "CPU time taken by the hypervisor meanwhile (steal): $(( ($(steal) - steal_before) * 10 )) ms"
python3 - "$dir/summary.json" "$dir/run.err" <<'PY'
import json, re, sys
s = json.load(open(sys.argv[1]))
p99 = [int(m) for m in re.findall(r"p99 (\d+) us", open(sys.argv[2]).read())]
print(f"{s['simulated_s']:.0f} s: {s['ticks']} ticks, {s['overruns']} overruns; "
      f"round trip p99 at most {max(p99)} us over every link; "
      f"alarms: {[a['id'] for a in s['alarms']]}")
print(f"tick lateness: {s.get('lateness')}")
PY
if [ -n "$bare" ]; then
    wait "$bare"
    bare=
    cat "$dir/bare.out"
    python3 - "$dir/summary.json" "$started" <<'PY'
import json, sys
s, started = json.load(open(sys.argv[1])), float(sys.argv[2])
for a in s.get("alarm_log", []):
    if a["id"] == "tick_overrun":
        print(f"controller's tick_overrun at unix time {started + a['start_s']:.3f} s (run started about then)")
PY
fi
