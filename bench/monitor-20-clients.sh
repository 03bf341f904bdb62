#!/usr/bin/env bash
# The team monitor under load: a real-time kidney-hmp run of DURATION (default 10m) with 20
# clients reading the event stream the whole time. Prints the run's overruns (missed deadlines)
# and the events each client received (the clients are threads of one process, the example
# monitor/examples/stream_clients.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10m}
clients=${2:-20}
cargo build --release -q
cargo build --release -q -p perfuse-monitor --example stream_clients
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
./target/release/perfuse run protocols/kidney-hmp.ron --realtime --duration "$duration" \
    --no-record --quiet --summary "$tmp/summary.json" --monitor 127.0.0.1:0 2>"$tmp/stderr" >/dev/null &
run=$!
for _ in $(seq 50); do grep -q '^monitor: ' "$tmp/stderr" && break; sleep 0.1; done
url=$(sed -n 's/^monitor: //p' "$tmp/stderr")
./target/release/examples/stream_clients "$url" "$clients" &
readers=$!
wait "$run"
wait "$readers"
python3 - "$tmp/summary.json" "$clients" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
o = s["outputs"]
print(f"{sys.argv[2]} stream clients, {s['simulated_s']:.0f} s real time: {s['ticks']} ticks, "
      f"{s['overruns']} overruns, outputs failed {o['failed']}, frames lost {o['frames_lost']}")
PY
