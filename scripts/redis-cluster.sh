#!/usr/bin/env bash
# Starts a Redis Cluster of three primaries on loopback (ports ${FEED_CLUSTER_PORTS:-17001 17002 17003};
# each at most 55535, as the cluster bus listens 10000 above; data in .data/redis-cluster/) and leaves it running; `stop` stops it. Safe to run again: a running,
# healthy cluster is reused. Point the service at it with
#   Redis__Configuration=127.0.0.1:17001,127.0.0.1:17002,127.0.0.1:17003
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${FEED_DATA_DIR:-$ROOT/.data}/redis-cluster"
read -r -a PORTS <<<"${FEED_CLUSTER_PORTS:-17001 17002 17003}"

log() { printf '[cluster] %s\n' "$*" >&2; }

if [ "${1:-}" = "stop" ]; then
  for port in "${PORTS[@]}"; do redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; done
  log "stopped"
  exit 0
fi

if ! command -v redis-server >/dev/null 2>&1; then
  log "installing Debian's redis-server"
  as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get install -y -q --no-install-recommends redis-server >/dev/null 2>&1 ||
    { as_root apt-get update -q >/dev/null && as_root apt-get install -y -q --no-install-recommends redis-server >/dev/null; }
fi

healthy() { redis-cli -p "${PORTS[0]}" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; }

if healthy; then
  log "cluster already running on ${PORTS[*]}"
  exit 0
fi

nodes=()
for port in "${PORTS[@]}"; do
  dir="$DATA/$port"
  mkdir -p "$dir"
  if ! redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; then
    # A half-made cluster from an earlier run cannot be joined again: start each node afresh.
    rm -f "$dir/nodes.conf" "$dir/dump.rdb" "$dir/appendonly.aof"
    redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled yes --cluster-config-file "$dir/nodes.conf" \
      --cluster-node-timeout 5000 --dir "$dir" --save "" --appendonly no --daemonize yes \
      --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >/dev/null
  fi
  nodes+=("127.0.0.1:$port")
done
for port in "${PORTS[@]}"; do
  for _ in $(seq 1 100); do redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
done

if ! redis-cli -p "${PORTS[0]}" cluster info | grep -q '^cluster_known_nodes:3'; then
  for port in "${PORTS[@]}"; do redis-cli -p "$port" flushall >/dev/null; redis-cli -p "$port" cluster reset hard >/dev/null; done
  log "creating the cluster: ${nodes[*]}"
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >/dev/null
fi
for _ in $(seq 1 100); do healthy && break; sleep 0.2; done
healthy || { log "cluster did not become healthy"; exit 1; }
log "ready: Redis Cluster on ${nodes[*]}"
