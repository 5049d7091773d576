"""Queries over claims, their blocking keys, protections and what the rules look at.

Candidates come from the indexed ``claim_keys`` table (blocking key, product line,
registration id), never from a scan of ``claims``. On PostgreSQL a decision first takes
transaction advisory locks on its own blocking keys, in sorted order: two registrations of one
company that arrive on different partitions share a key, so the second waits for the first to
commit and then sees it as a candidate.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Select,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from conflict_resolver.adapters import direct_matching, pending
from conflict_resolver.adapters.house_accounts import house_account_hit
from conflict_resolver.adapters.policy_store import HouseAccountList
from conflict_resolver.adapters.tables import (
    claim_keys,
    claims,
    direct_opportunities,
    incumbents,
    protections,
)
from conflict_resolver.domain import protection
from conflict_resolver.domain.encroachment import ANY_LINE
from conflict_resolver.domain.families import AccountContext, protection_keys
from conflict_resolver.domain.matching import (
    NormalisedCustomer,
    blocking_keys,
    choose_probe_keys,
    could_reach,
    score,
)
from conflict_resolver.domain.policy import Policy
from conflict_resolver.domain.rules import (
    ClaimState,
    Holdings,
    Incumbent,
    Match,
    Situation,
    classify_match,
)
from schemas.registration import CustomerData, RegistrationSubmitted
from services.db import dialect_name
from services.tables import UtcDateTime

# Claims a new registration can collide with; the others have ended.
_LIVE_STATUSES = ("approved", "pending_review", "rejected", "won")


def customer_keys(customer: NormalisedCustomer) -> list[str]:
    """The blocking keys a customer is filed and locked under."""
    return blocking_keys(customer)


def normalised(customer: CustomerData | dict[str, Any]) -> NormalisedCustomer:
    return protection.normalised(customer)


async def lock_keys(session: AsyncSession, keys: Iterable[str], product_line: str) -> None:
    """Serialise decisions that share a blocking key (PostgreSQL; SQLite has one writer)."""
    await _advisory_locks(session, {f"{key}|{product_line}" for key in keys})


async def lock_partner(session: AsyncSession, partner_id: str) -> None:
    """Serialise the decisions of one partner whose protections are counted (capacity caps):
    its registrations name different customers, so no blocking key is shared, and two
    instances (each in its batch's transaction) would both count the same holdings and
    both approve. Taken after the key locks, as every decision takes them."""
    await _advisory_locks(session, {f"partner:{partner_id}"})


# Per transaction (``session.info``): the advisory locks it holds (held to its end), so that
# a batch's locks taken at once (``lock_batch``) are not asked for again decision by decision.
_LOCKS_HELD = "conflict_resolver.locks_held"


async def lock_batch(
    session: AsyncSession, keys: Iterable[tuple[str, str]], partner_ids: Iterable[str]
) -> None:
    """Take the locks a batch's decisions will ask for, in two statements: every (blocking
    key, product line), sorted, then every capped partner, sorted (each decision takes its
    keys before its partner; here all keys come before all partners, still one order)."""
    await _advisory_locks(session, {f"{key}|{line}" for key, line in keys})
    await _advisory_locks(session, {f"partner:{partner_id}" for partner_id in partner_ids})


async def _advisory_locks(session: AsyncSession, names: set[str]) -> None:
    """Transaction-scoped advisory locks, in sorted order (PostgreSQL; SQLite has one writer).
    A lock this transaction already holds is not asked for again."""
    if dialect_name(session) != "postgresql":
        return
    held: set[str] = session.info.setdefault(_LOCKS_HELD, set())
    wanted = names - held
    if not wanted:
        return
    await session.execute(
        text(
            "SELECT pg_advisory_xact_lock(hashtext(k)) "
            "FROM (SELECT unnest(CAST(:keys AS text[])) AS k ORDER BY 1) AS sorted_keys"
        ),
        {"keys": sorted(wanted)},
        execution_options={pending.INDEPENDENT: True},  # locks read no table
    )
    held.update(wanted)


async def file_keys(
    session: AsyncSession, registration_id: str, keys: Iterable[str], product_line: str
) -> None:
    rows = [
        {"blocking_key": key, "product_line": product_line, "registration_id": registration_id}
        for key in dict.fromkeys(keys)
    ]
    if rows:
        if not pending.hold_keys(session, registration_id, rows):
            await session.execute(insert(claim_keys), rows)
        sizes: dict[tuple[str, str], int] = session.info.get(_KEY_SIZES, {})
        for row in rows:
            known = (row["blocking_key"], product_line)
            if known in sizes:
                sizes[known] += 1


async def drop_keys(session: AsyncSession, registration_id: str) -> None:
    await session.execute(delete(claim_keys).where(claim_keys.c.registration_id == registration_id))
    session.info.pop(_KEY_SIZES, None)  # which keys it dropped is not known here: read again


# Per transaction (``session.info``): (blocking key, product line) -> how many claims are filed
# under it, read for a batch's keys at once (``read_key_sizes``, under the batch's key locks,
# so no other decision changes them), kept up to date by ``file_keys``; ``drop_keys`` forgets
# them all.
_KEY_SIZES = "conflict_resolver.key_sizes"


async def read_key_sizes(session: AsyncSession, keys: Iterable[tuple[str, str]]) -> None:
    """Count the claims under each of ``keys`` (blocking key, product line) in one statement,
    for this transaction's decisions (``_key_sizes``)."""
    sizes: dict[tuple[str, str], int] = session.info.setdefault(_KEY_SIZES, {})
    wanted = set(keys) - sizes.keys()
    if not wanted:
        return
    lines = sorted({line for _, line in wanted})
    names = sorted({key for key, _ in wanted})
    query = (
        select(claim_keys.c.blocking_key, claim_keys.c.product_line, func.count())
        .where(claim_keys.c.product_line.in_(lines), claim_keys.c.blocking_key.in_(names))
        .group_by(claim_keys.c.blocking_key, claim_keys.c.product_line)
    )
    counted = {(key, line): int(size) for key, line, size in (await session.execute(query)).all()}
    sizes.update((known, counted.get(known, 0)) for known in wanted)


