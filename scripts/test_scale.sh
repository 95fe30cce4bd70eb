#!/usr/bin/env bash
# `make test-scale`: the whole suite again on PostgreSQL + Redis, the scale-out deployment.
# Each run gets its own PostgreSQL database (pytest-django creates test_<name> beside it) and its own Redis key
# prefix, cleared at the start and removed at the end, so two runs on one machine (or `make run`) never collide.
# Usage: scripts/test_scale.sh [pytest args]; PY, PGUSER and SCALE_REDIS_DB may be overridden.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}

bash scripts/ensure_services.sh

run="voicebot_scale_$(date +%s)_$$"
export DATABASE_URL="postgres://${PGUSER:-postgres}@127.0.0.1:5432/$run"
export REDIS_URL="redis://127.0.0.1:6379/${SCALE_REDIS_DB:-13}"
export REDIS_PREFIX="$run"

helpers() {  # python statements with p = tests.processes, db = DATABASE_URL, redis = REDIS_URL, name = this run
    "$PY" -c "import os; from tests import processes as p; db, redis = os.environ['DATABASE_URL'], os.environ['REDIS_URL']; name = '$run'; $1"
}
# The base database stays empty: only subprocesses that inherit DATABASE_URL without a Stack would reach it.
helpers 'p.create_database(db, name)' \
    || { echo "test-scale: cannot create database $run as ${PGUSER:-postgres} (it needs CREATEDB)" >&2; exit 1; }
cleanup() {
    helpers 'p.drop_database(db, "test_" + name); p.drop_database(db, name); p.delete_redis_keys(redis, name)' \
        || echo "test-scale: could not remove database $run or its Redis keys" >&2
}
trap cleanup EXIT
helpers 'p.delete_redis_keys(redis, name)'

echo "test-scale: PostgreSQL database $run, Redis $REDIS_URL prefix $run"
"$PY" -m pytest "$@"
