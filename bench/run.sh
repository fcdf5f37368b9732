#!/usr/bin/env bash
# npm run bench: the benchmark suite. Starts local services if absent, builds, runs each benchmark.
# Arguments go to the publish benchmark; BENCH_QUICK=1 runs the search benchmark with --quick
# (10 000 ids instead of 100 000). Run one benchmark directly to tune it, e.g.
# `npx tsx bench/search-latency.ts --ids 50000 --seconds 3`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash infra/local/services.sh
[ -d node_modules ] || npm install --no-audit --no-fund
npm run build --silent >/dev/null
npx tsx bench/publish-latency.ts "$@"
npx tsx bench/search-latency.ts ${BENCH_QUICK:+--quick}
npx tsx bench/corpus.ts ${BENCH_QUICK:+--quick}
npx tsx bench/read-path.ts ${BENCH_QUICK:+--quick}
npx tsx bench/restore.ts ${BENCH_QUICK:+--quick}
npx tsx bench/replay.ts ${BENCH_QUICK:+--quick}
npx tsx bench/push-throughput.ts ${BENCH_QUICK:+--quick}
