"""Timing of the matcher: one score call, one normalisation, and candidate look-ups as the
blocking index grows to a million claims. Not a test; run it by hand:

    .venv/bin/python tests/bench/bench_matching.py [largest index size, default 1000000]

``quality [output folder]`` instead measures precision, recall and the review share on the
labelled set and two public sets, before and after calibrating the review band, with
precision-recall plots (``tests/bench/matching_quality.py``; ``make bench-matching``).

Synthetic names are pseudo-words drawn with a Zipf-like skew (a few words are very common, as
"acme" or "global" are in real data), plus generic words and legal forms.
"""

from __future__ import annotations

import itertools
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

from conflict_resolver.domain.matching import (
    CandidateIndex,
    CustomerProfile,
    NormalisedCustomer,
    could_reach,
    normalise_customer,
    score,
)

REVIEW_THRESHOLD = 0.80

SEED = 7
VOCABULARY = 200_000
SYLLABLES = [c + v for c in "bcdfghklmnprstvz" for v in "aeiou"]
GENERIC = ["Systems", "Group", "Solutions", "Technologies", "Services", "International", ""]
LEGAL = ["Inc.", "Ltd", "GmbH", "S.A.", "LLC", "Corp.", "", ""]


def pseudo_word(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize()


def company_names(count: int, rng: random.Random) -> list[str]:
    words = [pseudo_word(rng) for _ in range(VOCABULARY)]
    cumulative = list(itertools.accumulate(1 / (rank + 1) for rank in range(VOCABULARY)))
    names = []
    for _ in range(count):
        distinctive = rng.choices(words, cum_weights=cumulative, k=rng.choice([1, 2, 2, 3]))
        names.append(" ".join([*distinctive, rng.choice(GENERIC), rng.choice(LEGAL)]).strip())
    return names


def microseconds_per_call(action: Callable[[], object], calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        action()
    return (time.perf_counter() - started) / calls * 1e6


def bench_score(customers: list[NormalisedCustomer], rng: random.Random) -> None:
    pairs = [(rng.choice(customers), rng.choice(customers)) for _ in range(20_000)]
    iterator = iter(pairs)
    per_call = microseconds_per_call(lambda: score(*next(iterator)), len(pairs))
    print(f"score(): {per_call:.1f} us per call")


def bench_index(names: list[str], sizes: list[int], rng: random.Random) -> None:
    index = CandidateIndex()
    queries = [normalise_customer(CustomerProfile(name)) for name in rng.sample(names, 2_000)]
    filed: list[NormalisedCustomer] = []
    for size in sizes:
        for claim_number in range(len(filed), size):
            filed.append(normalise_customer(CustomerProfile(names[claim_number])))
            index.add(str(claim_number), filed[-1])
        iterator = iter(queries)
        candidate_counts: list[int] = []

        def look_up() -> None:
            candidate_counts.append(len(index.candidates(next(iterator))))  # noqa: B023

        per_call = microseconds_per_call(look_up, len(queries))
        mean_candidates = sum(candidate_counts) / len(candidate_counts)
        print(
            f"index of {size:>9,} claims: candidates() {per_call:7.1f} us, "
            f"{mean_candidates:6.1f} candidates on average, max {max(candidate_counts)}"
        )
        bench_candidate_scoring(index, filed, queries[:300])


def bench_candidate_scoring(
    index: CandidateIndex, filed: list[NormalisedCustomer], queries: list[NormalisedCustomer]
) -> None:
    """A decision's scoring: every candidate one by one, against `could_reach` first (at the
    default review threshold) and scoring only those it keeps. Both must find the same
    candidates at or above the threshold."""
    sets = [(q, [filed[int(i)] for i in sorted(index.candidates(q))]) for q in queries]

    def above(q: NormalisedCustomer, cs: list[NormalisedCustomer]) -> list[int]:
        return [i for i, c in enumerate(cs) if score(q, c).similarity >= REVIEW_THRESHOLD]

    started = time.perf_counter()
    every = [above(q, cs) for q, cs in sets]
    one_by_one = (time.perf_counter() - started) / len(sets) * 1000
    started = time.perf_counter()
    kept_total = 0
    filtered = []
    for q, cs in sets:
        kept = [i for i, ok in enumerate(could_reach(q, cs, REVIEW_THRESHOLD)) if ok]
        kept_total += len(kept)
        filtered.append([i for i in kept if score(q, cs[i]).similarity >= REVIEW_THRESHOLD])
    prefiltered = (time.perf_counter() - started) / len(sets) * 1000
    assert filtered == every, "could_reach dropped a candidate at or above the threshold"
    print(
        f"    scoring a decision's candidates: {one_by_one:.2f} ms one by one, "
        f"{prefiltered:.2f} ms with could_reach (keeps {kept_total / len(sets):.1f} on average)"
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "quality":
        from tests.bench import matching_quality

        matching_quality.main(
            Path(sys.argv[2]) if len(sys.argv) > 2 else matching_quality.REPO_ROOT / "docs/bench"
        )
        return
    largest = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    rng = random.Random(SEED)
    names = company_names(largest, rng)
    sample = [normalise_customer(CustomerProfile(name)) for name in names[:5_000]]
    profiles = [CustomerProfile(name) for name in rng.sample(names, 20_000)]
    iterator = iter(profiles)
    per_call = microseconds_per_call(lambda: normalise_customer(next(iterator)), len(profiles))
    print(f"normalise_customer(): {per_call:.1f} us per call")
    bench_score(sample, rng)
    sizes = [size for size in (10_000, 100_000, 1_000_000) if size < largest] + [largest]
    bench_index(names, sizes, rng)


if __name__ == "__main__":
    main()
