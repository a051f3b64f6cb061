"""Worker-process side of :class:`bot.ingest.pool.ParserPool`.

Kept in its own small module so the child has an obvious, importable entry point (required by
the ``forkserver`` and ``spawn`` start methods) and so nothing from the bot's runtime (event
loop, database, Telegram client) is imported into the worker.
"""

from __future__ import annotations

import logging
from multiprocessing.connection import Connection
from typing import Any

log = logging.getLogger(__name__)


def _limit_memory(limit_mb: int | None) -> None:
    """Cap the worker's address space so a runaway parse dies with MemoryError, not the host."""
    if not limit_mb:
        return
    try:
        import resource

        limit = limit_mb * 1024 * 1024
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, ValueError, OSError):  # pragma: no cover - non-Linux
        log.debug("could not set RLIMIT_AS", exc_info=True)


#: Sent once by a worker when it is ready for documents (after the warm-up).
READY = "ready"

_WARMUP = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>w</title><item><title>w</title>'
    b"<pubDate>next tuesday</pubDate><description>a &amp; b</description></item>"
    b"</channel></rss>"
)


def _extract_page(body: bytes, url: str) -> object:
    """Full-text extraction of an article page (trafilatura is imported on the first page)."""
    from bot.ingest.fulltext import extract_article
    from bot.ingest.types import FeedParseError

    return extract_article(body, url) or FeedParseError("no article found")


def worker_main(conn: Connection, memory_limit_mb: int | None = None, analyser: Any = None) -> None:
    """Receive batches of ``(body, url, content_type, max_entries, feed_url, kind,
    analyse_limit)``; send one result each (``kind`` "page": full-text extraction of an
    article page instead).

    Results are streamed one per document (a ``ParsedFeed`` or a ``FeedParseError``) so the
    parent can tell which document was running when it had to kill the worker. With a
    ``feed_url`` the entries are prepared for storage (and analysed with ``analyser``, when
    given). :data:`READY` is sent once after the warm-up. ``None`` stops the loop; a closed
    pipe (parent gone) ends the process too.
    """
    from bot.ingest.parse import FeedParseError, parse_feed
    from bot.ingest.prepare import prepare_feed

    _limit_memory(memory_limit_mb)
    # Warm up: the parsers import some modules lazily on first use (fastfeedparser's date
    # fallback takes ~0.2 s), which must not count against the first document's time limit.
    try:
        parse_feed(_WARMUP, url="https://warmup.invalid/", max_entries=1)
    except Exception:  # pragma: no cover - warm-up is best effort
        log.debug("warm-up parse failed", exc_info=True)
    warm = getattr(analyser, "warm", None)
    if callable(warm):
        warm()
    try:
        conn.send(READY)
    except (OSError, ValueError):
        return
    while True:
        try:
            batch = conn.recv()
        except (EOFError, OSError):
            return
        if batch is None:
            return
        for body, url, content_type, max_entries, feed_url, kind, analyse_limit in batch:
            result: object
            try:
                if kind == "page":
                    result = _extract_page(body, url)
                else:
                    result = parse_feed(
                        body, url=url, content_type=content_type, max_entries=max_entries
                    )
                    if feed_url is not None:
                        prepare_feed(result, feed_url, analyser, analyse_limit=analyse_limit)
            except FeedParseError as exc:
                result = exc
            except MemoryError:
                result = FeedParseError("parser out of memory")
            except BaseException as exc:  # never let one document end the worker
                result = FeedParseError(f"parser failed ({type(exc).__name__})")
            try:
                conn.send(result)
            except (OSError, ValueError):
                return
