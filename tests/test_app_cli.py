"""The app's command line: ``flask seed`` and ``flask accounts create``."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from models import AmmPool, OTCPool, db


def test_accounts_create_prints_a_key_that_works_once_and_is_stored_hashed(app: Any) -> None:
    result = app.test_cli_runner().invoke(args=["accounts", "create", "alice"])
    assert result.exit_code == 0, result.output
    key = re.search(r"API key: (sr_\S+)", result.output)
    assert key is not None, result.output
    me = app.test_client().get("/api/accounts/me", headers={"X-API-Key": key.group(1)})
    assert me.status_code == 200 and me.get_json()["name"] == "alice"
    assert {b["token"]: b["amount"] for b in me.get_json()["balances"]}["SOL"] == "1000"
    with app.app_context():
        stored = db.session.execute(
            sa.text("SELECT api_key_hash FROM accounts WHERE name = 'alice'")
        ).scalar_one()
    assert key.group(1) not in stored and len(stored) == 64


def test_a_second_account_with_the_same_name_is_refused(app: Any) -> None:
    runner = app.test_cli_runner()
    assert runner.invoke(args=["accounts", "create", "bob"]).exit_code == 0
    again = runner.invoke(args=["accounts", "create", "bob"])
    assert again.exit_code != 0
    assert "already exists" in again.output


def test_seed_is_idempotent(app: Any) -> None:
    result = app.test_cli_runner().invoke(args=["seed"])
    assert result.exit_code == 0 and "already seeded" in result.output
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(AmmPool)).scalar_one() == 12
        assert db.session.execute(sa.select(sa.func.count()).select_from(OTCPool)).scalar_one() == 2
