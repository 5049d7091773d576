"""The Kubernetes manifests build with kustomize and validate offline against the schemas.

Core kinds: kubeconform, strict (unknown fields fail), against the Kubernetes schemas of the
``kubernetes-validate`` wheel. KEDA and prometheus-operator kinds: the schemas compiled from
their CRDs (``deploy/k8s/validate``). Strimzi's kinds have no schema to be had offline; they
are generated from ``schemas/topics.py`` and the ACL generator instead
(tests/unit/test_k8s_generated.py).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import k8s_tools
from tests.support.infra import ROOT

OVERLAYS = ROOT / "deploy" / "k8s" / "overlays"
STRIMZI_KINDS = {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser"}
CUSTOM_KINDS = {"ScaledObject", "TriggerAuthentication", "PodMonitor"}
SERVICES = ("deal_registration", "conflict_resolver", "crm_sync")


def build(overlay: str) -> str:
    result = subprocess.run(
        [str(k8s_tools.kustomize()), "build", str(OVERLAYS / overlay)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def kubeconform(rendered: str) -> subprocess.CompletedProcess[str]:
    schemas = k8s_tools.kubernetes_schemas()
    return subprocess.run(
        [
            str(k8s_tools.kubeconform()),
            "-strict",
            "-summary",
            "-kubernetes-version",
            k8s_tools.KUBERNETES_VERSION,
            "-schema-location",
            f"{schemas}/{{{{ .NormalizedKubernetesVersion }}}}/"
            "{{ .ResourceKind }}{{ .KindSuffix }}.json",
            "-skip",
            ",".join(sorted(STRIMZI_KINDS | CUSTOM_KINDS)),
            "-",
        ],
        input=rendered,
        capture_output=True,
        text=True,
        check=False,
    )


def documents(rendered: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


@pytest.fixture(scope="module", params=["single", "cluster"])
def overlay(request: pytest.FixtureRequest) -> tuple[str, str]:
    return request.param, build(request.param)


def test_core_kinds_validate_strictly_against_the_kubernetes_schemas(
    overlay: tuple[str, str],
) -> None:
    _, rendered = overlay
    result = kubeconform(rendered)
    assert result.returncode == 0, result.stdout + result.stderr
    core = [d for d in documents(rendered) if d["kind"] not in STRIMZI_KINDS | CUSTOM_KINDS]
    assert f"Valid: {len(core)}, Invalid: 0, Errors: 0" in result.stdout


def test_the_example_secrets_validate_and_hold_every_key_the_pods_read() -> None:
    example = (ROOT / "deploy" / "k8s" / "secrets.example.yaml").read_text()
    result = kubeconform(example)
    assert result.returncode == 0, result.stdout + result.stderr
    keys = {
        (doc["metadata"]["name"], key) for doc in documents(example) for key in doc["stringData"]
    }
    examples = {name for name, _ in keys}
    for doc in documents(build("cluster")):
        if doc["kind"] not in {"Deployment", "Job"}:
            continue
        for container in doc["spec"]["template"]["spec"]["containers"]:
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref and ref["name"] in examples and not ref.get("optional"):
                    assert (ref["name"], ref["key"]) in keys, ref


def test_kubeconform_rejects_an_unknown_field(overlay: tuple[str, str]) -> None:
    """The validation is live: a misspelt field in a Deployment fails it."""
    _, rendered = overlay
    broken = rendered.replace("readinessProbe:", "readinesProbe:", 1)
    result = kubeconform(broken)
    assert result.returncode != 0
    assert "readinesProbe" in result.stdout


def test_keda_and_prometheus_resources_validate_against_their_crd_schemas(
    overlay: tuple[str, str], tmp_path: Path
) -> None:
    _, rendered = overlay
    docs = documents(rendered)
    path = tmp_path / "docs.json"
    path.write_text(json.dumps(docs))
    script = k8s_tools.custom_resource_validator()
    result = subprocess.run(
        ["node", str(script), str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    valid = [line for line in result.stdout.splitlines() if line.startswith("valid ")]
    assert len(valid) == len([d for d in docs if d["kind"] in CUSTOM_KINDS]) > 0

    scaled = next(d for d in docs if d.get("kind") == "ScaledObject")
    scaled["spec"]["minReplicaCount"] = "two"
    path.write_text(json.dumps([scaled]))
    rejected = subprocess.run(
        ["node", str(script), str(path)], capture_output=True, text=True, check=False
    )
    assert rejected.returncode == 1
    assert "minReplicaCount must be integer" in rejected.stdout


def test_every_service_runs_non_root_with_probes_resources_and_secrets(
    overlay: tuple[str, str],
) -> None:
    _, rendered = overlay
    docs = documents(rendered)
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    jobs = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Job"}
    budgets = {d["metadata"]["name"] for d in docs if d["kind"] == "PodDisruptionBudget"}
    scaled = {d["spec"]["scaleTargetRef"]["name"] for d in docs if d["kind"] == "ScaledObject"}
    for service in SERVICES:
        name = service.replace("_", "-")
        pod = deployments[name]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["command"] == ["python", "-m", "services.http.serve", service]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["resources"]["requests"]
        assert container["resources"]["limits"]
        env = {e["name"]: e for e in container["env"]}
        assert env["DEALREG_KAFKA_GROUP_INSTANCE_ID"]["valueFrom"]["fieldRef"] == {
            "fieldPath": "metadata.name"
        }
        for secret in (
            "DEALREG_ADMIN_TOKEN",
            "DEALREG_DATABASE_URL",
            "DEALREG_KAFKA_SASL_PASSWORD",
        ):
            assert "secretKeyRef" in env[secret]["valueFrom"], secret
        assert all("value" not in e for n, e in env.items() if "TOKEN" in n or "SECRET" in n)
        migrate = jobs[f"{name}-migrate"]["spec"]["template"]["spec"]["containers"][0]
        assert migrate["command"] == [
            "python",
            "-m",
            "services.migrations",
            service,
            "upgrade",
            "head",
        ]
        assert name in budgets
        assert name in scaled
    webhook_env = {
        e["name"]
        for e in deployments["deal-registration"]["spec"]["template"]["spec"]["containers"][0][
            "env"
        ]
    }
    assert "DEALREG_WEBHOOK_SECRET_KEY" in webhook_env


def test_the_single_overlay_keeps_one_replica_and_the_cluster_three(
    overlay: tuple[str, str],
) -> None:
    name, rendered = overlay
    topics = [d for d in documents(rendered) if d["kind"] == "KafkaTopic"]
    replicas = {t["spec"]["replicas"] for t in topics}
    insync = {t["spec"]["config"]["min.insync.replicas"] for t in topics}
    assert (replicas, insync) == (({1}, {1}) if name == "single" else ({3}, {2}))
    pool = next(d for d in documents(rendered) if d["kind"] == "KafkaNodePool")
    assert pool["spec"]["replicas"] == (1 if name == "single" else 3)
