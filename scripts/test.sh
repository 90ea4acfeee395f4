#!/usr/bin/env bash
# Runs every test in Feed.sln against real PostgreSQL and Redis, which it starts first
# (see scripts/deps.sh), and a real SMTP server for the digest tests: maildev, whose REST API
# lets the tests read what it received (see scripts/maildev.sh). Extra arguments go to
# `dotnet test`, e.g. --filter FanOut.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

FEED_NO_MAIL=1 bash "$ROOT/scripts/deps.sh"

# The tests' own mail server, apart from the one a local run uses (ports 1025/8025).
export FEED_TEST_SMTP_PORT="${FEED_TEST_SMTP_PORT:-51025}" FEED_TEST_MAILDEV_PORT="${FEED_TEST_MAILDEV_PORT:-51080}"
bash "$ROOT/scripts/maildev.sh" "$FEED_TEST_SMTP_PORT" "$FEED_TEST_MAILDEV_PORT"

# The dashboard's browser test drives Debian's Chromium (Playwright's own browser download is not used).
if [ ! -x /usr/bin/chromium ]; then
  echo "[test] installing Debian's chromium for the browser tests" >&2
  as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
  export DEBIAN_FRONTEND=noninteractive
  if ! as_root apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1; then
    as_root apt-get update -q >/dev/null
    as_root apt-get install -y -q --no-install-recommends chromium >/dev/null
  fi
fi

dotnet build "$ROOT/Feed.sln" -c Release -nologo -v quiet -clp:ErrorsOnly
dotnet test "$ROOT/Feed.sln" -c Release --no-build --logger "console;verbosity=normal" "$@"

# The end-to-end and consistency tests again, against a Redis Cluster of three primaries (feeds,
# timelines, caches and Hangfire's storage all on it). Skipped only when a filter picks tests.
if [ "$#" -eq 0 ]; then
  bash "$ROOT/scripts/redis-cluster.sh"
  FEED_TEST_REDIS="127.0.0.1:17001,127.0.0.1:17002,127.0.0.1:17003" \
    dotnet test "$ROOT/tests/Feed.Tests" -c Release --no-build --logger "console;verbosity=normal" \
    --filter "(FullyQualifiedName~Feed.Tests.FanOut|FullyQualifiedName~Feed.Tests.Feeds|FullyQualifiedName~Feed.Tests.Consistency|FullyQualifiedName~Feed.Tests.Webhooks|FullyQualifiedName~Feed.Tests.Api)&FullyQualifiedName!~Restarted_redis"
fi
