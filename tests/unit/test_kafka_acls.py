"""The per-service ACLs generated from the topic and flow declarations."""

from __future__ import annotations

import yaml

from schemas.flows import CONFLICT_RESOLVER, CRM_SYNC, DEAL_REGISTRATION
from schemas.topics import CRM, DEAD_LETTERS, DECISIONS, PRINCIPALS, REGISTRATIONS
from services.kafka.acls import (
    Acl,
    acl_command_args,
    all_service_acls,
    service_acls,
    strimzi_users,
)


def test_only_deal_registration_may_write_ops_keys() -> None:
    writers = [acls.service for acls in all_service_acls() if acls.grants("Write", PRINCIPALS)]
    assert writers == ["deal_registration"]


def test_only_crm_sync_may_write_the_crm_topic() -> None:
    writers = [acls.service for acls in all_service_acls() if acls.grants("Write", CRM)]
    assert writers == ["crm_sync"]


def test_deal_registration_has_no_write_on_crm_and_crm_sync_none_on_principals() -> None:
    assert not service_acls(DEAL_REGISTRATION).grants("Write", CRM)
    assert not service_acls(CRM_SYNC).grants("Write", PRINCIPALS)
    assert not service_acls(CONFLICT_RESOLVER).grants("Write", PRINCIPALS)


def test_a_service_reads_what_it_receives_and_writes_what_it_sends_and_dead_letters() -> None:
    resolver = service_acls(CONFLICT_RESOLVER, prefix="t1.")
    assert resolver.principal == "conflict-resolver"
    assert set(resolver.acls) == {
        Acl("topic", "t1." + REGISTRATIONS.name, "Read"),
        Acl("topic", "t1." + CRM.name, "Read"),
        Acl("topic", "t1." + PRINCIPALS.name, "Read"),
        Acl("topic", "t1." + DECISIONS.name, "Write"),
        Acl("topic", "t1." + DEAD_LETTERS.name, "Write"),
        Acl("group", "t1.conflict_resolver.", "Read", pattern="prefixed"),
    }


def test_kafka_acls_commands_name_the_principal_operation_and_resources() -> None:
    commands = acl_command_args(service_acls(CRM_SYNC), bootstrap="b:9092", command_config=None)
    writes = next(args for args in commands if "Write" in args)
    assert writes[writes.index("--allow-principal") + 1] == "User:crm-sync"
    assert {writes[i + 1] for i, arg in enumerate(writes) if arg == "--topic"} == {
        CRM.name,
        DEAD_LETTERS.name,
    }
    groups = next(args for args in commands if "--group" in args)
    assert groups[-2:] == ["--resource-pattern-type", "prefixed"]


def test_strimzi_users_carry_the_same_acls() -> None:
    users = list(yaml.safe_load_all(strimzi_users(all_service_acls(), cluster="dealreg")))
    assert [user["metadata"]["name"] for user in users] == [
        "deal-registration",
        "conflict-resolver",
        "crm-sync",
    ]
    crm_sync = users[2]["spec"]["authorization"]["acls"]
    written = {acl["resource"]["name"] for acl in crm_sync if acl["operations"] == ["Write"]}
    assert written == {CRM.name, DEAD_LETTERS.name}


def test_every_consumer_group_is_covered_by_its_services_group_acl() -> None:
    from conflict_resolver import handlers as resolver
    from conflict_resolver.queue import handlers as queue
    from crm_sync import app as crm_app
    from crm_sync import handlers as crm
    from deal_registration import handlers as intake

    groups = {
        "deal_registration": [intake.DECISIONS_CONSUMER, intake.CRM_CONSUMER],
        "conflict_resolver": [
            resolver.SUBMISSIONS_CONSUMER,
            resolver.CRM_CONSUMER,
            queue.PRINCIPALS_CONSUMER,
        ],
        "crm_sync": [crm.APPROVALS_CONSUMER, crm.LIFECYCLE_CONSUMER, crm_app.PRINCIPALS_CONSUMER],
    }
    for acls in all_service_acls(prefix="t1."):
        [group_acl] = [acl for acl in acls.acls if acl.resource_type == "group"]
        for group in groups[acls.service]:
            assert ("t1." + group).startswith(group_acl.resource), (acls.service, group)
