"""Stored, linked articles for tests: one way to write a story instead of one per test file."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from bot.knowledge.service import Knowledge
from storage.articles import ArticleDraft, store_articles
from storage.db import Database

_KNOWLEDGE: Knowledge | None = None


def knowledge() -> Knowledge:
    """One catalog + linker per test session (building the automaton takes a moment)."""
    global _KNOWLEDGE
    if _KNOWLEDGE is None:
        _KNOWLEDGE = Knowledge()
    return _KNOWLEDGE


def story(
    n: int,
    title: str,
    summary: str,
    site: str = "news.example",
    *,
    minutes_ago: float = 30,
    image: str | None = None,
    published: datetime | None = None,
) -> ArticleDraft:
    """The n-th story of ``site``, published ``minutes_ago`` (or at ``published``)."""
    return ArticleDraft(
        identity=f"{site}-{n}",
        canonical_url=f"https://{site}/story-{n}",
        url=f"https://{site}/story-{n}",
        title=title,
        summary=summary,
        content_hash=f"h{site}{n}",
        source_name=site,
        source_site=site,
        image_url=image,
        published_at=published or datetime.now(UTC) - timedelta(minutes=minutes_ago),
    )


async def store_and_link(db: Database, drafts: Sequence[ArticleDraft]) -> list[int]:
    """Seed the catalog, store the drafts and link them, as ingestion would."""
    k = knowledge()
    k.seed(db)
    ids = db.call(store_articles, None, list(drafts)).new_ids
    await k.link_new(db, ids)
    return ids


def store_and_link_sync(db: Database, drafts: Sequence[ArticleDraft]) -> list[int]:
    """:func:`store_and_link` for synchronous tests (subprocess-driven ones)."""
    import asyncio

    return asyncio.run(store_and_link(db, drafts))
