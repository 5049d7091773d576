"""Serve one service on the address its settings name: ``python -m services.http.serve
deal_registration`` binds ``DEALREG_HTTP_HOST`` (127.0.0.1) and ``DEALREG_HTTP_PORT`` (the
service's own port by default).

The bind address comes from the same settings the service validates at start-up, so a
service bound to every interface knows it, and refuses to start while any setting still has
its development default (:class:`services.settings.ServiceSettings`).

Logging is configured before uvicorn starts and uvicorn's own configuration is off
(``log_config=None``), so its start-up and error lines are JSON like every other line
(``services.logging``); the service runtime configures it again with its settings.
"""

from __future__ import annotations

import argparse

import uvicorn

from services.logging import configure_logging_from_env
from services.settings import HttpSettings

DEFAULT_PORTS = {"deal_registration": 8081, "conflict_resolver": 8082, "crm_sync": 8083}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("service", choices=sorted(DEFAULT_PORTS))
    args = parser.parse_args(argv)
    configure_logging_from_env(args.service)
    http = HttpSettings()
    uvicorn.run(
        f"{args.service}.app:create_app",
        factory=True,
        host=http.host,
        port=http.port or DEFAULT_PORTS[args.service],
        access_log=False,
        log_config=None,
    )


if __name__ == "__main__":
    main()
