#!/usr/bin/env bash
# Runs every suite: type-check, lint, JSON-schema drift, vitest (Node and workerd), pytest.
# Installs what the tests need first (Debian packages; npm packages when missing).
# Last line: "N passed, N failed", summed over all runners.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }
export PATH="$PWD/node_modules/.bin:$PATH"
R=out/test-results
rm -rf "$R" && mkdir -p "$R"

check() { # name, command...: a check counts as one test
  local name=$1; shift
  echo "== $name"
  if "$@"; then echo pass > "$R/check-$name"; else echo fail > "$R/check-$name"; fi
}

check typecheck tsc --noEmit -p tsconfig.json
[ -f workers/tsconfig.json ] && check typecheck-workers tsc --noEmit -p workers/tsconfig.json
check lint biome check .
echo "== vitest (node)"
vitest run --config vitest.config.ts --reporter=default --reporter=json --outputFile.json="$R/vitest-node.json"
if [ -f test/workers/vitest.config.ts ]; then
  echo "== vitest (workerd)"
  vitest run --config test/workers/vitest.config.ts --reporter=default --reporter=json --outputFile.json="$R/vitest-workers.json"
fi
echo "== pytest"
PYTHONPATH=gpu-jobs /usr/bin/python3 -m pytest test/python -q -p no:cacheprovider --junitxml="$R/pytest.xml"
node scripts/summary.mjs "$R"
