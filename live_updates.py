"""Socket.IO: the rooms, the handlers and the ``publish_*`` helpers every writer calls.

Rooms: ``order:<id>`` (its owner only, joined with ``subscribe_order``), and the public rooms
``trades``, ``pools`` and ``prices`` that every connection joins on connect.

Who emits: the web process through its own server (which, with ``REDIS_URL``, fans out through
the Redis message queue to every web process); an RQ worker has no server and writes to that
queue directly with a write-only manager, created lazily (never at import time).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import socketio as socketio_lib
import sqlalchemy as sa
from flask import Flask, current_app, request, session
from flask_socketio import SocketIO, emit, join_room, leave_room

import payloads
from models import Order, OrderEvent, db
from services import get_services
from trade_logger import ParentChange, SettledBatch, StoredEvent
from venue_state import account_for_api_key

__all__ = [
    "PUBLIC_ROOMS",
    "Outbox",
    "init_app",
    "publish",
    "publish_batch",
    "publish_events",
    "publish_many",
    "publish_parents",
    "publish_price_update",
    "publishing",
    "register_handlers",
    "socketio",
]

log = logging.getLogger(__name__)

socketio = SocketIO()
PUBLIC_ROOMS = ("trades", "pools", "prices")

# (event, data, room); the data may be a function that builds it, called only if the message is sent.
Message = tuple[str, dict[str, Any] | Callable[[], dict[str, Any]], str]


class _QueueWriter(socketio_lib.RedisManager):  # type: ignore[misc]
    """A write-only Redis manager that can send many emits in one round trip (``emit_many``)."""

    def __init__(self, url: str, channel: str) -> None:
        super().__init__(url, channel=channel, write_only=True)
        self._batch = threading.local()

    def _publish(self, data: Any) -> Any:
        collected = getattr(self._batch, "messages", None)
        if collected is not None:
            collected.append(data)
            return None
        return super()._publish(data)

    def emit_many(self, messages: Sequence[Message]) -> None:
        """Emit each message as ``emit`` would, publishing them all in one pipeline."""
        collected: list[Any] = []
        self._batch.messages = collected
        try:
            for event, data, room in messages:
                self.emit(event, data, namespace="/", room=room)
        finally:
            self._batch.messages = None
        for retries_left in (1, 0):
            try:
                if not getattr(self, "connected", False):
                    self._redis_connect()
                pipe = self.redis.pipeline(transaction=False)
                for data in collected:
                    pipe.publish(self.channel, self.json.dumps(data))
                pipe.execute()
                return
            except Exception:
                if not retries_left:
                    raise
                self.connected = False


_managers: dict[tuple[str, str], _QueueWriter] = {}
_managers_lock = threading.Lock()


def _queue_writer(url: str, channel: str) -> _QueueWriter:
    with _managers_lock:
        manager = _managers.get((url, channel))
        if manager is None:
            manager = _QueueWriter(url, channel)
            _managers[(url, channel)] = manager
        return manager


def publish(event: str, data: Mapping[str, Any], room: str) -> None:
    """Emit ``event`` to ``room`` from wherever we are (web process or worker); never raises."""
    publish_many([(event, dict(data), room)])


def publish_many(messages: Sequence[Message]) -> None:
    """Emit every message, in order; in a worker, all in one round trip to Redis. Never raises."""
    if not messages:
        return
    try:
        services = get_services()
        if services.emit_mode == "server":
            for event, data, room in messages:
                socketio.emit(event, _built(data), to=room)
        elif services.emit_mode == "queue":
            config = current_app.config
            messages = _watched_only(services.redis, config["REDIS_NAMESPACE"], messages)
            _queue_writer(config["REDIS_URL"], config["REDIS_NAMESPACE"]).emit_many(
                [(event, _built(data), room) for event, data, room in messages]
            )
    except Exception:  # a live update must never fail a trade that is already committed
        log.exception("could not publish %d live updates", len(messages))


def _built(data: dict[str, Any] | Callable[[], dict[str, Any]]) -> dict[str, Any]:
    return data() if callable(data) else data


# An order room somebody joined is marked in Redis for this long; a worker sends an order's
# updates through the message queue only while its mark exists. Nobody follows most orders
# (programs poll, or never look), and every message costs every web process a parse and a lookup.
WATCH_TTL_S = 24 * 3600


def _watch_key(namespace: str, order_id: str) -> str:
    return f"{namespace}:watched:{order_id}"


def mark_watched(redis: Any, namespace: str, order_id: str) -> None:
    """Note that a client follows ``order_id`` (before it joins the room and reads the state)."""
    redis.set(_watch_key(namespace, order_id), 1, ex=WATCH_TTL_S)


def _watched_only(redis: Any, namespace: str, messages: Sequence[Message]) -> list[Message]:
    """``messages`` without the order updates of orders nobody follows (one Redis round trip).

    Safe against a client subscribing meanwhile: it marks the order before it joins the room and
    reads the order's state, and this runs after the updates were committed, so either the mark
    is seen here or the client's read already holds the committed state.
    """
    order_rooms = sorted({room for event, _, room in messages if event == "order_update"})
    if not order_rooms or redis is None:
        return list(messages)
    pipe = redis.pipeline(transaction=False)
    for room in order_rooms:
        pipe.exists(_watch_key(namespace, room.removeprefix("order:")))
    watched = {room for room, found in zip(order_rooms, pipe.execute(), strict=True) if found}
    return [m for m in messages if m[0] != "order_update" or m[2] in watched]


class Outbox:
    """Live updates gathered while a job publishes what it committed (see ``publishing``)."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def order_update(
        self, order: Order, event: StoredEvent, *, fills: Sequence[Mapping[str, Any]] | None = None
    ) -> None:
        # Built only if sent: a worker drops the updates of orders nobody follows (most of them).
        self.messages.append(
            ("order_update", lambda: payloads.order_payload(order, event, fills=fills), f"order:{order.id}")
        )

    def trade_executed(self, data: Mapping[str, Any]) -> None:
        self.messages.append(("trade_executed", dict(data), "trades"))

    def pool_update(self, data: Mapping[str, Any]) -> None:
        self.messages.append(("pool_update", dict(data), "pools"))