async def _key_sizes(session: AsyncSession, keys: list[str], product_line: str) -> dict[str, int]:
    """How many claims are filed under each of ``keys`` in the line (from this transaction's
    batch read when it has them all, else one grouped count)."""
    sizes: dict[tuple[str, str], int] = session.info.get(_KEY_SIZES, {})
    if all((key, product_line) in sizes for key in keys):
        return {key: sizes[key, product_line] for key in keys}
    in_line = claim_keys.c.product_line == product_line
    return dict(
        (
            await session.execute(
                select(claim_keys.c.blocking_key, func.count())
                .where(in_line, claim_keys.c.blocking_key.in_(keys))
                .group_by(claim_keys.c.blocking_key)
            )
        ).all()
    )


@dataclass(frozen=True)
class Gathered:
    situation: Situation
    keys: list[str]
    stale_holders: tuple[str, ...]  # registrations whose protection passed but is not ended


async def gather(
    session: AsyncSession,
    submitted: RegistrationSubmitted,
    policy: Policy,
    *,
    house: tuple[int, HouseAccountList],
    company: AccountContext | None,
    now: datetime,
) -> Gathered:
    """Everything the rules need for one registration, read under its key locks; ``company``
    is the CRM company the customer is (``crm_companies.context_for``), if any."""
    customer = normalised(submitted.customer)
    keys = blocking_keys(customer)
    line = submitted.product_line
    company_keys = _company_keys(submitted, policy, company)
    found, linked, held = await _scored_candidates(
        session,
        customer,
        keys,
        line,
        submitted.registration_id,
        floor=policy.matching.review,
        holder_keys=set(company_keys),
    )
    same_keys = set(company_keys) | {
        m.protection_key for m, _ in found if classify_match(m, policy) == "same"
    }
    found += await _linked_holders(
        session, customer, same_keys - set(company_keys), line, found, linked, held
    )
    matches = [m for m, _ in found]
    # Each same-account claim's own account key, read with the match (not queried again).
    account_keys = same_keys | {key for m, key in found if classify_match(m, policy) == "same"}
    situation = Situation(
        matches=tuple(matches),
        house_account=house_account_hit(house, customer, submitted.account_key, policy),
        direct_opportunity=await direct_matching.direct_opportunity_for(
            session, customer, account_keys, line, policy
        ),
        incumbent=await _incumbent(session, same_keys, line),
        holdings=await holdings_of(session, submitted.partner.id, policy, now=now),
        company=company,
    )
    return Gathered(
        situation=situation, keys=keys, stale_holders=protection.stale_holders(matches, now)
    )


