#!/usr/bin/env bash
# `make run`: Kafka, the topics, the three services on embedded SQLite; Ctrl-C stops it all.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE="$ROOT/.dealreg"
PY="$ROOT/.venv/bin/python"
mkdir -p "$STATE"
export DEALREG_KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:${KAFKA_PORT:-9092}"

# One admin token per checkout unless the environment brings one: a second run keeps it.
if [[ -z "${DEALREG_ADMIN_TOKEN:-}" ]]; then
  [[ -s "$STATE/admin-token" ]] || "$PY" -c 'import secrets; print(secrets.token_urlsafe(32))' >"$STATE/admin-token"
  DEALREG_ADMIN_TOKEN="$(cat "$STATE/admin-token")"
fi
export DEALREG_ADMIN_TOKEN

stop_all() {
  trap - INT TERM EXIT
  echo; echo "stopping dealreg..."
  "$ROOT/deploy/scripts/services.sh" stop || true
  "$ROOT/deploy/scripts/kafka.sh" stop || true
}
trap stop_all INT TERM EXIT

"$ROOT/deploy/scripts/kafka.sh" fetch
"$ROOT/deploy/scripts/kafka.sh" start
"$PY" -m services.kafka.admin "$DEALREG_KAFKA_BOOTSTRAP_SERVERS"
"$ROOT/deploy/scripts/services.sh" start

"$PY" - "$STATE/dev-credentials.json" <<'PYEOF'
import json, os, sys
credentials = {
    "admin_token": os.environ["DEALREG_ADMIN_TOKEN"],
    "urls": {
        "deal_registration": f"http://127.0.0.1:{os.environ.get('DEALREG_DEAL_REGISTRATION_PORT', '8081')}",
        "conflict_resolver": f"http://127.0.0.1:{os.environ.get('DEALREG_CONFLICT_RESOLVER_PORT', '8082')}",
        "crm_sync": f"http://127.0.0.1:{os.environ.get('DEALREG_CRM_SYNC_PORT', '8083')}",
        "kafka": os.environ["DEALREG_KAFKA_BOOTSTRAP_SERVERS"],
    },
}
with open(sys.argv[1], "w") as out:
    json.dump(credentials, out, indent=2)
os.chmod(sys.argv[1], 0o600)
print("\ndealreg is running.")
for name, url in credentials["urls"].items():
    print(f"  {name:18} {url}")
print(f"  admin token        {credentials['admin_token']}")
print(f"  credentials file   {sys.argv[1]}")
PYEOF
echo "  logs               $STATE/logs/"
echo "Press Ctrl-C to stop everything."
while true; do sleep 3600 & wait $!; done
