"""The ``dealreg`` command: operate a running dealreg (``dealreg --help``).

Exit codes, for scripts: 0 done, 1 failed (or nothing found where something was asked for),
2 usage (a wrong option or argument).
"""

from __future__ import annotations

import logging

import typer

from services.cli import crm, dlq, keys, matching, policy, replay, seed, system, trace

app = typer.Typer(
    name="dealreg",
    help="Operate dealreg: start and stop it, see how it is doing, work its dead letters, "
    "its policy, its matching and its CRM sync, trace a registration, seed demo data, "
    "rotate keys, rebuild a service from the topics. "
    "Exit codes: 0 done, 1 failed, 2 usage.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals hold the admin token
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command()(system.up)
app.command()(system.down)
app.command()(system.status)
app.add_typer(dlq.app, name="dlq")
app.add_typer(policy.app, name="policy")
app.add_typer(matching.app, name="matching")
app.add_typer(keys.app, name="keys")
app.command()(crm.reconcile)
app.command()(trace.trace)
app.command()(seed.seed)
app.command(name="replay")(replay.replay_command)


def main() -> None:
    # The command reports a broker it cannot reach itself, once; aiokafka's own log lines
    # about each attempt would only repeat it.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    app()


if __name__ == "__main__":
    main()