def _company_keys(
    submitted: RegistrationSubmitted, policy: Policy, company: AccountContext | None
) -> frozenset[str]:
    """Every account key whose holder is the same account as the registration's customer."""
    line = submitted.product_line
    mode = policy.company_families.mode_for(line)
    return protection_keys(company, mode, default_key=submitted.account_key)[1]


async def _scored_candidates(
    session: AsyncSession,
    customer: NormalisedCustomer,
    keys: list[str],
    product_line: str,
    exclude: str,
    *,
    floor: float,
    holder_keys: set[str],
) -> tuple[list[tuple[Match, str]], list[tuple[Match, str]], set[str]]:
    """The claims blocking finds, scored; one the policy would call a different account (below
    ``floor``, the review threshold) is left out unless it holds a protection, which the rules
    never look at but a decision may end (``stale_holders``) and ``_linked_holders`` must
    not add again.

    Read with them, in the same statement: the holders of the protections under
    ``holder_keys`` (the company's account keys, known before any match) that blocking did not
    find, as linked matches; and the account keys of every protection in this line held by a
    claim read (``_linked_holders`` need not look them up again).
    """
    sizes = await _key_sizes(session, keys, product_line)
    probe = choose_probe_keys(keys, lambda key: int(sizes.get(key, 0)))
    parameters = {
        "line": product_line,
        "probe": list(probe),
        "exclude": exclude,
        "holder_keys": sorted(holder_keys),
    }
    waiting = pending.pending(session)
    snapshot: _BatchCandidates | None = session.info.get(pending.SNAPSHOT)
    if (
        snapshot is not None
        and waiting is not None
        and snapshot.covers(probe, holder_keys, product_line)
    ):
        # What the statement would return, from the batch's read and the batch's own new
        # claims (nothing since changed either).
        found, linked = snapshot.candidates(probe, holder_keys, product_line, exclude, waiting)
        rows = [*found, *linked]
    else:
        # Rows this batch holds back cannot be among the candidates: need not be written first.
        independent = waiting is not None and not waiting.sees(probe, holder_keys, product_line)
        options = {pending.INDEPENDENT: independent}
        rows = _live(await session.execute(_CANDIDATES, parameters, execution_options=options))
        found = [(row, state) for row, state in rows if row["blocked"]]
        linked = [(row, state) for row, state in rows if not row["blocked"]]
    held = {row["held_key"] for row, _ in rows if row["held_line"] == product_line}
    return (
        _scored(customer, found, linked=False, floor=floor),
        _scored(customer, linked, linked=True),
        held,
    )


_MATCH_COLUMNS = (
    claims.c.registration_id,
    claims.c.partner_id,
    claims.c.submission_seq,
    claims.c.protection_key,
    claims.c.account_key,
    claims.c.status,
    claims.c.waitlisted,
    claims.c.submitted["customer"].label("customer"),
    protections.c.expires_at.label("holds_until"),
)


def _live_query(condition: Any, *extra: Any) -> Select[Any]:
    """Live claims that meet ``condition`` in submission order."""
    # Only the columns a match needs: a claim's evidence and decision can be large JSON, and
    # decoding them for every candidate was most of a decision's time. Of the submission, only
    # its customer.
    return (
        select(*_MATCH_COLUMNS, *extra)
        .outerjoin(protections, protections.c.registration_id == claims.c.registration_id)
        .where(condition, claims.c.status.in_(_LIVE_STATUSES))
        .order_by(claims.c.submission_seq)
    )


def _live(result: Any) -> list[tuple[Any, ClaimState]]:
    """The rows of a ``_live_query``, each with its claim's standing (none: not live)."""
    live = []
    for row in result.mappings():
        state = _state(row)
        if state is not None:
            live.append((row, state))
    return live


async def _live_rows(
    session: AsyncSession, condition: Any, *extra: Any
) -> list[tuple[Any, ClaimState]]:
    """Live claims that meet ``condition`` in submission order, each with its standing."""
    return _live(await session.execute(_live_query(condition, *extra)))


