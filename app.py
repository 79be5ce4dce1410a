"""The application factory: config, extensions, services, blueprints and CLI commands.

``create_app(overrides)`` layers configuration as: environment (``config.app_config``), then
``instance/config.py``, then ``overrides`` (tests). ``role="worker"`` builds the same app for an
RQ worker: no Socket.IO server, emits go to the Redis message queue.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup

import backtest_cli
import database
import live_updates
from bots.cli import bots_cli
from config import app_config, check_secret_key
from errors import SolrouteError
from models import db
from services import build_services
from venue_state import create_account, create_operator_account, seed_database

__all__ = ["create_app"]


def create_app(overrides: Mapping[str, Any] | None = None, *, role: str = "web") -> Flask:
    """Build the Flask app (``role`` is ``web`` or ``worker``)."""
    app = Flask(__name__, instance_relative_config=True)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_mapping(app_config(instance_path=app.instance_path))
    app.config.from_pyfile("config.py", silent=True)
    if overrides:
        app.config.update(overrides)
    app.config["SOLROUTE_ROLE"] = role
    # Again after instance/config.py and overrides: a weak key from either is refused as well.
    check_secret_key(app.config.get("SECRET_KEY"), app.config["SOLROUTE_ENV"])
    app.config.setdefault("MAINTENANCE_THREAD", True)
    if app.config.get("MAX_CONTENT_LENGTH") is None:  # Flask's default is None: no limit
        app.config["MAX_CONTENT_LENGTH"] = 64 * 1024  # an order is a few hundred bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]

    database.init_app(app)
    build_services(app, role)
    if role == "web":
        live_updates.init_app(app)

    from views import headers
    from views.api import api
    from views.errors import register_error_handlers
    from views.pages import pages

    app.register_blueprint(api)
    app.register_blueprint(pages)
    register_error_handlers(app)
    headers.init_app(app)
    _register_cli(app)
    return app


def _register_cli(app: Flask) -> None:
    accounts = AppGroup("accounts", help="Paper trading accounts.")

    @accounts.command("create")
    @click.argument("name")
    def create(name: str) -> None:
        """Create a funded paper account and print its API key (shown once)."""
        try:
            account, key = create_account(db.session, name)
        except SolrouteError as exc:
            db.session.rollback()
            raise click.ClickException(exc.message) from exc
        db.session.commit()
        click.echo(f"account {account.name} (id {account.id}) created")
        click.echo(f"API key: {key}")

    @accounts.command("create-operator")
    @click.argument("name")
    def create_operator(name: str) -> None:
        """Create an operator account (trading halt, any account's limits) and print its API key."""
        try:
            account, key = create_operator_account(db.session, name)
        except SolrouteError as exc:
            db.session.rollback()
            raise click.ClickException(exc.message) from exc
        db.session.commit()
        click.echo(f"operator {account.name} (id {account.id}) created")
        click.echo(f"API key: {key}")

    app.cli.add_command(accounts)
    app.cli.add_command(bots_cli)  # flask bots demo (./run.sh, SOLROUTE_DEMO)

    @app.cli.command("trading-halt")
    @click.argument("state", type=click.Choice(["on", "off"]))
    @click.option("--reason", default="", help="Shown on every page while trading is halted.")
    def trading_halt_command(state: str, reason: str) -> None:
        """Halt (on) or resume (off) trading: new orders are refused with 503 trading_halted."""
        from payloads import TradingHaltResponse
        from risk_controls import set_trading_halt

        try:
            halt = set_trading_halt(db.session, halted=state == "on", reason=reason, by="cli")
        except SolrouteError as exc:
            db.session.rollback()
            raise click.ClickException(exc.message) from exc
        live_updates.publish(
            "trading_halt",
            TradingHaltResponse.of(halt.halted, halt.reason, halt.updated_at, halt.updated_by).to_json(),
            "prices",
        )
        click.echo(
            f"trading {'halted' if halt.halted else 'resumed'}" + (f": {halt.reason}" if halt.reason else "")
        )

    @app.cli.command("seed")
    def seed() -> None:
        """Seed tokens, default pools and desks and the demo account (idempotent)."""
        key = seed_database(db.session, demo_account=app.config["DEMO_ACCOUNT"])
        db.session.commit()
        if key is not None:
            path = Path(app.instance_path) / "demo_api_key"
            if app.config["SOLROUTE_ENV"] == "development":
                path.write_text(key + "\n")
                path.chmod(0o600)
            click.echo(f"demo account {app.config['DEMO_ACCOUNT']!r} created; API key: {key}")
        else:
            click.echo("database already seeded")

    app.cli.add_command(backtest_cli.commands(app))
