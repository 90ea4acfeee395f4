#!/usr/bin/env bash
# Starts maildev, a local SMTP server that keeps what it receives and shows it in a web UI with a
# REST API (GET /email, DELETE /email/all), on loopback, and leaves it running.
#
#   scripts/maildev.sh [SMTP_PORT] [WEB_PORT]     (defaults 1025 and 8025, the ports of Mailpit in docker-compose.yml)
#
# maildev comes from the npm registry into .tools/maildev (ignored by git); Node.js and npm from
# Debian if missing. Safe to run any number of times: a maildev already listening is reused,
# unless its mail folder is gone (it was started from a checkout since deleted).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SMTP_PORT="${1:-1025}"
WEB_PORT="${2:-8025}"
TOOLS="$ROOT/.tools"

log() { printf '[maildev] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# Replaces the current (sub)shell with a command that has only stdin, stdout and stderr: a daemon
# must not inherit the caller's other descriptors (a build lock taken with flock would otherwise
# stay held for the daemon's lifetime). Call it inside ( ... ).
exec_without_inherited_fds() {
  local fd
  for fd in /proc/$BASHPID/fd/*; do fd="${fd##*/}"; [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done
  exec "$@"
}

# The mail folder of the maildev serving this SMTP port, from its command line.
running_mail_dir() { pgrep -af -- "--smtp $SMTP_PORT " | sed -n 's/.*--mail-directory \([^ ]*\).*/\1/p' | head -n 1; }

if listening "$WEB_PORT" && listening "$SMTP_PORT"; then
  RUNNING_DIR="$(running_mail_dir || true)"
  if [ -n "$RUNNING_DIR" ] && [ ! -d "$RUNNING_DIR" ]; then
    # Started from a checkout that has since been deleted: it can no longer store mail.
    log "the maildev on $SMTP_PORT keeps mail in $RUNNING_DIR, which is gone: restarting it"
    pkill -f -- "--smtp $SMTP_PORT " || true
    for _ in $(seq 1 40); do listening "$SMTP_PORT" || break; sleep 0.25; done
  else
    log "already running: SMTP 127.0.0.1:$SMTP_PORT, web http://127.0.0.1:$WEB_PORT"
    exit 0
  fi
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  log "installing Debian packages: nodejs npm"
  export DEBIAN_FRONTEND=noninteractive
  if ! as_root apt-get install -y -q --no-install-recommends nodejs npm >/dev/null 2>&1; then
    as_root apt-get update -q >/dev/null
    as_root apt-get install -y -q --no-install-recommends nodejs npm >/dev/null
  fi
fi

# maildev 3 needs Node.js 20; Debian 12's own Node.js is 18, which runs maildev 2 (same REST API).
NODE_MAJOR="$(node -p 'process.versions.node.split(".")[0]')"
VERSION="3.0.0"
[ "$NODE_MAJOR" -ge 20 ] || VERSION="2.2.1"
PREFIX="$TOOLS/maildev-$VERSION"
BIN="$PREFIX/node_modules/.bin/maildev"
if [ ! -e "$BIN" ]; then
  log "installing maildev@$VERSION into $PREFIX"
  mkdir -p "$PREFIX"
  npm install --prefix "$PREFIX" "maildev@$VERSION" --no-audit --no-fund --loglevel=error >/dev/null
fi

LOGFILE="$TOOLS/maildev-$SMTP_PORT.log"
MAIL_DIR="$TOOLS/maildev-$SMTP_PORT-mail"
mkdir -p "$MAIL_DIR"
log "starting maildev: SMTP 127.0.0.1:$SMTP_PORT, web http://127.0.0.1:$WEB_PORT (log $LOGFILE)"
(exec_without_inherited_fds nohup setsid node "$BIN" --ip 127.0.0.1 --smtp "$SMTP_PORT" --web-ip 127.0.0.1 --web "$WEB_PORT" --mail-directory "$MAIL_DIR" >"$LOGFILE" 2>&1 </dev/null) &
echo $! >"$TOOLS/maildev-$SMTP_PORT.pid"

for _ in $(seq 1 60); do
  if listening "$WEB_PORT" && listening "$SMTP_PORT"; then
    exit 0
  fi
  sleep 0.5
done
log "maildev did not start; see $LOGFILE"
exit 1
