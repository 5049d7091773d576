"""Calibrating the review band from ops' decisions (issue 17): a monotone fit, a band that
only narrows where the decisions say so, and a what-if over the decisions on record."""

import random

import pytest

from conflict_resolver.domain.calibration import (
    Band,
    LabelledPair,
    calibrate,
    fit_isotonic,
    probability,
    what_if,
)

TODAY = Band(same_account=0.92, review=0.80)


def look_alikes(count: int, seed: int = 3) -> list[LabelledPair]:
    """Ops say "different" below 0.86 and "same" from 0.88: the band is too wide."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(count):
        similarity = round(rng.uniform(0.80, 0.9199), 3)
        if similarity < 0.86:
            pairs.append(LabelledPair(similarity, same=False))
        elif similarity >= 0.88:
            pairs.append(LabelledPair(similarity, same=True))
        else:
            pairs.append(LabelledPair(similarity, same=rng.random() < 0.5))
    return pairs


def test_the_fit_only_rises_with_similarity_and_pools_violations() -> None:
    steps = fit_isotonic(
        [LabelledPair(0.81, True), LabelledPair(0.82, False), LabelledPair(0.9, True)]
    )
    assert [s.probability for s in steps] == [0.5, 1.0]
    assert [s.support for s in steps] == [2, 1]
    assert probability(steps, 0.805) == 0.5
    assert probability(steps, 0.95) == 1.0
    assert probability((), 0.9) is None


def test_a_hundred_decisions_on_look_alikes_narrow_the_band_from_both_ends() -> None:
    result = calibrate(look_alikes(100), TODAY, target_precision=0.99)
    assert result.decisions == 100
    assert 0.85 <= result.proposed.review <= 0.88
    assert 0.86 <= result.proposed.same_account <= 0.89
    assert result.proposed.review <= result.proposed.same_account


def test_ops_saying_same_everywhere_only_lowers_the_automatic_threshold() -> None:
    pairs = [LabelledPair(0.80 + i / 1000, same=True) for i in range(100)]
    result = calibrate(pairs, TODAY, target_precision=0.99)
    assert result.proposed == Band(same_account=0.80, review=0.80)


def test_disagreeing_reviewers_keep_the_band() -> None:
    pairs = [LabelledPair(0.80 + i / 1000, same=i % 2 == 0) for i in range(100)]
    assert calibrate(pairs, TODAY, target_precision=0.99).proposed == TODAY


def test_too_few_decisions_keep_the_band() -> None:
    result = calibrate(look_alikes(20), TODAY, target_precision=0.99)
    assert result.proposed == TODAY
    assert "fewer than" in result.note


def test_decisions_outside_the_band_are_not_evidence() -> None:
    pairs = [LabelledPair(0.5, same=True)] * 50 + [LabelledPair(0.95, same=False)] * 50
    assert calibrate(pairs, TODAY, target_precision=0.99).decisions == 0


@pytest.mark.parametrize("target", [0.95, 0.99, 0.999])
def test_the_proposed_band_holds_the_target_on_the_decisions_it_learnt_from(target: float) -> None:
    pairs = look_alikes(400, seed=11)
    proposed = calibrate(pairs, TODAY, target_precision=target).proposed
    matched = [p for p in pairs if p.similarity >= proposed.same_account]
    assert sum(p.same for p in matched) >= target * len(matched)


def test_what_if_counts_what_the_new_band_changes() -> None:
    pairs = [LabelledPair(0.81, False), LabelledPair(0.9, True), LabelledPair(0.87, True)]
    counts = what_if(pairs, Band(same_account=0.88, review=0.85), TODAY)
    assert counts == {"changed": 2, "different->different": 1, "same->possible": 1, "same->same": 1}
