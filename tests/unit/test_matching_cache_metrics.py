"""The matching caches are bounded and report their hit rate on ``/metrics`` (issue 12, goal 5)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from conflict_resolver.adapters.matching_metrics import MatchingCaches
from conflict_resolver.domain.protection.outcome import matching_cache_info, normalised

BOUND = 20_000  # entries at most in any one cache: full, a few MB each


def _metrics() -> dict[str, float]:
    registry = CollectorRegistry()
    registry.register(MatchingCaches())
    lines = generate_latest(registry).decode().splitlines()
    return {
        name: float(value)
        for name, value in (line.rsplit(" ", 1) for line in lines if not line.startswith("#"))
    }


def test_every_matching_cache_is_bounded() -> None:
    caches = matching_cache_info()
    assert set(caches) == {"normalised", "folded", "generic_form"}
    assert all(0 < (info.maxsize or 0) <= BOUND for info in caches.values())


def test_the_metrics_count_the_hits_of_a_customer_seen_twice() -> None:
    customer = {"name": "Quokka Metrics Unit Test GmbH", "domain": None, "country": "DE"}
    before = _metrics()
    normalised(customer)
    normalised(customer)
    after = _metrics()

    hits = 'dealreg_matching_cache_hits_total{cache="normalised"}'
    misses = 'dealreg_matching_cache_misses_total{cache="normalised"}'
    assert after[hits] - before[hits] == 1
    assert after[misses] - before[misses] == 1
    assert after['dealreg_matching_cache_max_entries{cache="normalised"}'] <= BOUND
