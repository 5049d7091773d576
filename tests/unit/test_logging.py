"""The service's log lines as uvicorn serves it: no access line per request where the serve
command turned uvicorn's access log off, even though logging is configured again at start-up
(``services.logging``); JSON access lines where it is on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# As ``services.http.serve`` runs a service: logging configured before uvicorn starts, uvicorn's
# own configuration off, and the app's lifespan configuring logging again (the service runtime).
_SERVE_SCRIPT = """
import asyncio, sys
from contextlib import asynccontextmanager
import httpx, uvicorn
from fastapi import FastAPI
from services.logging import configure_logging

@asynccontextmanager
async def lifespan(_app):
    configure_logging(service="test", level="INFO", as_json=True)
    yield

app = FastAPI(lifespan=lifespan)

@app.get("/ping")
async def ping() -> dict[str, str]:
    return {"ok": "yes"}

async def main() -> None:
    configure_logging(service="test", level="INFO", as_json=True)
    server = uvicorn.Server(uvicorn.Config(
        app, host="127.0.0.1", port=0, access_log=sys.argv[1] == "on", log_config=None
    ))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"http://127.0.0.1:{port}/ping")).status_code == 200
    server.should_exit = True
    await serving

asyncio.run(main())
"""


def _served_lines(access_log: str) -> list[dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-c", _SERVE_SCRIPT, access_log],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=ROOT,
    )
    return [json.loads(line) for line in done.stderr.splitlines() if line.strip()]


def _access_lines(lines: list[dict[str, object]]) -> list[dict[str, object]]:
    return [line for line in lines if line.get("logger") == "uvicorn.access"]


def test_no_access_line_per_request_when_the_access_log_is_off() -> None:
    lines = _served_lines("off")
    assert any(line.get("logger") == "uvicorn.error" for line in lines)  # uvicorn's own lines
    assert _access_lines(lines) == []


@pytest.mark.parametrize("access_log", ["on"])
def test_access_lines_are_json_when_the_access_log_is_on(access_log: str) -> None:
    (line,) = _access_lines(_served_lines(access_log))
    assert line["service"] == "test"
    assert "GET /ping" in str(line["event"])
