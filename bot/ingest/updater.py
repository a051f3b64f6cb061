"""The updater: one pass over due feeds — fetch, parse, normalize, store, schedule.

Feeds are updated concurrently under a bound (the fetcher also bounds per host). Each feed is
independent: whatever goes wrong with one (network, HTTP, hostile XML, a database error) is
recorded on that feed and never stops the others. All scheduling state is written back to the
feed row, so a restart resumes exactly where the last process stopped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import bindparam, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, select

from bot.ingest.fulltext import Extracted
from bot.ingest.normalize import site_of
from bot.ingest.policy import (
    PollPolicy,
    Verdict,
    classify_status,
    next_check_error,
    next_check_ok,
    redirect_step,
    should_disable,
)
from bot.ingest.prepare import prepare_feed
from bot.ingest.types import FeedParseError, FetchResult, ParsedFeed
from storage.articles import ArticleDraft, StoreResult, store_articles
from storage.db import Database
from storage.feeds import due_feed_ids, record_event
from storage.knowledge import LinkReport
from storage.models import Article, Feed
from storage.types import utcnow

log = logging.getLogger(__name__)


class FetcherLike(Protocol):
    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult: ...

    async def fetch_page(self, url: str) -> FetchResult: ...


class ParserLike(Protocol):
    async def parse(
        self,
        body: bytes,
        *,
        url: str,
        content_type: str | None,
        max_entries: int,
        feed_url: str | None = None,
        analyse_limit: int | None = None,
    ) -> ParsedFeed: ...

    async def extract_page(self, body: bytes, url: str) -> Extracted | None: ...


class Linking(Protocol):
    """Links stored articles to missions, agencies and countries (``Knowledge`` is one).

    ``write_links`` runs inside the store's transaction, so an article and its links commit
    together: a crash never leaves a stored article unlinked.
    """

    def analyse(self, title: str, summary: str, content: str | None) -> Any: ...

    def write_links(
        self, session: Session, analyses: Mapping[int, Any], *, fresh: Collection[int] = ()
    ) -> LinkReport: ...


@dataclass(frozen=True, slots=True)
class UpdaterConfig:
    policy: PollPolicy = field(default_factory=PollPolicy)
    concurrency: int = 16  # feeds in flight at once
    max_entries: int = 100  # entries taken from one document
    backfill: int = 20  # first fetch of a new feed stores only the newest N
    max_new_per_fetch: int = 50  # a feed whose ids churn cannot flood the store
    full_text_concurrency: int = 4


@dataclass(slots=True)
class FeedOutcome:
    """What happened to one feed in one pass (printed by ``orbitwire fetch``)."""

    feed_id: int
    url: str
    title: str
    result: str  # ok | not_modified | error | disabled | skipped
    http_status: int | None = None
    new: int = 0
    updated: int = 0
    error: str | None = None
    elapsed: float = 0.0
    new_ids: list[int] = field(default_factory=list)
    links: LinkReport | None = None  # what linking wrote for this feed's new/edited articles


@dataclass(slots=True)
class PassReport:
    outcomes: list[FeedOutcome] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def links(self) -> LinkReport:
        total = LinkReport()
        for o in self.outcomes:
            if o.links is not None:
                total.add(o.links)
        return total

    @property
    def new(self) -> int:
        return sum(o.new for o in self.outcomes)

    @property
    def updated(self) -> int:
        return sum(o.updated for o in self.outcomes)

    @property
    def failed(self) -> int:
        return sum(o.result in ("error", "disabled") for o in self.outcomes)

    def totals(self) -> dict[str, Any]:
        return {
            "feeds": len(self.outcomes),
            "new": self.new,
            "updated": self.updated,
            "not_modified": sum(o.result == "not_modified" for o in self.outcomes),
            "failed": self.failed,
            "elapsed": round(self.elapsed, 3),
        }


@dataclass(frozen=True, slots=True)
class _FeedSnapshot:
    id: int
    url: str
    title: str
    language: str
    full_text: bool
    etag: str | None
    last_modified: str | None
    error_count: int
    parse_error_count: int
    never_succeeded: bool
    failing_since: datetime | None
    redirect_url: str | None
    redirect_hits: int


_FEEDS: Any = Feed.__table__  # type: ignore[attr-defined]

#: Columns a snapshot is built from, read with Core (no ORM objects: this runs for every feed
#: of every pass, most of which end in a 304).
_SNAPSHOT_COLUMNS = (
    _FEEDS.c.id,
    _FEEDS.c.enabled,
    _FEEDS.c.url,
    _FEEDS.c.title,
    _FEEDS.c.language,
    _FEEDS.c.full_text,
    _FEEDS.c.etag,
    _FEEDS.c.last_modified,
    _FEEDS.c.error_count,
    _FEEDS.c.parse_error_count,
    _FEEDS.c.last_success_at,
    _FEEDS.c.created_at,
    _FEEDS.c.redirect_url,
    _FEEDS.c.redirect_hits,
)


def _snapshot(session: Session, feed_id: int) -> _FeedSnapshot | None:
    [snapshot] = _snapshots(session, [feed_id])
    return snapshot


def _snapshots(session: Session, ids: list[int]) -> list[_FeedSnapshot | None]:
    rows = session.execute(sa_select(*_SNAPSHOT_COLUMNS).where(_FEEDS.c.id.in_(ids))).all()
    by_id = {row.id: row for row in rows}
    return [_snapshot_of(by_id.get(feed_id)) for feed_id in ids]


def _snapshot_of(row: Any) -> _FeedSnapshot | None:
    if row is None or not row.enabled:
        return None
    return _FeedSnapshot(
        id=row.id,
        url=row.url,
        title=row.title,
        language=row.language,
        full_text=row.full_text,
        etag=row.etag,
        last_modified=row.last_modified,
        error_count=row.error_count,
        parse_error_count=row.parse_error_count,
        never_succeeded=row.last_success_at is None,
        failing_since=row.last_success_at or row.created_at,
        redirect_url=row.redirect_url,
        redirect_hits=row.redirect_hits,
    )


def entries_to_drafts(feed: _FeedSnapshot, parsed: ParsedFeed) -> list[ArticleDraft]:
    """Storable drafts of a parsed document, newest first.

    The entries normally arrive prepared by the parser worker (identities scoped to this
    feed's URL, canonical links, hashes, analysis); a document that was not is prepared here.
    """
    if parsed.prepared_for != feed.url:
        prepare_feed(parsed, feed.url)
    drafts = []
    source_name = feed.title or parsed.title or site_of(feed.url)
    for entry in parsed.entries:
        link = entry.link or ""
        assert entry.identity is not None  # set by prepare_feed
        assert entry.content_hash is not None
        drafts.append(
            ArticleDraft(
                identity=entry.identity,
                canonical_url=entry.canonical_url,
                url=link,
                title=entry.title,
                summary=entry.summary,
                content_hash=entry.content_hash,
                guid=entry.guid,
                author=entry.author,
                content=entry.content,
                image_url=entry.image_url,
                language=entry.language or parsed.language or feed.language,
                source_name=source_name[:512],
                source_site=site_of(link or feed.url),
                published_at=entry.published,
                updated_at=entry.updated,
                analysis=entry.analysis,
            )
        )
    # The same order prepare_feed analyses in (newest first, stable for equal dates).
    drafts.sort(key=lambda d: d.published_at.timestamp() if d.published_at else 0, reverse=True)
    return drafts


_Job = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class _Batcher:
    """Runs database steps of many feeds in few ``Database.run`` calls, one batch at a time.

    Why: every feed ends in a small write (its articles and scheduling state) and starts with a
    small read (its snapshot). Run one by one from the database thread pool, the writes contend
    for SQLite's single write lock — whose busy handler *sleeps* 1, 2, 5 … 100 ms — and every
    step pays a session, a transaction and a thread hop. Here one drain task takes whatever is
    queued (up to ``max_batch`` steps) and runs it in one transaction; steps queued meanwhile
    form the next batch (group commit). Each feed still gets its own result or exception: when
    a batch raises it is rolled back and each of its steps is run again in a transaction of its
    own, so only the failing feed fails, exactly as with one transaction per feed.
    """

    def __init__(
        self,
        db: Database,
        run_many: Callable[[Session, list[_Job]], list[Any]] | None = None,
        max_batch: int = 32,
    ) -> None:
        self._db = db
        self._run_many = run_many or _run_jobs
        self._max_batch = max_batch
        self._pending: list[tuple[_Job, asyncio.Future[Any]]] = []
        self._task: asyncio.Task[None] | None = None

    async def run(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append(((fn, args, kwargs), future))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            try:
                await self._write(batch)
            except BaseException:  # the drain task itself was cancelled: nobody may hang
                for _job, future in batch + self._pending:
                    if not future.done():
                        future.cancel()
                self._pending.clear()
                raise

    async def _write(self, batch: list[tuple[_Job, asyncio.Future[Any]]]) -> None:
        try:
            results = await self._db.run(self._run_many, [job for job, _f in batch])
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], error=exc)
                return
            # One of them failed: run each alone, so only that one fails.
            for (fn, args, kwargs), future in batch:
                try:
                    result = await self._db.run(fn, *args, **kwargs)
                except Exception as one_exc:
                    _settle(future, error=one_exc)
                else:
                    _settle(future, result=result)
            return
        for (_job, future), result in zip(batch, results, strict=True):
            _settle(future, result=result)


def _settle(
    future: asyncio.Future[Any], *, result: Any = None, error: Exception | None = None
) -> None:
    if future.done():  # the waiting feed was cancelled; the write happened all the same
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _run_jobs(session: Session, jobs: list[_Job]) -> list[Any]:
    """Run a batch of database steps in one transaction; plain 304s as one executemany."""
    results: list[Any] = [None] * len(jobs)
    not_modified: list[dict[str, Any]] = []
    for i, (fn, args, kwargs) in enumerate(jobs):
        if fn is _record_not_modified and _plain_not_modified(args[0], args[1]):
            not_modified.append(_not_modified_params(*args))
        else:
            results[i] = fn(session, *args, **kwargs)
    if not_modified:
        session.connection().execute(_NOT_MODIFIED, not_modified)
    return results


def _run_snapshots(session: Session, jobs: list[_Job]) -> list[Any]:
    """Many ``_snapshot(session, feed_id)`` jobs as one query."""
    return list(_snapshots(session, [args[0] for _fn, args, _kw in jobs]))


class Updater:
    """Runs update passes; owns no connections (fetcher, parser and db are injected)."""

    def __init__(
        self,
        db: Database,
        fetcher: FetcherLike,
        parser: ParserLike,
        config: UpdaterConfig | None = None,
        *,
        linking: Linking | None = None,
    ) -> None:
        """``linking``: write mission/agency/country links and partner facts of new and
        edited articles in the same transaction as the articles (``None``: no linking)."""
        self.db = db
        self.fetcher = fetcher
        self.parser = parser
        self.config = config or UpdaterConfig()
        self.linking = linking
        self._running = asyncio.Lock()
        self._writes = _Batcher(db)
        self._reads = _Batcher(db, _run_snapshots)

    async def run_pass(
        self,
        *,
        include_all: bool = False,
        now: datetime | None = None,
        progress: Callable[[FeedOutcome], None] | None = None,
    ) -> PassReport:
        """Update every due feed once. Overlapping passes are serialised, not doubled."""
        async with self._running:
            started = time.perf_counter()
            now = now or utcnow()
            feed_ids = await self.db.run(due_feed_ids, now, include_all=include_all)
            # One query for every due feed's state rather than one per feed: a pass over
            # hundreds of feeds that all answer 304 is mostly this bookkeeping.
            snapshots = [
                snapshot
                for i in range(0, len(feed_ids), 500)
                for snapshot in await self.db.run(_snapshots, feed_ids[i : i + 500])
                if snapshot is not None
            ]
            semaphore = asyncio.Semaphore(self.config.concurrency)
            report = PassReport()

            async def one(snapshot: _FeedSnapshot) -> None:
                async with semaphore:
                    outcome = await self._update_snapshot(snapshot)
                report.outcomes.append(outcome)
                if progress is not None:
                    progress(outcome)

            await asyncio.gather(*(one(snapshot) for snapshot in snapshots))
            report.outcomes.sort(key=lambda o: o.feed_id)
            report.elapsed = time.perf_counter() - started
            links = report.links
            log.info(
                "update pass: %s; linked %d articles (%d mission links, %d partner facts)",
                report.totals(),
                links.articles,
                links.mission_links,
                links.facts,
            )
            return report

    async def update_feed(self, feed_id: int) -> FeedOutcome | None:
        """Fetch and store one feed; every failure is recorded on the feed, never raised."""
        snapshot = await self._reads.run(_snapshot, feed_id)
        if snapshot is None:
            return None
        return await self._update_snapshot(snapshot)

    async def _update_snapshot(self, snapshot: _FeedSnapshot) -> FeedOutcome:
        started = time.perf_counter()
        feed_id = snapshot.id
        outcome = FeedOutcome(feed_id=feed_id, url=snapshot.url, title=snapshot.title, result="ok")
        try:
            await self._update(snapshot, outcome)
        except Exception as exc:  # a bug or a database hiccup: record it, keep the pass going
            log.exception("feed %s failed unexpectedly", feed_id)
            outcome.result, outcome.error = "error", f"internal error: {exc.__class__.__name__}"
            await self._writes.run(
                _record_failure, snapshot, outcome.error, None, None, self.config
            )
        outcome.elapsed = time.perf_counter() - started
        return outcome

    async def _update(self, feed: _FeedSnapshot, outcome: FeedOutcome) -> None:
        result = await self.fetcher.fetch(
            feed.url, etag=feed.etag, last_modified=feed.last_modified
        )
        outcome.http_status = result.status
        verdict = classify_status(result.status)
        if result.status is not None and result.error_kind not in (None, "http"):
            verdict = Verdict.ERROR  # e.g. body too large after a 200
        if verdict is Verdict.NOT_MODIFIED:
            outcome.result = "not_modified"
            await self._writes.run(_record_not_modified, feed, result, self.config)
            return
        if verdict is Verdict.DISABLE:
            outcome.result, outcome.error = "disabled", "HTTP 410 Gone: the publisher removed it"
            await self._writes.run(_disable, feed, outcome.error, result.status)
            return
        if verdict is Verdict.ERROR or result.body is None:
            outcome.result = "error"
            outcome.error = result.error or f"HTTP {result.status}"
            disabled = await self._writes.run(
                _record_failure, feed, outcome.error, result.status, result.retry_after, self.config
            )
            if disabled:
                outcome.result = "disabled"
            return
        # A new feed stores only its newest `backfill` items, a known one at most
        # `max_new_per_fetch` new ones per fetch: the parser analyses no more than that.
        limit = self.config.backfill if feed.never_succeeded else self.config.max_new_per_fetch
        try:
            parsed = await self.parser.parse(
                result.body,
                url=result.final_url or feed.url,
                content_type=result.content_type,
                max_entries=self.config.max_entries,
                feed_url=feed.url,
                analyse_limit=limit,
            )
        except FeedParseError as exc:
            outcome.result, outcome.error = "error", f"not a usable feed: {exc}"
            disabled = await self._writes.run(
                _record_failure,
                feed,
                outcome.error,
                result.status,
                None,
                self.config,
                parse_error=True,
            )
            if disabled:
                outcome.result = "disabled"
            return
        drafts = entries_to_drafts(feed, parsed)
        if feed.full_text and drafts:
            await self._fill_full_text(drafts)
        stored, links = await self._writes.run(
            _store, feed, drafts, result, parsed, limit, self.config, self.linking
        )
        outcome.new, outcome.updated = len(stored.new_ids), len(stored.updated_ids)
        outcome.new_ids = stored.new_ids
        outcome.links = links
        outcome.title = feed.title or parsed.title

    async def _fill_full_text(self, drafts: list[ArticleDraft]) -> None:
        """Fetch article pages for excerpt-only feeds; keep the excerpt when extraction fails."""
        known = await self.db.run(_known_identities, [d.identity for d in drafts])
        todo = [d for d in drafts if d.identity not in known and d.url][
            : self.config.max_new_per_fetch
        ]
        semaphore = asyncio.Semaphore(self.config.full_text_concurrency)

        async def one(draft: ArticleDraft) -> None:
            async with semaphore:
                page = await self.fetcher.fetch_page(draft.url)
            if not page.ok or page.body is None:
                return
            extracted = await self.parser.extract_page(page.body, page.final_url)
            if extracted is None:
                return
            draft.content = extracted.text
            draft.analysis = None  # the text changed: the store analyses it again
            if not draft.image_url and extracted.image_url:
                draft.image_url = extracted.image_url

        await asyncio.gather(*(one(d) for d in todo))


# ---------------------------------------------------------------- database steps (sync)
def _known_identities(session: Session, identities: list[str]) -> set[str]:
    rows = session.exec(select(Article.identity).where(Article.identity.in_(identities)))  # type: ignore[attr-defined]
    return set(rows.all())


def _store(
    session: Session,
    snapshot: _FeedSnapshot,
    drafts: list[ArticleDraft],
    result: FetchResult,
    parsed: ParsedFeed,
    max_new: int,
    config: UpdaterConfig,
    linking: Linking | None,
) -> tuple[StoreResult, LinkReport | None]:
    stored = store_articles(session, snapshot.id, drafts, max_new=max_new)
    links = None
    if linking is not None and stored.ids_by_identity:
        analyses: dict[int, Any] = {}
        for draft in drafts:
            article_id = stored.ids_by_identity.get(draft.identity)
            if article_id is None:
                continue
            found = draft.analysis
            if found is None:  # not prepared in a worker, or the text changed since
                found = linking.analyse(draft.title, draft.summary, draft.content)
            analyses[article_id] = found
        links = linking.write_links(session, analyses, fresh=stored.new_ids)
    feed = session.get(Feed, snapshot.id)
    if feed is not None:
        if not feed.title and parsed.title:
            feed.title = parsed.title[:512]
        if not feed.homepage and parsed.link:
            feed.homepage = parsed.link[:2048]
        _apply_success(session, feed, snapshot, result, config)
    return stored, links


def _record_success(
    session: Session,
    snapshot: _FeedSnapshot,
    result: FetchResult,
    _parsed: ParsedFeed | None,
    config: UpdaterConfig,
) -> None:
    feed = session.get(Feed, snapshot.id)
    if feed is not None:
        _apply_success(session, feed, snapshot, result, config)


#: The bookkeeping of a plain 304 (what :func:`_apply_success` writes), one statement for
#: every 304 of a batch: most polls end here.
_NOT_MODIFIED = (
    update(_FEEDS)
    .where(_FEEDS.c.id == bindparam("b_id"))
    .values(
        last_status=bindparam("b_status"),
        last_error=None,
        error_count=0,
        parse_error_count=0,
        last_fetched_at=bindparam("b_now"),
        last_success_at=bindparam("b_now"),
        next_check_at=bindparam("b_next"),
        updated_at=bindparam("b_now"),
    )
)


def _plain_not_modified(snapshot: _FeedSnapshot, result: FetchResult) -> bool:
    """No redirect state to track: the 304 is pure bookkeeping (no ORM row needed)."""
    return snapshot.redirect_url is None and result.permanent_redirect is None


def _not_modified_params(
    snapshot: _FeedSnapshot, result: FetchResult, config: UpdaterConfig
) -> dict[str, Any]:
    now = utcnow()
    return {
        "b_id": snapshot.id,
        "b_status": result.status,
        "b_now": now,
        "b_next": next_check_ok(
            now, config.policy, max_age=result.max_age, retry_after=result.retry_after
        ),
    }


def _record_not_modified(
    session: Session, snapshot: _FeedSnapshot, result: FetchResult, config: UpdaterConfig
) -> None:
    """A 304 on its own (batches run plain ones together, see :func:`_run_jobs`)."""
    if not _plain_not_modified(snapshot, result):
        _record_success(session, snapshot, result, None, config)
        return
    session.connection().execute(_NOT_MODIFIED, _not_modified_params(snapshot, result, config))


def _apply_success(
    session: Session, feed: Feed, snapshot: _FeedSnapshot, result: FetchResult, cfg: UpdaterConfig
) -> None:
    now = utcnow()
    feed.last_status = result.status
    feed.last_error = None
    feed.error_count = 0
    feed.parse_error_count = 0
    feed.last_fetched_at = now
    feed.last_success_at = now
    if result.status != 304:
        feed.etag = (result.etag or None) and result.etag[:512]
        feed.last_modified = (result.last_modified or None) and result.last_modified[:128]
    feed.next_check_at = next_check_ok(
        now, cfg.policy, max_age=result.max_age, retry_after=result.retry_after
    )
    _track_redirect(session, feed, result.permanent_redirect, cfg.policy)
    feed.updated_at = now
    session.add(feed)


def _track_redirect(session: Session, feed: Feed, target: str | None, policy: PollPolicy) -> None:
    candidate, hits, adopt = redirect_step(feed.redirect_url, feed.redirect_hits, target, policy)
    feed.redirect_url, feed.redirect_hits = candidate, hits
    if not adopt or candidate is None or candidate == feed.url:
        return
    clash = session.exec(select(Feed).where(Feed.url == candidate)).first()
    if clash is not None:
        return  # another feed already has that URL; keep ours rather than break uniqueness
    old = feed.url
    feed.url, feed.redirect_url, feed.redirect_hits = candidate, None, 0
    record_event(
        session,
        "feed_moved",
        feed.title or old,
        f"feed moved permanently to {candidate}",
        feed_id=feed.id,
        old_url=old,
        new_url=candidate,
    )


def _record_failure(
    session: Session,
    snapshot: _FeedSnapshot,
    error: str,
    status: int | None,
    retry_after: float | None,
    config: UpdaterConfig,
    *,
    parse_error: bool = False,
) -> bool:
    """Count the failure, back off, and disable the feed when it keeps failing. True: disabled."""
    feed = session.get(Feed, snapshot.id)
    if feed is None:
        return False
    now = utcnow()
    feed.error_count += 1
    feed.parse_error_count = feed.parse_error_count + 1 if parse_error else 0
    feed.last_status = status
    feed.last_error = error[:2000]
    feed.last_fetched_at = now
    feed.updated_at = now
    feed.next_check_at = next_check_error(
        now, feed.error_count, config.policy, retry_after=retry_after
    )
    reason = should_disable(
        error_count=feed.error_count,
        parse_error_count=feed.parse_error_count,
        failing_since=snapshot.failing_since,
        now=now,
        policy=config.policy,
    )
    session.add(feed)
    if reason is not None:
        _disable_feed(session, feed, f"{reason}; last error: {error[:200]}")
        return True
    return False


def _disable(session: Session, snapshot: _FeedSnapshot, reason: str, status: int | None) -> None:
    feed = session.get(Feed, snapshot.id)
    if feed is not None:
        feed.last_status = status
        feed.last_error = reason
        feed.last_fetched_at = utcnow()
        _disable_feed(session, feed, reason)


def _disable_feed(session: Session, feed: Feed, reason: str) -> None:
    feed.enabled = False
    feed.disabled_reason = reason[:512]
    feed.next_check_at = None
    feed.updated_at = utcnow()
    session.add(feed)
    record_event(
        session, "feed_disabled", feed.title or feed.url, reason, feed_id=feed.id, url=feed.url
    )
