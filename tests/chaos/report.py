"""The chaos run's result: a JSON document with every finding, and a Markdown table of the
figures docs/reliability.md opens with."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import asdict
from pathlib import Path
from statistics import median
from typing import Any

from tests.chaos.checks import Findings
from tests.chaos.faults import Fault
from tests.chaos.load import Ledger


def recovery_by_kind(faults: list[Fault]) -> dict[str, dict[str, Any]]:
    """Per fault kind: median and worst seconds from heal to a fresh registration decided,
    and to its deal mirrored into the CRM; how often readyz went red; unrecovered ones."""
    grouped: dict[str, list[Fault]] = defaultdict(list)
    for fault in faults:
        if fault.injected_at is not None:
            grouped[fault.kind].append(fault)
    summary: dict[str, dict[str, Any]] = {}
    for kind, items in sorted(grouped.items()):
        decided = [f.decided_after for f in items if f.decided_after is not None]
        mirrored = [f.mirrored_after for f in items if f.mirrored_after is not None]
        summary[kind] = {
            "injected": len(items),
            "decided_median_s": round(median(decided), 1) if decided else None,
            "decided_worst_s": max(decided) if decided else None,
            "mirrored_median_s": round(median(mirrored), 1) if mirrored else None,
            "mirrored_worst_s": max(mirrored) if mirrored else None,
            "not_recovered": sum(f.decided_after is None for f in items),
            "readyz_red_during": sum(bool(f.readyz_red_during) for f in items),
        }
    return summary


def build(
    *,
    command: str,
    seed: int,
    short: bool,
    runtime_seconds: float,
    ledger: Ledger,
    faults: list[Fault],
    findings: Findings,
    notes: list[str],
) -> dict[str, Any]:
    return {
        "command": command,
        "seed": seed,
        "mode": "short" if short else "full",
        "runtime_seconds": round(runtime_seconds),
        "passed": not findings.failures(),
        "failures": findings.failures(),
        "registrations": {
            "offered": ledger.offered,
            "accepted_202": len(ledger.accepted),
            "not_accepted": dict(ledger.not_accepted),
            "withdrawals": len(ledger.withdrawals),
            "extension_requests": len(ledger.extensions),
            "ops_decisions": Counter(str(d["status"]) for d in ledger.ops_decisions),
            "crm_stage_changes": len(ledger.crm_stage_set),
        },
        "faults_by_kind": dict(Counter(f.kind for f in faults if f.injected_at is not None)),
        "recovery": recovery_by_kind(faults),
        "faults": [f.as_dict() for f in faults],
        "findings": {
            **asdict(findings),
            "lost": findings.lost,
            "dead_letters": dict(findings.dead_letters),
        },
        "answers": dict(ledger.answers),
        "notes": notes,
    }


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def markdown(result: dict[str, Any]) -> str:
    findings = result["findings"]
    registrations = result["registrations"]
    faults = ", ".join(f"{kind} x{n}" for kind, n in sorted(result["faults_by_kind"].items()))
    rows = [
        (
            "Registrations offered (202)",
            f"{registrations['offered']} ({registrations['accepted_202']})",
        ),
        (
            "Offered but not accepted after 90 s of retries",
            sum(registrations["not_accepted"].values()),
        ),
        ("Faults injected", faults or "none"),
        ("Lost (202 never decided, or in review without a case)", len(findings["lost"])),
        ("Double approvals (two live for one account and line)", len(findings["double_approvals"])),
        ("Duplicate CRM deals", len(findings["crm_duplicates"])),
        ("Approved but missing from the CRM", len(findings["crm_missing"])),
        ("CRM deals with wrong fields or stage", len(findings["crm_wrong"])),
        ("Events applied twice in effect", len(findings["duplicate_effects"])),
        (
            "Dead letters that were not poison",
            sum(n for r, n in findings["dead_letters"].items() if r != "poison"),
        ),
        ("Consumer groups not caught up", len(findings["lagging_groups"])),
        ("Topics below RF 3 / min ISR 2", len(findings["under_replicated"])),
    ]
    lines = [
        f"Command: `{result['command']}` ({result['mode']} run, {result['runtime_seconds']} s, "
        f"{'PASSED' if result['passed'] else 'FAILED'})",
        "",
        "| figure | value |",
        "| --- | --- |",
        *(f"| {name} | {value} |" for name, value in rows),
        "",
        "Time to recover after each fault kind (seconds from the fault's end until a fresh "
        "registration is decided / mirrored into the CRM; median and worst):",
        "",
        "| fault | injected | decided (median / worst) | in CRM (median / worst) "
        "| not recovered | readyz red during the fault |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for kind, r in result["recovery"].items():
        lines.append(
            f"| {kind} | {r['injected']} | {_cell(r['decided_median_s'])} / "
            f"{_cell(r['decided_worst_s'])} | {_cell(r['mirrored_median_s'])} / "
            f"{_cell(r['mirrored_worst_s'])} | {r['not_recovered']} | {r['readyz_red_during']} |"
        )
    info = ", ".join(f"{name}: {n}" for name, n in findings["info"].items())
    lines += ["", f"- History: {info}."] if info else []
    if result["notes"]:
        lines += [*([""] if not info else []), *(f"- {note}" for note in result["notes"])]
    return "\n".join(lines) + "\n"


def write(result: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    json_path, md_path = directory / "result.json", directory / "result.md"
    json_path.write_text(json.dumps(result, indent=2, default=str))
    md_path.write_text(markdown(result))
    return json_path, md_path
