#!/usr/bin/env bash
# Installs what the tests and the trainer need on Debian (run as root): Python with PyTorch from
# Debian, and the npm packages when node_modules is missing. Idempotent and quick when done.
set -euo pipefail
cd "$(dirname "$0")/.."
PKGS="python3-torch python3-onnx python3-opencv python3-pil python3-scipy python3-pytest python3-jsonschema"
# Debian's Chromium: the browser tests (test/browser/) drive it with playwright-core, never a downloaded browser.
PKGS="$PKGS chromium"
# tcmalloc: the CPU trainer runs under it (gpu-jobs/model/train.py, under_tcmalloc, says why).
PKGS="$PKGS libtcmalloc-minimal4"
# wrk: the load and soak figures of `npm run reliability` (scripts/reliability/load.ts).
PKGS="$PKGS wrk"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  echo "installing Debian packages:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
[ -d node_modules/onnxruntime-node ] || npm ci --no-audit --no-fund
