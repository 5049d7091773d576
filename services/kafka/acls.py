"""Per-service Kafka ACLs, generated from the topic and flow declarations (never by hand).

Each service may WRITE the topics of the events it sends (``schemas.flows``) plus the
dead-letter topic, READ the topics of the events it receives, and READ its consumer groups,
all named ``<service>.<purpose>`` (one prefixed ACL covers them). WRITE and READ imply DESCRIBE,
which is all the producer's metadata and the idempotent producer's id need. Nothing else:
deal_registration cannot write ``dealreg.crm``, crm_sync cannot write ``dealreg.principals``.
Topic creation is left to an admin (``DEALREG_KAFKA_CREATE_TOPICS=false`` in production).

``python -m services.kafka.acls [commands|strimzi|table] [--prefix P] [--bootstrap B]``
prints them as ``kafka-acls.sh`` commands, Strimzi ``KafkaUser`` resources or a table.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import yaml

from schemas.flows import SERVICES, ServiceFlows
from schemas.topics import DEAD_LETTERS, TopicSpec, topic_for
from services.settings import KafkaSettings

Operation = Literal["Read", "Write"]
ResourceType = Literal["topic", "group"]
PatternType = Literal["literal", "prefixed"]


@dataclass(frozen=True, order=True)
class Acl:
    """ALLOW ``operation`` on one resource (a topic, or consumer groups by name or prefix)."""

    resource_type: ResourceType
    resource: str
    operation: Operation
    pattern: PatternType = "literal"


@dataclass(frozen=True)
class ServiceAcls:
    service: str
    principal: str
    acls: tuple[Acl, ...]

    def grants(self, operation: Operation, topic: TopicSpec, *, prefix: str = "") -> bool:
        return Acl("topic", prefix + topic.name, operation) in self.acls


def principal_name(service: ServiceFlows) -> str:
    """The SASL user of a service; hyphens, since a Strimzi KafkaUser is named after it."""
    return service.name.replace("_", "-")


def _topics(events: Sequence[type]) -> list[TopicSpec]:
    return sorted({topic_for(event) for event in events}, key=lambda topic: topic.name)


def service_acls(service: ServiceFlows, *, prefix: str = "") -> ServiceAcls:
    writes = [*_topics(service.sends), DEAD_LETTERS]
    reads = _topics(service.receives)
    acls = [
        *(Acl("topic", prefix + topic.name, "Write") for topic in writes),
        *(Acl("topic", prefix + topic.name, "Read") for topic in reads),
        Acl("group", f"{prefix}{service.name}.", "Read", pattern="prefixed"),
    ]
    return ServiceAcls(service.name, principal_name(service), tuple(sorted(set(acls))))


def all_service_acls(*, prefix: str = "") -> list[ServiceAcls]:
    return [service_acls(service, prefix=prefix) for service in SERVICES]


def acl_command_args(
    acls: ServiceAcls, *, bootstrap: str, command_config: str | None
) -> list[list[str]]:
    """``kafka-acls`` arguments, one command per (resource type, operation, pattern)."""
    commands = []
    keys = sorted({(acl.resource_type, acl.operation, acl.pattern) for acl in acls.acls})
    for resource_type, operation, pattern in keys:
        args = ["--bootstrap-server", bootstrap]
        if command_config:
            args += ["--command-config", command_config]
        args += ["--add", "--allow-principal", f"User:{acls.principal}", "--operation", operation]
        for acl in acls.acls:
            if (acl.resource_type, acl.operation, acl.pattern) == (
                resource_type,
                operation,
                pattern,
            ):
                args += [f"--{resource_type}", acl.resource]
        if pattern == "prefixed":
            args += ["--resource-pattern-type", "prefixed"]
        commands.append(args)
    return commands


def kafka_acls_script(
    services: Sequence[ServiceAcls], *, bootstrap: str, command_config: str | None
) -> str:
    lines = []
    for acls in services:
        lines.append(f"# {acls.service} (User:{acls.principal})")
        for args in acl_command_args(acls, bootstrap=bootstrap, command_config=command_config):
            lines.append(shlex.join(["kafka-acls.sh", *args]))
    return "\n".join(lines) + "\n"


def strimzi_users(services: Sequence[ServiceAcls], *, cluster: str) -> str:
    """Strimzi ``KafkaUser`` resources (SCRAM-SHA-512, simple authorization)."""
    documents = [
        {
            "apiVersion": "kafka.strimzi.io/v1beta2",
            "kind": "KafkaUser",
            "metadata": {"name": acls.principal, "labels": {"strimzi.io/cluster": cluster}},
            "spec": {
                "authentication": {"type": "scram-sha-512"},
                "authorization": {
                    "type": "simple",
                    "acls": [
                        {
                            "resource": {
                                "type": acl.resource_type,
                                "name": acl.resource,
                                "patternType": "prefix" if acl.pattern == "prefixed" else "literal",
                            },
                            "operations": [acl.operation],
                        }
                        for acl in acls.acls
                    ],
                },
            },
        }
        for acls in services
    ]
    return yaml.safe_dump_all(documents, sort_keys=False)


def acl_table(services: Sequence[ServiceAcls]) -> str:
    """A Markdown table: one row per service, what it may write, read and consume as."""
    rows = ["| Service (user) | WRITE topics | READ topics | READ groups |", "|---|---|---|---|"]
    for acls in services:

        def names(resource_type: ResourceType, operation: Operation) -> str:
            return ", ".join(
                f"`{acl.resource}`" + ("*" if acl.pattern == "prefixed" else "")
                for acl in acls.acls  # noqa: B023 - used at once, inside the loop
                if acl.resource_type == resource_type and acl.operation == operation
            )

        rows.append(
            f"| {acls.service} (`User:{acls.principal}`) | {names('topic', 'Write')} | "
            f"{names('topic', 'Read')} | {names('group', 'Read')} |"
        )
    return "\n".join(rows) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.kafka.acls", description=__doc__)
    parser.add_argument(
        "format", nargs="?", default="commands", choices=["commands", "strimzi", "table"]
    )
    parser.add_argument("--prefix", default="", help="topic prefix (DEALREG_KAFKA_TOPIC_PREFIX)")
    parser.add_argument(
        "--bootstrap", default=KafkaSettings().bootstrap_servers, help="for kafka-acls.sh"
    )
    parser.add_argument("--command-config", default="admin.properties", help="admin client config")
    parser.add_argument("--cluster", default="dealreg", help="Strimzi Kafka cluster name")
    args = parser.parse_args(argv)
    services = all_service_acls(prefix=args.prefix)
    if args.format == "strimzi":
        print(strimzi_users(services, cluster=args.cluster), end="")
    elif args.format == "table":
        print(acl_table(services), end="")
    else:
        print(
            kafka_acls_script(
                services, bootstrap=args.bootstrap, command_config=args.command_config
            ),
            end="",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
