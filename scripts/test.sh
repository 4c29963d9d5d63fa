#!/usr/bin/env bash
# Runs every suite: type-check, lint, JSON-schema drift, vitest (Node and workerd), pytest.
# Installs what the tests need first (Debian packages; npm packages when missing).
# Last line: "N passed, N failed, N skipped", summed over all runners by scripts/summary.mjs,
# which also reads each runner's exit status (exit-<runner>) and requires every report; this
# script exits with the summary's status, so CI (.ci/run) fails when any runner fails or never ran.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed, 0 skipped"; exit 1; }
export PATH="$PWD/node_modules/.bin:$PATH"
R=out/test-results
rm -rf "$R" && mkdir -p "$R"

check() { # name, command...: a check counts as one test
  local name=$1; shift
  echo "== $name"
  if "$@"; then echo pass > "$R/check-$name"; else echo fail > "$R/check-$name"; fi
}
runner() { # name, command...: the runner's exit status goes to exit-<name> for the summary
  local name=$1; shift
  echo "== $name"
  "$@"
  echo $? > "$R/exit-$name"
}

check typecheck tsc --noEmit -p tsconfig.json
check typecheck-workers tsc --noEmit -p workers/tsconfig.json
check lint biome check .
runner vitest-node vitest run --config vitest.config.ts --reporter=default --reporter=json --outputFile.json="$R/vitest-node.json"
runner vitest-workers vitest run --config test/workers/vitest.config.ts --reporter=default --reporter=json --outputFile.json="$R/vitest-workers.json"
runner pytest env PYTHONPATH=gpu-jobs /usr/bin/python3 -m pytest test/python -q -p no:cacheprovider --junitxml="$R/pytest.xml"
node scripts/summary.mjs "$R"
