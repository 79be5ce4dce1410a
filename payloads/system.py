"""``GET /api/health``: each dependency's check."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from payloads.common import Timestamp, _Out


class DatabaseCheck(_Out):
    ok: bool
    backend: str | None = None
    error: str | None = None


class RedisCheck(_Out):
    ok: bool | None
    detail: str | None = None
    error: str | None = None


class DispatchStats(_Out):
    batches: int = Field(description="Batch jobs this web process has queued since it started")
    orders: int = Field(description="Orders in those batch jobs")
    largestBatch: int


class QueueCheck(_Out):
    depth: int | None = Field(description="Jobs waiting (RQ: queued plus scheduled; in-process: pending)")
    ordersWaiting: int | None = Field(
        default=None, description="Accepted orders no worker has taken yet (in batch jobs or gathering)"
    )
    dispatched: DispatchStats | None = None
    executor: Literal["rq", "in-process"] | None = None
    error: str | None = None


class JupiterCheck(_Out):
    state: str


class HealthChecks(_Out):
    database: DatabaseCheck
    redis: RedisCheck
    queue: QueueCheck
    jupiter: JupiterCheck


class HealthResponse(_Out):
    """``GET /api/health``: 200 when every dependency answers, 503 when one does not."""

    status: Literal["ok", "degraded"]
    checks: HealthChecks
    time: Timestamp
