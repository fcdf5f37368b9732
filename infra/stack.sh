#!/usr/bin/env bash
# Runs the whole nucat stack on this machine: PostgreSQL and Redis (started if absent), migrations,
# publish-api, read-api and one worker for every projection, with a filesystem blob store under
# $NUCAT_DATA_DIR (default ./.data). Prints the service index URL and an API key. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

bash infra/local/services.sh
[ -d node_modules ] || npm install --no-audit --no-fund
npm run build --silent >/dev/null

export NUCAT_DATA_DIR="${NUCAT_DATA_DIR:-$ROOT/.data}"
export NUCAT_PUBLIC_URL="${NUCAT_PUBLIC_URL:-http://127.0.0.1:${NUCAT_READ_PORT:-5000}}"
export NUCAT_PUBLISH_URL="${NUCAT_PUBLISH_URL:-http://127.0.0.1:${NUCAT_PUBLISH_PORT:-5001}}"
mkdir -p "$NUCAT_DATA_DIR/logs"

node apps/cli/dist/main.js migrate >/dev/null
KEY_FILE="$NUCAT_DATA_DIR/api-key"
if [ ! -s "$KEY_FILE" ]; then
  (umask 077; node apps/cli/dist/main.js keys create --name local-stack > "$KEY_FILE")
fi

pids=()
cleanup() { trap - EXIT INT TERM; kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM
for app in read-api publish-api worker; do
  node "apps/$app/dist/main.js" >>"$NUCAT_DATA_DIR/logs/$app.log" 2>&1 &
  pids+=($!)
done
# Everything answers before the URL and key are printed: the two APIs, and the worker's operations
# server (unless NUCAT_WORKER_PORT=0 turns it off). A slow machine gets 30 s per app.
health=("$NUCAT_PUBLIC_URL/health" "$NUCAT_PUBLISH_URL/health")
worker_port="${NUCAT_WORKER_PORT:-5002}"
[ "$worker_port" = 0 ] || health+=("http://${NUCAT_HOST:-127.0.0.1}:$worker_port/health")
for url in "${health[@]}"; do
  for _ in $(seq 1 300); do curl -fsS "$url" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fsS "$url" >/dev/null || { echo "nucat: $url did not come up; see $NUCAT_DATA_DIR/logs" >&2; exit 1; }
done

cat <<MSG

  nucat is running.
    service index : $NUCAT_PUBLIC_URL/v3/index.json
    API key       : $(cat "$KEY_FILE")
    data          : $NUCAT_DATA_DIR   (logs in $NUCAT_DATA_DIR/logs)

  push:    dotnet nuget push My.Package.1.0.0.nupkg -s $NUCAT_PUBLIC_URL/v3/index.json -k <API key>
  restore: add the service index to a nuget.config (see README) and run dotnet restore.
  Ctrl-C stops the stack.

MSG
wait -n "${pids[@]}"
echo "nucat: a process exited; stopping (see $NUCAT_DATA_DIR/logs)" >&2
