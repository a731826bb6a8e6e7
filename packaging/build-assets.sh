#!/bin/sh
# Generates the files the Debian package ships beside the binary, from the release binary
# itself, so they always match its command line:
#   target/assets/feedwatch.1.gz               the man page    (feedwatch man)
#   target/assets/completions/feedwatch        bash            (feedwatch completions bash)
#   target/assets/completions/_feedwatch       zsh
#   target/assets/completions/feedwatch.fish   fish
# Then: cargo deb --no-build   (the assets in [package.metadata.deb] in Cargo.toml)
#
# FEEDWATCH_BIN=path uses that binary instead of building target/release/feedwatch.
set -eu
cd "$(dirname "$0")/.."

if [ -n "${FEEDWATCH_BIN:-}" ]; then
    bin=$FEEDWATCH_BIN
else
    cargo build --release --locked
    bin=target/release/feedwatch
fi

out=target/assets
rm -rf "$out"
mkdir -p "$out/completions"
# -n: no name or timestamp in the gzip header, so the package is reproducible
"$bin" man | gzip -9n > "$out/feedwatch.1.gz"
"$bin" completions bash > "$out/completions/feedwatch"
"$bin" completions zsh > "$out/completions/_feedwatch"
"$bin" completions fish > "$out/completions/feedwatch.fish"
ls -l "$out" "$out/completions"
