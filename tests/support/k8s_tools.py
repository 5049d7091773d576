"""The offline validators of the Kubernetes manifests, installed on first use and cached.

- ``kustomize`` and ``kubeconform``: built by ``go install`` at pinned versions (the Go module
  proxy checks them against its checksum database) into ``.dealreg/tools/go/<name>-<version>``;
- the Kubernetes JSON schemas: the ``kubernetes-validate`` wheel from PyPI, pinned by hash,
  its ``local-strict`` schemas unpacked with their ``$ref``s made absolute file URLs (the wheel
  resolves ``/api/_definitions.json`` itself, kubeconform needs a loadable address);
- the KEDA and prometheus-operator schemas and the PromQL grammar: ``deploy/k8s/validate``
  (``npm ci``, lock file);
- the Strimzi kinds: Strimzi's own API model classes (``io.strimzi:api`` from Maven Central)
  reading them, with every unknown field and every value the model rejects reported
  (``deploy/k8s/validate/strimzi``).

Nothing here reaches a cluster. A missing Go, Node.js or JDK skips locally and fails in CI
(:func:`tests.support.infra.require`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.support.infra import ROOT, STATE, require

TOOLS = STATE / "tools"
KUSTOMIZE = ("sigs.k8s.io/kustomize/kustomize/v5", "v5.5.0", "kustomize")
KUBECONFORM = ("github.com/yannh/kubeconform/cmd/kubeconform", "v0.6.7", "kubeconform")
KUBERNETES_VERSION = "1.33.0"
SCHEMAS_WHEEL = (
    "kubernetes-validate==1.37.0 "
    "--hash=sha256:85136d018a27b50ec7fc049d902bfa5193f5976807e6c0f408e3ab6fe078cad9"
)
VALIDATE_JS = ROOT / "deploy" / "k8s" / "validate"


def _go() -> str:
    found = shutil.which("go") or (
        "/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None
    )
    require(found is not None, "Go (to build kustomize and kubeconform)")
    assert found is not None
    return found


def go_tool(module: str, version: str, name: str) -> Path:
    """``go install module@version`` into a folder of its own, once."""
    folder = TOOLS / "go" / f"{name}-{version}"
    binary = folder / name
    if not binary.exists():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [_go(), "install", f"{module}@{version}"],
            env={**os.environ, "GOBIN": str(folder), "CGO_ENABLED": "0"},
            check=True,
            capture_output=True,
        )
    return binary


def kustomize() -> Path:
    return go_tool(*KUSTOMIZE)


def kubeconform() -> Path:
    return go_tool(*KUBECONFORM)


def kubernetes_schemas() -> Path:
    """A folder ``v<version>/<kind>-<group>-<version>.json`` that kubeconform can load."""
    target = TOOLS / "kubernetes-schemas-1.37.0"
    version_dir = target / f"v{KUBERNETES_VERSION}"
    if (version_dir / "_definitions.json").exists():
        return target
    download = TOOLS / "wheels"
    download.mkdir(parents=True, exist_ok=True)
    requirements = download / "kubernetes-validate.txt"
    requirements.write_text(SCHEMAS_WHEEL + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--require-hashes",
            "-r",
            str(requirements),
            "-d",
            str(download),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next(download.glob("kubernetes_validate-1.37.0-*.whl"))
    prefix = f"kubernetes_validate/kubernetes-json-schema/v{KUBERNETES_VERSION}-local-strict/"
    partial = target.with_suffix(".partial")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / version_dir.name).mkdir(parents=True)
    definitions = f"file://{version_dir}/_definitions.json"
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            if member.startswith(prefix) and member.endswith(".json"):
                text = archive.read(member).decode()
                text = text.replace('"/api/_definitions.json', f'"{definitions}')
                (partial / version_dir.name / member.removeprefix(prefix)).write_text(text)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


NODE_PACKAGES = (
    "@kubernetes-models/keda",
    "@kubernetes-models/prometheus-operator",
    "@prometheus-io/lezer-promql",
)


def node_validator(script: str) -> Path:
    """``node <script> input.json`` with the packages of ``deploy/k8s/validate`` installed."""
    require(shutil.which("node") is not None and shutil.which("npm") is not None, "Node.js")
    modules = VALIDATE_JS / "node_modules"
    if not all((modules / package).exists() for package in NODE_PACKAGES):
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
            cwd=VALIDATE_JS,
            check=True,
            capture_output=True,
        )
    return VALIDATE_JS / script


def custom_resource_validator() -> Path:
    """``node validate.mjs docs.json``: KEDA and prometheus-operator resources."""
    return node_validator("validate.mjs")


def promql_validator() -> Path:
    """``node promql.mjs expressions.json``: PromQL parsed with Prometheus's own grammar."""
    return node_validator("promql.mjs")


STRIMZI = ROOT / "deploy" / "k8s" / "validate" / "strimzi"


def strimzi_validator() -> list[str]:
    """``java -cp ... StrimziValidate docs.json``: Strimzi's API model (io.strimzi:api 0.49.0,
    from Maven Central) reading the Strimzi resources, compiled once into the cache."""
    require(
        shutil.which("mvn") is not None and shutil.which("javac") is not None,
        "Maven and a JDK (to validate the Strimzi resources)",
    )
    target = TOOLS / "strimzi-validate-0.49.0"
    classes = target / "classes"
    source = STRIMZI / "StrimziValidate.java"
    stamp = classes / "StrimziValidate.class"
    if not stamp.exists() or stamp.stat().st_mtime < source.stat().st_mtime:
        subprocess.run(
            [
                "mvn",
                "-q",
                "-B",
                "-f",
                str(STRIMZI / "pom.xml"),
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={target / 'lib'}",
            ],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            ["javac", "-cp", f"{target / 'lib'}/*", "-d", str(classes), str(source)],
            check=True,
            capture_output=True,
        )
    return ["java", "-cp", f"{classes}:{target / 'lib'}/*", "StrimziValidate"]
