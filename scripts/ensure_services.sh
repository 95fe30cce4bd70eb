#!/usr/bin/env bash
# Makes sure PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) answer, starting them if they don't.
# Idempotent and quick when both already run; exits non-zero with the reason when it cannot start one.
# Used by `make test-scale`; starting a stopped service needs root (as on the CI machine).
set -uo pipefail

PG_PORT=5432
REDIS_PORT=6379

listening() {  # host port
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

pg_ready() {
    if command -v pg_isready >/dev/null; then
        pg_isready -q -h 127.0.0.1 -p "$PG_PORT"
    else
        listening 127.0.0.1 "$PG_PORT"
    fi
}

redis_ready() {
    if command -v redis-cli >/dev/null; then
        [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ]
    else
        listening 127.0.0.1 "$REDIS_PORT"
    fi
}

wait_until() {  # check-function seconds
    local deadline=$((SECONDS + $2))
    until "$1"; do
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 0.2
    done
}

fail() {
    echo "ensure_services: $*" >&2
    exit 1
}

need_root() {
    [ "$(id -u)" -eq 0 ] || fail "$1 is not running on 127.0.0.1 and only root can start it here; start it and rerun."
}

start_postgresql() {
    need_root PostgreSQL
    command -v pg_ctlcluster >/dev/null || fail "PostgreSQL is not running and pg_ctlcluster is not installed."
    local version
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
    [ -n "$version" ] || fail "PostgreSQL is not running and no cluster is configured under /etc/postgresql."
    echo "ensure_services: starting PostgreSQL $version" >&2
    pg_ctlcluster --skip-systemctl-redirect "$version" main start \
        || fail "pg_ctlcluster could not start PostgreSQL $version (see /var/log/postgresql/)."
    wait_until pg_ready 30 || fail "PostgreSQL $version started but does not accept connections on $PG_PORT."
}

start_redis() {
    need_root Redis
    command -v redis-server >/dev/null || fail "Redis is not running and redis-server is not installed."
    echo "ensure_services: starting Redis" >&2
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log \
        || fail "redis-server could not start (see /var/log/redis/ci.log)."
    wait_until redis_ready 15 || fail "Redis started but does not answer on $REDIS_PORT (see /var/log/redis/ci.log)."
}

pg_ready || start_postgresql
redis_ready || start_redis
exit 0
