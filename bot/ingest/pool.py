"""Parse feeds in killable worker processes: :class:`ParserPool`.

Kept apart from :mod:`bot.ingest.parse` (pure bytes → :class:`ParsedFeed`) because this is the
process plumbing: worker lifecycle, batching over pipes, the per-document time limit, and the
optional *prepare* step that also runs in the workers (identities, canonical URLs, content
hashes and, when an analyser is configured, the article's mission/partner analysis), so the
event loop's process only fetches and writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import multiprocessing
import multiprocessing.connection
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Final

from bot.ingest.fulltext import Extracted
from bot.ingest.types import FeedParseError, ParsedFeed
from bot.lifecycle import AsyncClosing

log = logging.getLogger(__name__)


@dataclass(slots=True, frozen=True)
class ParseItem:
    """One document for :meth:`ParserPool.parse_many`.

    With ``feed_url`` the worker also *prepares* the entries for storage (see
    :func:`bot.ingest.prepare.prepare_feed`): identities scoped to that feed, canonical URLs,
    content hashes and, when the pool has an analyser, each entry's analysis.
    """

    body: bytes
    url: str
    content_type: str | None = None
    max_entries: int = 100
    feed_url: str | None = None
    kind: str = "feed"  # or "page": an article page for full-text extraction
    analyse_limit: int | None = None  # analyse only the newest N entries (see prepare_feed)


ParseResult = ParsedFeed | Extracted | FeedParseError

#: How long a new worker may take to import, warm up and build its analyser.
READY_TIMEOUT = 60.0

_START_LOCK = threading.Lock()


def _start_without_main(proc: Any) -> None:
    """Start ``proc`` without re-running the parent's ``__main__`` module in the child.

    Why: with ``forkserver``/``spawn`` the child re-imports the parent's main module before it
    runs its target (as ``__mp_main__``). For ``orbitwire run`` that is the console script,
    which imports the whole bot (Telegram client, SQLAlchemy, …): ~1 s of CPU and ~50 MB per
    worker, for a process that only parses. The worker's target lives in an importable module
    and needs nothing from ``__main__``, so the main-module entries are dropped from the
    preparation data for our own process starts (under a lock; nothing else is affected).
    """
    from multiprocessing import spawn

    with _START_LOCK:
        original = spawn.get_preparation_data

        def without_main(name: str) -> dict[str, Any]:
            data: dict[str, Any] = original(name)
            data.pop("init_main_from_name", None)
            data.pop("init_main_from_path", None)
            return data

        spawn.get_preparation_data = without_main
        try:
            proc.start()
        finally:
            spawn.get_preparation_data = original


class _Slot:
    """One worker process and its pipe; replaced in place when killed."""

    def __init__(self, ctx: Any, memory_limit_mb: int | None, analyser: Any = None) -> None:
        self._ctx = ctx
        self._memory_limit_mb = memory_limit_mb
        self._analyser = analyser
        self.proc: Any = None
        self.conn: multiprocessing.connection.Connection | None = None
        self.lock = threading.Lock()
        self.started = 0

    def ensure_alive(self) -> multiprocessing.connection.Connection:
        """The live worker's pipe; starts one and waits until it reports ready.

        Waiting for "ready" keeps the warm-up (imports, the parsers' lazy set-up, building
        the analyser's automaton) out of the first document's time limit.
        """
        if self.proc is not None and self.proc.is_alive() and self.conn is not None:
            return self.conn
        self.kill()
        from bot.ingest.parse_worker import READY, worker_main

        pipe: tuple[Connection, Connection] = self._ctx.Pipe(duplex=True)
        parent, child = pipe
        proc = self._ctx.Process(
            target=worker_main,
            args=(child, self._memory_limit_mb, self._analyser),
            name="orbitwire-parser",
            daemon=True,
        )
        _start_without_main(proc)
        child.close()
        self.proc, self.conn = proc, parent
        self.started += 1
        try:
            ready = parent.poll(READY_TIMEOUT) and parent.recv() == READY
        except (EOFError, OSError):
            ready = False
        if not ready:
            self.kill()
            raise OSError("parser worker did not start")
        return parent

    def kill(self) -> None:
        proc, conn = self.proc, self.conn
        self.proc, self.conn = None, None
        if proc is not None:
            try:
                if proc.is_alive():
                    proc.kill()
                proc.join(timeout=5)
                proc.close()
            except (ValueError, OSError):  # pragma: no cover - already gone
                pass
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.close()

    def stop(self) -> None:
        if self.conn is not None and self.proc is not None and self.proc.is_alive():
            try:
                self.conn.send(None)
                self.proc.join(timeout=2)
            except (OSError, ValueError, BrokenPipeError):
                pass
        self.kill()


class ParserPool(AsyncClosing):
    """Parse feeds in worker processes, killing a worker that overruns its time limit.

    Why processes: the worst cases (feedparser's quadratic e-mail regex, a pathological HTML
    summary) are CPU-bound in C or pure Python, which neither asyncio nor threads can interrupt.
    Each worker is a long-lived ``multiprocessing`` process fed through a pipe; a batch streams
    back one result per document, so the parent knows exactly which document overran. On
    timeout only that worker is killed (SIGKILL) and restarted on next use; the documents of
    the batch that were not reached yet are re-queued. ``ProcessPoolExecutor`` was not used:
    it cannot cancel a running task, and killing its processes breaks every future in flight.

    Workers start with the ``forkserver`` method by default: forking the asyncio bot itself
    (threads, sockets, locks) is unsafe, and spawn re-imports everything on every restart.
    """

    def __init__(
        self,
        max_workers: int = 2,
        *,
        batch_size: int = 8,
        start_method: str = "forkserver",
        memory_limit_mb: int | None = 1024,
        analyser: Any = None,
    ) -> None:
        """``analyser``: a picklable ``(title, summary, content) -> analysis`` callable, sent
        to each worker once; prepared entries then carry ``analysis`` (may have ``warm()``)."""
        if max_workers < 1:
            raise ValueError("max_workers must be >= 1")
        ctx = multiprocessing.get_context(start_method)
        if start_method == "forkserver":
            # Workers start with the parsers (and the analyser's code) imported: the
            # forkserver imports them once, every worker is a cheap fork of it.
            preload = ["bot.ingest.parse", "bot.ingest.prepare", "bot.ingest.parse_worker"]
            if analyser is not None:
                preload.append(type(analyser).__module__)
            ctx.set_forkserver_preload(preload)
        self._slots = [_Slot(ctx, memory_limit_mb, analyser) for _ in range(max_workers)]
        self._idle: asyncio.Queue[_Slot] | None = None
        self._batch_size = max(1, batch_size)
        self._closed = False
        self.timeouts = 0  # counters for metrics / tests
        self.crashes = 0

    # -- lifecycle -----------------------------------------------------------------------

    def _queue(self) -> asyncio.Queue[_Slot]:
        if self._idle is None:
            self._idle = asyncio.Queue()
            for slot in self._slots:
                self._idle.put_nowait(slot)
        return self._idle

    async def start(self) -> None:
        """Start the workers now (otherwise they start on first use)."""
        await asyncio.gather(*(asyncio.to_thread(s.ensure_alive) for s in self._slots))

    async def aclose(self) -> None:
        """Stop the workers (idempotent)."""
        self._closed = True
        await asyncio.gather(*(asyncio.to_thread(s.stop) for s in self._slots))

    @property
    def worker_pids(self) -> list[int]:
        return [s.proc.pid for s in self._slots if s.proc is not None and s.proc.is_alive()]

    # -- API -----------------------------------------------------------------------------

    async def parse(
        self,
        body: bytes,
        *,
        url: str,
        content_type: str | None = None,
        max_entries: int = 100,
        feed_url: str | None = None,
        analyse_limit: int | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109 - enforced in the worker, not by asyncio
    ) -> ParsedFeed:
        """:func:`parse_feed` in a worker; raises ``FeedParseError("parser timed out")``.

        With ``feed_url``, the entries come back prepared for storage (see :class:`ParseItem`).
        """
        item = ParseItem(
            body, url, content_type, max_entries, feed_url, analyse_limit=analyse_limit
        )
        [result] = await self._run_batch([item], timeout)
        if isinstance(result, FeedParseError):
            raise result
        if not isinstance(result, ParsedFeed):  # pragma: no cover - a worker protocol bug
            raise FeedParseError("parser returned garbage")
        return result

    async def parse_many(
        self,
        items: Sequence[ParseItem],
        *,
        timeout: float = 10.0,  # noqa: ASYNC109 - per document, enforced by killing the worker
    ) -> list[ParseResult]:
        """Parse many documents over all workers; one result or error per item, in order.

        Items are sent in batches (``batch_size``) to amortise the IPC; ``timeout`` applies to
        each document separately.
        """
        if not items:
            return []
        n = len(items)
        per_batch = max(1, min(self._batch_size, math.ceil(n / len(self._slots))))
        chunks = [list(items[i : i + per_batch]) for i in range(0, n, per_batch)]
        results = await asyncio.gather(*(self._run_batch(c, timeout) for c in chunks))
        return [r for chunk in results for r in chunk]

    async def extract_page(
        self,
        body: bytes,
        url: str,
        *,
        timeout: float = 20.0,  # noqa: ASYNC109 - enforced by killing the worker
    ) -> Extracted | None:
        """Main text and lead image of an article page (trafilatura), in a worker.

        In a worker rather than a thread of the bot's process: extraction is pure-Python CPU
        work (tens of ms a page) that would hold the GIL against the event loop answering
        chats, and a pathological page is killed at ``timeout`` like a runaway feed. None when
        there is no article, or it failed or overran: the caller keeps the feed's excerpt.
        """
        [result] = await self._run_batch([ParseItem(body, url, kind="page")], timeout)
        return result if isinstance(result, Extracted) else None

    # -- internals -----------------------------------------------------------------------

    async def _run_batch(
        self,
        items: list[ParseItem],
        timeout: float,  # noqa: ASYNC109 - per document, enforced by killing the worker
    ) -> list[ParseResult]:
        if self._closed:
            raise FeedParseError("parser pool is closed")
        queue = self._queue()
        slot = await queue.get()
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(None, self._batch_in_thread, slot, items, timeout)
        try:
            results = await asyncio.shield(fut)
        except asyncio.CancelledError:
            # The thread may still be talking to the worker: kill it so the thread returns,
            # and give the slot back only once the thread is done with it.
            slot.kill()
            fut.add_done_callback(lambda _f: queue.put_nowait(slot))
            raise
        except BaseException:
            queue.put_nowait(slot)
            raise
        queue.put_nowait(slot)
        return results

    def _batch_in_thread(
        self, slot: _Slot, items: list[ParseItem], timeout: float
    ) -> list[ParseResult]:
        """Runs in a thread: send a batch, read one result per item with a deadline each."""
        results: list[ParseResult] = []
        pending = list(items)
        with slot.lock:
            while pending:
                try:
                    conn = slot.ensure_alive()
                    conn.send(
                        [
                            (
                                i.body,
                                i.url,
                                i.content_type,
                                i.max_entries,
                                i.feed_url,
                                i.kind,
                                i.analyse_limit,
                            )
                            for i in pending
                        ]
                    )
                except (OSError, ValueError) as exc:
                    log.warning("could not start/feed a parser worker: %s", exc)
                    slot.kill()
                    results.extend(FeedParseError("parser unavailable") for _ in pending)
                    return results
                done = 0
                for _ in range(len(pending)):
                    outcome = self._receive(conn, timeout)
                    if outcome is not _TIMED_OUT and outcome is not _CRASHED:
                        results.append(outcome)
                        done += 1
                        continue
                    # This document overran or crashed the worker: kill, report, re-queue rest.
                    if outcome is _TIMED_OUT:
                        self.timeouts += 1
                        log.warning("parser timed out on %s; worker killed", pending[done].url)
                        results.append(FeedParseError("parser timed out"))
                    else:
                        self.crashes += 1
                        log.warning("parser worker died on %s", pending[done].url)
                        results.append(FeedParseError("parser crashed"))
                    slot.kill()
                    done += 1
                    break
                pending = pending[done:]
        return results

    @staticmethod
    def _receive(conn: multiprocessing.connection.Connection, timeout: float) -> ParseResult:
        try:
            if not conn.poll(timeout):
                return _TIMED_OUT
            msg = conn.recv()
        except (EOFError, OSError, ValueError):
            return _CRASHED
        if isinstance(msg, (ParsedFeed, Extracted, FeedParseError)):
            return msg
        return FeedParseError("parser returned garbage")


_TIMED_OUT: Final = FeedParseError("parser timed out")
_CRASHED: Final = FeedParseError("parser crashed")
