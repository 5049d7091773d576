"""The matching caches on ``/metrics``: hits, misses, entries and bound of each.

The caches are bounded so that their memory is a known share of the resolver's (issue 12,
goal 5); these numbers say whether the bound still leaves a high hit rate under real load.
Read at scrape time from ``functools.lru_cache``'s own counters (this process's only).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from conflict_resolver.domain.protection.outcome import matching_cache_info


class MatchingCaches(Collector):
    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        hits = CounterMetricFamily(
            "dealreg_matching_cache_hits", "Matching cache lookups answered", labels=["cache"]
        )
        misses = CounterMetricFamily(
            "dealreg_matching_cache_misses", "Matching cache lookups computed", labels=["cache"]
        )
        entries = GaugeMetricFamily(
            "dealreg_matching_cache_entries", "Entries a matching cache holds", labels=["cache"]
        )
        bound = GaugeMetricFamily(
            "dealreg_matching_cache_max_entries",
            "Entries a matching cache keeps at most",
            labels=["cache"],
        )
        for name, info in matching_cache_info().items():
            hits.add_metric([name], info.hits)
            misses.add_metric([name], info.misses)
            entries.add_metric([name], info.currsize)
            bound.add_metric([name], info.maxsize or 0)
        yield from (hits, misses, entries, bound)


REGISTRY.register(MatchingCaches())
