"""A small HTTP endpoint for operators: ``/healthz`` and ``/metrics`` (Prometheus).

``/healthz`` answers 200 when the database answers and the scheduler's heartbeat is fresh, and
503 otherwise, with a JSON body saying which part is unwell and how old the last successful feed
fetch is — enough for a container healthcheck or a load balancer to act on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.metrics import Metrics
from storage.db import Database

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 15.0


@dataclass(slots=True)
class HealthState:
    """Liveness facts the jobs update as they run."""

    started_at: float = field(default_factory=time.time)
    heartbeat_at: float | None = None  # the scheduler's heartbeat job ran
    last_fetch_success_at: float | None = None

    def beat(self) -> None:
        self.heartbeat_at = time.time()


async def health_report(
    db: Database, state: HealthState, *, leader: bool
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) for ``/healthz``."""
    now = time.time()
    db_ok = await asyncio.to_thread(db.ping)
    beat_age = None if state.heartbeat_at is None else now - state.heartbeat_at
    starting = now - state.started_at < 3 * HEARTBEAT_SECONDS
    scheduler_ok = (beat_age is not None and beat_age < 3 * HEARTBEAT_SECONDS) or (
        beat_age is None and starting
    )
    fetch_age = (
        None if state.last_fetch_success_at is None else round(now - state.last_fetch_success_at, 1)
    )
    body = {
        "status": "ok" if db_ok and scheduler_ok else "unhealthy",
        "database": "ok" if db_ok else "unreachable",
        "scheduler": "ok" if scheduler_ok else "stalled",
        "scheduler_heartbeat_age_seconds": None if beat_age is None else round(beat_age, 1),
        "leader": leader,
        "last_fetch_success_age_seconds": fetch_age,
        "uptime_seconds": round(now - state.started_at, 1),
    }
    return (200 if body["status"] == "ok" else 503), body


class HealthServer:
    """aiohttp server for /healthz and /metrics, sharing the bot's event loop."""

    def __init__(
        self,
        db: Database,
        state: HealthState,
        metrics: Metrics,
        *,
        host: str,
        port: int,
        is_leader: Any = lambda: False,
    ) -> None:
        self.db = db
        self.state = state
        self.metrics = metrics
        self.host = host
        self.port = port
        self.is_leader = is_leader
        self._runner: web.AppRunner | None = None
        self.bound_port: int | None = None

    async def _healthz(self, request: web.Request) -> web.Response:
        status, body = await health_report(self.db, self.state, leader=bool(self.is_leader()))
        return web.Response(status=status, text=json.dumps(body), content_type="application/json")

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self.metrics.render(), headers={"Content-Type": "text/plain; version=0.0.4"}
        )

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:  # a busy port must not take the bot down
            log.error("health/metrics endpoint not started on %s:%s: %s", self.host, self.port, exc)
            await self._runner.cleanup()
            self._runner = None
            return
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.bound_port = sockets[0].getsockname()[1] if sockets else self.port
        log.info("health and metrics on http://%s:%s/healthz", self.host, self.bound_port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
