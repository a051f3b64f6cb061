"""``/queue URL`` for a page we have not stored: fetch it, extract the story, store it.

Same rules as ingestion on purpose: the request goes through :class:`~bot.ingest.fetch.Fetcher`
(SSRF guard on every hop, size and time limits, no proxies from the environment) with the
``ALLOW_PRIVATE_FEEDS`` setting, the URL is checked by :func:`~bot.ingest.netguard.check_url`
first so a refused address is named before any request, the text comes from the same trafilatura
extraction full-text feeds use, and the article is stored with :func:`store_articles` (dedup by
canonical URL), then linked like any fetched article so hashtags and subscriptions work.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

from bot.ingest.fetch import Fetcher, FetchLimits
from bot.ingest.fulltext import extract_article
from bot.ingest.netguard import GuardError, check_url
from bot.ingest.normalize import canonical_url, site_of
from storage.articles import ArticleDraft, store_articles
from storage.db import Database
from storage.queue import find_article

log = logging.getLogger(__name__)

MAX_TITLE = 1024
MAX_EXCERPT = 1200


class PageError(Exception):
    """The URL cannot become an article (refused, unreachable, no article text)."""


@dataclass(frozen=True, slots=True)
class PageArticle:
    url: str
    title: str
    text: str
    excerpt: str
    image_url: str | None
    published_at: datetime | None


def _metadata(html: bytes, url: str) -> tuple[str | None, str | None, datetime | None]:
    """Title, description and date from the page's metadata (when extraction found no text)."""
    import trafilatura

    try:
        meta = trafilatura.extract_metadata(html.decode("utf-8", "replace"), default_url=url)
    except Exception:  # hostile HTML: treat as no metadata
        return None, None, None
    if meta is None:
        return None, None, None
    title = getattr(meta, "title", None)
    description = getattr(meta, "description", None)
    date = getattr(meta, "date", None)
    published = None
    if isinstance(date, str):
        try:
            published = datetime.fromisoformat(date)
        except ValueError:
            published = None
    return (
        title if isinstance(title, str) else None,
        description if isinstance(description, str) else None,
        published,
    )


def _excerpt(text: str) -> str:
    first = text.split("\n", 1)[0] if len(text.split("\n", 1)[0]) > 80 else text
    return first[:MAX_EXCERPT]


async def fetch_page_article(fetcher: Fetcher, url: str, *, allow_private: bool) -> PageArticle:
    """Fetch and extract one article page; raises :class:`PageError` with a reason to show."""
    try:
        check_url(url, allow_private=allow_private)
    except GuardError as exc:
        raise PageError(str(exc)) from None
    result = await fetcher.fetch_page(url)
    if not result.ok or result.body is None:
        raise PageError(f"could not fetch the page: {result.error or result.status}")
    ctype = (result.content_type or "").lower()
    if ctype and "html" not in ctype:
        raise PageError(f"not an HTML page ({ctype.split(';')[0]})")
    extracted = await asyncio.to_thread(extract_article, result.body, result.final_url)
    title, description, published = await asyncio.to_thread(
        _metadata, result.body, result.final_url
    )
    if extracted is not None:
        text = extracted.text
        title = extracted.title or title
        image = extracted.image_url
    else:
        text = description or ""
        image = None
    if not title or not (text or description):
        raise PageError("no article found on that page")
    return PageArticle(
        url=result.final_url,
        title=" ".join(title.split())[:MAX_TITLE],
        text=text,
        excerpt=" ".join((description or _excerpt(text)).split())[:MAX_EXCERPT],
        image_url=image,
        published_at=published if published and published.tzinfo else None,
    )


def draft_for(page: PageArticle) -> ArticleDraft:
    canonical = canonical_url(page.url)
    site = site_of(page.url)
    return ArticleDraft(
        identity=hashlib.sha256(f"page\0{canonical}".encode()).hexdigest(),
        canonical_url=canonical,
        url=page.url,
        title=page.title,
        summary=page.excerpt,
        content=page.text or None,
        content_hash=hashlib.sha256(page.text.encode()).hexdigest(),
        image_url=page.image_url,
        source_name=site,
        source_site=site,
        published_at=page.published_at,
    )


async def article_for_url(
    db: Database,
    url: str,
    *,
    allow_private: bool,
    fetcher: Fetcher | None = None,
    fetch_seconds: float = 30.0,
) -> tuple[int, bool]:
    """The stored article for ``url`` (fetched and stored when new): ``(article id, fetched)``."""
    known = await db.run(find_article, [canonical_url(url), url.strip()])
    if known is not None:
        return known, False
    own = fetcher is None
    active = fetcher or Fetcher(
        allow_private=allow_private, limits=FetchLimits(total_timeout=fetch_seconds)
    )
    try:
        page = await fetch_page_article(active, url.strip(), allow_private=allow_private)
    finally:
        if own:
            await active.aclose()
    draft = draft_for(page)
    stored = await db.run(store_articles, None, [draft])
    if stored.new_ids:
        return stored.new_ids[0], True
    again = await db.run(find_article, [draft.canonical_url or "", url.strip(), page.url])
    if again is None:
        raise PageError("the page could not be stored")
    return again, False
