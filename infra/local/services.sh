#!/usr/bin/env bash
# Starts the PostgreSQL and Redis that nucat needs on one machine, unless DATABASE_URL / REDIS_URL
# already point at reachable servers. Uses the Debian packages (installs redis-server if absent) and
# creates the `nucat` role used by the default DATABASE_URL. Idempotent; safe to run repeatedly.
set -euo pipefail

DEFAULT_DATABASE_URL="postgres://nucat:nucat@127.0.0.1:5432/nucat"
DEFAULT_REDIS_URL="redis://127.0.0.1:6379"
DATABASE_URL="${DATABASE_URL:-$DEFAULT_DATABASE_URL}"
REDIS_URL="${REDIS_URL:-$DEFAULT_REDIS_URL}"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
log() { echo "[services] $*" >&2; }

pg_reachable() { pg_isready -q -d "$DATABASE_URL" 2>/dev/null; }
redis_reachable() { redis-cli -u "$REDIS_URL" ping 2>/dev/null | grep -q PONG; }

if ! pg_reachable; then
  [ "$DATABASE_URL" = "$DEFAULT_DATABASE_URL" ] || { log "DATABASE_URL is set but not reachable: refusing to start a local server"; exit 1; }
  if ! command -v pg_lsclusters >/dev/null; then
    log "installing postgresql"; as_root apt-get update -qq; as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  cluster=$(pg_lsclusters -h | awk 'NR==1 {print $1" "$2}')
  [ -n "$cluster" ] || { log "no PostgreSQL cluster found"; exit 1; }
  log "starting PostgreSQL cluster $cluster"
  as_root pg_ctlcluster $cluster start || true
  for _ in $(seq 1 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
  # Role and database for the default URL; CREATEDB lets the test suites make throwaway databases.
  as_root su postgres -c "psql -q -v ON_ERROR_STOP=1" <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'nucat') THEN
    CREATE ROLE nucat LOGIN PASSWORD 'nucat' CREATEDB;
  END IF;
END $$;
-- Lets the test suites drop their throwaway databases WITH (FORCE) while an autovacuum
-- worker is still in them (local development role only).
GRANT pg_signal_backend TO nucat;
SQL
  as_root su postgres -c "psql -tAc \"SELECT 1 FROM pg_database WHERE datname='nucat'\"" | grep -q 1 \
    || as_root su postgres -c "createdb -O nucat nucat"
  pg_reachable || { log "PostgreSQL did not become reachable at the default URL"; exit 1; }
fi

if ! redis_reachable; then
  [ "$REDIS_URL" = "$DEFAULT_REDIS_URL" ] || { log "REDIS_URL is set but not reachable: refusing to start a local server"; exit 1; }
  if ! command -v redis-server >/dev/null; then
    log "installing redis-server"; as_root apt-get update -qq; as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  fi
  log "starting redis-server on 127.0.0.1:6379"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no \
    --dir /tmp --logfile /tmp/nucat-redis.log
  for _ in $(seq 1 50); do redis_reachable && break; sleep 0.1; done
  redis_reachable || { log "Redis did not become reachable"; exit 1; }
fi
log "PostgreSQL and Redis are reachable"
