"""The conflict queue's rules, pure: no database, clock or web framework in here.

A *case* is one registration the rules sent to ``pending_review``, with the claims it competes
with. Sales ops decide it: approve the case's registration, keep a competing claim that already
holds approval, or approve none. Whatever they choose, the exclusivity invariant holds: the
adapter refuses a second live protection for the same account and product line.
"""

from __future__ import annotations

import base64
import binascii
import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from conflict_resolver.domain.policy import DEFAULT_POLICY, Policy

SortKey = Literal["due", "oldest", "amount"]
SORTS: tuple[SortKey, ...] = ("due", "oldest", "amount")
CaseState = Literal["open", "decided"]

SLA_REASON = "Not decided within the review SLA; decided automatically by policy."


class QueueError(Exception):
    """A request the queue refuses; ``kind`` says which answer it gets."""

    def __init__(self, kind: Literal["invalid", "conflict", "not_found"], detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True)
class CaseFilters:
    state: CaseState | None = None
    reason_code: str | None = None
    product_line: str | None = None
    owner: str | None = None  # a principal id, or "none" for unassigned
    overdue: bool | None = None


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: the last item's sort value and id (keyset pagination)."""

    sort: SortKey
    value: str
    case_id: str


def encode_cursor(cursor: Cursor) -> str:
    raw = json.dumps([cursor.sort, cursor.value, cursor.case_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str, sort: SortKey) -> Cursor:
    """The cursor a previous page returned; refused if forged or made for another sort."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        sort_name, value, case_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as error:
        raise QueueError("invalid", "The cursor is not one this API returned.") from error
    if sort_name != sort or not isinstance(value, str) or not isinstance(case_id, str):
        raise QueueError("invalid", "The cursor belongs to another sort order.")
    return Cursor(sort=sort, value=value, case_id=case_id)


def amount_of(submitted: Mapping[str, Any] | None) -> Decimal:
    """A claim's amount as a number (0 when unreadable), for sorting and pipeline sums."""
    if not submitted:
        return Decimal(0)
    try:
        return Decimal(str(submitted["amount"]["value"]))
    except (KeyError, TypeError, InvalidOperation):
        return Decimal(0)


# --- What a decision does -------------------------------------------------------------------


@dataclass(frozen=True)
class DecisionPlan:
    """What deciding a case changes.

    ``approve``: the registration that gets protection now (None when none does, including when
    ops keep a competing claim that already holds it); ``reject``: the case's registration, when
    it is not the one approved; ``kept``: the competing claim ops chose to keep.
    """

    approve: str | None
    reject: str | None
    kept: str | None = None


def plan_decision(
    *,
    case_registration_id: str,
    competing_ids: Sequence[str],
    statuses: Mapping[str, str],
    approve: str | None,
) -> DecisionPlan:
    """Validate ops' choice against the case's claims and say what it changes.

    - ``approve`` = the case's registration: it is approved (if nothing else holds protection).
    - ``approve`` = a competing claim that already holds approval: it keeps it; the case's
      registration is rejected.
    - ``approve`` = a competing claim still waiting for its own review: refused; decide its own
      case (a case decides only its own registration).
    - ``approve`` = null: the case's registration is rejected.
    """
    if approve is None:
        return DecisionPlan(approve=None, reject=case_registration_id)
    if approve == case_registration_id:
        return DecisionPlan(approve=approve, reject=None)
    if approve not in competing_ids:
        raise QueueError("invalid", "`approve` must be one of the case's claims, or null.")
    if statuses.get(approve) == "approved":
        return DecisionPlan(approve=None, reject=case_registration_id, kept=approve)
    raise QueueError(
        "conflict",
        f"Registration {approve} is {statuses.get(approve, 'unknown')}, not approved; "
        "only the case's registration can be approved here (decide its own case).",
    )


def labelled_pairs(
    *,
    case_registration_id: str,
    reason_code: str,
    evidence: Mapping[str, Any],
    competing_ids: Sequence[str],
    plan: DecisionPlan,
    customer: Mapping[str, Any] | None,
) -> list[dict[str, Any]]:
    """The decision on a ``POSSIBLE_DUPLICATE`` case as labelled pairs (issue 17): one per
    "possible" match among the case's competing claims, with the matcher's features.

    Ops approving the case's registration said "a different account" (it may stand beside the
    other); rejecting it, or keeping a competing claim, said "the same account". Other cases
    (a direct opportunity, an incumbent) are not about matching and give no pairs.
    """
    if reason_code != "POSSIBLE_DUPLICATE":
        return []
    same = plan.approve != case_registration_id
    pairs = []
    for match in evidence.get("matches", []):
        # A "same" match decided the case by itself; only the doubtful ones were asked about.
        if match.get("classification") == "same" or match.get("registration_id") not in (
            competing_ids
        ):
            continue
        pairs.append(
            {
                "registration_id": case_registration_id,
                "matched_registration_id": match["registration_id"],
                "similarity": float(match["similarity"]),
                "same": same,
                "features": {
                    "name_score": match.get("name_score"),
                    "same_domain": match.get("same_domain"),
                    "matched_fields": match.get("matched_fields", []),
                    "customer": dict(customer or {}),
                    "matched_customer": match.get("customer"),
                },
            }
        )
    return pairs


def sla_breached(due_at: datetime, *, now: datetime) -> bool:
    return due_at <= now


# --- Live change feed -----------------------------------------------------------------------

Fingerprint = tuple[str, ...]


@dataclass(frozen=True)
class CaseChange:
    kind: Literal["opened", "updated", "closed"]
    case_id: str


def diff_open_cases(
    before: Mapping[str, Fingerprint], after: Mapping[str, Fingerprint]
) -> list[CaseChange]:
    """What changed between two snapshots of the open queue (case id -> what the list shows)."""
    changes = [CaseChange("opened", case_id) for case_id in after if case_id not in before]
    changes += [
        CaseChange("updated", case_id)
        for case_id, fingerprint in after.items()
        if case_id in before and before[case_id] != fingerprint
    ]
    changes += [CaseChange("closed", case_id) for case_id in before if case_id not in after]
    return changes


# --- The numbers sales ops ask for ----------------------------------------------------------


# The statuses whose amounts make the partner-sourced pipeline.
PIPELINE_STATUSES = frozenset({"approved", "won"})


@dataclass(frozen=True)
class ClaimFact:
    """One registration as the resolver recorded it (from the submitted and decision events)."""

    registration_id: str
    partner_id: str
    partner_name: str
    status: str
    reason_code: str | None
    submitted_at: datetime
    decided_at: datetime | None
    amount: Decimal
    currency: str
    decided_by_ops: bool = False


@dataclass(frozen=True)
class CaseFact:
    reason_code: str
    state: str
    opened_at: datetime
    due_at: datetime
    escalated_at: datetime | None
    decided_at: datetime | None


@dataclass
class _Durations:
    seconds: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float | int | None]:
        return {
            "count": len(self.seconds),
            "p50_seconds": percentile(self.seconds, 50),
            "p95_seconds": percentile(self.seconds, 95),
        }


