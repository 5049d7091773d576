"""How well the matcher decides "same account" on public data, before and after calibrating the
review band (issue 17). Run by ``make bench-matching``, or:

    .venv/bin/python -m tests.bench.bench_matching quality [output folder, default docs/bench]

Three sets: the hand-labelled pairs (``tests/data/matching_pairs.csv``), the IETF affiliation
spellings (``../shared/data/ietf-affiliations``) and the company-graph employer names
(``tests/data/company_graph``); the pairs of the last two are drawn as in
``tests/unit/test_matching_quality.py`` (spellings of one organisation; random and word-sharing
pairs across organisations). Each set is split in half (seeded). On the first half, every pair
the current band sends to review stands for an ops decision with the true label, and
``calibrate`` proposes a band at the policy's target precision; the held-out half is then
measured under the current band and the proposed one: precision and recall of the automatic
matches, the share caught (matched or reviewed), the share sent to review, and the wrong
automatic matches. A precision-recall curve of the similarity threshold on the held-out half,
with both bands' operating points, is written per set to the output folder.
"""

from __future__ import annotations

import itertools
import json
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

from conflict_resolver.domain.calibration import (
    Band,
    Calibration,
    LabelledPair,
    calibrate,
    probability,
)
from conflict_resolver.domain.matching import score
from tests.unit.test_matching_quality import (
    IETF_AFFILIATIONS,
    REPO_ROOT,
    Pair,
    ietf_pairs,
    labelled_pairs,
    prepared,
)

COMPANY_GRAPH = REPO_ROOT / "tests" / "data" / "company_graph" / "company_graph_spellings.json"
TODAY = Band(same_account=0.92, review=0.80)
TARGET_PRECISION = 0.99  # the policy's default
LOWER_TARGET = 0.95  # shown too: what a deployment that accepts more wrong matches would get
SPLIT_SEED = 2026


@dataclass(frozen=True)
class Scored:
    similarity: float
    same_domain: bool
    same: bool


@dataclass(frozen=True)
class Figures:
    pairs: int
    positives: int
    precision: float
    recall: float
    caught: float
    review_share: float
    negatives_to_review: float
    wrong_matches: int


def scored(pairs: Sequence[Pair]) -> list[Scored]:
    out = []
    for pair in pairs:
        evidence = score(prepared(pair.a), prepared(pair.b))
        out.append(Scored(evidence.similarity, evidence.same_domain, pair.same))
    return out


def decision(item: Scored, band: Band) -> str:
    if item.same_domain or item.similarity >= band.same_account:
        return "same"
    return "possible" if item.similarity >= band.review else "different"


def figures(items: Sequence[Scored], band: Band) -> Figures:
    decided = [(item, decision(item, band)) for item in items]
    positives = sum(item.same for item in items)
    negatives = len(items) - positives
    right = sum(item.same and d == "same" for item, d in decided)
    wrong = sum(not item.same and d == "same" for item, d in decided)
    reviewed_same = sum(item.same and d == "possible" for item, d in decided)
    reviewed = sum(d == "possible" for _, d in decided)
    return Figures(
        pairs=len(items),
        positives=positives,
        precision=right / (right + wrong) if right + wrong else 1.0,
        recall=right / positives if positives else 1.0,
        caught=(right + reviewed_same) / positives if positives else 1.0,
        review_share=reviewed / len(items),
        negatives_to_review=(reviewed - reviewed_same) / negatives if negatives else 0.0,
        wrong_matches=wrong,
    )


def split(items: list[Scored]) -> tuple[list[Scored], list[Scored]]:
    shuffled = list(items)
    random.Random(SPLIT_SEED).shuffle(shuffled)
    half = len(shuffled) // 2
    return shuffled[:half], shuffled[half:]


def ops_decisions(items: Sequence[Scored], band: Band) -> list[LabelledPair]:
    """What ops would have labelled: the pairs the band sends to review, with the truth."""
    return [
        LabelledPair(item.similarity, item.same)
        for item in items
        if decision(item, band) == "possible"
    ]


def pr_curve(items: Sequence[Scored]) -> tuple[list[float], list[float]]:
    """Precision and recall of "same" at every similarity threshold (same domain always)."""
    positives = sum(item.same for item in items)
    thresholds = sorted({item.similarity for item in items}, reverse=True)
    ranked = sorted(items, key=lambda item: (item.same_domain, item.similarity), reverse=True)
    precisions, recalls = [], []
    index = right = matched = 0
    for threshold in thresholds:
        while index < len(ranked) and (
            ranked[index].same_domain or ranked[index].similarity >= threshold
        ):
            right += ranked[index].same
            matched += 1
            index += 1
        precisions.append(right / matched if matched else 1.0)
        recalls.append(right / positives if positives else 1.0)
    return precisions, recalls


