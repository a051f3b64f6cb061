"""What handlers and jobs can reach: settings and the database, kept in ``bot_data``.

Why one typed object instead of loose ``bot_data`` keys: handlers stay thin (parse, call a
service, reply) and mypy checks every access.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.flood import FloodControl
from bot.health import HealthState
from bot.leader import Leadership
from bot.metrics import Metrics
from config.settings import Settings
from storage.db import Database
from storage.types import utcnow

if TYPE_CHECKING:
    from bot.admin.queue import QueueService
    from bot.answers import Answers
    from bot.ingest.service import IngestService
    from bot.ingest.updater import Updater
    from bot.knowledge.service import Knowledge
    from bot.publish.publisher import Publisher
    from bot.publish.sender import Sender

_KEY = "orbitwire"


@dataclass(slots=True)
class AppServices:
    """Long-lived services shared by every handler and job of one process."""

    settings: Settings
    db: Database
    flood: FloodControl = field(default_factory=FloodControl)
    metrics: Metrics = field(default_factory=Metrics)
    health: HealthState = field(default_factory=HealthState)
    ingest: IngestService | None = None
    knowledge: Knowledge | None = None
    publisher: Publisher | None = None
    sender: Sender | None = None
    answers: Answers | None = None
    leader: Leadership | None = None
    queue: QueueService | None = None  # the admin queue (bot.admin.queue), built on first use
    #: The clock handlers and jobs read; tests replace it to move time without sleeping.
    clock: Callable[[], datetime] = utcnow

    def now(self) -> datetime:
        return self.clock()

    @property
    def updater(self) -> Updater | None:
        return self.ingest.updater if self.ingest is not None else None

    async def lead(self) -> bool:
        """Whether this process should run the scheduled jobs now (refreshes the lock)."""
        if self.leader is None:
            self.leader = Leadership(self.db)
        return await asyncio.to_thread(self.leader.refresh)

    def get_answers(self) -> Answers:
        """The chat answers service, built on first use (it shares the process's Knowledge)."""
        if self.answers is None:
            from bot.answers import Answers
            from bot.knowledge.service import Knowledge

            if self.knowledge is None:
                self.knowledge = Knowledge()
            self.answers = Answers(self.db, self.knowledge)
        return self.answers

    def is_admin(self, user_id: int | None) -> bool:
        """Admin rights come only from the configured ``ADMINS`` list."""
        return user_id is not None and user_id in self.settings.admins


def attach(bot_data: dict[str, Any], services: AppServices) -> None:
    bot_data[_KEY] = services


def services_of(context: Any) -> AppServices:
    """The :class:`AppServices` of a PTB callback context (or Application)."""
    value = context.bot_data[_KEY]
    assert isinstance(value, AppServices)
    return value