def _candidates_query() -> Select[Any]:
    """A decision's candidate statement (``_scored_candidates``), built once: the claims filed
    in the line under the ``probe`` keys (except ``exclude``), marked ``blocked``, and the
    holders of the protections in the line under ``holder_keys``. Building it for every
    decision (its clauses, then its cache key) cost more than executing it."""
    in_line = claim_keys.c.product_line == bindparam("line")
    ids = (
        select(claim_keys.c.registration_id)
        .where(in_line, claim_keys.c.blocking_key.in_(bindparam("probe", expanding=True)))
        .distinct()
    )
    # No probe key: the empty IN finds nothing, as a statement without the branch would.
    blocked = and_(
        claims.c.registration_id.in_(ids), claims.c.registration_id != bindparam("exclude")
    )
    holders = select(protections.c.registration_id).where(
        protections.c.account_key.in_(bindparam("holder_keys", expanding=True)),
        protections.c.product_line == bindparam("line"),
    )
    return _live_query(
        or_(blocked, claims.c.registration_id.in_(holders)),
        blocked.label("blocked"),
        protections.c.account_key.label("held_key"),
        protections.c.product_line.label("held_line"),
    )


_CANDIDATES = _candidates_query()


@dataclass
class _BatchCandidates:
    """The live claims a batch's decisions would find by their probe keys and holder keys,
    read once before the first is decided (``read_batch_candidates``). It answers a decision's
    candidate statement as long as the transaction has changed none of those tables except
    by adding the batch's own new claims (``pending`` drops it otherwise), which it answers
    with from their rows (``Pending.new_claims`` and the rest)."""

    keys: set[tuple[str, str]]  # (blocking key, line) read: every claim filed under it
    holder_keys: set[tuple[str, str]]  # (account key, line) read: its holder, if any
    postings: dict[tuple[str, str], list[str]]  # live claims filed under a key read
    holders: dict[tuple[str, str], str]  # the live holder under an account key read
    rows: dict[str, tuple[Any, ClaimState]]  # those claims' rows, each with its standing

    def covers(self, probe: Iterable[str], holder_keys: Iterable[str], line: str) -> bool:
        return all((key, line) in self.keys for key in probe) and all(
            (key, line) in self.holder_keys for key in holder_keys
        )

    def candidates(
        self,
        probe: Iterable[str],
        holder_keys: Iterable[str],
        line: str,
        exclude: str,
        new: pending.Pending,
    ) -> tuple[list[tuple[Any, ClaimState]], list[tuple[Any, ClaimState]]]:
        """As the candidate statement splits them: found by blocking, then linked holders;
        the claims read before the batch and those the batch made since (``new``, each
        standing as its row would read back)."""
        found: set[str] = set()
        linked: set[str] = set()
        for key in probe:
            found.update(self.postings.get((key, line), ()))
            found.update(new.new_postings.get((key, line), ()))
        found.discard(exclude)
        for key in holder_keys:
            for holders in (self.holders, new.new_holders):
                if (key, line) in holders:
                    linked.add(holders[key, line])

        def in_order(ids: set[str]) -> list[tuple[Any, ClaimState]]:
            rows = [self.rows.get(rid) or _new_candidate(rid, new) for rid in ids]
            live = [row for row in rows if row is not None]
            return sorted(live, key=lambda r: r[0]["submission_seq"])

        return in_order(found), in_order(linked - found)


def _new_candidate(registration_id: str, new: pending.Pending) -> tuple[Any, ClaimState] | None:
    """A claim the batch made, as the candidate statement reads it back (None: not live):
    the submission's customer as JSON gives it back, the protection's expiry as its column
    type returns it."""
    claim = new.new_claims[registration_id]
    if claim["status"] not in _LIVE_STATUSES:
        return None
    held = new.new_protections.get(registration_id)
    row = {
        "registration_id": registration_id,
        "partner_id": claim["partner_id"],
        "submission_seq": claim["submission_seq"],
        "protection_key": claim["protection_key"],
        "account_key": claim["account_key"],
        "status": claim["status"],
        "waitlisted": claim["waitlisted"],
        "customer": json.loads(json.dumps(claim["submitted"]["customer"])),
        "holds_until": None if held is None else _read_back_expiry(held["expires_at"]),
        "held_key": None if held is None else held["account_key"],
        "held_line": None if held is None else held["product_line"],
    }
    state = _state(row)
    return None if state is None else (row, state)


