#!/usr/bin/env bash
# npm run bench [-- --quick]: the benchmark suite (docs/benchmarks.md). Starts local services if
# absent, builds, runs every benchmark in turn, then prints one table of every headline figure
# against its reference and issue 5's targets, and the wall time of each benchmark.
# BENCH_QUICK=1 is the same as --quick. Run one benchmark directly to tune it, e.g.
# `npx tsx bench/read-path.ts --quick`.
set -euo pipefail
cd "$(dirname "$0")/.."
quick="${BENCH_QUICK:+--quick}"
for arg in "$@"; do
  case "$arg" in
    --quick) quick=--quick ;;
    *) echo "bench: unknown argument $arg (only --quick)" >&2; exit 2 ;;
  esac
done
bash infra/local/services.sh
[ -d node_modules ] || npm install --no-audit --no-fund
npm run build --silent >/dev/null

results=$(mktemp -d)
export NUCAT_BENCH_RESULTS="$results/figures.jsonl"
started=$SECONDS
run() {
  local name=$1; shift
  local t0=$SECONDS
  npx tsx "bench/$name.ts" "$@"
  echo "$name $((SECONDS - t0))" >>"$results/durations.txt"
}
if [ -n "$quick" ]; then
  run publish-latency --quick --pushes 20
  run push-throughput --quick
  run replay --quick
  run read-path --quick --connections 16,256
  run restore --quick
  run upload-memory --sizes 1,200
  run search-latency --quick --ids 2000 --pushes 20
  # mirror: default run only (the quick run has no room left in its 3 minutes)
else
  run publish-latency
  run push-throughput
  run replay
  run corpus
  run read-path
  run restore
  run upload-memory
  run search-latency
  run mirror
fi
npx tsx bench/summary.ts "$NUCAT_BENCH_RESULTS" "$results/durations.txt"
echo "bench: $((SECONDS - started)) s in all${quick:+ (quick)}"
rm -rf "$results"
