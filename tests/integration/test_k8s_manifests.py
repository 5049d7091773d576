"""The Kubernetes manifests build with kustomize and validate offline against the schemas.

Core kinds: kubeconform, strict (unknown fields fail), against the Kubernetes schemas of the
``kubernetes-validate`` wheel. KEDA and prometheus-operator kinds: the schemas compiled from
their CRDs (``deploy/k8s/validate``). Strimzi kinds: Strimzi's own API model reads them and
reports unknown fields and rejected values (no CRD schema of Strimzi's is published where we can
fetch it offline); their content is held to ``schemas/topics.py`` and the ACL generator by
tests/unit/test_k8s_generated.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
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


def strimzi_check(docs: list[dict[str, Any]], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "strimzi.json"
    path.write_text(json.dumps(docs))
    return subprocess.run(
        [*k8s_tools.strimzi_validator(), str(path)], capture_output=True, text=True, check=False
    )


def test_strimzi_resources_are_read_by_strimzi_s_own_api_model(
    overlay: tuple[str, str], tmp_path: Path
) -> None:
    _, rendered = overlay
    docs = documents(rendered)
    result = strimzi_check(docs, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    valid = [line for line in result.stdout.splitlines() if line.startswith("valid ")]
    assert len(valid) == len([d for d in docs if d["kind"] in STRIMZI_KINDS])


def test_the_strimzi_check_rejects_unknown_fields_and_values(tmp_path: Path) -> None:
    docs = documents(build("single"))
    user = next(d for d in docs if d["kind"] == "KafkaUser")
    user["spec"]["authorization"]["acls"][0]["operations"] = ["Reed"]
    topic = next(d for d in docs if d["kind"] == "KafkaTopic")
    topic["spec"]["partitons"] = 3
    kafka = next(d for d in docs if d["kind"] == "Kafka")
    kafka["spec"]["kafka"]["listeners"][0]["type"] = "internl"
    result = strimzi_check([user, topic, kafka], tmp_path)
    assert result.returncode == 1
    assert "operations[0]" in result.stdout
    assert "unknown field .spec.partitons" in result.stdout
    assert "listeners[0].type" in result.stdout


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


SETTINGS = {
    "deal_registration": "deal_registration.settings:RegistrationSettings",
    "conflict_resolver": "conflict_resolver.settings:ResolverSettings",
    "crm_sync": "crm_sync.settings:CrmSyncSettings",
}
PROBE = """
import importlib, json, sys
module, _, name = sys.argv[1].partition(":")
settings = getattr(importlib.import_module(module), name)()
print(json.dumps({
    "env": settings.security.env,
    "host": settings.http.host,
    "metrics_token": settings.http.metrics_token is not None,
    "protocol": settings.kafka.security_protocol,
    "username": settings.kafka.sasl_username,
    "password": settings.kafka.sasl_password is not None,
    "cafile": settings.kafka.ssl_cafile,
    "instance": settings.kafka.group_instance_id,
    "create_topics": settings.kafka.create_topics,
}))
"""


def pod_environment(rendered: str, container: dict[str, Any]) -> dict[str, str]:
    """What the pod's process sees, with a strong made-up value for every Secret key."""
    from cryptography.fernet import Fernet

    config = next(d for d in documents(rendered) if d["kind"] == "ConfigMap")["data"]
    env = {name: str(value) for name, value in config.items()}
    for entry in container["env"]:
        source = entry.get("valueFrom", {})
        if "value" in entry:
            env[entry["name"]] = entry["value"]
        elif "fieldRef" in source:
            env[entry["name"]] = "pod-7d9f8-xk2lp"
        elif source["secretKeyRef"]["key"] == "webhook-secret-key":
            env[entry["name"]] = Fernet.generate_key().decode()
        elif source["secretKeyRef"]["key"] == "admin-token-previous-sha256":
            env[entry["name"]] = "ab" * 32  # during a rotation's overlap
        elif source["secretKeyRef"]["key"] == "admin-token-previous-until":
            env[entry["name"]] = "2026-12-03T12:00:00+00:00"
        elif source["secretKeyRef"]["key"] == "connector":
            env[entry["name"]] = "hubspot"
        elif source["secretKeyRef"]["name"] == "dealreg-database-urls":
            env[entry["name"]] = "postgresql+asyncpg://svc:a-long-password@postgres:5432/svc"
        else:
            env[entry["name"]] = "s3cret-" + "x" * 40
    return env


def test_each_pod_s_environment_is_a_valid_production_configuration(
    overlay: tuple[str, str],
) -> None:
    """The settings classes accept what the manifests give them, and read what we meant."""
    _, rendered = overlay
    deployments = {
        d["metadata"]["name"]: d for d in documents(rendered) if d["kind"] == "Deployment"
    }
    for service, settings in SETTINGS.items():
        name = service.replace("_", "-")
        (container,) = deployments[name]["spec"]["template"]["spec"]["containers"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("DEALREG_")}
        env.update(pod_environment(rendered, container))
        result = subprocess.run(
            [sys.executable, "-c", PROBE, settings],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, f"{service}: {result.stderr[-2000:]}"
        assert json.loads(result.stdout) == {
            "env": "production",
            "host": "0.0.0.0",  # noqa: S104 - what the pod binds, read back
            "metrics_token": True,
            "protocol": "SASL_SSL",
            "username": name,
            "password": True,
            "cafile": "/etc/dealreg/kafka-ca/ca.crt",
            "instance": "pod-7d9f8-xk2lp",
            "create_topics": False,
        }


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
