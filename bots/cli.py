"""``flask bots demo``: the demonstration bots ./run.sh starts when SOLROUTE_DEMO is on.

A flow bot (random SOL/USDC market orders) keeps the dashboard live and an arbitrage bot keeps
the pools in line with each other and the desks. Idempotent: a demo bot that exists is left in
the state it is in (a stopped one stays stopped). SOLROUTE_DEMO is always off in production
(config.py), so production never starts bots by itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup

from bots.manager import create_bot, enqueue_run
from models import Account, AccountKind, Bot, db
from venue_state import create_operator_account

__all__ = ["DEMO_BOTS", "DEMO_OPERATOR", "bots_cli", "start_demo_bots"]

DEMO_OPERATOR = "demo-operator"
DEMO_BOTS: tuple[dict[str, Any], ...] = (
    {
        "kind": "flow",
        "name": "demo flow",
        "config": {"size": "0.5", "mode": "random", "seed": 7},
        "interval_s": 3.0,
    },
    {"kind": "arbitrage", "name": "demo arbitrage", "config": {"minProfitUsd": "1"}, "interval_s": 5.0},
)

bots_cli = AppGroup("bots", help="Paper trading bots.")


def start_demo_bots() -> tuple[list[str], str | None]:
    """Create the demo bots that do not exist yet (names of those created) and, when the demo
    operator is new, its API key (shown once)."""
    key = None
    operator = db.session.execute(
        sa.select(Account).where(Account.name == DEMO_OPERATOR)
    ).scalar_one_or_none()
    if operator is None:
        operator, key = create_operator_account(db.session, DEMO_OPERATOR)
        db.session.commit()
    elif operator.kind != AccountKind.OPERATOR:
        raise click.ClickException(f"account {DEMO_OPERATOR!r} exists and is not an operator")
    existing = set(db.session.execute(sa.select(Bot.name).where(Bot.owner_id == operator.id)).scalars())
    created = []
    for spec in DEMO_BOTS:
        if spec["name"] in existing:
            continue
        bot, _ = create_bot(
            db.session,
            operator,
            kind=spec["kind"],
            name=spec["name"],
            config=spec["config"],
            interval_s=spec["interval_s"],
            funding=current_app.config["BOT_FUNDING"],
        )
        enqueue_run(bot.id, 1)
        created.append(bot.name)
    return created, key


@bots_cli.command("demo")
def demo_command() -> None:
    """Start a demo flow bot and a demo arbitrage bot (only with SOLROUTE_DEMO; never in production)."""
    if not current_app.config["SOLROUTE_DEMO"]:
        click.echo("SOLROUTE_DEMO is off (it always is in production): no demo bots")
        return
    created, key = start_demo_bots()
    if key is not None:
        path = Path(current_app.instance_path) / "operator_api_key"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(key + "\n")
        path.chmod(0o600)
        click.echo(f"operator {DEMO_OPERATOR!r} created; API key (for /bots) in {path}")
    click.echo(f"demo bots started: {', '.join(created)}" if created else "demo bots already exist")
