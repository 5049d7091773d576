"""``dealreg seed``: demo data through the public intake API, as partners would send it.

Partners are created by the admin (``POST /v1/partners``); each registration is submitted with
that partner's key (``POST /v1/registrations``) for a real organisation, spelled as one of the
ways people really spelled it (``data/organisations.json``: a sample of the IETF affiliation
names, BSD licence inside), so several partners claim one customer under different names and
the resolver has duplicates, conflicts and reviews to decide.
"""

from __future__ import annotations

import json
import random
import re
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from services.cli.config import load_target
from services.cli.output import answer, api, console, print_json, row

DATA = Path(__file__).parent / "data" / "organisations.json"
PRODUCT_LINES = ("network-security", "cloud-security", "endpoint")
COUNTRIES = ("US", "GB", "DE", "FR", "SE", "NL", "JP", "IN", "CA", "AU")
TIERS = ("registered", "silver", "gold", "platinum")
_PARTNER_WORDS = (
    (
        "Northwind",
        "Contoso",
        "Fabrikam",
        "Tailspin",
        "Litware",
        "Adatum",
        "Proseware",
        "Wingtip",
        "Lucerne",
        "Fourth Coffee",
        "Margie's",
        "Woodgrove",
        "Alpine",
        "Blue Yonder",
    ),
    (
        "Networks",
        "Secure",
        "Solutions",
        "Systems",
        "Integration",
        "IT",
        "Consulting",
        "Technologies",
        "Cloud",
        "Partners",
    ),
)


@cache
def organisations() -> dict[str, list[str]]:
    loaded: dict[str, list[str]] = json.loads(DATA.read_text())["organisations"]
    return loaded


def partner_names(count: int) -> list[str]:
    first, second = _PARTNER_WORDS
    names = [f"{a} {b}" for b in second for a in first]
    return [
        names[i % len(names)] + (f" {i // len(names) + 1}" if i >= len(names) else "")
        for i in range(count)
    ]


def _domain(canonical: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", canonical.lower()) + ".com"


def registration_for(chosen: random.Random, product_lines: list[str]) -> dict[str, Any]:
    """One registration for a real organisation, spelled one of the ways it was spelled."""
    canonical = chosen.choice(sorted(organisations()))
    spelling = chosen.choice(organisations()[canonical])
    domain = _domain(canonical)
    customer: dict[str, Any] = {
        "name": spelling,
        # The same organisation is in one country, whoever registers it.
        "country": COUNTRIES[sum(map(ord, canonical)) % len(COUNTRIES)],
    }
    if chosen.random() < 0.6:  # many partners only know the name
        customer["domain"] = chosen.choice((domain, f"www.{domain}", f"https://{domain}/"))
    close = date.today() + timedelta(days=chosen.randint(30, 300))  # noqa: DTZ011
    return {
        "customer": customer,
        "product_line": chosen.choice(product_lines),
        "deal_type": chosen.choice(("new", "new", "new", "renewal", "upsell")),
        "amount": {"value": f"{chosen.randint(8, 900) * 1000}.00", "currency": "USD"},
        "expected_close_date": close.isoformat(),
        "contact": {"name": "Sam Rivera", "email": f"sam.rivera@{domain}"},
        "description": f"Demo data: {canonical}",
        "partner_reference": f"SEED-{chosen.randint(10000, 99999)}",
    }


def seed(
    partners: Annotated[int, typer.Option(min=1, max=10_000, help="Partners to create.")] = 5,
    registrations: Annotated[
        int, typer.Option(min=0, max=1_000_000, help="Registrations to submit.")
    ] = 50,
    random_seed: Annotated[
        int | None, typer.Option("--random-seed", help="The same seed, the same data.")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Demo data through the public intake API, with progress.

    Partners, then registrations of real organisations spelled several ways, so duplicates,
    conflicts and reviews follow.
    """
    target = load_target()
    chosen = random.Random(random_seed)  # noqa: S311 - demo data, not secrets
    created: list[dict[str, Any]] = []
    submitted: list[dict[str, Any]] = []
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with (
        api(target, "deal_registration") as client,
        Progress(*columns, console=console, disable=json_output) as progress,
    ):
        task = progress.add_task("partners", total=partners)
        for name in partner_names(partners):
            lines = chosen.sample(PRODUCT_LINES, chosen.randint(1, len(PRODUCT_LINES)))
            request = {"name": name, "tier": chosen.choice(TIERS), "product_lines": lines}
            partner = answer(client.post("/v1/partners", json=request))
            created.append(
                {
                    "id": partner["id"],
                    "name": name,
                    "api_key": partner["api_key"],
                    "product_lines": lines,
                }
            )
            progress.advance(task)
        task = progress.add_task("registrations", total=registrations)
        for _ in range(registrations):
            partner = chosen.choice(created)
            body = registration_for(chosen, partner["product_lines"])
            response = client.post(
                "/v1/registrations",
                json=body,
                headers={"Authorization": f"Bearer {partner['api_key']}"},
            )
            registration = answer(response)
            submitted.append(
                {
                    "id": registration["id"],
                    "partner_id": partner["id"],
                    "customer": body["customer"]["name"],
                }
            )
            progress.advance(task)
    if json_output:
        print_json(
            {
                "partners": [{k: p[k] for k in ("id", "name", "api_key")} for p in created],
                "registrations": submitted,
            }
        )
        return
    table = Table(title="Seeded")
    table.add_column("what")
    table.add_column("count", justify="right")
    row(table, "partners", str(len(created)))
    row(table, "registrations", str(len(submitted)))
    console.print(table)
    console.print("(With --json the output also holds each new partner's API key.)")
