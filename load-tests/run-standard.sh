#!/usr/bin/env bash
# Runs the standard load-test set end to end on a 2-core machine: dependencies (scripts/deps.sh),
# Release builds, migrations, the service in the background, a freshly seeded graph, every standard
# scenario with short durations, then the performance targets against their baselines
# (`Feed.LoadTests targets`: pgbench, redis-benchmark, the trivial endpoint), then stops the service.
#
#   load-tests/run-standard.sh [--users N] [--celebrity-threshold N] [--no-targets | --targets-only] [run options...]
#
#   --users N                 users to seed (default 16000; the seed command alone defaults to 100000)
#   --celebrity-threshold N   the service's FanOut:CelebrityThreshold for this run, also given to the
#                             seeder and the targets (default 12000, above the targets' 10,000-follower
#                             author; half the users when there are too few for it)
#   --no-targets              scenarios only
#   --targets-only            targets only (no seeding, no scenarios: the targets load their own fixture)
#   anything else             goes to `Feed.LoadTests run --standard`, after the short defaults
#                             (--duration 10s --warmup 3s), e.g. --rate 300 --duration 60s
#
# WARNING: it reseeds the development database (feed on 127.0.0.1:55432): the users, follows and
# posts in it are deleted. Results go to load-tests/results/<timestamp>/, the service's log next
# to them.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
URL="http://127.0.0.1:5080"
SERVICE_DIR="$ROOT/src/Feed.Service"
SERVICE_DLL="$SERVICE_DIR/bin/Release/net10.0/Feed.Service.dll"
LOAD_DLL="$ROOT/load-tests/Feed.LoadTests/bin/Release/net10.0/Feed.LoadTests.dll"
RESULTS="$ROOT/load-tests/results"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

log() { printf '[run-standard] %s\n' "$*" >&2; }

USERS=16000
THRESHOLD=""
SCENARIOS=1
TARGETS=1
RUN_ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --users) USERS="$2"; shift 2 ;;
    --celebrity-threshold) THRESHOLD="$2"; shift 2 ;;
    --no-targets) TARGETS=0; shift ;;
    --targets-only) SCENARIOS=0; shift ;;
    *) RUN_ARGS+=("$1"); shift ;;
  esac
done
if [ -z "$THRESHOLD" ]; then
  THRESHOLD=12000
  if [ "$USERS" -lt 15000 ]; then
    THRESHOLD=$((USERS / 2))
    log "only $USERS users: celebrity threshold lowered to $THRESHOLD for the service and the seeder"
  fi
fi
has_option() { # name: whether the run arguments already set it
  local arg
  for arg in "${RUN_ARGS[@]+"${RUN_ARGS[@]}"}"; do
    if [ "$arg" = "$1" ] || [[ "$arg" == "$1="* ]]; then return 0; fi
  done
  return 1
}
has_option --duration || RUN_ARGS+=(--duration 10s)
has_option --warmup || RUN_ARGS+=(--warmup 3s)

STARTED=$SECONDS
bash "$ROOT/scripts/deps.sh"

log "building (Release)"
dotnet build "$SERVICE_DIR/Feed.Service.csproj" -c Release -nologo -v quiet -clp:ErrorsOnly
dotnet build "$ROOT/load-tests/Feed.LoadTests/Feed.LoadTests.csproj" -c Release -nologo -v quiet -clp:ErrorsOnly

if curl -fs -o /dev/null "$URL/health/live" 2>/dev/null; then
  log "something already answers on $URL: stop it first (this script starts its own service)"
  exit 1
fi

export ASPNETCORE_ENVIRONMENT=Development
export FanOut__CelebrityThreshold="$THRESHOLD" FanOut__CelebrityLowerMark=$((THRESHOLD * 9 / 10))

log "applying database migrations"
(cd "$SERVICE_DIR" && dotnet "$SERVICE_DLL" migrate)

mkdir -p "$RESULTS"
SERVICE_LOG="$RESULTS/service-$(date -u +%Y%m%d-%H%M%S).log"
log "starting the service on $URL (log: $SERVICE_LOG)"
(cd "$SERVICE_DIR" && exec dotnet "$SERVICE_DLL" --urls "$URL") >"$SERVICE_LOG" 2>&1 &
SERVICE_PID=$!
stop_service() {
  if kill -0 "$SERVICE_PID" 2>/dev/null; then
    log "stopping the service (pid $SERVICE_PID)"
    kill "$SERVICE_PID"
    wait "$SERVICE_PID" 2>/dev/null || true
  fi
}
trap stop_service EXIT

for _ in $(seq 1 120); do
  if curl -fs -o /dev/null "$URL/health/live" 2>/dev/null; then break; fi
  if ! kill -0 "$SERVICE_PID" 2>/dev/null; then
    log "the service exited during start-up:"
    tail -n 30 "$SERVICE_LOG" >&2
    exit 1
  fi
  sleep 0.5
done
curl -fs -o /dev/null "$URL/health/live" || { log "the service did not become live within 60 s"; exit 1; }

if [ "$SCENARIOS" = 1 ]; then
  log "seeding $USERS users"
  dotnet "$LOAD_DLL" seed --users "$USERS" --celebrity-threshold "$THRESHOLD" --reset

  log "running the standard scenarios: ${RUN_ARGS[*]}"
  dotnet "$LOAD_DLL" run --standard "${RUN_ARGS[@]}"
fi
if [ "$TARGETS" = 1 ]; then
  log "measuring the performance targets (celebrity threshold $THRESHOLD)"
  dotnet "$LOAD_DLL" targets --celebrity-threshold "$THRESHOLD"
fi

log "done in $((SECONDS - STARTED)) s"
