"""Create the declared topics idempotently (``python -m services.kafka.admin``)."""

from __future__ import annotations

import asyncio
import sys

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from schemas.topics import TOPICS, TopicSpec

_TOPIC_ALREADY_EXISTS = 36


async def ensure_topics(
    bootstrap_servers: str, *, prefix: str = "", topics: tuple[TopicSpec, ...] = TOPICS
) -> list[str]:
    """Create every missing topic; returns the names created. Existing topics are left alone."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="dealreg-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in topics if prefix + spec.name not in existing]
        if not missing:
            return []
        response = await admin.create_topics(
            [
                NewTopic(
                    name=prefix + spec.name,
                    num_partitions=spec.partitions,
                    replication_factor=1,
                    topic_configs=dict(spec.config),
                )
                for spec in missing
            ]
        )
        for name, error_code, *message in response.topic_errors:
            if error_code not in (0, _TOPIC_ALREADY_EXISTS):
                raise RuntimeError(f"cannot create topic {name}: error {error_code} {message}")
        return [prefix + spec.name for spec in missing]
    finally:
        await admin.close()


def main() -> None:
    bootstrap = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:9092"
    prefix = sys.argv[2] if len(sys.argv) > 2 else ""
    created = asyncio.run(ensure_topics(bootstrap, prefix=prefix))
    print(f"topics ready on {bootstrap}; created: {', '.join(created) or 'none'}")


if __name__ == "__main__":
    main()