def _read_back_expiry(value: datetime) -> datetime | None:
    """A protection's expiry as ``protections.expires_at`` stores and returns it."""
    return _EXPIRY.process_result_value(_EXPIRY.process_bind_param(value, _ANY), _ANY)


_EXPIRY = UtcDateTime()  # ``protections.expires_at``'s type
_ANY: Any = None  # it converts alike on every dialect


_HELD_COLUMNS = (
    protections.c.account_key.label("held_key"),
    protections.c.product_line.label("held_line"),
)


def _sizes_in(sizes: dict[tuple[str, str], int], line: str) -> Callable[[str], int]:
    return lambda key: sizes.get((key, line), 0)


async def read_batch_candidates(
    session: AsyncSession,
    submissions: list[tuple[RegistrationSubmitted, AccountContext | None]],
    policy: Policy,
) -> None:
    """Read, in two statements, the candidates the batch's decisions will look for: the live
    claims under the keys each would probe now and the holders under its company's account
    keys. A decision whose probe changes to a key not read (the batch filed claims under its
    keys) asks the database as before; the batch's own new claims under the keys read are
    answered from their rows (``_BatchCandidates.candidates``)."""
    sizes: dict[tuple[str, str], int] = session.info.get(_KEY_SIZES, {})
    keys: set[tuple[str, str]] = set()
    holder_keys: set[tuple[str, str]] = set()
    for submitted, company in submissions:
        line = submitted.product_line
        customer_keys = blocking_keys(normalised(submitted.customer))
        probe = choose_probe_keys(customer_keys, _sizes_in(sizes, line))
        keys.update((key, line) for key in probe)
        holder_keys.update((key, line) for key in _company_keys(submitted, policy, company))
    if not keys and not holder_keys:
        return
    rows: dict[str, tuple[Any, ClaimState]] = {}
    postings: dict[tuple[str, str], list[str]] = {}
    if keys:
        filed = (
            select(
                *_MATCH_COLUMNS,
                *_HELD_COLUMNS,
                claim_keys.c.blocking_key,
                claim_keys.c.product_line.label("filed_line"),
            )
            .select_from(
                claims.join(claim_keys, claim_keys.c.registration_id == claims.c.registration_id)
            )
            .outerjoin(protections, protections.c.registration_id == claims.c.registration_id)
            .where(
                claim_keys.c.blocking_key.in_(sorted({key for key, _ in keys})),
                claim_keys.c.product_line.in_(sorted({line for _, line in keys})),
                claims.c.status.in_(_LIVE_STATUSES),
            )
        )
        for row, state in _live(await session.execute(filed)):
            posting = (row["blocking_key"], row["filed_line"])
            if posting in keys:
                postings.setdefault(posting, []).append(row["registration_id"])
                rows.setdefault(row["registration_id"], (row, state))
    holders: dict[tuple[str, str], str] = {}
    if holder_keys:
        holding = select(protections.c.registration_id).where(
            protections.c.account_key.in_(sorted({key for key, _ in holder_keys})),
            protections.c.product_line.in_(sorted({line for _, line in holder_keys})),
        )
        query = _live_query(claims.c.registration_id.in_(holding), *_HELD_COLUMNS)
        for row, state in _live(await session.execute(query)):
            held = (row["held_key"], row["held_line"])
            if held in holder_keys:
                holders[held] = row["registration_id"]
                rows.setdefault(row["registration_id"], (row, state))
    session.info[pending.SNAPSHOT] = _BatchCandidates(keys, holder_keys, postings, holders, rows)


def _scored(
    customer: NormalisedCustomer,
    rows: list[tuple[Any, ClaimState]],
    *,
    linked: bool,
    floor: float | None = None,
) -> list[tuple[Match, str]]:
    """The claims' rows scored against ``customer``, each with the claim's account key. With a
    ``floor``, an unprotected claim that provably scores below it (``could_reach``) is not
    scored one by one and left out."""
    live = [(row, state, normalised(row["customer"])) for row, state in rows]
    if floor is not None:
        reach = could_reach(customer, [theirs for _, _, theirs in live], floor)
        live = [
            candidate
            for candidate, kept in zip(live, reach, strict=True)
            if kept or candidate[1] == "protected"
        ]
    return [
        (
            Match(
                registration_id=row["registration_id"],
                partner_id=row["partner_id"],
                submission_seq=row["submission_seq"],
                protection_key=row["protection_key"] or row["account_key"],
                state=state,
                evidence=score(customer, theirs),
                customer={k: row["customer"].get(k) for k in ("name", "domain", "country")},
                expires_at=row["holds_until"],
                linked=linked,
            ),
            row["account_key"],
        )
        for row, state, theirs in live
    ]


