#!/usr/bin/env bash
# `make run`: Kafka, the topics, the three services on embedded SQLite; Ctrl-C stops it all.
#
#   deploy/scripts/run.sh [--detach]
#
# --detach (what `dealreg up` runs): start everything, print where it is, and return; stop it
# with `dealreg down` (or `make stop`). A failed start stops what it had started either way.
# Environment: DEALREG_STATE_DIR (<repo>/.dealreg: pid files, logs, databases, credentials),
# KAFKA_PORT and KAFKA_CONTROLLER_PORT, DEALREG_<SERVICE>_PORT, DEALREG_SANDBOX_PORT.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE="${DEALREG_STATE_DIR:-$ROOT/.dealreg}"
DETACH=0
case "${1:-}" in
  --detach) DETACH=1 ;;
  "") ;;
  *) echo "usage: $0 [--detach]" >&2; exit 2 ;;
esac
export DEALREG_STATE_DIR="$STATE"
export KAFKA_DATA_DIR="${KAFKA_DATA_DIR:-$STATE/kafka}"
PY="$ROOT/.venv/bin/python"
# The state folder holds the admin token and the CRM sandbox's credentials: owner only (each
# file is written 0600 by services.secret_files; the umask covers anything else).
umask 077
mkdir -p "$STATE"
chmod 700 "$STATE"
chmod 600 "$STATE"/admin-token "$STATE"/*credentials*.json 2>/dev/null || true
export DEALREG_KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:${KAFKA_PORT:-9092}"

# One admin token per checkout unless the environment brings one: a second run keeps it.
if [[ -z "${DEALREG_ADMIN_TOKEN:-}" ]]; then
  DEALREG_ADMIN_TOKEN="$("$PY" -m services.secret_files token "$STATE/admin-token")"
fi
export DEALREG_ADMIN_TOKEN
# After `dealreg keys rotate admin-token`: the old token's hash, accepted until its overlap ends.
if [[ -z "${DEALREG_ADMIN_TOKEN_PREVIOUS_SHA256:-}" && -f "$STATE/admin-token-previous.json" ]]; then
  eval "$("$PY" - "$STATE/admin-token-previous.json" <<'PYEOF'
import json, shlex, sys
previous = json.load(open(sys.argv[1]))
print(f"export DEALREG_ADMIN_TOKEN_PREVIOUS_SHA256={shlex.quote(previous['sha256'])}")
print(f"export DEALREG_ADMIN_TOKEN_PREVIOUS_UNTIL={shlex.quote(previous['until'])}")
PYEOF
)"
fi

stop_all() {
  trap - INT TERM EXIT
  # Whatever happens to our output (a closed pipe, say), the stopping must go on.
  set +e
  trap '' PIPE
  echo; echo "stopping dealreg..."
  "$ROOT/deploy/scripts/services.sh" stop || true
  "$ROOT/deploy/scripts/crm-sandbox.sh" stop || true
  "$ROOT/deploy/scripts/kafka.sh" stop || true
}
trap stop_all INT TERM EXIT

"$ROOT/deploy/scripts/kafka.sh" fetch
"$ROOT/deploy/scripts/kafka.sh" start
"$PY" -m services.kafka.admin "$DEALREG_KAFKA_BOOTSTRAP_SERVERS"
# The CRM sandbox speaks HubSpot's (and Salesforce's) dialect; crm_sync mirrors into it.
"$ROOT/deploy/scripts/crm-sandbox.sh" start \
  | "$PY" -m services.secret_files write "$STATE/crm-sandbox-credentials.json"
eval "$("$PY" - "$STATE/crm-sandbox-credentials.json" <<'PYEOF'
import json, shlex, sys
sandbox = json.load(open(sys.argv[1]))
settings = {
    "DEALREG_CRM_CONNECTOR": "hubspot",
    "DEALREG_CRM_HUBSPOT_BASE_URL": sandbox["hubspot_base_url"],
    "DEALREG_CRM_HUBSPOT_TOKEN": sandbox["hubspot_token"],
    "DEALREG_CRM_HUBSPOT_APP_ID": sandbox["hubspot_app_id"],
    "DEALREG_CRM_HUBSPOT_CLIENT_SECRET": sandbox["hubspot_client_secret"],
}
for name, value in settings.items():
    print(f"export {name}={shlex.quote(str(value))}")
PYEOF
)"
"$ROOT/deploy/scripts/services.sh" start

"$PY" - "$STATE/dev-credentials.json" <<'PYEOF'
import json, os, sys
credentials = {
    "admin_token": os.environ["DEALREG_ADMIN_TOKEN"],
    "urls": {
        "deal_registration": f"http://127.0.0.1:{os.environ.get('DEALREG_DEAL_REGISTRATION_PORT', '8081')}",
        "conflict_resolver": f"http://127.0.0.1:{os.environ.get('DEALREG_CONFLICT_RESOLVER_PORT', '8082')}",
        "crm_sync": f"http://127.0.0.1:{os.environ.get('DEALREG_CRM_SYNC_PORT', '8083')}",
        "crm_sandbox": f"http://127.0.0.1:{os.environ.get('DEALREG_SANDBOX_PORT', '8090')}",
        "kafka": os.environ["DEALREG_KAFKA_BOOTSTRAP_SERVERS"],
    },
    "crm_sandbox": json.load(open(os.path.join(os.path.dirname(sys.argv[1]), "crm-sandbox-credentials.json"))),
}
from pathlib import Path
from services.secret_files import write_owner_only
write_owner_only(Path(sys.argv[1]), json.dumps(credentials, indent=2))
print("\ndealreg is running.")
for name, url in credentials["urls"].items():
    print(f"  {name:18} {url}")
print(f"  admin token        {credentials['admin_token']}")
print(f"  credentials file   {sys.argv[1]}")
from services.tracing import otlp_endpoint
traces = otlp_endpoint(os.environ.get("DEALREG_OTLP_ENDPOINT"))
print(f"  traces             {traces or 'kept in the process (set DEALREG_OTLP_ENDPOINT to export over OTLP)'}")
PYEOF
echo "  logs               $STATE/logs/"
# Where to watch it and how to operate it (a Grafana URL when one is configured).
echo "  metrics            /metrics on each service (Prometheus text format)"
echo "  dashboard          $ROOT/deploy/observability/grafana-dashboard.json (import into Grafana)"
if [[ -n "${DEALREG_GRAFANA_URL:-}" ]]; then
  echo "  grafana            $DEALREG_GRAFANA_URL"
fi
echo "  alert rules        $ROOT/deploy/observability/alerts.yaml"
echo "  operations guide   $ROOT/docs/operations.md"
if ((DETACH)); then
  trap - INT TERM EXIT
  echo "Stop it with 'dealreg down' (or 'make stop')."
  exit 0
fi
echo "Press Ctrl-C to stop everything."
while true; do sleep 3600 & wait $!; done
