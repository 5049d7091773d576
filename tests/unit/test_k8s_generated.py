"""The generated Kubernetes resources (Strimzi topics and users, KEDA scalers) are current."""

from __future__ import annotations

from pathlib import Path

import yaml

from schemas.topics import TOPICS
from services.kafka import strimzi
from services.kafka.acls import all_service_acls

BASE = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "base"
REGENERATE = "run `python -m services.kafka.strimzi deploy/k8s/base`"


def test_checked_in_resources_are_what_the_declarations_generate() -> None:
    for relative, content in strimzi.render().items():
        assert (BASE / relative).read_text() == content, f"{relative} is stale: {REGENERATE}"


def test_every_declared_topic_is_a_kafka_topic_with_its_partitions_and_config() -> None:
    topics = {doc["spec"]["topicName"]: doc["spec"] for doc in _load("kafka/topics.yaml")}
    assert set(topics) == {topic.name for topic in TOPICS}
    for topic in TOPICS:
        assert topics[topic.name]["partitions"] == topic.partitions
        assert topic.config.items() <= topics[topic.name]["config"].items()


def test_each_kafka_user_has_exactly_the_generated_acls() -> None:
    users = {doc["metadata"]["name"]: doc for doc in _load("kafka/users.yaml")}
    for acls in all_service_acls():
        granted = {
            (acl["resource"]["type"], acl["resource"]["name"], op)
            for acl in users[acls.principal]["spec"]["authorization"]["acls"]
            for op in acl["operations"]
        }
        assert granted == {(a.resource_type, a.resource, a.operation) for a in acls.acls}


def test_keda_scales_on_the_consumer_groups_the_services_subscribe_with() -> None:
    import asyncio

    from conflict_resolver.app import subscriptions as resolver_subscriptions
    from crm_sync.app import subscriptions as crm_subscriptions
    from crm_sync.handlers import Mirror
    from deal_registration.app import subscriptions as intake_subscriptions
    from schemas.topics import topic_for
    from tests.support.events import declaration_unit

    unit = declaration_unit()
    declared_by_service = {
        "deal_registration": intake_subscriptions(unit),
        "conflict_resolver": resolver_subscriptions(unit),
        "crm_sync": [crm_subscriptions(unit, Mirror(asyncio.Event()))],
    }
    # Each group with the topics its payload types live on, as the services subscribe.
    declared = {
        service: {
            s.consumer: {topic_for(payload).name for payload in s.payload_types} for s in groups
        }
        for service, groups in declared_by_service.items()
    }
    generated = {
        service: {group: {topic.name for topic in topics} for group, topics in groups.items()}
        for service, groups in strimzi.CONSUMER_GROUPS.items()
    }
    assert generated == declared
    subscribed = {service: set(groups) for service, groups in declared.items()}
    scaled = {
        doc["spec"]["scaleTargetRef"]["name"]: {
            t["metadata"]["consumerGroup"] for t in doc["spec"]["triggers"]
        }
        for doc in _load("autoscaling/scaledobjects.yaml")
        if doc["kind"] == "ScaledObject"
    }
    assert scaled == {strimzi.deployment_name(s): groups for s, groups in subscribed.items()}


def test_a_consumer_group_reads_only_topics_its_user_may_read() -> None:
    by_service = {acls.service: acls for acls in all_service_acls()}
    for service, groups in strimzi.CONSUMER_GROUPS.items():
        readable = {a.resource for a in by_service[service].acls if a.operation == "Read"}
        for group, topics in groups.items():
            assert {topic.name for topic in topics} <= readable, group
            assert any(group.startswith(a.resource) for a in by_service[service].acls)


def _load(relative: str) -> list[dict]:  # type: ignore[type-arg]
    return [doc for doc in yaml.safe_load_all((BASE / relative).read_text()) if doc]
