"""Generate the event catalogue from the models: ``python -m schemas.catalogue docs/events``.

Writes one JSON Schema per event type, an AsyncAPI 3.0 document of the topics and messages,
and a Markdown index. A test fails when the checked-in catalogue differs from what this
generates, so the catalogue can never drift from the code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from schemas.envelope import EventEnvelope, EventPayload
from schemas.flows import SERVICES
from schemas.topics import TOPICS, TopicSpec, events_on, topic_for


def event_schema(payload: type[EventPayload]) -> dict[str, Any]:
    schema = payload.model_json_schema(mode="serialization")
    schema["title"] = payload.event_type
    schema["x-schema-version"] = payload.schema_version
    schema["description"] = (payload.__doc__ or "").strip()
    return schema


def envelope_schema() -> dict[str, Any]:
    schema = EventEnvelope[EventPayload].model_json_schema(mode="serialization")
    schema["title"] = "CloudEvents envelope (Kafka binary mode: attributes as ce_* headers)"
    return schema


_BINDING_VERSION = "0.5.0"
# The Kafka channel binding's topicConfiguration: which topic configs it describes and how.
_LIST_CONFIGS = {"cleanup.policy"}
_INT_CONFIGS = {"retention.ms", "retention.bytes", "delete.retention.ms", "max.message.bytes"}


def _topic_configuration(config: dict[str, str]) -> dict[str, Any]:
    typed: dict[str, Any] = {}
    for name, value in config.items():
        if name in _LIST_CONFIGS:
            typed[name] = value.split(",")
        elif name in _INT_CONFIGS:
            typed[name] = int(value)
    return typed


def _headers_schema() -> dict[str, Any]:
    """The CloudEvents attributes as Kafka headers (binary content mode)."""
    attributes = envelope_schema()["properties"]
    properties = {
        f"ce_{name}": {key: value for key, value in spec.items() if key != "title"}
        for name, spec in attributes.items()
        if name != "data"
    }
    properties["content-type"] = {"type": "string", "const": "application/json"}
    required = [f"ce_{name}" for name in envelope_schema()["required"] if name != "data"]
    return {"type": "object", "properties": properties, "required": sorted(required)}


def _channel_key(topic: TopicSpec) -> str:
    return topic.name.replace(".", "-")


def _operations() -> dict[str, Any]:
    operations: dict[str, Any] = {}
    for service in SERVICES:
        for action, payloads in (("send", service.sends), ("receive", service.receives)):
            for payload in payloads:
                channel = _channel_key(topic_for(payload))
                operations[f"{service.name}.{action}.{payload.__name__}"] = {
                    "action": action,
                    "channel": {"$ref": f"#/channels/{channel}"},
                    "messages": [{"$ref": f"#/channels/{channel}/messages/{payload.__name__}"}],
                    "summary": f"{service.name} {action}s {payload.event_type}.",
                    "tags": [{"name": service.name, "description": service.description}],
                }
    return operations


def asyncapi() -> dict[str, Any]:
    """AsyncAPI 3.0: servers, one channel per topic, and every operation each service sends
    and receives (from ``schemas.flows``). The official parser accepts it (tests/contract)."""
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for topic in TOPICS:
        payloads = events_on(topic)
        channels[_channel_key(topic)] = {
            "address": topic.name,
            "description": topic.description,
            "bindings": {
                "kafka": {
                    "topic": topic.name,
                    "partitions": topic.partitions,
                    "topicConfiguration": _topic_configuration(topic.config),
                    "bindingVersion": _BINDING_VERSION,
                }
            },
            "messages": {
                p.__name__: {"$ref": f"#/components/messages/{p.__name__}"} for p in payloads
            },
        }
        for payload in payloads:
            messages[payload.__name__] = {
                "name": payload.event_type,
                "title": payload.__name__,
                "summary": (payload.__doc__ or "").strip().splitlines()[0],
                "contentType": "application/json",
                "bindings": {
                    "kafka": {
                        "key": {"type": "string", "description": "The customer account's key."},
                        "bindingVersion": _BINDING_VERSION,
                    }
                },
                "headers": {"$ref": "#/components/schemas/CloudEventHeaders"},
                "payload": {"$ref": f"{payload.event_type}.schema.json"},
                "x-schema-version": payload.schema_version,
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "dealreg events",
            "version": "1.0.0",
            "description": "Deal-registration events; CloudEvents 1.0 over Kafka (binary mode).",
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": "The single KRaft broker `make run` starts.",
            },
            "cluster": {
                "host": "{bootstrap}",
                "protocol": "kafka",
                "description": "A Kafka cluster: topics at replication factor 3, "
                "min.insync.replicas 2 (DEALREG_KAFKA_* settings).",
                "variables": {
                    "bootstrap": {
                        "default": "kafka-0:9092",
                        "description": "One of DEALREG_KAFKA_BOOTSTRAP_SERVERS.",
                    }
                },
            },
        },
        "channels": channels,
        "operations": _operations(),
        "components": {
            "messages": messages,
            "schemas": {"CloudEventHeaders": _headers_schema()},
        },
    }


def index() -> str:
    lines = [
        "# Event catalogue",
        "",
        "Generated by `make catalogue` (`python -m schemas.catalogue docs/events`)",
        "from `schemas/`; do not edit by hand. Every event travels in the CloudEvents",
        "envelope ([envelope.schema.json](envelope.schema.json)) in Kafka binary mode:",
        "attributes as `ce_*` headers, the payload as the JSON value, and the customer",
        "account's matching key as the record key.",
        "",
    ]
    for topic in TOPICS:
        lines += [f"## `{topic.name}` ({topic.partitions} partitions)", "", topic.description, ""]
        payloads = events_on(topic)
        if not payloads:
            lines += ["Records copied here keep their original headers plus `dlq_*` headers.", ""]
        for payload in payloads:
            summary = (payload.__doc__ or "").strip().splitlines()[0]
            lines.append(
                f"- [`{payload.event_type}`]({payload.event_type}.schema.json) "
                f"v{payload.schema_version}: {summary}"
            )
        lines.append("")
    return "\n".join(lines)


def render() -> dict[str, str]:
    """Every file of the catalogue, by name."""
    files = {
        "envelope.schema.json": _json(envelope_schema()),
        "asyncapi.json": _json(asyncapi()),
        "README.md": index(),
    }
    for topic in TOPICS:
        for payload in events_on(topic):
            files[f"{payload.event_type}.schema.json"] = _json(event_schema(payload))
    return files


PUBLISHED = "published"
_NOT_CONTRACT = {"description", "title", "examples", "x-schema-version"}


def published_name(payload: type[EventPayload]) -> str:
    """The file, under ``published/``, that froze this event's contract at its version."""
    return f"{payload.event_type}.v{payload.schema_version}.schema.json"


