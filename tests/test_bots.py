"""Paper trading bots through the API and the scheduler, on SQLite and PostgreSQL.

The scheduler's pass is called directly (``background.run_bots``, as its loop calls it) and a
bot's tick through ``bots.manager.run_bot`` with a given ``now``: no test waits on a timer.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app import create_app
from background import run_bots
from bots import manager
from bots.base import Intent
from bots.orders import idempotency_key, place
from config import app_config
from models import Bot, BotAction, Order, db, utcnow
from payloads import BotDeleted, BotDetail, BotsResponse
from services import get_services
from tests.conftest import base_overrides, build_app
from tests.test_api import assert_error, auth, check
from tests.test_trading_halt import halt, operator_key
from tests.waiting import wait_until

FLOW = {"kind": "flow", "name": "flow one", "config": {"size": "0.2", "seed": 3}, "intervalS": 1}
SMALL = {"SOL": "20", "USDC": "5000"}


def create(client: Any, key: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    r = client.post("/api/bots", json=body or FLOW, headers=auth(key))
    assert r.status_code == 201, r.get_json()
    return check(BotDetail, r)


def detail(client: Any, key: str, bot_id: str) -> dict[str, Any]:
    r = client.get(f"/api/bots/{bot_id}", headers=auth(key))
    assert r.status_code == 200, r.get_json()
    return check(BotDetail, r)


def tick(app: Flask, bot_id: str, runner: str = "test", *, later_s: float = 0) -> manager.TickResult:
    """One tick of the bot as if ``later_s`` seconds had passed (it is due again after its interval)."""
    with app.app_context():
        try:
            return manager.run_bot(db.session, bot_id, runner, now=utcnow() + timedelta(seconds=later_s))
        finally:
            db.session.remove()


def orders_of(app: Flask, bot_id: str) -> list[Order]:
    with app.app_context():
        account_id = db.session.get(Bot, bot_id).account_id
        return list(db.session.execute(sa.select(Order).where(Order.account_id == account_id)).scalars())


def wait_confirmed(app: Flask, bot_id: str, count: int) -> list[Order]:
    return wait_until(
        lambda: (
            (o := orders_of(app, bot_id))
            and len(o) >= count
            and all(x.status == "confirmed" for x in o)
            and o
        ),
        f"{count} confirmed orders of bot {bot_id}",
    )


def test_a_flow_bot_is_created_funded_runs_through_the_order_path_stops_starts_and_is_deleted(
    app: Flask, client: Any
) -> None:
    ops = operator_key(app)
    bot = create(client, ops)
    assert (bot["state"], bot["kind"], bot["runs"]) == ("running", "flow", 0)
    assert bot["config"] == {
        "base": "SOL",
        "quote": "USDC",
        "size": "0.2",
        "mode": "random",
        "probability": "1",
        "seed": 3,
    }
    assert bot["actions"][0]["kind"] == "start"
    held = {h["token"]: h["amount"] for h in bot["portfolio"]["holdings"]}
    assert held["SOL"] == "500" and held["USDC"] == "100000"  # BOT_FUNDING

    assert run_bots(app) == {"ran": 1}
    assert run_bots(app) == {}  # not due again before its interval
    [order] = wait_confirmed(app, bot["id"], 1)
    assert order.idempotency_key == idempotency_key(bot["id"], 1, 0)
    after = detail(client, ops, bot["id"])
    assert after["runs"] == 1
    assert after["actions"][0]["kind"] == "order" and after["actions"][0]["orderId"] == order.id
    assert after["lastAction"]["orderId"] == order.id
    assert after["pnl"]["valueUsd"] != "0.00000000"

    listed = check(BotsResponse, client.get("/api/bots", headers=auth(ops)))
    assert [b["id"] for b in listed["bots"]] == [bot["id"]]

    r = client.post(f"/api/bots/{bot['id']}/stop", headers=auth(ops))
    stopped = check(BotDetail, r)
    assert (stopped["state"], stopped["stateReason"]) == ("stopped", "stopped by ops")
    assert tick(app, bot["id"], later_s=60).outcome == "busy"  # a stopped bot never runs

    started = check(BotDetail, client.post(f"/api/bots/{bot['id']}/start", headers=auth(ops)))
    assert started["state"] == "running" and started["stateReason"] is None
    assert run_bots(app) == {"ran": 1}
    wait_confirmed(app, bot["id"], 2)

    gone = check(BotDeleted, client.delete(f"/api/bots/{bot['id']}", headers=auth(ops)))
    assert gone == {"id": bot["id"], "deleted": True, "accountId": bot["accountId"]}
    assert_error(client.get(f"/api/bots/{bot['id']}", headers=auth(ops)), 404, "not_found", "botId")
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(BotAction)).scalar_one() == 0


def test_bots_are_for_operators_only(app: Flask, client: Any, api_key: str) -> None:
    assert_error(client.get("/api/bots"), 401, "unauthorized", "X-API-Key")
    assert_error(client.get("/api/bots", headers=auth(api_key)), 403, "forbidden", "X-API-Key")
    assert_error(client.post("/api/bots", json=FLOW, headers=auth(api_key)), 403, "forbidden", "X-API-Key")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "martingale", "name": "x"}, "kind"),
        ({"kind": "flow"}, "name"),
        ({"kind": "flow", "name": ""}, "name"),
        ({"kind": "flow", "name": "x", "intervalS": 0.01}, "intervalS"),
        ({"kind": "flow", "name": "x", "colour": "red"}, "colour"),
        ({"kind": "flow", "name": "x", "config": {"size": "-1"}}, "config.size"),
        ({"kind": "flow", "name": "x", "config": {"size": "0_1"}}, "config.size"),
        ({"kind": "flow", "name": "x", "config": {"base": "DOGE"}}, "config.base"),
        ({"kind": "flow", "name": "x", "config": {"mode": "panic"}}, "config.mode"),
        (
            {"kind": "rebalance", "name": "x", "config": {"targets": {"SOL": "0.7", "USDC": "0.7"}}},
            "config.targets",
        ),
        ({"kind": "dca", "name": "x", "config": {"orderType": "twap", "slices": 1}}, "config.slices"),
        ({"kind": "arbitrage", "name": "x", "config": {"minProfitUsd": "nan"}}, "config.minProfitUsd"),
        ({"kind": "flow", "name": "x", "funding": {"SOL": "-5"}}, "funding.SOL"),
        ({"kind": "flow", "name": "x", "funding": {"DOGE": "5"}}, "funding.DOGE"),
    ],
)
def test_a_bad_bot_is_refused_naming_its_field_and_writes_nothing(
    app: Flask, client: Any, body: dict[str, Any], field: str
) -> None:
    ops = operator_key(app)
    r = client.post("/api/bots", json=body, headers=auth(ops))
    assert r.status_code == 400, r.get_json()
    assert r.get_json()["error"]["field"] == field, r.get_json()
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Bot)).scalar_one() == 0


def test_an_unknown_bot_is_404_naming_it(app: Flask, client: Any) -> None:
    ops = operator_key(app)
    for path in ("/api/bots/nope", "/api/bots/" + "0" * 32):
        assert_error(client.get(path, headers=auth(ops)), 404, "not_found", "botId")
        assert_error(client.post(path + "/start", headers=auth(ops)), 404, "not_found", "botId")
        assert_error(client.delete(path, headers=auth(ops)), 404, "not_found", "botId")


def make_due(app: Flask, bot_id: str) -> None:
    with app.app_context():
        db.session.execute(
            sa.update(Bot).where(Bot.id == bot_id).values(next_run_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()


def test_of_two_runners_at_once_exactly_one_runs_the_bot(app: Flask, client: Any) -> None:
    ops = operator_key(app)
    bot = create(client, ops, {**FLOW, "intervalS": 600, "funding": SMALL})
    for _ in range(3):
        make_due(app, bot["id"])
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def runner(name: str, barrier: threading.Barrier, outcomes: list[str]) -> None:
            barrier.wait()
            outcomes.append(tick(app, bot["id"], name).outcome)

        threads = [threading.Thread(target=runner, args=(n, barrier, outcomes)) for n in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["busy", "ran"], outcomes
    assert detail(client, ops, bot["id"])["runs"] == 3
    wait_confirmed(app, bot["id"], 3)


def test_a_leased_bot_is_not_run_until_its_lease_expires(app: Flask, client: Any) -> None:
    ops = operator_key(app)
    bot = create(client, ops, {**FLOW, "funding": SMALL})
    with app.app_context():  # a runner that took the lease and died
        db.session.execute(
            sa.update(Bot)
            .where(Bot.id == bot["id"])
            .values(lease_owner="dead", lease_until=utcnow() + timedelta(seconds=60))
        )
        db.session.commit()
    assert run_bots(app) == {"busy": 1}
    assert tick(app, bot["id"], later_s=61).outcome == "ran"


def test_bots_survive_a_restart_in_the_state_they_were_left(
    database_url: str, app: Flask, client: Any
) -> None:
    ops = operator_key(app)
    running = create(client, ops, {**FLOW, "name": "keeps running", "funding": SMALL})
    stopped = create(client, ops, {**FLOW, "name": "stays stopped", "start": False, "funding": SMALL})
    assert stopped["state"] == "stopped"
    get_services(app).shutdown()

    again = create_app(base_overrides(database_url))
    try:
        assert run_bots(again) == {"ran": 1}
        with again.app_context():
            states = dict(db.session.execute(sa.select(Bot.name, Bot.runs)).all())
        assert states == {"keeps running": 1, "stays stopped": 0}
        wait_confirmed(again, running["id"], 1)
    finally:
        get_services(again).shutdown()


def test_repeated_errors_put_a_bot_in_state_error_with_the_reason(app: Flask, client: Any) -> None:
    ops = operator_key(app)
    bot = create(client, ops, {**FLOW, "funding": SMALL})
    with app.app_context():  # a config its type cannot run: every tick fails
        db.session.execute(sa.update(Bot).where(Bot.id == bot["id"]).values(config={"size": "x"}))
        db.session.commit()
    outcomes = [tick(app, bot["id"], later_s=i * 10.0).outcome for i in range(6)]
    assert outcomes == ["error"] * 5 + ["busy"]
    after = detail(client, ops, bot["id"])
    assert after["state"] == "error"
    assert after["stateReason"].startswith("5 errors in a row; the last: run 5 failed")
    assert [a["kind"] for a in after["actions"][:2]] == ["stop", "error"]
    assert orders_of(app, bot["id"]) == []
    restarted = check(BotDetail, client.post(f"/api/bots/{bot['id']}/start", headers=auth(ops)))
    assert (restarted["state"], restarted["consecutiveErrors"]) == ("running", 0)


def test_during_a_trading_halt_a_bot_places_nothing_and_says_so_once(app: Flask, client: Any) -> None:
    ops = operator_key(app)
    bot = create(client, ops, {**FLOW, "funding": SMALL})
    halt(client, ops, True, "fat finger")
    assert [tick(app, bot["id"], later_s=i * 10.0).outcome for i in range(3)] == ["halted"] * 3
    after = detail(client, ops, bot["id"])
    assert after["state"] == "running" and after["runs"] == 3
    skips = [a for a in after["actions"] if a["kind"] == "skip"]
    assert [a["message"] for a in skips] == ["trading halted: fat finger; no orders until it is lifted"]
    assert orders_of(app, bot["id"]) == []
    halt(client, ops, False)
    assert tick(app, bot["id"], later_s=40).outcome == "ran"
    wait_confirmed(app, bot["id"], 1)


def test_a_rerun_of_a_run_gets_its_first_order_back(app: Flask, client: Any) -> None:
    ops = operator_key(app)
    bot = create(client, ops, {**FLOW, "start": False, "funding": SMALL})
    with app.app_context():
        account_id = db.session.get(Bot, bot["id"]).account_id
        key = idempotency_key(bot["id"], 7, 0)
        first = place(db.session, account_id, Intent("SOL", "USDC", 10**8, "test"), key)
        again = place(db.session, account_id, Intent("SOL", "USDC", 2 * 10**8, "test"), key)
        assert (first.created, again.created, again.order_id) == (True, False, first.order_id)
    wait_confirmed(app, bot["id"], 1)


def test_a_rebalance_bot_sells_the_overweight_token_until_inside_its_band(app: Flask, client: Any) -> None:
    ops = operator_key(app)
    body = {
        "kind": "rebalance",
        "name": "half and half",
        "config": {"targets": {"SOL": "0.5", "USDC": "0.5"}, "bandBps": 200},
        "funding": {"SOL": "2", "USDC": "3000"},  # about 300 + 3000 USD: USDC far overweight
    }
    bot = create(client, ops, body)
    assert tick(app, bot["id"]).outcome == "ran"
    [order] = wait_confirmed(app, bot["id"], 1)
    assert (order.token_in, order.token_out) == ("USDC", "SOL")
    tick(app, bot["id"], later_s=10)  # now inside the band (within fees): nothing more to do
    assert len(wait_confirmed(app, bot["id"], 1)) == 1
    holdings = {h["token"]: h for h in detail(client, ops, bot["id"])["portfolio"]["holdings"]}
    sol, usdc = (float(holdings[t]["valueUsd"]) for t in ("SOL", "USDC"))
    assert abs(sol / (sol + usdc) - 0.5) < 0.02


def test_a_dca_bot_places_a_twap_order_each_period(app: Flask, client: Any) -> None:
    ops = operator_key(app)
    config = {
        "tokenIn": "USDC",
        "tokenOut": "SOL",
        "amount": "100",
        "orderType": "twap",
        "slices": 2,
        "sliceIntervalS": 0.5,
    }
    bot = create(
        client, ops, {"kind": "dca", "name": "dca", "config": config, "intervalS": 60, "funding": SMALL}
    )
    assert tick(app, bot["id"]).outcome == "ran"
    parents = [o for o in orders_of(app, bot["id"]) if o.order_type == "twap"]
    assert len(parents) == 1 and parents[0].amount_in == 100 * 10**6
    wait_until(
        lambda: [o.status for o in orders_of(app, bot["id"]) if o.order_type == "twap"] == ["confirmed"],
        "the TWAP parent to complete",
    )


def test_the_demo_command_starts_a_flow_and_an_arbitrage_bot_once(
    app: Flask, client: Any, tmp_path: Path
) -> None:
    app.config["SOLROUTE_DEMO"] = True
    app.instance_path = str(tmp_path)  # the operator's key file goes there
    runner = app.test_cli_runner()
    first = runner.invoke(args=["bots", "demo"])
    assert first.exit_code == 0, first.output
    assert "demo bots started: demo flow, demo arbitrage" in first.output
    key = (Path(app.instance_path) / "operator_api_key").read_text().strip()
    listed = check(BotsResponse, client.get("/api/bots", headers=auth(key)))
    assert sorted((b["kind"], b["state"]) for b in listed["bots"]) == [
        ("arbitrage", "running"),
        ("flow", "running"),
    ]
    flow = next(b for b in listed["bots"] if b["kind"] == "flow")
    client.post(f"/api/bots/{flow['id']}/stop", headers=auth(key))
    again = runner.invoke(args=["bots", "demo"])  # as ./run.sh after a restart
    assert "demo bots already exist" in again.output
    states = {
        b["kind"]: b["state"] for b in check(BotsResponse, client.get("/api/bots", headers=auth(key)))["bots"]
    }
    assert states == {"arbitrage": "running", "flow": "stopped"}  # a stopped one stays stopped
    assert run_bots(app) == {"ran": 1}


def test_production_never_starts_demo_bots(app: Flask) -> None:
    config = app_config(
        {
            "SOLROUTE_ENV": "production",
            "SECRET_KEY": "Zq7vN2pXr9LkT4wBy6HcJ8mFd3sQa5Ue",
            "SOLROUTE_DEMO": "1",
        },
        instance_path="/tmp",
    )
    assert config["SOLROUTE_DEMO"] is False
    assert app_config({"SOLROUTE_ENV": "development"}, instance_path="/tmp")["SOLROUTE_DEMO"] is True
    app.config["SOLROUTE_DEMO"] = config["SOLROUTE_DEMO"]
    result = app.test_cli_runner().invoke(args=["bots", "demo"])
    assert result.exit_code == 0 and "no demo bots" in result.output
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Bot)).scalar_one() == 0


def test_with_redis_each_run_is_an_rq_job_that_queues_the_next_and_maintenance_recovers_a_lost_one(
    database_url: str, redis_url: str, redis_namespace: str
) -> None:
    from redis import Redis
    from rq import Queue

    import jobs

    app, _ = build_app(database_url, REDIS_URL=redis_url, REDIS_NAMESPACE=redis_namespace)
    redis = Redis.from_url(redis_url)
    queue = Queue(redis_namespace, connection=redis)
    try:
        client = app.test_client()
        ops = operator_key(app)
        bot = create(client, ops, {**FLOW, "intervalS": 30, "funding": SMALL})
        assert queue.fetch_job(f"bot-{bot['id']}-1") is not None  # queued at creation

        with app.app_context():  # what the worker does with that job
            assert jobs.run_bot(bot["id"], 1) == "ran"
            assert jobs.run_bot(bot["id"], 1) == "busy"  # a duplicate of the job: not due, nothing done
        assert f"bot-{bot['id']}-2" in queue.scheduled_job_registry.get_job_ids()  # 30 s later
        assert len(orders_of(app, bot["id"])) == 1

        queue.scheduled_job_registry.remove(f"bot-{bot['id']}-2", delete_job=True)  # lost (Redis restarted)
        with app.app_context():
            db.session.execute(
                sa.update(Bot).where(Bot.id == bot["id"]).values(next_run_at=utcnow() - timedelta(seconds=60))
            )
            db.session.commit()
            assert jobs.recover_bots() == 1
        assert queue.fetch_job(f"bot-{bot['id']}-2") is not None
    finally:
        redis.close()
        get_services(app).shutdown()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_every_bot_answer_to_generated_requests_is_documented_and_none_is_a_server_error(
    app: Flask, mode: str
) -> None:
    """tests/test_schemathesis.py's checks, on the bot operations, with an operator's key."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis import GenerationMode

    from tests.test_schemathesis import CHECKS

    ops = operator_key(app)
    served = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operations = [r.ok() for r in served.get_all_operations() if r.ok().path.startswith("/api/bots")]
    assert len(operations) == 6
    generation = GenerationMode.POSITIVE if mode == "positive" else GenerationMode.NEGATIVE
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=generation))
        @settings(
            max_examples=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def answers_as_documented(case: Any) -> None:
            case.call_and_validate(headers={"X-API-Key": ops}, checks=CHECKS)

        answers_as_documented()
