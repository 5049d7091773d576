"""Create the declared topics idempotently and keep their configuration as declared.

``python -m services.kafka.admin [BOOTSTRAP [PREFIX]]`` does it from the command line, with the
replication factor and ``min.insync.replicas`` of ``DEALREG_KAFKA_REPLICATION_FACTOR`` and
``DEALREG_KAFKA_MIN_INSYNC_REPLICAS`` (1 and 1 on one broker; 3 and 2 on a cluster).

A topic that already exists keeps its partitions and replicas, but a config that differs from
the declaration (a forever topic with a size or time limit, say) is put back: losing the log a
resolver is rebuilt from must not depend on who created the topic first.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from typing import Any

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_exponential

from schemas.topics import TOPICS, TopicSpec
from services.kafka.clients import start_or_stop
from services.kafka.security import client_options
from services.settings import KafkaSettings

log = structlog.get_logger(__name__)

_NO_ERROR = 0
_UNKNOWN_TOPIC = 3
_TOPIC_ALREADY_EXISTS = 36


def desired_config(spec: TopicSpec, *, min_insync_replicas: int) -> dict[str, str]:
    """The topic-level config a topic must carry: its declaration plus the cluster's min ISR."""
    return {**spec.config, "min.insync.replicas": str(min_insync_replicas)}


def config_drift(current: Mapping[str, str], desired: Mapping[str, str]) -> dict[str, str]:
    """The desired entries the current config does not match (empty when nothing to do)."""
    return {name: value for name, value in desired.items() if current.get(name) != value}


async def ensure_topics(
    bootstrap_servers: str,
    *,
    prefix: str = "",
    topics: tuple[TopicSpec, ...] = TOPICS,
    replication_factor: int = 1,
    min_insync_replicas: int = 1,
    security: Mapping[str, Any] | None = None,
) -> list[str]:
    """Create every missing topic and correct drifted configs; returns the names created.

    ``security``: :func:`services.kafka.security.client_options` (none: PLAINTEXT).
    """
    wanted = {
        prefix + spec.name: desired_config(spec, min_insync_replicas=min_insync_replicas)
        for spec in topics
    }
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, client_id="dealreg-admin", **(security or {})
    )
    await start_or_stop(admin.start, admin.close)
    try:
        listed = set(await admin.list_topics())
        missing = [spec for spec in topics if prefix + spec.name not in listed]
        created = await _create(admin, missing, wanted, prefix, replication_factor)
        corrected = await _correct_configs(
            admin, {name: config for name, config in wanted.items() if name not in created}
        )
        if corrected:
            log.warning("topic configs corrected", topics=corrected)
        if created or corrected:
            await _until_in_effect(admin, wanted)
        return created
    finally:
        await admin.close()


class _TopicNotKnownYet(RuntimeError):
    """A topic created a moment ago that this broker's metadata does not show yet."""


@retry(
    retry=retry_if_exception_type(_TopicNotKnownYet),
    stop=stop_after_delay(15),
    wait=wait_exponential(multiplier=0.05, max=1),
    reraise=True,
)
async def describe_topic_configs(
    admin: AIOKafkaAdminClient, names: list[str]
) -> dict[str, dict[str, str]]:
    """Each topic's effective config (topic overrides and broker defaults alike)."""
    if not names:
        return {}
    responses = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    )
    configs: dict[str, dict[str, str]] = {}
    for response in responses:
        for error_code, message, _type, name, entries, *_ in response.resources:
            if error_code == _UNKNOWN_TOPIC:
                raise _TopicNotKnownYet(name)
            if error_code != _NO_ERROR:
                raise RuntimeError(f"cannot describe topic {name}: error {error_code} {message}")
            configs[name] = {entry[0]: entry[1] for entry in entries}
    return configs


async def _create(
    admin: AIOKafkaAdminClient,
    specs: list[TopicSpec],
    wanted: dict[str, dict[str, str]],
    prefix: str,
    replication_factor: int,
) -> list[str]:
    """Create ``specs``; returns the names created (not those someone else created meanwhile)."""
    if not specs:
        return []
    response = await admin.create_topics(
        [
            NewTopic(
                name=prefix + spec.name,
                num_partitions=spec.partitions,
                replication_factor=replication_factor,
                topic_configs=wanted[prefix + spec.name],
            )
            for spec in specs
        ]
    )
    created = []
    for name, error_code, *message in response.topic_errors:
        if error_code not in (_NO_ERROR, _TOPIC_ALREADY_EXISTS):
            raise RuntimeError(f"cannot create topic {name}: error {error_code} {message}")
        if error_code == _NO_ERROR:
            created.append(name)
    return created


async def _correct_configs(
    admin: AIOKafkaAdminClient, wanted: dict[str, dict[str, str]]
) -> list[str]:
    """Put back the declared config of existing topics that drifted; returns their names.

    aiokafka has no incremental AlterConfigs, and the legacy AlterConfigs replaces a topic's
    whole set of overrides; that is what we want, since the declaration owns these topics.
    """
    current = await describe_topic_configs(admin, list(wanted))
    drifted = [name for name, desired in wanted.items() if config_drift(current[name], desired)]
    if not drifted:
        return []
    responses = await admin.alter_configs(
        [ConfigResource(ConfigResourceType.TOPIC, name, wanted[name]) for name in drifted]
    )
    for response in responses:
        for error_code, message, _type, name in response.resources:
            if error_code != _NO_ERROR:
                raise RuntimeError(f"cannot correct topic {name}: error {error_code} {message}")
    return drifted


class _ConfigNotInEffectYet(RuntimeError):
    """The broker still shows the config from before a change it acknowledged."""


@retry(
    retry=retry_if_exception_type(_ConfigNotInEffectYet),
    stop=stop_after_delay(15),
    wait=wait_exponential(multiplier=0.05, max=1),
    reraise=True,
)
async def _until_in_effect(admin: AIOKafkaAdminClient, wanted: dict[str, dict[str, str]]) -> None:
    """Return once the broker serves the declared configs (its metadata trails the controller)."""
    current = await describe_topic_configs(admin, list(wanted))
    lagging = {name for name, desired in wanted.items() if config_drift(current[name], desired)}
    if lagging:
        raise _ConfigNotInEffectYet(", ".join(sorted(lagging)))


def main() -> None:
    settings = KafkaSettings()
    bootstrap = sys.argv[1] if len(sys.argv) > 1 else settings.bootstrap_servers
    prefix = sys.argv[2] if len(sys.argv) > 2 else settings.topic_prefix
    created = asyncio.run(
        ensure_topics(
            bootstrap,
            prefix=prefix,
            replication_factor=settings.replication_factor,
            min_insync_replicas=settings.min_insync_replicas,
            security=client_options(settings),
        )
    )
    print(f"topics ready on {bootstrap}; created: {', '.join(created) or 'none'}")


if __name__ == "__main__":
    main()
