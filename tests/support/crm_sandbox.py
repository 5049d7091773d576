"""The CRM sandbox as a real process (its own uvicorn), for integration and end-to-end tests."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.infra import ROOT
from tests.support.stack import free_port


@dataclass
class CrmSandbox:
    artifacts: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    salesforce_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def salesforce_url(self) -> str:
        return f"https://127.0.0.1:{self.salesforce_port}"

    @property
    def cert(self) -> str:
        return str(self.artifacts / "crm_sandbox_tls" / "cert.pem")

    def start(self, **settings: Any) -> CrmSandbox:
        self.artifacts.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "DEALREG_SANDBOX_SALESFORCE_PORT": str(self.salesforce_port),
            "DEALREG_SANDBOX_TLS_DIR": str(self.artifacts / "crm_sandbox_tls"),
            **{f"DEALREG_SANDBOX_{k.upper()}": str(v) for k, v in settings.items()},
            **self.env,
        }
        with (self.artifacts / "crm_sandbox.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "crm_sync.sandbox.app:create_app",
                    "--factory",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--no-access-log",
                ],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sandbox exited; see {self.artifacts}/crm_sandbox.log")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    context = ssl.create_default_context(cafile=self.cert)
                    httpx.get(
                        f"{self.salesforce_url}/services/data/v59.0/limits/",
                        verify=context,
                        timeout=1,
                    )
                    return self
            except (httpx.HTTPError, OSError, ssl.SSLError):
                pass
            time.sleep(0.1)
        raise TimeoutError("sandbox not ready")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(method, f"{self.url}/_sandbox{path}", timeout=10, **kwargs)
        response.raise_for_status()
        return response.json()

    def credentials(self) -> dict[str, Any]:
        return dict(self.control("GET", "/credentials"))
