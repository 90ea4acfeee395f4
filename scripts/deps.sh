#!/usr/bin/env bash
# Brings up the service's dependencies (PostgreSQL, Redis and a mail catcher for digest emails)
# on loopback and leaves them running.
#
# With a working Docker engine it uses docker-compose.yml (Mailpit catches mail); without one it
# installs Debian's `postgresql` and `redis-server` if they are missing and starts private
# instances whose data lives in .data/ (ignored by git), and maildev as the mail catcher
# (scripts/maildev.sh). Safe to run any number of times: running instances are reused and
# existing data is kept. FEED_NO_MAIL=1 skips the mail catcher.
#
# Ports (the same in both modes, so one connection string fits both):
#   PostgreSQL 127.0.0.1:${FEED_PG_PORT:-55432}   user feed / password feed / database feed
#   Redis      127.0.0.1:${FEED_REDIS_PORT:-56379}
#   Mail       SMTP 127.0.0.1:1025, web UI http://127.0.0.1:8025
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_PORT="${FEED_PG_PORT:-55432}"
REDIS_PORT="${FEED_REDIS_PORT:-56379}"
DATA="${FEED_DATA_DIR:-$ROOT/.data}"

log() { printf '[deps] %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Replaces the current (sub)shell with a command that has only stdin, stdout and stderr: a daemon
# must not inherit the caller's other descriptors (a build lock taken with flock would otherwise
# stay held for the daemon's lifetime). Call it inside ( ... ).
exec_without_inherited_fds() {
  local fd
  for fd in /proc/$BASHPID/fd/*; do fd="${fd##*/}"; [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done
  exec "$@"
}

use_docker() {
  [ "${FEED_NO_DOCKER:-}" = "1" ] && return 1
  command -v docker >/dev/null 2>&1 || return 1
  docker info >/dev/null 2>&1 || return 1
  docker compose version >/dev/null 2>&1 || return 1
}

wait_for() { # description, command...
  local what="$1"; shift
  for _ in $(seq 1 120); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  log "timed out waiting for $what"
  return 1
}

if use_docker; then
  log "Docker engine found: starting postgres, redis and mailpit with docker compose"
  if [ "${FEED_NO_MAIL:-}" = "1" ]; then
    (cd "$ROOT" && docker compose up -d --wait postgres redis)
  else
    (cd "$ROOT" && docker compose up -d --wait postgres redis mailpit)
  fi
  exit 0
fi

# ---------------------------------------------------------------- packages
pg_bin() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
  done
  return 1
}

missing=()
pg_bin >/dev/null || missing+=(postgresql)
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! as_root apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    as_root apt-get update -q >/dev/null
    as_root apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # The Debian package may start its own system redis on 6379; ours is a separate instance.
fi
PG_BIN="$(pg_bin)"

# ---------------------------------------------------------------- redis
REDIS_DIR="$DATA/redis"
mkdir -p "$REDIS_DIR"
if redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; then
  log "redis already running on 127.0.0.1:$REDIS_PORT"
else
  cat >"$REDIS_DIR/redis.conf" <<EOF
bind 127.0.0.1
port $REDIS_PORT
protected-mode yes
daemonize yes
pidfile $REDIS_DIR/redis.pid
logfile $REDIS_DIR/redis.log
dir $REDIS_DIR
appendonly yes
appendfsync everysec
save ""
# Feeds are sorted sets capped at 800 entries: keep them in the compact listpack encoding.
zset-max-listpack-entries 1024
zset-max-listpack-value 64
EOF
  log "starting redis on 127.0.0.1:$REDIS_PORT (data in $REDIS_DIR)"
  (exec_without_inherited_fds redis-server "$REDIS_DIR/redis.conf")
  wait_for redis sh -c "redis-cli -h 127.0.0.1 -p $REDIS_PORT ping | grep -q PONG"
fi

# ---------------------------------------------------------------- postgres
# PostgreSQL refuses to run as root; as root we run it as the `postgres` system user, which
# must be able to reach the data folder. If it cannot (a repo under /root, say), the data goes
# to /var/tmp instead, keyed by the repo path.
PG_DIR="$DATA/postgres"
RUN_AS=()
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
  RUN_AS=(runuser -u postgres --)
  mkdir -p "$PG_DIR"
  chown postgres:postgres "$PG_DIR"
  if ! runuser -u postgres -- test -w "$PG_DIR"; then
    PG_DIR="/var/tmp/feed-postgres-$(printf '%s' "$ROOT" | md5sum | cut -c1-12)"
    log "postgres user cannot reach $DATA; keeping PostgreSQL data in $PG_DIR"
    mkdir -p "$PG_DIR"
    chown postgres:postgres "$PG_DIR"
  fi
else
  mkdir -p "$PG_DIR"
fi
PGDATA_DIR="$PG_DIR/data"

pg_ready() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; }

if pg_ready; then
  log "postgres already running on 127.0.0.1:$PG_PORT"
else
  if [ ! -s "$PGDATA_DIR/PG_VERSION" ]; then
    log "initialising PostgreSQL cluster in $PGDATA_DIR"
    "${RUN_AS[@]}" "$PG_BIN/initdb" -D "$PGDATA_DIR" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >>"$PGDATA_DIR/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_DIR'
max_connections = 300
shared_buffers = 256MB
fsync = on
synchronous_commit = on
EOF
  fi
  log "starting postgres on 127.0.0.1:$PG_PORT"
  (exec_without_inherited_fds "${RUN_AS[@]}" "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$PG_DIR/postgres.log" -w -t 60 start >/dev/null)
  wait_for postgres pg_ready
fi

psql_admin() { psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA "$@"; }
if [ "$(psql_admin -c "select 1 from pg_roles where rolname = 'feed'")" != "1" ]; then
  psql_admin -c "create role feed login password 'feed' createdb"
fi
if [ "$(psql_admin -c "select 1 from pg_database where datname = 'feed'")" != "1" ]; then
  psql_admin -c "create database feed owner feed"
fi

# ---------------------------------------------------------------- mail catcher
if [ "${FEED_NO_MAIL:-}" != "1" ]; then
  bash "$ROOT/scripts/maildev.sh" 1025 8025
fi
log "ready: postgres 127.0.0.1:$PG_PORT, redis 127.0.0.1:$REDIS_PORT"