@contextmanager
def publishing() -> Iterator[Outbox]:
    """Gather live updates in the block; publish them together, in order, when it ends."""
    outbox = Outbox()
    yield outbox
    publish_many(outbox.messages)


def publish_events(stored: tuple[Order, Sequence[StoredEvent]] | None) -> None:
    """One ``order_update`` per committed step of an order, in order (nothing if nothing was stored)."""
    if stored is None:
        return
    order, events = stored
    with publishing() as out:
        for event in events:
            out.order_update(order, event)


def publish_parents(changes: Sequence[ParentChange]) -> None:
    """One ``order_update`` per committed step of each TWAP parent (a parent has no fills of its own)."""
    with publishing() as out:
        for change in changes:
            for event in change.events:
                out.order_update(change.order, event, fills=())


def publish_batch(batch: SettledBatch) -> None:
    """Every committed step, trade and venue change of a settled batch, in one go."""
    with publishing() as out:
        for recorded in batch.trades:
            for event in recorded.events:
                out.order_update(recorded.order, event, fills=recorded.fills)
            out.trade_executed(payloads.trade_executed_json(recorded))
        for failed in batch.failed:
            for event in failed.events:
                out.order_update(failed.order, event)
        for change in batch.parents:  # TWAP parents that slices of this batch moved on
            for event in change.events:
                out.order_update(change.order, event, fills=())
        for pool in batch.pools:
            out.pool_update(payloads.pool_update_json(pool))
        for desk in batch.desks:
            out.pool_update(payloads.desk_update_json(desk))


def publish_price_update(data: Mapping[str, Any]) -> None:
    publish("price_update", data, "prices")


def init_app(app: Flask) -> None:
    """Serve Socket.IO from ``app`` (a web process), fanned out through Redis when it is configured."""
    redis_url = app.config.get("REDIS_URL")
    # Flask-SocketIO keeps the Redis manager an earlier init_app made in its options: a process that
    # binds the one socketio to several apps (tests) must drop it for an app without Redis.
    without_queue: dict[str, Any] = {} if redis_url else {"client_manager": None}
    socketio.init_app(
        app,
        async_mode="threading",
        message_queue=redis_url,
        channel=app.config["REDIS_NAMESPACE"],
        cors_allowed_origins=app.config.get("SOCKETIO_CORS_ORIGINS"),
        manage_session=True,
        **without_queue,
    )