def _state(row: Any) -> ClaimState | None:
    """The claim's standing; a protection row makes it the holder whatever wrote it (the
    rules, a waitlist promotion or an ops decision from the queue)."""
    status = row["status"]
    if row["holds_until"] is not None:
        return "protected"
    if status == "approved":
        return None
    if status == "pending_review":
        return "in_review"
    if status == "rejected":
        return "waitlisted" if row["waitlisted"] else None
    if status == "won":
        return "won"
    return None


async def _linked_holders(
    session: AsyncSession,
    customer: NormalisedCustomer,
    more_keys: set[str],
    product_line: str,
    found: list[tuple[Match, str]],
    linked: list[tuple[Match, str]],
    held: set[str],
) -> list[tuple[Match, str]]:
    """Holders of the protections this customer's account keys name, even when blocking did
    not find them: one canonical account, so the same account by construction.

    ``linked`` are the holders under the company's keys, read with the candidates; ``held``
    the keys whose holder was read there (a key has one holder). Only the rest of
    ``more_keys`` (the protection keys of same-account matches) are looked up, and nothing is
    when there are none."""
    seen = {m.registration_id for m, _ in found}
    rest = more_keys - held
    if rest:
        read = {m.registration_id for m, _ in linked}
        holders = select(protections.c.registration_id).where(
            protections.c.account_key.in_(sorted(rest)),
            protections.c.product_line == product_line,
        )
        rows = await _live_rows(session, claims.c.registration_id.in_(holders))
        more = _scored(customer, rows, linked=True)
        linked = sorted(
            [*linked, *((m, key) for m, key in more if m.registration_id not in read)],
            key=lambda pair: pair[0].submission_seq,
        )
    return [(m, key) for m, key in linked if m.registration_id not in seen]


# Per transaction (``session.info``): product lines with no incumbent at all, read once for a
# batch (``read_empty_lines``). Incumbents are set when a deal is won (the CRM consumer), and
# ``outcomes`` forgets this if an outcome in the transaction ever sets one.
NO_INCUMBENTS = "conflict_resolver.no_incumbents"


async def read_empty_lines(session: AsyncSession, lines: Iterable[str]) -> None:
    """Which of ``lines`` have no incumbent and no open direct opportunity, in one statement,
    so that a batch's decisions in such a line do not ask one by one (both tables are written
    only by the CRM consumer; a line that has any is asked as before)."""
    wanted = sorted(set(lines))
    if not wanted:
        return
    opened = direct_opportunities.c.closed_at.is_(None)
    checks = [
        *(
            exists().where(incumbents.c.product_line == line).label(f"incumbent_{n}")
            for n, line in enumerate(wanted)
        ),
        *(
            exists()
            .where(opened, direct_opportunities.c.product_line.in_([line, ANY_LINE]))
            .label(f"direct_{n}")
            for n, line in enumerate(wanted)
        ),
    ]
    row = (await session.execute(select(*checks))).one()
    found = list(row)
    count = len(wanted)
    session.info.setdefault(NO_INCUMBENTS, set()).update(
        line for n, line in enumerate(wanted) if not found[n]
    )
    session.info.setdefault(direct_matching.NO_OPEN_DIRECT, set()).update(
        line for n, line in enumerate(wanted) if not found[count + n]
    )


async def _incumbent(
    session: AsyncSession, account_keys: set[str], product_line: str
) -> Incumbent | None:
    if product_line in session.info.get(NO_INCUMBENTS, ()):
        return None  # the line has none (``read_empty_lines``)
    query = (
        select(incumbents)
        .where(
            incumbents.c.account_key.in_(account_keys), incumbents.c.product_line == product_line
        )
        .order_by(incumbents.c.won_at.desc())
        .limit(1)
    )
    row = (await session.execute(query)).mappings().first()
    if row is None:
        return None
    return Incumbent(
        partner_id=row["partner_id"], registration_id=row["registration_id"], won_at=row["won_at"]
    )


# --- Claims and protections ------------------------------------------------------------------


