"""The knowledge layer as one object: the catalog, its linker, and the store operations.

Built once per process (building the Aho-Corasick automaton takes a moment), shared by
ingestion (link every new article), the chat answers and the CLI.
"""

from __future__ import annotations

import logging
import time
from functools import cached_property

from bot.knowledge.catalog import Catalog, load_catalog
from bot.knowledge.linker import Linker
from storage.db import Database
from storage.knowledge import LinkReport, SeedCounts, link_articles, relink_all, seed_catalog

log = logging.getLogger(__name__)

LINK_BATCH = 500


class Knowledge:
    """Catalog + linker, with the operations that touch the store."""

    def __init__(self, catalog: Catalog | None = None) -> None:
        self.catalog = catalog or load_catalog()

    @cached_property
    def linker(self) -> Linker:
        return Linker(self.catalog)

    def seed(self, db: Database) -> SeedCounts:
        """Load the catalog into the store (idempotent; run at every start)."""
        return db.call(seed_catalog, self.catalog)

    async def link_new(self, db: Database, article_ids: list[int]) -> LinkReport:
        """Link freshly stored articles (the ingestion hook), in batches."""
        total = LinkReport()
        started = time.perf_counter()
        for i in range(0, len(article_ids), LINK_BATCH):
            batch = article_ids[i : i + LINK_BATCH]
            total.add(await db.run(link_articles, batch, self.linker, self.catalog))
        log.info(
            "linked %d articles in %.2fs: %d mission links, %d partner facts",
            total.articles,
            time.perf_counter() - started,
            total.mission_links,
            total.facts,
        )
        return total

    def relink_all(self, db: Database) -> LinkReport:
        """Re-link the whole store after a catalog change (``orbitwire relink``)."""
        return relink_all(db, self.linker, self.catalog)
