"""The compose files hang together (no Docker here, so they are checked as data): every
service runs the one image with a command that names it, every ``DEALREG_*`` variable is a
setting the process reads, and the cluster variant has three brokers in one quorum, topics
replicated three times, and two instances of each service with names of their own."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from conflict_resolver.settings import ResolverSettings
from crm_sync.sandbox.settings import SandboxSettings
from crm_sync.settings import CrmSyncSettings
from deal_registration.settings import RegistrationSettings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SINGLE = DEPLOY / "docker-compose.yml"
CLUSTER = DEPLOY / "docker-compose.cluster.yml"
IMAGE = "dealreg:latest"
SERVICE_SETTINGS: dict[str, type[BaseSettings]] = {
    "deal_registration": RegistrationSettings,
    "conflict_resolver": ResolverSettings,
    "crm_sync": CrmSyncSettings,
}
BROKERS = ("kafka-1", "kafka-2", "kafka-3")


def setting_names(settings: type[BaseSettings]) -> set[str]:
    """Every environment variable ``settings`` reads (nested groups read their own prefix)."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    names = set()
    for name, field in settings.model_fields.items():
        nested = typing.get_origin(field.annotation) or field.annotation
        if isinstance(nested, type) and issubclass(nested, BaseSettings):
            names |= setting_names(nested)
            continue
        alias = field.validation_alias
        names.add(alias if isinstance(alias, str) else prefix + name.upper())
    return names


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text())  # merges the `<<:` anchors
    return document


def dealreg_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: spec
        for name, spec in compose["services"].items()
        if spec.get("image") == IMAGE or "build" in spec
    }


def service_of(spec: dict[str, Any]) -> str | None:
    """The dealreg service a container runs (serves or migrates), from its command."""
    command = " ".join(spec.get("command") or [])
    for service in SERVICE_SETTINGS:
        if service in command.split() or f" {service} " in f" {command} ":
            return service
    return None


@pytest.mark.parametrize("path", [SINGLE, CLUSTER], ids=["single", "cluster"])
def test_every_service_runs_the_image_and_reads_every_variable_it_is_given(path: Path) -> None:
    compose = load(path)
    services = dealreg_services(compose)
    assert services
    for name, spec in services.items():
        assert spec["image"] == IMAGE, name
        assert spec["build"]["dockerfile"] == "deploy/Dockerfile", name
        assert (DEPLOY.parent / spec["build"]["dockerfile"]).is_file()
        env = spec.get("environment") or {}
        service = service_of(spec)
        if service is None:
            assert "crm_sync.sandbox.app:create_app" in spec["command"], name
            known = setting_names(SandboxSettings)
        else:
            assert env["DEALREG_SERVICE_NAME"] == service, name
            known = setting_names(SERVICE_SETTINGS[service]) | {"DEALREG_SERVICE_NAME"}
        unknown = {var for var in env if var.startswith("DEALREG_")} - known
        assert not unknown, f"{name}: no setting reads {sorted(unknown)}"
        for dependency in spec.get("depends_on") or {}:
            assert dependency in compose["services"], f"{name} waits for unknown {dependency}"


def test_the_cluster_has_three_brokers_in_one_quorum_replicating_three_times() -> None:
    compose = load(CLUSTER)
    brokers = {name: compose["services"][name]["environment"] for name in BROKERS}
    assert {env["KAFKA_NODE_ID"] for env in brokers.values()} == {1, 2, 3}
    voters = {f"{env['KAFKA_NODE_ID']}@{name}:9093" for name, env in brokers.items()}
    for name, env in brokers.items():
        assert set(env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")) == voters
        assert env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{name}:9092"
        assert compose["services"][name]["hostname"] == name
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == 3
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == 3
        assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == 3
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == 2
    assert len({env["CLUSTER_ID"] for env in brokers.values()}) == 1
    volumes = [compose["services"][name]["volumes"][0].split(":")[0] for name in BROKERS]
    assert len(set(volumes)) == 3, "each broker keeps its own log"


def test_the_cluster_runs_two_instances_of_each_service_against_every_broker() -> None:
    compose = load(CLUSTER)
    served: dict[str, list[str]] = {service: [] for service in SERVICE_SETTINGS}
    migrated: dict[str, list[str]] = {service: [] for service in SERVICE_SETTINGS}
    host_ports: list[str] = []
    for name, spec in dealreg_services(compose).items():
        service = service_of(spec)
        if service is None:
            continue
        env = spec["environment"]
        command = spec["command"]
        if "services.migrations" in command:
            migrated[service].append(name)
            continue
        assert command == ["python", "-m", "services.http.serve", service]
        served[service].append(name)
        bootstrap = env["DEALREG_KAFKA_BOOTSTRAP_SERVERS"].split(",")
        assert sorted(bootstrap) == [f"{broker}:9092" for broker in BROKERS]
        assert env["DEALREG_KAFKA_REPLICATION_FACTOR"] == 3
        assert env["DEALREG_KAFKA_MIN_INSYNC_REPLICAS"] == 2
        assert env["DEALREG_KAFKA_GROUP_INSTANCE_ID"] == name
        if service == "crm_sync":
            assert env["DEALREG_CRM_INSTANCE_ID"] == name
            assert env["DEALREG_CRM_HUBSPOT_BASE_URL"] == "http://crm-sandbox:8090"
        assert set(BROKERS) <= set(spec["depends_on"])
        migration = f"migrate-{service.replace('_', '-')}"
        assert spec["depends_on"][migration]["condition"] == "service_completed_successfully"
        assert env["DEALREG_DATABASE_URL"].endswith(f"@postgres:5432/{service}")
        host_ports += [port.split(":")[0] for port in spec["ports"]]
    assert all(len(names) == 2 for names in served.values()), served
    assert all(len(names) == 1 for names in migrated.values()), migrated
    assert len(host_ports) == len(set(host_ports)), "two instances publish the same port"
    assert "crm-sandbox" in compose["services"]
    assert "postgres" in compose["services"]
