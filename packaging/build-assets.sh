#!/usr/bin/env bash
# Builds the release binary (unless FEEDWATCH_BIN names one) and generates what the Debian
# package ships beside it: the man page and the bash, zsh and fish completions, into
# <target dir>/release/assets/ (the target dir as cargo sees it: CARGO_TARGET_DIR,
# .cargo/config, or ./target). Then: cargo deb --no-build
#
# Any failing step fails the script (set -euo pipefail), and an empty output is an error:
# a package never ships an empty man page or completion.
set -euo pipefail
cd "$(dirname "$0")/.."

target=$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
if [ -z "$target" ]; then
    echo "build-assets.sh: cargo metadata named no target directory" >&2
    exit 1
fi

if [ -n "${FEEDWATCH_BIN:-}" ]; then
    bin=$FEEDWATCH_BIN
else
    # the package carries cluster mode (docs/cluster.md): one binary for one machine or many
    cargo build --release --locked --features cluster
    bin=$target/release/feedwatch
fi
if [ ! -x "$bin" ]; then
    echo "build-assets.sh: $bin: not found or not executable (build it, or set FEEDWATCH_BIN)" >&2
    exit 1
fi

out=$target/release/assets
rm -rf "$out"
mkdir -p "$out/completions"
# -n: no name or timestamp in the gzip header, so the package is reproducible
"$bin" man | gzip -9n > "$out/feedwatch.1.gz"
"$bin" completions bash > "$out/completions/feedwatch"
"$bin" completions zsh > "$out/completions/_feedwatch"
"$bin" completions fish > "$out/completions/feedwatch.fish"
if [ "$(gzip -dc "$out/feedwatch.1.gz" | wc -c)" -lt 1000 ]; then
    echo "build-assets.sh: the man page from $bin is empty or truncated" >&2
    exit 1
fi
for f in "$out"/completions/*; do
    if [ ! -s "$f" ]; then
        echo "build-assets.sh: $f is empty" >&2
        exit 1
    fi
done
ls -l "$out" "$out/completions"