# --- handlers (web process only) --------------------------------------------------------------


def _account_from(auth: object) -> int | None:
    """The connecting account: None for an anonymous connection (no key at all).

    A key that is given but wrong (unknown, or not a string) refuses the connection, so a client
    with a typo learns it at connect, not when its first ``subscribe_order`` fails. An empty key
    is no key, as an empty X-API-Key header is for the REST API.
    """
    key: object = None
    if isinstance(auth, Mapping):
        key = auth.get("apiKey", auth.get("api_key"))
    if key is None or key == "":
        key = request.headers.get("X-API-Key") or None
    if key is not None:
        account = account_for_api_key(db.session, key) if isinstance(key, str) else None
        if account is None:
            raise ConnectionRefusedError(
                {
                    "code": "unauthorized",
                    "message": "the apiKey is not valid (connect without one for the public rooms)",
                    "field": "apiKey",
                }
            )
        return account.id
    account_id = session.get("account_id")
    return account_id if isinstance(account_id, int) else None


def register_handlers(sio: SocketIO) -> None:
    """Attach the connection and subscription handlers."""

    @sio.on("connect")
    def connect(auth: object = None) -> bool:
        try:
            account_id = _account_from(auth)
            session["sr_account_id"] = account_id
        finally:
            db.session.remove()
        for room in PUBLIC_ROOMS:
            join_room(room)
        if account_id is not None:  # the account's own events: backtest_progress, dataset_progress
            join_room(f"account:{account_id}")
        return True

    def _public_room(data: object, change: Callable[[str], None]) -> dict[str, Any]:
        room = data.get("room") if isinstance(data, Mapping) else None
        if not isinstance(room, str) or room not in PUBLIC_ROOMS:
            message = f"room must be one of {', '.join(PUBLIC_ROOMS)}"
            return {"error": {"code": "invalid_input", "message": message, "field": "room"}}
        change(room)
        return {"ok": True, "room": room}

    @sio.on("subscribe")
    def subscribe(data: object = None) -> dict[str, Any]:
        return _public_room(data, join_room)

    @sio.on("unsubscribe")
    def unsubscribe(data: object = None) -> dict[str, Any]:
        return _public_room(data, leave_room)

    @sio.on("subscribe_order")
    def subscribe_order(data: object = None) -> dict[str, Any]:
        order_id = data.get("orderId") if isinstance(data, Mapping) else None
        if not isinstance(order_id, str) or not order_id:
            return {"error": {"code": "invalid_input", "message": "orderId is required", "field": "orderId"}}
        account_id = session.get("sr_account_id")
        if account_id is None:
            return {
                "error": {
                    "code": "unauthorized",
                    "message": "connect with auth {apiKey} (or a logged-in session) to follow orders",
                    "field": "apiKey",
                }
            }
        try:
            order = db.session.get(Order, order_id)
            # The same answer for someone else's order as for a missing one: ids are not disclosed.
            if order is None or order.account_id != account_id:
                return {
                    "error": {
                        "code": "not_found",
                        "message": f"no order {order_id} for this account",
                        "field": "orderId",
                    }
                }
            services = get_services()
            if services.redis is not None:  # workers send this order's updates only if marked
                mark_watched(services.redis, current_app.config["REDIS_NAMESPACE"], order_id)
            join_room(f"order:{order_id}")
            # Read again after joining, then send: an update published in between is either in this
            # state or arrives after it, so a late subscriber still sees the final state at once.
            db.session.expire_all()
            order = db.session.get(Order, order_id)
            if order is None:
                return {"error": {"code": "not_found", "message": f"no order {order_id}", "field": "orderId"}}
            seq = db.session.execute(
                sa.select(sa.func.max(OrderEvent.id)).where(OrderEvent.order_id == order_id)
            ).scalar()
            emit("order_update", payloads.order_payload(order, seq=seq))
            return {"ok": True, "orderId": order_id, "status": order.status}
        finally:
            db.session.remove()


# Registered before any init_app: Flask-SocketIO keeps handlers registered while no server exists
# and gives them to every server init_app creates (one per app, e.g. one per test).
register_handlers(socketio)
