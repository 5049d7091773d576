#!/usr/bin/env bash
# The CRM sandbox (HubSpot over HTTP on 8090, Salesforce over HTTPS on 8091) as a plain process.
#
#   deploy/scripts/crm-sandbox.sh start|stop|status
#
# start prints the sandbox's credentials as JSON on stdout (merge them into
# .dealreg/dev-credentials.json as "crm_sandbox"). Environment: DEALREG_STATE_DIR (<repo>/.dealreg),
# DEALREG_SANDBOX_PORT (8090), DEALREG_SANDBOX_SALESFORCE_PORT (8091), DEALREG_CRM_SYNC_PORT
# (8083, where webhooks go), and any DEALREG_SANDBOX_* setting (crm_sync/sandbox/settings.py).
# Tokens and secrets are generated once and kept in $STATE/crm_sandbox/credentials.env.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE="${DEALREG_STATE_DIR:-$ROOT/.dealreg}"
RUN="$STATE/run"; LOGS="$STATE/logs"; DIR="$STATE/crm_sandbox"
PY="${DEALREG_PYTHON:-$ROOT/.venv/bin/python}"
PORT="${DEALREG_SANDBOX_PORT:-8090}"
SF_PORT="${DEALREG_SANDBOX_SALESFORCE_PORT:-8091}"
CRM_SYNC="http://127.0.0.1:${DEALREG_CRM_SYNC_PORT:-8083}"
PIDFILE="$RUN/crm_sandbox.pid"

log() { echo "crm-sandbox.sh: $*" >&2; }
alive() { [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }
secret() { "$PY" -c 'import secrets; print(secrets.token_urlsafe(24))'; }

credentials() {
  mkdir -p "$DIR"; chmod 700 "$DIR"
  umask 077
  if [[ ! -s "$DIR/credentials.env" ]]; then
    "$PY" -m services.secret_files write "$DIR/credentials.env" <<ENV
DEALREG_SANDBOX_HUBSPOT_TOKEN=$(secret)
DEALREG_SANDBOX_HUBSPOT_USER_TOKEN=$(secret)
DEALREG_SANDBOX_HUBSPOT_CLIENT_SECRET=$(secret)
DEALREG_SANDBOX_SALESFORCE_CLIENT_ID=$(secret)
DEALREG_SANDBOX_SALESFORCE_CLIENT_SECRET=$(secret)
DEALREG_SANDBOX_SALESFORCE_WEBHOOK_SECRET=$(secret)
ENV
  fi
  chmod 600 "$DIR/credentials.env"
  set -a; . "$DIR/credentials.env"; set +a
}

print_credentials() {
  "$PY" - "$PORT" "$SF_PORT" "$DIR/tls/cert.pem" <<'PYEOF'
import json, os, sys
env = os.environ
print(json.dumps({
    "url": f"http://127.0.0.1:{sys.argv[1]}",
    "hubspot_base_url": f"http://127.0.0.1:{sys.argv[1]}",
    "hubspot_token": env["DEALREG_SANDBOX_HUBSPOT_TOKEN"],
    "hubspot_user_token": env["DEALREG_SANDBOX_HUBSPOT_USER_TOKEN"],
    "hubspot_app_id": env.get("DEALREG_SANDBOX_HUBSPOT_APP_ID", "1001"),
    "hubspot_client_secret": env["DEALREG_SANDBOX_HUBSPOT_CLIENT_SECRET"],
    "salesforce_instance_url": f"https://127.0.0.1:{sys.argv[2]}",
    "salesforce_client_id": env["DEALREG_SANDBOX_SALESFORCE_CLIENT_ID"],
    "salesforce_client_secret": env["DEALREG_SANDBOX_SALESFORCE_CLIENT_SECRET"],
    "salesforce_webhook_secret": env["DEALREG_SANDBOX_SALESFORCE_WEBHOOK_SECRET"],
    "salesforce_integration_user_id": "005000000000001AAA",
    "salesforce_ca_bundle": sys.argv[3],
}, indent=2))
PYEOF
}

case "${1:-}" in
  start)
    mkdir -p "$RUN" "$LOGS"
    credentials
    if ! alive; then
      DEALREG_SANDBOX_SALESFORCE_PORT="$SF_PORT" DEALREG_SANDBOX_TLS_DIR="$DIR/tls" \
      DEALREG_SANDBOX_HUBSPOT_WEBHOOK_URL="${DEALREG_SANDBOX_HUBSPOT_WEBHOOK_URL:-$CRM_SYNC/v1/webhooks/hubspot}" \
      DEALREG_SANDBOX_SALESFORCE_WEBHOOK_URL="${DEALREG_SANDBOX_SALESFORCE_WEBHOOK_URL:-$CRM_SYNC/v1/webhooks/salesforce}" \
        setsid "$PY" -m uvicorn crm_sync.sandbox.app:create_app --factory --host 127.0.0.1 \
        --port "$PORT" --no-access-log >>"$LOGS/crm_sandbox.log" 2>&1 < /dev/null &
      echo $! >"$PIDFILE"
      deadline=$((SECONDS + 30))
      until curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; do
        if ! alive; then log "exited; see $LOGS/crm_sandbox.log"; tail -20 "$LOGS/crm_sandbox.log" >&2; exit 1; fi
        if ((SECONDS > deadline)); then log "not ready after 30 s"; exit 1; fi
        sleep 0.2
      done
    else
      log "already running"
    fi
    print_credentials
    ;;
  stop)
    if [[ -f "$PIDFILE" ]]; then
      pid=$(cat "$PIDFILE")
      if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
      fi
      rm -f "$PIDFILE"
    fi
    ;;
  status) if alive; then echo "crm_sandbox running (pid $(cat "$PIDFILE"), port $PORT, salesforce $SF_PORT)"; else echo "crm_sandbox stopped"; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
