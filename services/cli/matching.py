"""``dealreg matching calibrate``: a review band learnt from sales ops' decisions (issue 17).

The resolver proposes (``POST /v1/matching/calibration``: an isotonic fit of ops' decisions on
possible duplicates, the band that holds the target precision, and what it would have changed
on those decisions); this command shows it and, with ``--publish``, publishes the policy that
carries it as a new version (``PUT /v1/policy``). Nothing changes without ``--publish``.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from services.cli.config import load_target
from services.cli.output import answer, api, console, print_json, row

app = typer.Typer(
    help="Customer matching: calibrate the review band from sales ops' decisions.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals hold the admin token
)


@app.command()
def calibrate(
    target_precision: Annotated[
        float | None,
        typer.Option(
            "--target-precision",
            min=0.5,
            max=0.9999,
            help="Precision the automatic matches must hold (default: the policy's).",
        ),
    ] = None,
    publish: Annotated[
        bool, typer.Option("--publish", help="Publish the proposal as a new policy version.")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Propose a review band from ops' decisions, show its what-if, and publish it on request."""
    with api(load_target(), "conflict_resolver") as client:
        proposal = answer(
            client.post("/v1/matching/calibration", json={"target_precision": target_precision})
        )
        published = None
        if publish:
            published = answer(client.put("/v1/policy", json=proposal["policy"]))
    if json_output:
        print_json({"proposal": proposal, "published": published})
        return
    _show(proposal)
    if published is not None:
        console.print(f"Published as policy version [bold]{published['version']}[/bold].")
    else:
        console.print("Nothing published (add --publish to publish it as a new version).")


def _show(proposal: dict[str, Any]) -> None:
    current, proposed = proposal["current"], proposal["proposed"]
    console.print(
        f"From policy version {proposal['policy_version']}: {proposal['note']}; target "
        f"precision {proposal['target_precision']}."
    )
    bands = Table("", "same account from", "review from")
    row(bands, "current", current["same_account"], current["review"])
    row(bands, "proposed", proposed["same_account"], proposed["review"])
    console.print(bands)
    steps = Table("similarity from", "P(same account)", "decisions")
    for step in proposal["steps"]:
        row(steps, f"{step['similarity']:.4f}", f"{step['probability']:.3f}", int(step["support"]))
    console.print(steps)
    effects = Table("ops said -> proposal does", "decisions")
    for effect, count in proposal["what_if"].items():
        row(effects, effect, count)
    console.print(effects)
