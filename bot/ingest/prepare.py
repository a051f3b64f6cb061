"""Parsed entries → storable form, without I/O: identities, canonical URLs, hashes, analysis.

Runs in the parser worker processes right after the parse (see :class:`bot.ingest.pool.
ParserPool`), so the event loop's process receives entries it only has to write. The updater
calls the same function in-process for documents that were not prepared in a worker.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.ingest.normalize import assign_identities, canonical_url, content_hash
from bot.ingest.types import ParsedEntry, ParsedFeed

#: ``(title, summary, content) -> analysis``; see :class:`bot.knowledge.analysis.Analyser`.
AnalyseFn = Callable[[str, str, str | None], Any]


def prepare_feed(
    parsed: ParsedFeed,
    feed_url: str,
    analyser: AnalyseFn | None = None,
    *,
    analyse_limit: int | None = None,
) -> None:
    """Fill each entry's identity, canonical URL and content hash (in place), drop duplicates
    and the fields the store does not keep (``summary_html``, ``tags``).

    Identities are scoped to ``feed_url`` (the feed's stored URL, not the URL after
    redirects), as :func:`bot.ingest.normalize.assign_identities` documents. With an
    ``analyser`` entries also get their ``analysis`` — only the newest ``analyse_limit`` when
    given (the store keeps at most that many of a document, newest first: the first fetch of
    a new feed backfills 20 of its 50 items). An entry left without an analysis (beyond the
    limit, or its analysis failed) is analysed by the store if it is stored after all, so a
    limit or an odd text never loses a link.
    """
    entries = []
    for identity, entry in assign_identities(feed_url, parsed.entries):
        # Not stored (the article keeps plain text): dropped here so they do not cross the
        # pipe back from the worker — the original HTML was the largest part of the message.
        entry.summary_html = None
        entry.tags = []
        entry.identity = identity
        entry.canonical_url = canonical_url(entry.link) if entry.link else None
        entry.content_hash = content_hash(entry)
        entries.append(entry)
    parsed.entries = entries
    parsed.prepared_for = feed_url
    if analyser is None:
        return
    chosen = entries
    if analyse_limit is not None and analyse_limit < len(entries):
        chosen = sorted(entries, key=newest_first, reverse=True)[: max(0, analyse_limit)]
    for entry in chosen:
        try:
            entry.analysis = analyser(entry.title, entry.summary, entry.content)
        except Exception:  # one odd text must not cost the whole feed
            entry.analysis = None


def newest_first(entry: ParsedEntry) -> float:
    """Sort key (with ``reverse=True``) of the order the store takes entries in."""
    return entry.published.timestamp() if entry.published else 0
