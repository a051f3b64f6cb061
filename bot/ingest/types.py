"""Plain data passed between the fetcher, the parser and the store (no I/O here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(slots=True)
class FetchResult:
    """What one HTTP fetch of a feed (or page) produced.

    ``status`` is the final HTTP status (after redirects), or None when no response arrived
    (``error`` then says why: timeout, too large, refused by the network guard...).
    """

    url: str  # the URL we asked for
    final_url: str  # after redirects
    status: int | None
    body: bytes | None = None  # decoded (gunzipped) body, capped; None on 304 or error
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    retry_after: float | None = None  # seconds, from Retry-After (seconds or HTTP date)
    max_age: float | None = None  # seconds, from Cache-Control max-age
    permanent_redirect: str | None = None  # target of a 301/308 seen on the first hop
    error: str | None = None  # human-readable reason when the fetch failed
    error_kind: str | None = None  # timeout | too_large | blocked | network | http | scheme
    elapsed: float = 0.0

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and self.body is not None


@dataclass(slots=True)
class ParsedEntry:
    """One feed item after parsing and field capping (text is plain, HTML kept separately)."""

    guid: str | None
    link: str | None  # absolute (xml:base / feed URL resolved)
    title: str
    summary: str  # plain text excerpt
    summary_html: str | None  # original HTML of summary/content, for later sanitizing
    content: str | None  # full content as plain text when the feed carries it
    author: str | None
    published: datetime | None  # aware UTC, clamped (never in the future)
    updated: datetime | None
    image_url: str | None
    language: str | None = None
    tags: list[str] = field(default_factory=list)
    # Filled by bot.ingest.prepare.prepare_feed (in the parser worker when possible):
    identity: str | None = None
    canonical_url: str | None = None
    content_hash: str | None = None
    analysis: Any = None  # bot.knowledge.analysis.Analysis, when an analyser ran


@dataclass(slots=True)
class ParsedFeed:
    """A parsed feed document."""

    title: str
    link: str | None
    language: str | None
    entries: list[ParsedEntry]
    parser: str  # which parser produced it ("fastfeedparser", "feedparser")
    bozo: str | None = None  # a tolerated problem (e.g. "declared utf-8, was windows-1251")
    prepared_for: str | None = None  # the feed URL prepare_feed scoped the identities to


class FeedParseError(Exception):
    """The body is not a usable feed; ``str(err)`` is a short human-readable reason.

    Defined here, not in :mod:`bot.ingest.parse`, so the bot's process can handle parse
    results without importing the parsers (they only run in the worker processes).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __reduce__(self) -> tuple[type[FeedParseError], tuple[str]]:
        # Crosses the process boundary from ParserPool workers.
        return (FeedParseError, (self.reason,))
