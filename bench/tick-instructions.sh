#!/usr/bin/env bash
# Instructions per tick, counted by callgrind (the machine's load does not change them), of
# - the perfuse tick: kidney-hmp in lockstep, simulator and plugin included, no record, no
#   status lines: (instructions of a 2-minute run - those of a 1-minute run) / 6000 ticks, so
#   that start-up and exit cancel out;
# - the yardstick: a bare bevy_ecs schedule of 7 chained systems on the single-threaded
#   executor (core/examples/bare_schedule.rs), counted the same way;
# - the core's tick alone: the same two runs counting only inside bevy_ecs's `Schedule::run`
#   (both halves of the tick: the stages' work and the scheduler's, the simulator's read and
#   write included; no simulator physics, no plugin call, no driver between ticks);
# and the start-up (with exit): the 1-minute run minus its 6000 ticks.
# A benchmark, not a test: it reports numbers and asserts nothing. Usage: bench/tick-instructions.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin perfuse
cargo build --release --quiet -p perfuse-core --example bare_schedule
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
count() {
    valgrind --tool=callgrind --callgrind-out-file="$out/cg" "$@" 2>&1 >/dev/null |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
p1=$(count ./target/release/perfuse run protocols/kidney-hmp.ron --duration 1m --seed 1 --no-record --quiet)
p2=$(count ./target/release/perfuse run protocols/kidney-hmp.ron --duration 2m --seed 1 --no-record --quiet)
inside=--toggle-collect='bevy_ecs::schedule::schedule::Schedule::run'
c1=$(count "$inside" ./target/release/perfuse run protocols/kidney-hmp.ron --duration 1m --seed 1 --no-record --quiet)
c2=$(count "$inside" ./target/release/perfuse run protocols/kidney-hmp.ron --duration 2m --seed 1 --no-record --quiet)
b1=$(count ./target/release/examples/bare_schedule 6000)
b2=$(count ./target/release/examples/bare_schedule 12000)
awk -v p1="$p1" -v p2="$p2" -v c1="$c1" -v c2="$c2" -v b1="$b1" -v b2="$b2" 'BEGIN {
    tick = (p2 - p1) / 6000; bare = (b2 - b1) / 6000; core = (c2 - c1) / 6000
    printf "perfuse tick (kidney-hmp, simulator and plugin): %.0f instructions per tick\n", tick
    printf "bare bevy_ecs schedule, 7 chained systems:       %.0f instructions per tick\n", bare
    printf "ratio: %.2f\n", tick / bare
    printf "core tick alone (both schedules, no simulator physics, no plugin): %.0f instructions per tick, %.2f x bare\n", core, core / bare
    printf "start-up and exit (1-minute run minus its ticks): %.1f million instructions\n", (p1 - 6000 * tick) / 1e6
}'
