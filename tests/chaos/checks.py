"""The invariants, checked from the event history (plus what the APIs and the CRM answer).

Pure functions of recorded data: they run the same on a live run and on a saved
``history.json``, and the unit tests feed them small hand-made histories.

- Every registration that got a 202 was submitted and reached a decision (or was withdrawn
  first); one left in review has an open case.
- At no moment two live approvals for one account key and product line: approvals are
  replayed in time order, each live until its registration's withdrawal, expiry or close.
- Exactly one CRM deal per approved registration, with its partner, product line, status and
  the last stage a salesperson set; no deal for anything never approved.
- No event applied twice in effect: one approval, one submission, one expiry, one close per
  registration; no more extensions than the policy allows.
- Every consumer group caught up; no dead letter that is not poison; topics replicated.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.chaos.history import Event, History

SUBMITTED = "dealreg.registration.submitted"
APPROVED = "dealreg.registration.approved"
REJECTED = "dealreg.registration.rejected"
REVIEW = "dealreg.registration.sent_to_review"
WITHDRAWN = "dealreg.registration.withdrawn"
EXTENDED = "dealreg.registration.protection_extended"
EXPIRED = "dealreg.registration.protection_expired"
CLOSED = "dealreg.crm.deal_closed"
DECIDED = {APPROVED, REJECTED, REVIEW}
ENDS = {WITHDRAWN: "withdrawn_at", EXPIRED: "expired_at", CLOSED: "closed_at"}
ONCE = (SUBMITTED, APPROVED, EXPIRED, CLOSED, WITHDRAWN)
POISON_REASONS = ("MalformedEventError", "PoisonEventError", "UnknownEventError")
MAX_EXTENSIONS = 1
_FOREVER = datetime.max.replace(tzinfo=UTC)


@dataclass
class Findings:
    lost_at_intake: list[str] = field(default_factory=list)
    undecided: list[str] = field(default_factory=list)
    pending_without_case: list[str] = field(default_factory=list)
    double_approvals: list[dict[str, Any]] = field(default_factory=list)
    duplicate_effects: list[dict[str, Any]] = field(default_factory=list)
    crm_missing: list[str] = field(default_factory=list)
    crm_duplicates: list[str] = field(default_factory=list)
    crm_wrong: list[dict[str, Any]] = field(default_factory=list)
    crm_unapproved: list[str] = field(default_factory=list)
    lagging_groups: dict[str, int] = field(default_factory=dict)
    dead_letters: Counter[str] = field(default_factory=Counter)
    under_replicated: dict[str, dict[str, Any]] = field(default_factory=dict)
    info: dict[str, int] = field(default_factory=dict)

    @property
    def lost(self) -> list[str]:
        return sorted({*self.lost_at_intake, *self.undecided, *self.pending_without_case})

    @property
    def non_poison_dead_letters(self) -> int:
        return sum(n for reason, n in self.dead_letters.items() if reason != "poison")

    def failures(self) -> dict[str, int]:
        """Each invariant that failed, with how many times."""
        counts = {
            "lost": len(self.lost),
            "double approvals": len(self.double_approvals),
            "duplicate effects": len(self.duplicate_effects),
            "CRM deals missing": len(self.crm_missing),
            "duplicate CRM deals": len(self.crm_duplicates),
            "CRM deals wrong": len(self.crm_wrong),
            "CRM deals never approved": len(self.crm_unapproved),
            "consumer groups behind": len(self.lagging_groups),
            "non-poison dead letters": self.non_poison_dead_letters,
            "topics under-replicated": len(self.under_replicated),
        }
        return {name: n for name, n in counts.items() if n}


def unique(events: list[Event]) -> list[Event]:
    """One per event id: a republished event (outbox after a crash) is the same event."""
    seen: dict[str, Event] = {}
    for event in events:
        seen.setdefault(event.id or f"{event.topic}/{event.partition}/{event.offset}", event)
    return list(seen.values())


def moment(event: Event, name: str) -> datetime:
    """An event's own time field (the envelope's time when it has none), in UTC."""
    raw = str(event.data.get(name) or event.time)
    return datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(UTC)


def by_registration(events: list[Event]) -> dict[str, dict[str, list[Event]]]:
    grouped: dict[str, dict[str, list[Event]]] = defaultdict(lambda: defaultdict(list))
    for event in events:
        registration_id = event.data.get("registration_id") or event.subject
        grouped[str(registration_id)][event.type].append(event)
    return grouped


def check_decided(
    findings: Findings,
    grouped: dict[str, dict[str, list[Event]]],
    accepted: set[str],
    final_status: dict[str, str],
    open_case_registrations: set[str],
) -> None:
    for registration_id in sorted(accepted):
        types = grouped.get(registration_id, {})
        if not types.get(SUBMITTED):
            findings.lost_at_intake.append(registration_id)
        elif not (DECIDED & types.keys() or types.get(WITHDRAWN)):
            findings.undecided.append(registration_id)
        elif (
            final_status.get(registration_id) == "pending_review"
            and registration_id not in open_case_registrations
        ):
            findings.pending_without_case.append(registration_id)


def live_intervals(
    grouped: dict[str, dict[str, list[Event]]], findings: Findings
) -> dict[tuple[str, str], list[tuple[datetime, datetime, str]]]:
    """(account key, product line) -> [(start, end, registration id)] of approved protection."""
    intervals: dict[tuple[str, str], list[tuple[datetime, datetime, str]]] = defaultdict(list)
    for registration_id, types in grouped.items():
        approvals = sorted(types.get(APPROVED, []), key=lambda e: moment(e, "decided_at"))
        if not approvals:
            continue
        start = moment(approvals[0], "decided_at")
        ends = sorted(
            moment(e, field_) for kind, field_ in ENDS.items() for e in types.get(kind, [])
        )
        end = next((t for t in ends if t >= start), _FOREVER)
        if ends and ends[0] < start:
            # Withdrawn before the approval was published: the resolver handled the
            # withdrawal after its decision (same partition), so the protection ended there.
            findings.info["approved after its withdrawal"] = (
                findings.info.get("approved after its withdrawal", 0) + 1
            )
            end = start
        key = (str(approvals[0].data["account_key"]), str(approvals[0].data["product_line"]))
        intervals[key].append((start, end, registration_id))
    return intervals


def check_exclusive(findings: Findings, grouped: dict[str, dict[str, list[Event]]]) -> None:
    for (account_key, product_line), spans in live_intervals(grouped, findings).items():
        spans.sort()
        for index, (start, _end, registration_id) in enumerate(spans):
            for other_start, other_end, other_id in spans[:index]:
                if other_start <= start < other_end and other_id != registration_id:
                    findings.double_approvals.append(
                        {
                            "account_key": account_key,
                            "product_line": product_line,
                            "holder": other_id,
                            "holder_live": [str(other_start), str(other_end)],
                            "second": registration_id,
                            "second_approved_at": str(start),
                        }
                    )


def check_once(findings: Findings, grouped: dict[str, dict[str, list[Event]]]) -> None:
    for registration_id, types in grouped.items():
        for kind in ONCE:
            if len(types.get(kind, [])) > 1:
                findings.duplicate_effects.append(
                    {"registration_id": registration_id, "event": kind, "count": len(types[kind])}
                )
        if len(types.get(EXTENDED, [])) > MAX_EXTENSIONS:
            findings.duplicate_effects.append(
                {
                    "registration_id": registration_id,
                    "event": EXTENDED,
                    "count": len(types[EXTENDED]),
                }
            )


_CRM_RANK = {"approved": 0, "expired": 1, "withdrawn": 2}


def expected_crm_status(types: dict[str, list[Event]]) -> str:
    """What crm_sync should show: withdrawn beats expired beats approved (or extended).

    Precedence, not arrival order: a withdrawal is final, even when the approval was published
    after it (the resolver decided before it read the withdrawal, then ended the protection).
    """
    if types.get(WITHDRAWN):
        return "withdrawn"
    if types.get(EXPIRED):
        return "expired"
    return "approved"


def check_crm(
    findings: Findings,
    grouped: dict[str, dict[str, list[Event]]],
    deals: list[dict[str, Any]],
    stage_set: dict[str, str],
    grouped_after: dict[str, dict[str, list[Event]]] | None = None,
) -> None:
    """The CRM against the history read before it (``grouped``) and after it
    (``grouped_after``): the system may still move while both are read (short windows expire
    and promote the waitlist), so a deal's status may run ahead of the first read, never
    behind it, and never ahead of the second."""
    after = grouped if grouped_after is None else grouped_after
    deals_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for deal in deals:
        registration_id = deal["properties"].get("dealreg_registration_id")
        if registration_id and not deal.get("archived"):
            deals_of[registration_id].append(deal)
    approved = {rid for rid, types in grouped.items() if types.get(APPROVED)}
    approved_after = {rid for rid, types in after.items() if types.get(APPROVED)}
    findings.crm_unapproved = sorted(set(deals_of) - approved - approved_after)
    for registration_id in sorted(approved):
        mine = deals_of.get(registration_id, [])
        if not mine:
            findings.crm_missing.append(registration_id)
            continue
        if len(mine) > 1:
            findings.crm_duplicates.append(registration_id)
        types = grouped[registration_id]
        status_range = (
            expected_crm_status(types),
            expected_crm_status(after.get(registration_id, types)),
        )
        for deal in mine:
            check_deal(findings, registration_id, types, deal, status_range, stage_set)


def check_deal(
    findings: Findings,
    registration_id: str,
    types: dict[str, list[Event]],
    deal: dict[str, Any],
    status_range: tuple[str, str],
    stage_set: dict[str, str],
) -> None:
    summary = types[APPROVED][0].data.get("registration", {})
    want = {
        "dealreg_partner_id": summary.get("partner_id"),
        "dealreg_product_line": types[APPROVED][0].data.get("product_line"),
        "dealreg_registration_status": status_range[0],
    }
    if deal["id"] in stage_set:
        want["dealstage"] = stage_set[deal["id"]]
    got = deal["properties"]
    status = got.get("dealreg_registration_status")
    low, high = (_CRM_RANK[s] for s in status_range)
    if status in _CRM_RANK and low <= _CRM_RANK[status] <= high:
        want["dealreg_registration_status"] = status
    wrong = {k: got.get(k) for k, v in want.items() if got.get(k) != v}
    if wrong:
        findings.crm_wrong.append(
            {"registration_id": registration_id, "deal": deal["id"], "want": want, "got": wrong}
        )


def check_dead_letters(findings: Findings, dead_letters: list[Event]) -> None:
    for record in dead_letters:
        reason = record.headers.get("dlq_reason", "")
        kind = "poison" if reason.startswith(POISON_REASONS) else reason.split(":", 1)[0]
        findings.dead_letters[f"{kind or 'unknown'}"] += 1


def check_all(
    history: History,
    *,
    accepted: set[str],
    final_status: dict[str, str],
    open_case_registrations: set[str],
    crm_deals: list[dict[str, Any]],
    crm_stage_set: dict[str, str],
    after_crm: History | None = None,
) -> Findings:
    """Every invariant over ``history``; ``after_crm`` is the history read again after the CRM
    (see `check_crm`)."""
    findings = Findings()
    grouped = by_registration(unique(history.events))
    grouped_after = None if after_crm is None else by_registration(unique(after_crm.events))
    check_decided(findings, grouped, accepted, final_status, open_case_registrations)
    check_exclusive(findings, grouped)
    check_once(findings, grouped)
    check_crm(findings, grouped, crm_deals, crm_stage_set, grouped_after)
    check_dead_letters(findings, history.dead_letters)
    findings.lagging_groups = {g: n for g, n in history.lag.items() if n > 0}
    findings.under_replicated = {
        topic: shape
        for topic, shape in history.replication.items()
        if shape.get("replication_factor", 0) < 3 or shape.get("min_insync_replicas", 0) < 2
    }
    findings.info["events"] = len(history.events)
    findings.info["distinct events"] = len(unique(history.events))
    return findings