def plot(
    name: str,
    held_out: Sequence[Scored],
    result: Calibration,
    before: Figures,
    after: Figures,
    out: Path,
) -> Path:
    precisions, recalls = pr_curve(held_out)
    figure = Figure(figsize=(11, 4.2))
    left, right = figure.subplots(1, 2)
    left.plot(recalls, precisions, color="0.4", linewidth=1.2, label="similarity threshold")
    left.scatter(
        [before.recall],
        [before.precision],
        color="tab:blue",
        zorder=3,
        label=f"current band (same from {TODAY.same_account})",
    )
    left.scatter(
        [after.recall],
        [after.precision],
        color="tab:orange",
        marker="s",
        zorder=3,
        label=f"calibrated (same from {result.proposed.same_account})",
    )
    left.set_xlabel("recall (automatic matches)")
    left.set_ylabel("precision")
    left.set_ylim(min(0.5, min(precisions)), 1.01)
    left.set_title(f"{name}: held-out half")
    left.legend(loc="lower left", fontsize=8)
    band = [item for item in held_out if TODAY.review <= item.similarity < TODAY.same_account]
    bins = [TODAY.review + i * 0.02 for i in range(7)]
    centres, observed = [], []
    for low, high in itertools.pairwise(bins):
        inside = [item.same for item in band if low <= item.similarity < high]
        if inside:
            centres.append((low + high) / 2)
            observed.append(sum(inside) / len(inside))
    right.bar(centres, observed, width=0.018, color="0.8", label="held-out share same")
    xs = [TODAY.review + i / 1000 for i in range(int((TODAY.same_account - TODAY.review) * 1000))]
    ys = [probability(result.steps, x) or 0.0 for x in xs]
    right.step(xs, ys, where="post", color="tab:orange", label="calibrated P(same)")
    right.axvline(result.proposed.review, color="tab:orange", linestyle=":", linewidth=1)
    right.axvline(result.proposed.same_account, color="tab:orange", linestyle="--", linewidth=1)
    right.set_xlabel("similarity (current review band)")
    right.set_ylabel("probability of the same account")
    right.set_ylim(0, 1.02)
    right.set_title(f"fit on {result.decisions} simulated ops decisions")
    right.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    path = out / f"matching-{name.lower().replace(' ', '-')}.png"
    figure.savefig(path, dpi=110)
    return path


def datasets() -> dict[str, list[Pair]]:
    sets = {"labelled": labelled_pairs()}
    if IETF_AFFILIATIONS.exists():
        sets["IETF"] = ietf_pairs(json.loads(IETF_AFFILIATIONS.read_text(encoding="utf-8")))
    company_graph = json.loads(COMPANY_GRAPH.read_text(encoding="utf-8"))
    sets["company-graph"] = ietf_pairs(company_graph)
    return sets


def row(name: str, band: str, f: Figures) -> str:
    return (
        f"| {name} | {band} | {f.pairs:,} ({f.positives:,}) | {f.precision:.3f} | "
        f"{f.recall:.3f} | {f.caught:.3f} | {f.review_share:.3f} | "
        f"{f.negatives_to_review:.4f} | {f.wrong_matches} |"
    )


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    print(
        f"target precision {TARGET_PRECISION}; current band: same from "
        f"{TODAY.same_account}, review from {TODAY.review}\n"
    )
    print(
        "| set | band | held-out pairs (same) | precision | recall | caught | "
        "to review | different to review | wrong matches |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    notes = []
    for name, pairs in datasets().items():
        everything = scored(pairs)
        train, held_out = split(everything)
        decisions = ops_decisions(train, TODAY)
        result = calibrate(decisions, TODAY, target_precision=TARGET_PRECISION)
        before, after = figures(held_out, TODAY), figures(held_out, result.proposed)
        print(row(name, "current", before))
        proposed = result.proposed
        label = f"calibrated at {TARGET_PRECISION}: {proposed.review}-{proposed.same_account}"
        print(row(name, label, after))
        lower = calibrate(decisions, TODAY, target_precision=LOWER_TARGET).proposed
        label = f"calibrated at {LOWER_TARGET}: {lower.review}-{lower.same_account}"
        print(row(name, label, figures(held_out, lower)))
        whole = figures(everything, TODAY)
        notes.append(
            f"{name}: whole set under the current band: precision {whole.precision:.3f}, "
            f"recall {whole.recall:.3f}, caught {whole.caught:.3f}, different pairs to review "
            f"{whole.negatives_to_review:.4f}, wrong matches {whole.wrong_matches}; "
            f"calibration: {result.note}; plot {plot(name, held_out, result, before, after, out)}"
        )
    print()
    for note in notes:
        print(note)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO_ROOT / "docs" / "bench")
