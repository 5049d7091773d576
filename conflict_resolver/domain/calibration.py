"""Calibrating the review band from sales ops' decisions (issue 17). Pure: no I/O.

Every decision ops take on a ``POSSIBLE_DUPLICATE`` case is a labelled pair: the similarity
the matcher gave, and whether ops said "the same account" (they rejected the registration or
kept the earlier claim) or "different" (they approved it beside the other). From these:

- ``fit_isotonic`` turns similarity into a calibrated probability of "same account": the
  pool-adjacent-violators fit (isotonic regression), a step function that only rises with
  similarity; each step is the share of "same" among the decisions it pools, so a reviewer can
  check it by hand;
- ``calibrate`` moves the band inside the current one: the automatic-match threshold comes
  down to the lowest similarity from which the calibrated probability holds the policy's
  target precision, and the review floor goes up to where "same" stops being plausible (the
  probability exceeds ``1 - target``). Only decisions inside the current band are evidence
  (nothing outside it is ever reviewed), so the band can narrow, never widen; a step needs
  ``min_support`` decisions before it moves anything;
- ``what_if`` says what the proposed band would have done to the decisions on record.

Publishing is not done here: the result is a proposal, published as a new policy version.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from conflict_resolver.domain.matching import MatchClass

MIN_DECISIONS: Final = 30
MIN_SUPPORT: Final = 10


@dataclass(frozen=True)
class LabelledPair:
    """One decision: the similarity shown to ops and whether they said "same account"."""

    similarity: float
    same: bool


@dataclass(frozen=True)
class Step:
    """From ``similarity`` up to the next step, the probability of "same"; ``support`` is
    how many decisions it pools."""

    similarity: float
    probability: float
    support: int


@dataclass(frozen=True)
class Band:
    """Rule 7's thresholds: same account at or above ``same_account``, review from ``review``."""

    same_account: float
    review: float


@dataclass(frozen=True)
class Calibration:
    """A proposed band, the fit behind it and what it is based on."""

    current: Band
    proposed: Band
    steps: tuple[Step, ...]
    decisions: int
    target_precision: float
    note: str


def fit_isotonic(pairs: Iterable[LabelledPair]) -> tuple[Step, ...]:
    """The non-decreasing step function of similarity closest (least squares) to the labels.

    Pool adjacent violators: walk up the similarities, and whenever a block's share of "same"
    is not above the previous block's, merge the two.
    """
    by_similarity: dict[float, list[int]] = {}
    for pair in pairs:
        by_similarity.setdefault(pair.similarity, []).append(int(pair.same))
    blocks: list[tuple[float, int, int]] = []  # (lowest similarity, same, count)
    for similarity in sorted(by_similarity):
        labels = by_similarity[similarity]
        blocks.append((similarity, sum(labels), len(labels)))
        while len(blocks) > 1 and blocks[-2][1] * blocks[-1][2] >= blocks[-1][1] * blocks[-2][2]:
            low, same, count = blocks.pop()
            previous_low, previous_same, previous_count = blocks.pop()
            blocks.append((min(low, previous_low), same + previous_same, count + previous_count))
    return tuple(Step(low, same / count, count) for low, same, count in blocks)


def probability(steps: Sequence[Step], similarity: float) -> float | None:
    """The calibrated probability of "same account" at ``similarity`` (None without a fit).
    Below the first step, the first step's: the fit knows nothing lower."""
    if not steps:
        return None
    found = steps[0].probability
    for step in steps:
        if step.similarity > similarity:
            break
        found = step.probability
    return found


def calibrate(
    pairs: Sequence[LabelledPair],
    current: Band,
    *,
    target_precision: float,
    min_decisions: int = MIN_DECISIONS,
    min_support: int = MIN_SUPPORT,
) -> Calibration:
    """The band the decisions support at ``target_precision`` (see the module docstring)."""
    inside = [p for p in pairs if current.review <= p.similarity < current.same_account]
    steps = fit_isotonic(inside)
    if len(inside) < min_decisions:
        note = f"{len(inside)} decisions in the band, fewer than {min_decisions}: band kept"
        return Calibration(current, current, steps, len(inside), target_precision, note)
    supported = [step for step in steps if step.support >= min_support]
    same_account = min(
        (s.similarity for s in supported if s.probability >= target_precision),
        default=current.same_account,
    )
    review = _review_floor(steps, current, same_account, target_precision, min_support)
    review = min(review, same_account)
    note = f"{len(inside)} decisions in the band, {len(steps)} steps"
    proposed = Band(same_account=round(same_account, 4), review=round(review, 4))
    return Calibration(current, proposed, steps, len(inside), target_precision, note)


def _review_floor(
    steps: Sequence[Step], current: Band, same_account: float, target: float, min_support: int
) -> float:
    """The lowest similarity where "same" is still plausible (probability above ``1 -
    target``), raised from the current floor only past steps with enough decisions."""
    for index, step in enumerate(steps):
        if step.probability > 1 - target:
            return current.review if index == 0 else step.similarity
        if step.support < min_support:
            return current.review
    return same_account


def _classify(similarity: float, band: Band) -> MatchClass:
    if similarity >= band.same_account:
        return "same"
    return "possible" if similarity >= band.review else "different"


def what_if(pairs: Iterable[LabelledPair], proposed: Band, current: Band) -> dict[str, int]:
    """How the proposed band would have treated the decisions on record, counted by what ops
    said and what each band does: ``same->same`` (a review saved), ``different->same`` (a
    wrong automatic match), ``same->different`` (a duplicate missed), ``different->different``
    (a review saved), ``*->possible`` (still reviewed)."""
    counts: Counter[str] = Counter()
    for pair in pairs:
        said = "same" if pair.same else "different"
        before, after = _classify(pair.similarity, current), _classify(pair.similarity, proposed)
        counts[f"{said}->{after}"] += 1
        counts["changed"] += before != after
    return dict(sorted(counts.items()))
