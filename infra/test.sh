#!/usr/bin/env bash
# Runs every test suite (unit, integration against real PostgreSQL and Redis, end-to-end with the
# real dotnet CLI) from a fresh machine: starts the services if absent, installs, builds, tests.
# Ends with one line: `tests: N passed, N failed, N skipped`.
set -uo pipefail
cd "$(dirname "$0")/.."

bash infra/local/services.sh || exit 1
[ -d node_modules ] || npm install --no-audit --no-fund || exit 1
npm run build --silent || { echo "build failed"; echo "tests: 0 passed, 1 failed"; exit 1; }

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
report="$(mktemp -d)/vitest.json"
npx vitest run "$@" --reporter=default --reporter=json --outputFile.json="$report"
status=$?
if [ -s "$report" ]; then
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
    console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
  ' "$report"
else
  echo "tests: 0 passed, 1 failed"
  [ $status -ne 0 ] || status=1
fi
exit $status
