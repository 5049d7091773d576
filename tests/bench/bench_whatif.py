"""Policy what-if over 100,000 registrations, against bare normalisation in the same run.

    .venv/bin/python -m tests.bench.bench_whatif [registrations, default 100000]

Builds past registrations (customers drawn from 20,000 made-up accounts spelled several
ways, 300 partners, 3 product lines, amounts from 1,000 to 200,000), replays them under the
default policy (that is the recorded past), then under a draft that raises the minimum amount
to 10,000: only the second replay is timed. The ceiling is the time to normalise the same
customers alone: the replay cannot be faster than reading its input.
"""

from __future__ import annotations

import dataclasses
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from conflict_resolver.domain.matching import CustomerProfile, normalise_customer
from conflict_resolver.domain.policy import Policy
from conflict_resolver.domain.replay import PastRegistration, replay
from conflict_resolver.domain.rules import Submission
from schemas.accounts import account_key

SUFFIXES = ("Inc", "Corp.", "GmbH", "Ltd", "", "LLC", "S.A.", "Corporation")
SYLLABLES = ("ka", "lo", "mi", "ter", "von", "ix", "ra", "zen", "tor", "qua", "bel", "dra", "nu")
COMMON = ("Systems", "Networks", "Global", "Solutions", "Group", "Labs", "Health", "Energy")


def company(account: int, rng: random.Random) -> tuple[str, str | None]:
    """One spelling of account ``account``: a made-up brand, sometimes a common word, a legal
    form; a domain seven times in ten. Brands repeat only by chance, as real ones do."""
    brand_rng = random.Random(account)
    brand = "".join(brand_rng.choice(SYLLABLES) for _ in range(brand_rng.randint(2, 4)))
    extra = f" {brand_rng.choice(COMMON)}" if brand_rng.random() < 0.4 else ""
    name = f"{brand.title()}{extra} {rng.choice(SUFFIXES)}".strip()
    domain = f"{brand}.com" if rng.random() < 0.7 else None
    return name, domain


def past_registrations(count: int, rng: random.Random) -> list[PastRegistration]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    registrations = []
    for seq in range(1, count + 1):
        account = rng.randrange(20_000)
        name, domain = company(account, rng)
        customer = {"name": name, "domain": domain, "country": "US"}
        amount = Decimal(rng.randrange(1_000, 200_000))
        at = start + timedelta(minutes=seq)
        submission = Submission(
            registration_id=f"r{seq}",
            submission_seq=seq,
            partner_id=f"p{rng.randrange(300)}",
            partner_tier="gold",
            account_key=account_key(name=name, domain=domain, country="US"),
            product_line=rng.choice(("network-security", "cloud", "endpoint")),
            amount=amount,
        )
        registrations.append(
            PastRegistration(
                submission=submission,
                customer=customer,
                submitted_at=at,
                decided_at=at,
                outcome="approved" if amount >= 5_000 else "rejected",
                rule=None,
                reason_code=None if amount >= 5_000 else "BELOW_MINIMUM",
                evidence={},
            )
        )
    return registrations


def decided_under(policy: Policy, registrations: list[PastRegistration]) -> list[PastRegistration]:
    """The registrations with the decisions ``policy`` really gives them (the recorded past)."""
    changes = {
        change.registration_id: change.after for change in replay(registrations, policy).changed
    }
    return [
        dataclasses.replace(
            past,
            outcome=changes[past.submission.registration_id]["outcome"],
            rule=changes[past.submission.registration_id]["rule"],
            reason_code=changes[past.submission.registration_id]["reason_code"],
        )
        if past.submission.registration_id in changes
        else past
        for past in registrations
    ]


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    registrations = past_registrations(count, random.Random(7))
    started = time.perf_counter()
    for past in registrations:
        normalise_customer(CustomerProfile(past.customer["name"], past.customer["domain"], "US"))
    ceiling = time.perf_counter() - started

    registrations = decided_under(Policy(), registrations)
    draft = Policy(version=2, minimum_amount=Decimal(10_000))
    started = time.perf_counter()
    answer = replay(registrations, draft)
    elapsed = time.perf_counter() - started
    print(f"| registrations replayed | {answer.replayed:,} |")
    print(f"| decisions that change | {len(answer.changed):,} {answer.transitions} |")
    print(f"| replay time | {elapsed:.1f} s ({answer.replayed / elapsed:,.0f} per second) |")
    print(f"| normalising the same customers alone (ceiling) | {ceiling:.1f} s |")
    print(f"| replay / normalisation alone | {elapsed / ceiling:.1f}x |")


if __name__ == "__main__":
    main()
