"""The OpenAPI document of crm_sync, as served at ``/openapi.json`` (and ``/docs``).

``python -m crm_sync.openapi docs/openapi/crm_sync.json`` writes the checked-in copy; a unit
test fails when that copy is stale. The document itself is built by ``services.http.openapi``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from services.http import openapi


def render() -> str:
    from crm_sync.app import create_app

    return openapi.render(create_app)


def main() -> None:
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/openapi/crm_sync.json")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render())


if __name__ == "__main__":
    main()
