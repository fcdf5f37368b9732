#!/usr/bin/env bash
# npm run bench: the benchmark suite. Starts local services if absent, builds, runs each benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
bash infra/local/services.sh
[ -d node_modules ] || npm install --no-audit --no-fund
npm run build --silent >/dev/null
npx tsx bench/publish-latency.ts "$@"
