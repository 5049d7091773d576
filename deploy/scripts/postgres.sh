#!/usr/bin/env bash
# Throwaway PostgreSQL cluster for development and CI, from Debian's server binaries
# (apt-get install postgresql), with no system service.
#
#   deploy/scripts/postgres.sh start|stop|status|createdb NAME
#
# Environment: PG_PORT (55432), PG_DATA_DIR (<repo>/.dealreg/postgres; as root
#              /tmp/dealreg-pg-<port>, see below).
# start prints the connection URL on stdout (everything else goes to stderr);
# status exits 0 when running, 3 when stopped.
# Tuned for speed, not durability (fsync=off ...): never keep data you care about in it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PORT="${PG_PORT:-55432}"
STATE="$ROOT/.dealreg/postgres-$PORT"   # .env and .pid live here, whoever owns the data
URL="postgresql://dealreg:dealreg@127.0.0.1:$PORT/postgres"

log() { echo "postgres.sh: $*" >&2; }

BIN="$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n1)"
[[ -x "$BIN/initdb" ]] || { log "no PostgreSQL server in /usr/lib/postgresql (apt-get install postgresql)"; exit 1; }

# initdb refuses to run as root, so as root the cluster belongs to a system user. That user
# may be unable to traverse the repo (e.g. under /root), hence a data dir of its own in /tmp.
if [[ $EUID -eq 0 ]]; then
  if id postgres >/dev/null 2>&1; then RUN_AS=postgres; else
    id dealreg >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin dealreg
    RUN_AS=dealreg
  fi
  DATA="${PG_DATA_DIR:-/tmp/dealreg-pg-$PORT}"
else
  RUN_AS=""
  DATA="${PG_DATA_DIR:-$ROOT/.dealreg/postgres}"
fi
# A previous start's choice wins, so stop/status find the cluster that is actually running.
# shellcheck disable=SC1090
[[ -f "$STATE.env" ]] && DATA="$(. "$STATE.env"; echo "$PGDATA")"

# cd /: the cluster owner may not be allowed into the caller's cwd.
as_owner() {
  if [[ -n "$RUN_AS" ]]; then (cd / && runuser -u "$RUN_AS" -- "$@"); else "$@"; fi
}

is_running() { as_owner "$BIN/pg_ctl" status -D "$DATA" >/dev/null 2>&1; }

start() {
  mkdir -p "$ROOT/.dealreg"
  if is_running; then log "already running ($DATA)"; echo "$URL"; return 0; fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    log "port $PORT is already in use by another process"; return 1
  fi

  if [[ ! -f "$DATA/PG_VERSION" ]]; then
    mkdir -p "$DATA"
    [[ -n "$RUN_AS" ]] && chown "$RUN_AS": "$DATA" && chmod 700 "$DATA"
    as_owner test -w "$DATA" || { log "$RUN_AS cannot write $DATA; set PG_DATA_DIR"; return 1; }
    local pw; pw="$(mktemp)"; echo dealreg >"$pw"; chmod 644 "$pw"
    # --no-sync: initdb's fsyncs are most of its run time; the cluster is disposable anyway.
    as_owner "$BIN/initdb" -D "$DATA" -U dealreg --pwfile="$pw" --auth=trust -E UTF8 \
      --locale=C.UTF-8 --no-sync >"$STATE.initdb.log" 2>&1 \
      || { rm -f "$pw"; cat "$STATE.initdb.log" >&2; return 1; }
    rm -f "$pw"
    # No Unix socket: the default socket dir belongs to the system service and a path under
    # the data dir can exceed the 107-byte limit; clients use TCP on 127.0.0.1.
    as_owner tee -a "$DATA/postgresql.conf" >/dev/null <<EOF
# --- dealreg dev/CI settings (deploy/scripts/postgres.sh) ---
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
EOF
  fi

  # The port is given at start (not in postgresql.conf) so that PG_PORT always wins.
  as_owner "$BIN/pg_ctl" start -D "$DATA" -o "-p $PORT" -l "$DATA/server.log" -w -t 60 -s \
    || { tail -n 20 "$DATA/server.log" >&2 2>/dev/null || true; return 1; }
  for _ in $(seq 1 100); do
    "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" && break
    sleep 0.1
  done
  "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" || { log "not accepting connections"; return 1; }
  head -n1 "$DATA/postmaster.pid" >"$STATE.pid"
  printf 'PGDATA=%q\nPGBIN=%q\nPGPORT=%q\nPG_RUN_AS=%q\nDATABASE_URL=%q\n' \
    "$DATA" "$BIN" "$PORT" "$RUN_AS" "$URL" >"$STATE.env"
  log "started (pid $(cat "$STATE.pid"), data $DATA, run as ${RUN_AS:-$(id -un)})"
  echo "$URL"
}

stop() {
  if is_running; then
    # pg_ctl signals the postmaster named in $DATA/postmaster.pid: never a process by name.
    as_owner "$BIN/pg_ctl" stop -D "$DATA" -m fast -w -t 30 -s
    log "stopped"
  else
    log "not running"
  fi
  rm -f "$STATE.pid"
}

status() {
  if is_running; then echo "running (127.0.0.1:$PORT, $DATA)"; else echo "stopped"; return 3; fi
}

createdb() {
  local name="${1:?usage: $0 createdb NAME}"
  [[ "$name" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || { log "bad database name: $name"; return 2; }
  local psql=("$BIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U dealreg -d postgres -v ON_ERROR_STOP=1)
  if [[ -z "$("${psql[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname = '$name'")" ]]; then
    "${psql[@]}" -c "CREATE DATABASE \"$name\""
    log "created database $name"
  fi
  echo "postgresql://dealreg:dealreg@127.0.0.1:$PORT/$name"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  createdb) shift; createdb "$@" ;;
  *) echo "usage: $0 start|stop|status|createdb NAME" >&2; exit 2 ;;
esac
