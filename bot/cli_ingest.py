"""``orbitwire fetch``, ``feeds`` and ``articles``: the ingestion half of the command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bot.ingest.netguard import GuardError, check_url
from bot.ingest.opml import OPMLError, OPMLFeed, parse_opml, render_opml
from bot.ingest.service import IngestService, sync_feeds_file
from bot.ingest.updater import FeedOutcome, PassReport
from bot.knowledge.service import Knowledge
from config.settings import ConfigError, Settings
from storage.articles import latest_articles
from storage.db import Database
from storage.feeds import (
    FeedExists,
    FeedNotFound,
    add_feed,
    due_feed_ids,
    list_feeds,
    remove_feed,
    set_feed_enabled,
)
from storage.types import utcnow

AddCommand = Callable[..., argparse.ArgumentParser]
OpenDb = Callable[[Settings], Database]


def _json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=_default))


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.strftime("%Y-%m-%d %H:%M")


_NEEDS_TARGET = {
    "add": "a feed URL",
    "remove": "a feed id",
    "enable": "a feed id",
    "disable": "a feed id",
    "import": "an OPML file",
}


class IngestCommands:
    """Command handlers; ``open_db`` opens (and migrates) the configured database."""

    def __init__(self, open_db: OpenDb, error: Callable[[str, int], Exception]) -> None:
        self.open_db = open_db
        self.error = error

    # ----------------------------------------------------------------------- fetch
    def fetch(self, settings: Settings, args: argparse.Namespace) -> int:
        db = self.open_db(settings)
        try:
            try:
                sync_feeds_file(settings, db)
            except ConfigError as exc:
                raise self.error(f"orbitwire: {exc}", 2) from None
            report = asyncio.run(self._fetch(settings, db, include_all=args.all, quiet=args.json))
        finally:
            db.close()
        if args.json:
            _json({"feeds": [_outcome_json(o) for o in report.outcomes], "totals": report.totals()})
        else:
            _print_report(report)
        return 0

    async def _fetch(
        self, settings: Settings, db: Database, *, include_all: bool, quiet: bool
    ) -> PassReport:
        total = len(await db.run(due_feed_ids, utcnow(), include_all=include_all))
        show_progress = not quiet and sys.stderr.isatty() and total > 0
        knowledge = Knowledge()
        await asyncio.to_thread(knowledge.seed, db)

        async with IngestService(settings, db, knowledge=knowledge) as service:
            assert service.updater is not None
            if not show_progress:
                return await service.updater.run_pass(include_all=include_all)
            progress = Progress(
                TextColumn("fetching"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.description}"),
                console=Console(stderr=True),
                transient=True,
            )
            with progress:
                task = progress.add_task("", total=total)

                def step(outcome: FeedOutcome) -> None:
                    progress.update(task, advance=1, description=outcome.title or outcome.url)

                return await service.updater.run_pass(include_all=include_all, progress=step)

    # ----------------------------------------------------------------------- feeds
    def feeds(self, settings: Settings, args: argparse.Namespace) -> int:
        if args.action in _NEEDS_TARGET and not args.target:
            raise self.error(
                f"orbitwire: feeds {args.action} needs {_NEEDS_TARGET[args.action]}", 2
            )
        db = self.open_db(settings)
        try:
            return int(getattr(self, f"_feeds_{args.action}")(settings, db, args))
        finally:
            db.close()

    def _feeds_list(self, settings: Settings, db: Database, args: argparse.Namespace) -> int:
        rows = db.call(list_feeds)
        if args.json:
            _json([asdict(r) for r in rows])
            return 0
        if not rows:
            print("No feeds yet. Add one with: orbitwire feeds add URL (or run orbitwire fetch).")
            return 0
        table = Table("id", "feed", "status", "errors", "articles", "next check")
        for r in rows:
            if not r.enabled:
                status = f"disabled: {r.disabled_reason or '?'}"
            elif r.last_error:
                status = r.last_error[:60]
            elif r.last_status is not None:
                status = f"HTTP {r.last_status}"
            else:
                status = "not fetched yet"
            table.add_row(
                str(r.id),
                f"{r.title or '(untitled)'}\n{r.url}",
                status,
                str(r.error_count),
                str(r.articles),
                _when(r.next_check_at) if r.enabled else "—",
            )
        Console().print(table)
        return 0

    def _feeds_add(self, settings: Settings, db: Database, args: argparse.Namespace) -> int:
        url = args.target
        try:
            check_url(url, allow_private=settings.allow_private_feeds)
        except GuardError as exc:
            raise self.error(f"orbitwire: {exc}", 2) from None
        try:
            feed = db.call(add_feed, url, title=args.title, origin="cli")
        except FeedExists:
            raise self.error(f"orbitwire: {url} is already in the feed list", 1) from None
        if args.json:
            _json({"id": feed.id, "url": feed.url})
        else:
            print(f"added feed #{feed.id}: {feed.url} (fetched on the next pass)")
        return 0

    def _feed_id(self, args: argparse.Namespace) -> int:
        try:
            return int(args.target)
        except (TypeError, ValueError):
            raise self.error(
                f"orbitwire: feed id must be a number, got {args.target!r}", 2
            ) from None

    def _feeds_remove(self, settings: Settings, db: Database, args: argparse.Namespace) -> int:
        try:
            feed = db.call(remove_feed, self._feed_id(args))
        except FeedNotFound:
            raise self.error(f"orbitwire: no feed #{args.target}", 1) from None
        print(f"removed feed #{feed.id}: {feed.url} (its articles are kept)")
        return 0

    def _feeds_enable(self, settings: Settings, db: Database, args: argparse.Namespace) -> int:
        return self._toggle(db, args, enabled=True)

    def _feeds_disable(self, settings: Settings, db: Database, args: argparse.Namespace) -> int:
        return self._toggle(db, args, enabled=False)

    def _toggle(self, db: Database, args: argparse.Namespace, *, enabled: bool) -> int:
        try:
            feed = db.call(set_feed_enabled, self._feed_id(args), enabled)
        except FeedNotFound:
            raise self.error(f"orbitwire: no feed #{args.target}", 1) from None
        print(f"feed #{feed.id} {'enabled' if enabled else 'disabled'}: {feed.url}")
        return 0

    def _feeds_import(self, settings: Settings, db: Database, args: argparse.Namespace) -> int:
        try:
            entries = parse_opml(Path(args.target).read_bytes())
        except FileNotFoundError:
            raise self.error(f"orbitwire: {args.target} does not exist", 2) from None
        except OPMLError as exc:
            raise self.error(f"orbitwire: {args.target}: {exc}", 2) from None
        added, skipped, refused = [], [], []
        for entry in entries:
            try:
                check_url(entry.url, allow_private=settings.allow_private_feeds)
                db.call(add_feed, entry.url, title=entry.title, origin="opml")
                added.append(entry.url)
            except FeedExists:
                skipped.append(entry.url)
            except GuardError as exc:
                refused.append(f"{entry.url}: {exc}")
        if args.json:
            _json({"added": added, "already_present": skipped, "refused": refused})
        else:
            print(f"imported {len(added)} feeds, {len(skipped)} already present")
            for line in refused:
                print(f"refused {line}")
        return 0

    def _feeds_export(self, settings: Settings, db: Database, args: argparse.Namespace) -> int:
        rows = db.call(list_feeds)
        if args.json:
            _json([{"url": r.url, "title": r.title, "enabled": r.enabled} for r in rows])
        else:
            print(render_opml([OPMLFeed(url=r.url, title=r.title) for r in rows]), end="")
        return 0

    # ----------------------------------------------------------------------- relink
    def relink(self, settings: Settings, args: argparse.Namespace) -> int:
        """Re-link every stored article after a catalog change."""
        db = self.open_db(settings)
        try:
            knowledge = Knowledge()
            knowledge.seed(db)
            report = knowledge.relink_all(db)
        finally:
            db.close()
        if args.json:
            _json(asdict(report))
        else:
            print(
                f"relinked {report.articles} articles: {report.mission_links} mission links, "
                f"{report.agency_links} agency links, {report.country_links} country links, "
                f"{report.facts} partner facts"
            )
        return 0

    # ----------------------------------------------------------------------- articles
    def articles(self, settings: Settings, args: argparse.Namespace) -> int:
        db = self.open_db(settings)
        try:
            rows = db.call(latest_articles, limit=args.limit, source=args.source)
        finally:
            db.close()
        if args.json:
            _json([asdict(r) for r in rows])
            return 0
        if not rows:
            print("No articles yet. Run: orbitwire fetch --once")
            return 0
        table = Table("id", "published", "source", "title")
        for r in rows:
            table.add_row(str(r.id), _when(r.published_at), r.site or r.source, r.title)
        Console().print(table)
        return 0


def _outcome_json(outcome: FeedOutcome) -> dict[str, Any]:
    data = asdict(outcome)
    data.pop("new_ids", None)
    data["elapsed"] = round(outcome.elapsed, 3)
    return data


def _print_report(report: PassReport) -> None:
    if not report.outcomes:
        print("No feeds were due. Use --all to fetch every feed now.")
        return
    table = Table("id", "feed", "result", "new", "updated", "detail")
    for o in report.outcomes:
        detail = o.error or (f"HTTP {o.http_status}" if o.http_status else "")
        table.add_row(
            str(o.feed_id), o.title or o.url, o.result, str(o.new), str(o.updated), detail
        )
    Console().print(table)
    t = report.totals()
    print(
        f"{t['feeds']} feeds: {t['new']} new, {t['updated']} updated, "
        f"{t['not_modified']} not modified, {t['failed']} failed in {t['elapsed']:.1f}s"
    )


def register(add: AddCommand, commands: IngestCommands) -> None:
    """Add the ingestion subcommands to the ``orbitwire`` parser."""
    fetch = add(
        "fetch", commands.fetch, "fetch due feeds once and store new articles", listing=True
    )
    fetch.add_argument("--once", action="store_true", help="one pass, then exit (the default)")
    fetch.add_argument("--all", action="store_true", help="fetch every enabled feed, due or not")

    feeds = add("feeds", commands.feeds, "list and manage feeds", listing=True)
    feeds.add_argument(
        "action", choices=["list", "add", "remove", "enable", "disable", "import", "export"]
    )
    feeds.add_argument(
        "target", nargs="?", help="URL (add), feed id (remove/enable/disable), FILE.opml (import)"
    )
    feeds.add_argument("--title", help="title for a feed added by hand")

    add("relink", commands.relink, "re-link all articles to the mission catalog", listing=True)

    articles = add(
        "articles", commands.articles, "list stored articles, newest first", listing=True
    )
    articles.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    articles.add_argument("--source", help="only from this feed or site (substring)")
