#!/usr/bin/env bash
# Instructions to start and end a run of kidney-hmp (1 s in lockstep, no record, no status
# lines), counted by callgrind, and the same with the CPU's SHA extensions.
#
# Valgrind's virtual CPU does not offer the SHA extensions, so under callgrind sha2 hashes in
# software. The native count is computed from parts that are each counted, not guessed:
#   callgrind's total
#   - the instructions callgrind counts inside sha2's software compression
#   + the 64-byte blocks hashed x the instructions of one pass of sha2's SHA-NI loop
# where the blocks are those of the files a run hashes (the plugin library it loads and the
# protocol file, each padded by SHA-256 to whole blocks) and the loop is read from this build's
# own machine code (objdump: the straight-line body from its start to its backward jump).
# The start-up is the 1-s run minus its 100 ticks (the 2-s run minus the 1-s run).
# A benchmark, not a test: it reports numbers and asserts nothing. Usage: bench/startup-instructions.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin perfuse
bin=./target/release/perfuse
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
count() {
    valgrind --tool=callgrind --callgrind-out-file="$out/cg" "$@" 2>&1 >/dev/null |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
run=(run protocols/kidney-hmp.ron --seed 1 --no-record --quiet)
p1=$(count "$bin" "${run[@]}" --duration 1s)
p2=$(count "$bin" "${run[@]}" --duration 2s)
soft=$(count --toggle-collect='sha2::sha256::soft::*' "$bin" "${run[@]}" --duration 1s)
blocks=0
for f in target/release/libperfuse_plugin_kidney.so protocols/kidney-hmp.ron; do
    size=$(stat -c %s "$f")
    blocks=$((blocks + (size + 9 + 63) / 64))
done
# The SHA-NI compression: its loop runs once per block, from the target of its last backward
# jump to that jump.
read -r addr stop < <(nm -n "$bin" | awk '/x86_sha8compress/ {a = $1; next} a != "" {print a, $1; exit}')
shani=$(objdump -d --no-show-raw-insn "$bin" --start-address=0x"$addr" --stop-address=0x"$stop" |
    awk -F'\t' '/^ +[0-9a-f]+:\t/ { a = $1; sub(/:.*/, "", a); gsub(/ /, "", a); n++; addr[n] = a; ins[n] = $2 }
        ins[n] ~ /^j/ { split(ins[n], t, " "); for (i = 1; i <= n; i++) if (addr[i] == t[2]) { start = i; end = n } }
        END { print end - start + 1 }')
awk -v p1="$p1" -v p2="$p2" -v soft="$soft" -v blocks="$blocks" -v shani="$shani" 'BEGIN {
    start = p1 - (p2 - p1)
    printf "start-up and exit under callgrind (software SHA-256): %.1f million instructions\n", start / 1e6
    printf "  of which SHA-256 in software: %.1f million (%d blocks of 64 bytes, %.0f instructions each)\n", soft / 1e6, blocks, soft / blocks
    printf "SHA-NI loop: %d instructions per block\n", shani
    printf "start-up and exit with the SHA extensions: %.1f million instructions\n", (start - soft + blocks * shani) / 1e6
}'
