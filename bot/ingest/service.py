"""Ingestion as one service with a lifecycle: the fetcher's HTTP client, the parser worker
processes and the updater, started and closed together by ``orbitwire run`` and ``fetch``.
"""

from __future__ import annotations

import logging
from typing import Self

from bot.ingest.fetch import Fetcher, FetchLimits
from bot.ingest.policy import PollPolicy
from bot.ingest.pool import ParserPool
from bot.ingest.updater import Updater, UpdaterConfig
from bot.knowledge.service import Knowledge
from bot.lifecycle import AsyncClosing
from config.feeds import load_feed_specs
from config.settings import Settings
from storage.db import Database
from storage.feeds import SyncReport, sync_feeds

log = logging.getLogger(__name__)


def updater_config(settings: Settings) -> UpdaterConfig:
    """Translate settings into the updater's knobs."""
    from datetime import timedelta

    return UpdaterConfig(
        policy=PollPolicy(interval=timedelta(minutes=settings.fetch_interval_minutes)),
        concurrency=settings.fetch_concurrency,
        backfill=settings.backfill_items,
    )


def sync_feeds_file(settings: Settings, db: Database) -> SyncReport:
    """Bring the store in line with ``FEEDS_FILE`` (run/fetch call this at start)."""
    report = db.call(sync_feeds, load_feed_specs(settings.feeds_file))
    if report.added or report.updated or report.retired:
        log.info(
            "feeds file synced: %d added, %d updated, %d retired",
            len(report.added),
            len(report.updated),
            len(report.retired),
        )
    return report


class IngestService(AsyncClosing):
    """Owns the resources one process needs to ingest: use ``async with``."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        knowledge: Knowledge | None = None,
        parser_workers: int = 2,
    ) -> None:
        """``knowledge``: link new and edited articles as they are stored (the analysis runs
        in the parser workers)."""
        self.settings = settings
        self.db = db
        self.knowledge = knowledge
        self._parser_workers = parser_workers
        self.fetcher: Fetcher | None = None
        self.parser: ParserPool | None = None
        self.updater: Updater | None = None

    async def start(self) -> Updater:
        limits = FetchLimits(total_timeout=self.settings.fetch_timeout_seconds)
        self.fetcher = Fetcher(allow_private=self.settings.allow_private_feeds, limits=limits)
        analyser = self.knowledge.analyser if self.knowledge is not None else None
        self.parser = ParserPool(max_workers=self._parser_workers, analyser=analyser)
        self.updater = Updater(
            self.db,
            self.fetcher,
            self.parser,
            updater_config(self.settings),
            linking=self.knowledge,
        )
        return self.updater

    async def aclose(self) -> None:
        if self.fetcher is not None:
            await self.fetcher.aclose()
            self.fetcher = None
        if self.parser is not None:
            await self.parser.aclose()
            self.parser = None
        self.updater = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self
