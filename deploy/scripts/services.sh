#!/usr/bin/env bash
# The three dealreg services as plain processes, tracked by pid files under .dealreg/run.
#
#   deploy/scripts/services.sh start|stop|status
#
# Environment: DEALREG_STATE_DIR (<repo>/.dealreg), DEALREG_KAFKA_BOOTSTRAP_SERVERS,
# DEALREG_ADMIN_TOKEN (required for start), and per service DEALREG_<SERVICE>_PORT and
# DEALREG_<SERVICE>_DATABASE_URL (default: an embedded SQLite file in the state dir).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE="${DEALREG_STATE_DIR:-$ROOT/.dealreg}"
RUN="$STATE/run"
LOGS="$STATE/logs"
PY="${DEALREG_PYTHON:-$ROOT/.venv/bin/python}"
SERVICES=(deal_registration conflict_resolver crm_sync)
declare -A DEFAULT_PORT=([deal_registration]=8081 [conflict_resolver]=8082 [crm_sync]=8083)

log() { echo "services.sh: $*" >&2; }

port_of() { local var="DEALREG_${1^^}_PORT"; echo "${!var:-${DEFAULT_PORT[$1]}}"; }
db_of() { local var="DEALREG_${1^^}_DATABASE_URL"; echo "${!var:-sqlite+aiosqlite:///$STATE/$1.db}"; }

alive() { [[ -f "$RUN/$1.pid" ]] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

start_one() {
  local svc=$1 port db
  port=$(port_of "$svc"); db=$(db_of "$svc")
  if alive "$svc"; then log "$svc already running"; return 0; fi
  DEALREG_DATABASE_URL="$db" "$PY" -m services.migrations "$svc" upgrade head 2>>"$LOGS/$svc.log"
  # services.http.serve binds DEALREG_HTTP_HOST (127.0.0.1 unless the environment says).
  # The console (conflict_resolver) reads partners' figures from deal_registration.
  DEALREG_INTAKE_URL="${DEALREG_INTAKE_URL:-http://127.0.0.1:$(port_of deal_registration)}" \
  DEALREG_DATABASE_URL="$db" DEALREG_SERVICE_NAME="$svc" DEALREG_HTTP_PORT="$port" \
    setsid "$PY" -m services.http.serve "$svc" >>"$LOGS/$svc.log" 2>&1 < /dev/null &
  echo $! >"$RUN/$svc.pid"
}

wait_ready() {
  local svc=$1 port deadline=$((SECONDS + 60))
  port=$(port_of "$svc")
  until curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
    if ! alive "$svc"; then log "$svc exited; see $LOGS/$svc.log"; tail -20 "$LOGS/$svc.log" >&2; return 1; fi
    if ((SECONDS > deadline)); then log "$svc not ready after 60 s; see $LOGS/$svc.log"; return 1; fi
    sleep 0.2
  done
}

# Ask every service to stop at once, then wait for each (10 s, then SIGKILL): a graceful
# shutdown leaves its consumer group, which takes a moment, and three in a row add up.
stop_all() {
  local svc pid pids=()
  for svc in "${SERVICES[@]}"; do
    [[ -f "$RUN/$svc.pid" ]] || continue
    pid=$(cat "$RUN/$svc.pid")
    kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" && pids+=("$pid")
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
  done
  for svc in "${SERVICES[@]}"; do rm -f "$RUN/$svc.pid"; done
}

case "${1:-}" in
  start)
    : "${DEALREG_ADMIN_TOKEN:?DEALREG_ADMIN_TOKEN must be set}"
    mkdir -p "$RUN" "$LOGS"
    for svc in "${SERVICES[@]}"; do start_one "$svc"; done
    for svc in "${SERVICES[@]}"; do wait_ready "$svc"; done
    ;;
  stop) stop_all ;;
  status)
    for svc in "${SERVICES[@]}"; do
      if alive "$svc"; then echo "$svc running (pid $(cat "$RUN/$svc.pid"), port $(port_of "$svc"))"
      else echo "$svc stopped"; fi
    done
    ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
