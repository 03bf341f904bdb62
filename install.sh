#!/usr/bin/env bash
# Installs perfuse under PREFIX (default ~/.local), Linux:
#   PREFIX/lib/perfuse/          the perfuse binary and the shipped protocol plugins beside it
#                                (the host finds plugins beside its binary: nothing to configure)
#   PREFIX/bin/perfuse           a link to it
#   PREFIX/share/perfuse/protocols/   the protocol files
#   PREFIX/share/man/man1/       manual pages; bash, zsh and fish completions
# Usage: ./install.sh [--from DIR] [PREFIX]   (--from: a build already made, e.g. target/release;
# without it the script builds with the `dist` profile first: the release profile with link-time
# optimisation, target/dist)
set -euo pipefail
cd "$(dirname "$0")"
from=""
if [ "${1:-}" = "--from" ]; then
    from=${2:?--from needs a directory}
    shift 2
fi
prefix=${1:-$HOME/.local}
if [ -z "$from" ]; then
    cargo build --profile dist
    from=target/dist
fi
# The shipped plugins: the plugin crates the perfuse package depends on (not its test fixtures).
plugins=$(sed -n '/^\[dependencies\]/,/^\[/s/^perfuse-plugin-\([a-z-]*\) = .*/\1/p' Cargo.toml | tr - _)
[ -n "$plugins" ] || { echo "install.sh: no plugin crates found in Cargo.toml" >&2; exit 1; }
lib="$prefix/lib/perfuse"
mkdir -p "$lib" "$prefix/bin" "$prefix/share/perfuse" "$prefix/share/man/man1" \
    "$prefix/share/bash-completion/completions" "$prefix/share/zsh/site-functions" \
    "$prefix/share/fish/vendor_completions.d"
install -m 755 "$from/perfuse" "$lib/perfuse"
for p in $plugins; do
    # `cargo build` puts each plugin beside the binary; a build made by `cargo test` keeps it in
    # deps/ only, and a later `cargo test` refreshes only that copy: take the newer of the two.
    so="$from/libperfuse_plugin_$p.so"
    dep="$from/deps/libperfuse_plugin_$p.so"
    if [ ! -f "$so" ] || { [ -f "$dep" ] && [ "$dep" -nt "$so" ]; }; then
        so=$dep
    fi
    install -m 755 "$so" "$lib/"
done
ln -sfn ../lib/perfuse/perfuse "$prefix/bin/perfuse"
rm -rf "$prefix/share/perfuse/protocols"
cp -R protocols "$prefix/share/perfuse/protocols"
"$lib/perfuse" man --dir "$prefix/share/man/man1"
"$lib/perfuse" completions bash >"$prefix/share/bash-completion/completions/perfuse"
"$lib/perfuse" completions zsh >"$prefix/share/zsh/site-functions/_perfuse"
"$lib/perfuse" completions fish >"$prefix/share/fish/vendor_completions.d/perfuse.fish"
echo "installed perfuse in $prefix/bin (plugins: $(echo $plugins)); protocols in $prefix/share/perfuse/protocols"
