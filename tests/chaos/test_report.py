"""The chaos run's schedule and report, on made-up runs (no processes)."""

from __future__ import annotations

import itertools
import random

from tests.chaos.checks import Findings
from tests.chaos.faults import Fault, schedule
from tests.chaos.load import Ledger
from tests.chaos.report import build, markdown


def test_the_schedule_is_seeded_in_order_and_leaves_room_between_faults() -> None:
    def planned(seed: int) -> list[float]:
        faults = [Fault("service_kill", f"x-{n}", hold_seconds=5) for n in range(6)]
        schedule(random.Random(seed), faults, start=15, end=300)
        return [f.at for f in faults]

    moments = planned(4)
    assert moments == planned(4)
    assert moments != planned(5)
    assert moments[0] >= 15
    assert all(later - earlier >= 5 + 15 for earlier, later in itertools.pairwise(moments))


def test_the_table_shows_the_figures_and_fails_the_run_on_a_finding() -> None:
    kill = Fault("broker_kill", "node-2", 10, injected_at=30, healed_at=40, decided_after=4.2)
    lost = Fault("postgres_stop", "postgres", 10, injected_at=80, healed_at=90)
    findings = Findings(undecided=["r1"], crm_duplicates=["r2"])
    ledger = Ledger(offered=3)
    result = build(
        command="python -m tests.chaos.run --short",
        seed=1,
        short=True,
        runtime_seconds=500,
        ledger=ledger,
        faults=[kill, lost],
        findings=findings,
        notes=["a note"],
    )
    table = markdown(result)
    assert not result["passed"]
    assert result["failures"] == {"lost": 1, "duplicate CRM deals": 1}
    assert "| Lost (202 never decided, or in review without a case) | 1 |" in table
    assert "| broker_kill | 1 | 4.2 / 4.2 | - / - | 0 | 0 |" in table
    assert "| postgres_stop | 1 | - / - | - / - | 1 | 0 |" in table