def freeze_new_versions(target: Path) -> list[str]:
    """Write the schema of every event version not published yet; never rewrite one."""
    folder = target / PUBLISHED
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for topic in TOPICS:
        for payload in events_on(topic):
            path = folder / published_name(payload)
            if not path.exists():
                path.write_text(_json(event_schema(payload)))
                written.append(path.name)
    return written


def _contract(schema: Any) -> Any:
    """A schema without the words around it: what a consumer's validation depends on."""
    if isinstance(schema, dict):
        return {k: _contract(v) for k, v in schema.items() if k not in _NOT_CONTRACT}
    if isinstance(schema, list):
        return [_contract(item) for item in schema]
    return schema


def breaking_changes(published: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What makes ``current`` unreadable for a consumer built on ``published``, or makes an
    event written under ``published`` unreadable by ``current``: a field removed or changed, a
    new required field, a nested type changed. Adding an optional field is the one change
    allowed without a new version."""
    problems: list[str] = []
    for where, old, new in [("", published, current)] + [
        (f"$defs.{name}.", spec, current.get("$defs", {}).get(name, {}))
        for name, spec in published.get("$defs", {}).items()
    ]:
        old_fields = old.get("properties", {})
        new_fields = new.get("properties", {})
        for field, spec in old_fields.items():
            if field not in new_fields:
                problems.append(f"{where}{field}: removed")
            elif _contract(spec) != _contract(new_fields[field]):
                problems.append(f"{where}{field}: changed")
        for field in sorted(set(new.get("required", [])) - set(old.get("required", []))):
            problems.append(f"{where}{field}: newly required")
    return problems


def _json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def main() -> None:
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/events")
    target.mkdir(parents=True, exist_ok=True)
    for stale in target.glob("*.json"):
        stale.unlink()
    for name, content in render().items():
        (target / name).write_text(content)
    frozen = freeze_new_versions(target)
    print(f"wrote {len(render())} files to {target}; froze {len(frozen)} new event versions")


if __name__ == "__main__":
    main()