def percentile(values: Sequence[float], pct: int) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 3)
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return round(cuts[pct - 1], 3)


def compute_stats(
    claims: Iterable[ClaimFact],
    cases: Iterable[CaseFact],
    *,
    now: datetime,
    policy: Policy = DEFAULT_POLICY,
) -> dict[str, Any]:
    """Registrations per day and partner, approval rate, time to decision, queue, SLA, pipeline
    (per currency, and in the policy's base currency at its rates: amounts in a currency it
    has no rate for are left out of that total and named)."""
    per_day: Counter[str] = Counter()
    by_status: Counter[str] = Counter()
    per_partner: dict[str, dict[str, Any]] = {}
    decided = approved = 0
    automatic, manual = _Durations(), _Durations()
    pipeline: dict[str, Decimal] = defaultdict(Decimal)
    for claim in claims:
        per_day[claim.submitted_at.date().isoformat()] += 1
        by_status[claim.status] += 1
        partner = per_partner.setdefault(
            claim.partner_id,
            {"partner_id": claim.partner_id, "partner_name": claim.partner_name, "count": 0},
        )
        partner["count"] += 1
        if claim.status in {"approved", "rejected", "won", "lost", "expired"}:
            decided += 1
            approved += claim.status in {"approved", "won", "lost", "expired"}
            if claim.decided_at is not None:
                taken = (claim.decided_at - claim.submitted_at).total_seconds()
                (manual if claim.decided_by_ops else automatic).seconds.append(max(taken, 0.0))
        if claim.status in PIPELINE_STATUSES:
            pipeline[claim.currency] += claim.amount
    return {
        "registrations_per_day": [{"day": d, "count": n} for d, n in sorted(per_day.items())],
        "registrations_per_partner": sorted(per_partner.values(), key=lambda p: -p["count"]),
        "registrations_by_status": dict(sorted(by_status.items())),
        "approval_rate": round(approved / decided, 4) if decided else None,
        "time_to_decision": {"automatic": automatic.summary(), "manual": manual.summary()},
        "partner_sourced_pipeline": pipeline_entries(pipeline),
        "partner_sourced_pipeline_base": _in_base_currency(pipeline, policy),
        **_queue_numbers(list(cases), now=now),
    }


def pipeline_entries(pipeline: Mapping[str, Decimal]) -> list[dict[str, str]]:
    return [
        {"currency": currency, "value": str(value)} for currency, value in sorted(pipeline.items())
    ]


def _in_base_currency(pipeline: dict[str, Decimal], policy: Policy) -> dict[str, Any]:
    total, unconverted = Decimal(0), []
    for currency, value in sorted(pipeline.items()):
        converted = policy.to_base_currency(value, currency)
        if converted is None:
            unconverted.append(currency)
        else:
            total += converted
    return {
        "currency": policy.base_currency,
        "value": str(total.quantize(Decimal("0.01"))),
        "unconverted": unconverted,
    }


def _queue_numbers(cases: list[CaseFact], *, now: datetime) -> dict[str, Any]:
    open_cases = [case for case in cases if case.state == "open"]
    ages = [(now - case.opened_at).total_seconds() for case in open_cases]
    breaches = [
        case
        for case in cases
        if case.escalated_at is not None
        or (case.decided_at is not None and case.decided_at > case.due_at)
        or (case.state == "open" and case.due_at <= now)
    ]
    return {
        "queue": {
            "open": len(open_cases),
            "overdue": sum(case.due_at <= now for case in open_cases),
            "oldest_age_seconds": round(max(ages), 3) if ages else None,
            "median_age_seconds": percentile(ages, 50),
        },
        "sla_breaches": len(breaches),
        "conflicts_by_reason": dict(sorted(Counter(case.reason_code for case in cases).items())),
    }


def due_in(due_at: datetime, *, now: datetime) -> timedelta:
    return due_at - now
