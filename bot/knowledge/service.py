"""The knowledge layer as one object: the catalog, its linker, and the store operations.

Built once per process (building the Aho-Corasick automaton takes a moment), shared by
ingestion (its parser workers get :attr:`Knowledge.analyser`; the updater writes the results
through :meth:`Knowledge.write_links`), the chat answers and the CLI.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Mapping
from functools import cached_property

from sqlmodel import Session

from bot.knowledge.analysis import Analyser, Analysis
from bot.knowledge.catalog import Catalog, load_catalog
from bot.knowledge.linker import Linker
from storage.db import Database
from storage.knowledge import (
    LinkReport,
    SeedCounts,
    catalog_ids,
    link_articles,
    relink_all,
    seed_catalog,
    write_links,
)

log = logging.getLogger(__name__)

LINK_BATCH = 500


class Knowledge:
    """Catalog + linker, with the operations that touch the store."""

    def __init__(self, catalog: Catalog | None = None) -> None:
        self.catalog = catalog or load_catalog()

    @cached_property
    def linker(self) -> Linker:
        return Linker(self.catalog)

    @cached_property
    def analyser(self) -> Analyser:
        """The picklable analyser the parser workers run (shares this process's linker)."""
        return Analyser(self.catalog, self.linker)

    # -- the updater's ``Linking`` protocol (runs in the store's transaction) ---------------

    def analyse(self, title: str, summary: str, content: str | None) -> Analysis:
        """In-process analysis, for articles the parser workers did not analyse."""
        return self.analyser(title, summary, content)

    def write_links(
        self, session: Session, analyses: Mapping[int, Analysis], *, fresh: Collection[int] = ()
    ) -> LinkReport:
        """Store the links and facts of just-stored articles, in the caller's transaction
        (``fresh``: ids inserted in it, which have no old links to replace)."""
        return write_links(session, analyses, catalog_ids(session, self.catalog), fresh=fresh)

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
