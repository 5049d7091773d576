"""Where the system is and how to reach it: environment first, then ``make run``'s files.

``make run`` (and ``dealreg up``) writes ``<state>/dev-credentials.json`` with the admin token
and every URL; the state folder is ``DEALREG_STATE_DIR`` or ``<checkout>/.dealreg``. Each
value can be set by the environment instead, as a remote operator would:
``DEALREG_ADMIN_TOKEN``, ``DEALREG_<SERVICE>_URL``, ``DEALREG_KAFKA_BOOTSTRAP_SERVERS`` and
``DEALREG_KAFKA_TOPIC_PREFIX`` (plus the ``DEALREG_KAFKA_*`` security settings).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import services
from services.kafka.security import client_options
from services.settings import KafkaSettings

SERVICES = ("deal_registration", "conflict_resolver", "crm_sync")
DEFAULT_PORTS = {"deal_registration": 8081, "conflict_resolver": 8082, "crm_sync": 8083}


def checkout_root() -> Path | None:
    """The source checkout this command runs from (it has the deploy scripts), if any."""
    root = Path(services.__file__).resolve().parent.parent
    return root if (root / "deploy" / "scripts" / "run.sh").is_file() else None


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get("DEALREG_STATE_DIR"):
        return Path(env["DEALREG_STATE_DIR"])
    root = checkout_root()
    return (root if root is not None else Path.cwd()) / ".dealreg"


@dataclass(frozen=True)
class Target:
    """The running system as one operator sees it."""

    urls: dict[str, str]
    admin_token: str
    kafka_bootstrap: str
    topic_prefix: str
    kafka_security: dict[str, Any] = field(default_factory=dict)

    def url(self, service: str) -> str:
        return self.urls[service].rstrip("/")

    def topic(self, name: str) -> str:
        return self.topic_prefix + name


def load_target(environ: Mapping[str, str] | None = None) -> Target:
    env = os.environ if environ is None else environ
    credentials = _credentials(state_dir(env) / "dev-credentials.json")
    known_urls: dict[str, str] = dict(credentials.get("urls") or {})
    urls = {
        service: env.get(f"DEALREG_{service.upper()}_URL")
        or known_urls.get(service)
        or f"http://127.0.0.1:{env.get(f'DEALREG_{service.upper()}_PORT', DEFAULT_PORTS[service])}"
        for service in SERVICES
    }
    settings = KafkaSettings()
    bootstrap = (
        env.get("DEALREG_KAFKA_BOOTSTRAP_SERVERS")
        or known_urls.get("kafka")
        or settings.bootstrap_servers
    )
    return Target(
        urls=urls,
        admin_token=env.get("DEALREG_ADMIN_TOKEN") or str(credentials.get("admin_token") or ""),
        kafka_bootstrap=bootstrap,
        topic_prefix=settings.topic_prefix,
        kafka_security=client_options(settings),
    )


def _credentials(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}
