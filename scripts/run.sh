#!/usr/bin/env bash
# Runs the whole service locally: PostgreSQL, Redis and a mail catcher (see scripts/deps.sh),
# the EF Core migrations, then the service itself (API and worker roles) in the foreground.
# Safe to run again: dependencies and data are reused, migrations are only applied once.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
URL="${FEED_URL:-http://127.0.0.1:5080}"
export ASPNETCORE_ENVIRONMENT="${ASPNETCORE_ENVIRONMENT:-Development}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
# Unsubscribe links in digest emails point at this server.
export Digests__PublicBaseUrl="${Digests__PublicBaseUrl:-$URL}"

bash "$ROOT/scripts/deps.sh"

echo "[run] building" >&2
dotnet build "$ROOT/src/Feed.Service/Feed.Service.csproj" -c Release -nologo -v quiet -clp:ErrorsOnly
SERVICE="$ROOT/src/Feed.Service/bin/Release/net10.0/Feed.Service.dll"

echo "[run] applying database migrations" >&2
(cd "$ROOT/src/Feed.Service" && dotnet "$SERVICE" migrate)

cat >&2 <<EOF2

  Feed is starting ($ASPNETCORE_ENVIRONMENT):
    API                 $URL/v1
    OpenAPI document    $URL/openapi/v1.json
    OpenAPI UI          $URL/scalar
    Hangfire dashboard  $URL/hangfire   (Development login: admin / feed-dev)
    Health              $URL/health/live
    Mail (digests)      http://127.0.0.1:8025   (Mailpit with Docker, maildev without; SMTP 127.0.0.1:1025)

EOF2
cd "$ROOT/src/Feed.Service"
exec dotnet "$SERVICE" --urls "$URL"