async def holdings_of(
    session: AsyncSession, partner_id: str, policy: Policy | None, *, now: datetime
) -> Holdings:
    """The product line of each live protection the partner holds (not read when the policy
    caps no tier: nothing to count against)."""
    if policy is not None and not policy.capacity.tiers:
        return Holdings()
    query = (
        select(protections.c.product_line)
        .where(protections.c.partner_id == partner_id, protections.c.expires_at > now)
        .order_by(protections.c.product_line)
    )
    return Holdings(product_lines=tuple((await session.execute(query)).scalars()))


async def claim_row(
    session: AsyncSession, registration_id: str, *, for_update: bool = False
) -> dict[str, Any] | None:
    query = select(claims).where(claims.c.registration_id == registration_id)
    return await _first_row(session, query, for_update=for_update)


# Per transaction (``session.info``): registration id -> whether its claim exists, read once
# for a batch's submissions and kept up to date by ``insert_claim``.
_CLAIMS_KNOWN = "conflict_resolver.claims_known"


async def claim_exists(
    session: AsyncSession, registration_id: str, batch_ids: Iterable[str] = ()
) -> bool:
    """Whether the registration has a claim. The first ask in a transaction reads it for
    ``batch_ids`` too (the other submissions of the batch, decided next in the same
    transaction), so a batch asks once; claims inserted since are known by ``insert_claim``."""
    known: dict[str, bool] = session.info.setdefault(_CLAIMS_KNOWN, {})
    if registration_id not in known:
        wanted = sorted({registration_id, *batch_ids} - known.keys())
        query = select(claims.c.registration_id).where(claims.c.registration_id.in_(wanted))
        existing = set((await session.execute(query)).scalars())
        known.update((rid, rid in existing) for rid in wanted)
    return known[registration_id]


async def insert_claim(
    session: AsyncSession,
    submitted: RegistrationSubmitted,
    *,
    protection_key: str,
    correlation_id: str,
    decided: dict[str, Any] | None = None,
) -> None:
    """The resolver's record of a registration; ``decided``, the claim's columns its decision
    sets (``status`` and the rest), when it is inserted decided."""
    values: dict[str, Any] = {
        "registration_id": submitted.registration_id,
        "submission_seq": submitted.submission_seq,
        "partner_id": submitted.partner.id,
        "account_key": submitted.account_key,
        "product_line": submitted.product_line,
        "submitted": submitted.model_dump(mode="json"),
        "status": "submitted",
        "correlation_id": correlation_id,
        "protection_key": protection_key,
        "waitlisted": False,
        "extension_count": 0,
    }
    values.update(decided or {})
    if not pending.hold_claim(session, values):
        await session.execute(_INSERT_CLAIM, values)
    session.info.setdefault(_CLAIMS_KNOWN, {})[submitted.registration_id] = True


_INSERT_CLAIM = insert(claims)  # built once: its ``values()`` each time cost as much as the insert


async def protection_of(
    session: AsyncSession, registration_id: str, *, for_update: bool = False
) -> dict[str, Any] | None:
    query = select(protections).where(protections.c.registration_id == registration_id)
    return await _first_row(session, query, for_update=for_update)


async def _first_row(
    session: AsyncSession, query: Select[Any], *, for_update: bool
) -> dict[str, Any] | None:
    """The query's first row, locked when asked (on PostgreSQL; SQLite serialises writers)."""
    if for_update and dialect_name(session) == "postgresql":
        query = query.with_for_update()
    row = (await session.execute(query)).mappings().first()
    return None if row is None else dict(row)


async def remove_protection(session: AsyncSession, registration_id: str) -> bool:
    """Delete the registration's protection row; False if another transaction already did."""
    result = await session.execute(
        delete(protections).where(protections.c.registration_id == registration_id)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def update_claim(session: AsyncSession, registration_id: str, **values: Any) -> None:
    await session.execute(
        update(claims).where(claims.c.registration_id == registration_id).values(**values)
    )


async def due_protection(session: AsyncSession, now: datetime) -> str | None:
    """One protection past its expiry. Not locked here: the caller takes the account's key
    locks first, then deletes the row; an instance that comes second deletes nothing."""
    query = (
        select(protections.c.registration_id)
        .where(protections.c.expires_at <= now)
        .order_by(protections.c.expires_at)
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()
