#!/usr/bin/env bash
# Runs every test in Feed.sln against real PostgreSQL and Redis, which it starts first
# (see scripts/deps.sh). Extra arguments go to `dotnet test`, e.g. --filter FanOut.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

bash "$ROOT/scripts/deps.sh"

dotnet build "$ROOT/Feed.sln" -c Release -nologo -v quiet -clp:ErrorsOnly
dotnet test "$ROOT/Feed.sln" -c Release --no-build --logger "console;verbosity=normal" "$@"
