"""The dealreg command's own logic: the policy diff, lag arithmetic, seed data, trace facts."""

from __future__ import annotations

import random
from pathlib import Path

from conflict_resolver.policy_file import main as read_policy_file
from services.cli.lag import GroupLag, PartitionLag
from services.cli.policy import policy_diff
from services.cli.seed import organisations, partner_names, registration_for
from services.cli.trace import facts_of

CURRENT = {
    "protection_window": "P90D",
    "minimum_amount": "5000",
    "exchange_rates": {"EUR": "1.08", "GBP": "1.27"},
    "matching": {"same_account": 0.92, "review": 0.8},
}


def test_a_complete_draft_shows_changes_and_removed_entries_only() -> None:
    draft = {
        "protection_window": "P60D",
        "minimum_amount": "5000.00",  # the same amount, written differently
        "exchange_rates": {"EUR": "1.08"},
        "matching": {"same_account": 0.92, "review": 0.85},
        "review_sla": "P2D",
    }
    changes = {c["setting"]: c for c in policy_diff(CURRENT, draft, complete=True)}
    assert set(changes) == {
        "protection_window",
        "exchange_rates.GBP",
        "matching.review",
        "review_sla",
    }
    assert changes["exchange_rates.GBP"]["change"] == "removed"
    assert changes["matching.review"] == {
        "setting": "matching.review",
        "change": "changed",
        "current": 0.8,
        "draft": 0.85,
    }
    assert changes["review_sla"]["change"] == "added"


def test_an_empty_mapping_is_told_entry_by_entry_and_a_partial_file_leaves_out() -> None:
    changes = policy_diff(CURRENT, {"exchange_rates": {}}, complete=True)
    assert {c["setting"] for c in changes if c["setting"].startswith("exchange")} == {
        "exchange_rates.EUR",
        "exchange_rates.GBP",
    }
    partial = policy_diff(CURRENT, {"protection_window": "P90D"}, complete=False)
    assert {c["change"] for c in partial} == {"left out"}
    assert policy_diff(CURRENT, CURRENT, complete=True) == []


def test_the_resolver_reads_a_policy_file_with_its_defaults(tmp_path: Path) -> None:
    draft = tmp_path / "draft.yaml"
    draft.write_text("protection_window: P60D\n")
    assert read_policy_file([str(draft)]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("protection_window: forever\n")
    assert read_policy_file([str(bad)]) == 1
    assert read_policy_file([str(tmp_path / "missing.yaml")]) == 2


def test_lag_is_end_less_committed_and_unknown_before_any_commit() -> None:
    group = GroupLag(
        "g",
        (
            PartitionLag("t", 0, committed=5, end=9),
            PartitionLag("t", 1, committed=3, end=3),
            PartitionLag("t", 2, committed=0, end=2),
        ),
    )
    assert group.total == 6
    assert group.as_json()["partitions"][0]["lag"] == 4
    assert GroupLag("fresh", ()).total is None


def test_seed_spells_real_organisations_several_ways_and_names_partners_apart() -> None:
    assert len(organisations()) > 300
    assert all(len(spellings) >= 3 for spellings in organisations().values())
    names = partner_names(300)
    assert len(set(names)) == 300
    chosen = random.Random(3)
    bodies = [registration_for(chosen, ["cloud-security"]) for _ in range(200)]
    assert {body["product_line"] for body in bodies} == {"cloud-security"}
    by_company: dict[str, set[str]] = {}
    for body in bodies:
        by_company.setdefault(body["description"], set()).add(body["customer"]["name"])
    assert any(len(spellings) > 1 for spellings in by_company.values())
    assert any("domain" not in body["customer"] for body in bodies)


def test_trace_facts_pick_what_an_operator_reads() -> None:
    facts = facts_of(
        {
            "registration_id": "r-1",
            "partner": {"name": "Northwind", "tier": "gold"},
            "customer": {"name": "Acme", "domain": None},
            "rule": "approved",
            "reason_code": None,
        }
    )
    assert facts == {"partner.name": "Northwind", "customer.name": "Acme", "rule": "approved"}
