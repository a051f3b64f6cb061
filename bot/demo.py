"""``orbitwire demo``: the whole bot, offline, in a few seconds — no token, no network.

A newcomer should see what orbitwire *does* before creating a bot token: feeds fetched,
articles linked to the mission catalog, the posts the channel would get, and the answers to
chat questions. So the demo runs the production pipeline end to end, on throwaway resources:

1. the bundled sample feeds (``config/samples/``, written by us) are served by a loopback
   HTTP server (:mod:`bot.demo_server`, 127.0.0.1 on an ephemeral port);
2. a temporary SQLite store is migrated and seeded with the catalog, and the feeds file is
   synced — exactly what ``orbitwire run`` does at start;
3. one ingestion pass (the real fetcher, parser workers and updater) stores the articles and
   the new-article hook links them to missions, agencies and partner facts;
4. the real :class:`~bot.publish.publisher.Publisher` plans the channel's next posts. It runs
   three scheduler ticks for real against the throwaway outbox: each tick queues its post
   there (nothing sends it — there is no bot), so the next tick moves on to the next story,
   as the running bot would. A dry run plans the same best story every time;
5. sample questions go through :meth:`bot.answers.Answers.ask`, the call the chat handlers
   make, so the replies are what a user would read in Telegram.

The operator's settings, database and network are never used: the demo builds its own
settings (loopback feeds, temporary database, no summarizer endpoint), and deletes the
temporary directory when it is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.answers import Answers
from bot.demo_server import SampleFeedServer
from bot.htmltext import html_to_text
from bot.ingest.service import IngestService, sync_feeds_file
from bot.ingest.updater import PassReport
from bot.knowledge.service import Knowledge
from bot.publish.publisher import PlannedPost, Publisher
from bot.publish.summarize import Summarizer
from bot.replies import Reply
from bot.texts import help_text, start_text
from config.settings import CONFIG_DIR, Settings, load_settings
from storage.channels import set_chat_id, sync_channels
from storage.db import Database
from storage.knowledge import LinkReport
from storage.types import utcnow

__all__ = [
    "DEMO_CHANNEL",
    "QUESTIONS",
    "DemoExchange",
    "DemoResult",
    "demo_exchanges",
    "demo_settings",
    "run_demo",
    "run_tour",
]

SAMPLES_DIR = CONFIG_DIR / "samples"
SAMPLE_FEEDS = ("orbit-daily.rss", "lunar-ledger.rss", "deep-space-desk.atom")
DEMO_CHANNEL = "@orbitwire_demo"
#: Stands in for the id ``getChat`` returns once the bot is a member of the channel.
DEMO_CHAT_ID = -1_001_000_000_001
DEMO_FOLLOW_US = "Telegram=https://t.me/orbitwire_demo,X=https://x.com/orbitwire_demo"
POSTS = 3
#: Questions a newcomer would try first: a mission card, a country's partnerships, a question
#: in plain words (the free-text handler) and a search over the ingested news.
QUESTIONS = (
    "/mission Chang'e-6",
    "/partners Pakistan",
    "who flies instruments on Chang'e-7?",
    "/search radon",
)
NEXT_STEPS = (
    "Create a bot with @BotFather (/newbot) and copy the token it gives you.",
    "export ORBITWIRE_BOT_TOKEN=123456:ABC...  (the token; never commit it)",
    "export ORBITWIRE_CHANNELS=@your_channel  (comma-separated @usernames or chat ids)",
    "Add the bot to the channel as an administrator allowed to post messages.",
    "export ORBITWIRE_ADMINS=<your numeric Telegram user id>  (admin commands, review queue)",
    'Optional: ORBITWIRE_FOLLOW_US="Telegram=https://t.me/your_channel" for the post footer.',
    "make run  (or: orbitwire run) — polls Telegram; SQLite in ./orbitwire.db by default.",
    "In production: PostgreSQL and webhook mode — see README.md, "
    '"Running on PostgreSQL" and the webhook_* settings.',
)


# --------------------------------------------------------------------------- results
@dataclass(frozen=True, slots=True)
class DemoExchange:
    """One message a user sends and the bot's replies (HTML as sent; ``text`` as read)."""

    user: str
    replies: tuple[Reply, ...]

    @property
    def html(self) -> str:
        return "\n\n".join(r.html for r in self.replies)

    @property
    def text(self) -> str:
        return "\n\n".join(html_to_text(r.html) for r in self.replies)

    def to_json(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "text": self.text,
            "replies": [r.to_json() for r in self.replies],
        }


@dataclass(frozen=True, slots=True)
class DemoFeed:
    """What one sample feed gave the ingestion pass."""

    name: str
    url: str
    result: str
    http_status: int | None
    new: int
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "url": self.url,
            "result": self.result,
            "http_status": self.http_status,
            "new_articles": self.new,
            "error": self.error,
        }


@dataclass(slots=True)
class DemoResult:
    """Everything the tour produced, for the terminal, plain text or ``--json``."""

    server_url: str
    feeds: list[DemoFeed] = field(default_factory=list)
    links: LinkReport = field(default_factory=LinkReport)
    posts: list[PlannedPost] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    exchanges: list[DemoExchange] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def articles(self) -> int:
        return sum(f.new for f in self.feeds)

    def to_json(self) -> dict[str, Any]:
        return {
            "offline": True,
            "feed_server": self.server_url,
            "feeds": [f.to_json() for f in self.feeds],
            "articles": self.articles,
            "linked": {
                "articles": self.links.articles,
                "mission_links": self.links.mission_links,
                "agency_links": self.links.agency_links,
                "country_links": self.links.country_links,
                "partner_facts": self.links.facts,
            },
            "channel": DEMO_CHANNEL,
            "posts": [{**p.to_json(), "sites": _sites(p)} for p in self.posts],
            "skipped": self.skipped,
            "exchanges": [ex.to_json() for ex in self.exchanges],
            "next_steps": list(NEXT_STEPS),
            "elapsed_seconds": round(self.elapsed, 2),
        }


def _sites(post: PlannedPost) -> int:
    """How many articles the post stands for (the lead plus every "also reported")."""
    return len(post.member_ids)


# --------------------------------------------------------------------------- the tour
def demo_settings(database_url: str, feeds_file: Path) -> Settings:
    """Settings for the tour: every knob that could reach the operator's data or the network
    is set explicitly, so environment variables and config files cannot leak in."""
    return load_settings(
        bot_token=None,
        database_url=database_url,
        feeds_file=feeds_file,
        allow_private_feeds=True,  # the sample feeds are on 127.0.0.1
        channels=[DEMO_CHANNEL],
        admins=[],
        channel={},
        follow_us=DEMO_FOLLOW_US,
        publish_mode="auto",
        review_chat=None,
        max_posts_per_day=12,
        min_spacing_minutes=0,
        quiet_hours="",
        timezone="UTC",
        backlog_hours=24,
        backfill_items=20,
        fetch_concurrency=4,
        fetch_timeout_seconds=10.0,
        summarizer_url=None,
        summarizer_api_key=None,
        webhook_url=None,
        webhook_secret=None,
    )


def demo_exchanges(answers: Sequence[tuple[str, Sequence[Reply]]] = ()) -> list[DemoExchange]:
    """/start and /help (as the handlers render them), then the answered questions."""
    exchanges = [
        DemoExchange("/start", (Reply(html=start_text("Ada")),)),
        DemoExchange("/help", (Reply(html=help_text(is_admin=False)),)),
    ]
    exchanges += [DemoExchange(text, tuple(replies)) for text, replies in answers]
    return exchanges


def _write_feeds_file(directory: Path, base_url: str) -> Path:
    """The sample feeds file with ``{{BASE}}`` pointing at the loopback server."""
    template = (SAMPLES_DIR / "feeds.toml").read_text(encoding="utf-8")
    path = directory / "feeds.toml"
    path.write_text(template.replace("{{BASE}}", base_url), encoding="utf-8")
    return path


async def _ingest(
    settings: Settings, db: Database, knowledge: Knowledge
) -> tuple[PassReport, LinkReport]:
    """One pass over every feed with the production service, linking as the bot links (in
    the store's transaction), so the counts printed are those the running bot would log."""
    async with IngestService(settings, db, knowledge=knowledge, parser_workers=1) as service:
        assert service.updater is not None
        report = await service.updater.run_pass(include_all=True)
    return report, report.links


async def _plan_posts(settings: Settings, db: Database, result: DemoResult) -> None:
    """The channel's next ``POSTS`` posts: ticks of the real publisher (see module docstring).

    Each tick plans at the current time: the spacing check compares it with the previous
    post's queue time, so a tick "in the past" would see the channel as just posted to.
    """
    await db.run(sync_channels, settings.channels)
    await db.run(set_chat_id, DEMO_CHANNEL, DEMO_CHAT_ID, "orbitwire demo")
    summarizer = Summarizer()  # extractive: no endpoint, no network
    try:
        publisher = Publisher(settings, db, summarizer)
        for _ in range(POSTS):
            plan = await publisher.plan(now=utcnow())
            result.posts += plan.planned
            if not plan.planned:
                result.skipped.update(plan.skipped)
                break
    finally:
        await summarizer.aclose()


async def run_tour(now: datetime | None = None) -> DemoResult:
    """Run the whole tour on throwaway resources and return what it produced.

    ``now`` is the moment the sample feeds' dates are relative to (default: the current time).
    """
    started = time.perf_counter()
    now = now or utcnow()
    with (
        tempfile.TemporaryDirectory(prefix="orbitwire-demo-", ignore_cleanup_errors=True) as tmp,
        SampleFeedServer(SAMPLES_DIR, list(SAMPLE_FEEDS), clock=lambda: now) as server,
    ):
        directory = Path(tmp)
        settings = demo_settings(
            f"sqlite:///{directory / 'demo.db'}", _write_feeds_file(directory, server.base_url)
        )
        result = DemoResult(server_url=server.base_url)
        db = Database(settings.database_url)
        try:
            await asyncio.to_thread(db.upgrade)
            knowledge = Knowledge()
            await asyncio.to_thread(knowledge.seed, db)
            await asyncio.to_thread(sync_feeds_file, settings, db)
            report, result.links = await _ingest(settings, db, knowledge)
            result.feeds = [
                DemoFeed(o.title, o.url, o.result, o.http_status, o.new, o.error)
                for o in report.outcomes
            ]
            await _plan_posts(settings, db, result)
            answers = Answers(db, knowledge)
            asked = [(q, await answers.ask(q, is_admin=False)) for q in QUESTIONS]
            result.exchanges = demo_exchanges(asked)
        finally:
            db.close()
    result.elapsed = time.perf_counter() - started
    return result


@contextlib.contextmanager
def _quiet_logs() -> Iterator[None]:
    """INFO lines ("update pass: …") would interleave with the tour; warnings still show."""
    loggers = [logging.getLogger(name) for name in ("bot", "storage", "config", "orbitwire")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        if lg.getEffectiveLevel() < logging.WARNING:
            lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


# --------------------------------------------------------------------------- output
def _post_heading(index: int, post: PlannedPost) -> str:
    reports = _sites(post)
    also = f" · {reports} reports merged" if reports > 1 else ""
    return f"post {index} of {POSTS} · {post.post.kind} · score {post.score:.0f}{also}"


def _feed_line(feed: DemoFeed) -> str:
    status = f"HTTP {feed.http_status}" if feed.http_status is not None else feed.result
    detail = f"{feed.new} new articles" if feed.result == "ok" else (feed.error or feed.result)
    return f"{feed.name:<18} {status:<9} {detail}"


def _links_line(result: DemoResult) -> str:
    links = result.links
    return (
        f"{result.articles} articles stored in a temporary SQLite store and linked to the "
        f"mission catalog: {links.mission_links} mission links, {links.facts} partner facts."
    )


def print_plain(result: DemoResult) -> None:
    """The tour as plain text (pipes, logs, CI): every line readable without a terminal."""
    print("orbitwire demo — offline: sample feeds on 127.0.0.1, a temporary store, no token.\n")
    print(f"1. Fetched {len(result.feeds)} sample feeds from {result.server_url}")
    for feed in result.feeds:
        print(f"   {_feed_line(feed)}")
    print(f"   {_links_line(result)}\n")
    print(f"2. What {DEMO_CHANNEL} would publish next, as subscribers read it")
    print()
    for index, post in enumerate(result.posts, start=1):
        print(f"── {_post_heading(index, post)}")
        print(post.post.plain)
        print()
    for channel, why in result.skipped.items():
        print(f"{channel}: nothing more to post — {why}\n")
    print("3. Ask the bot (the replies the chat would show)\n")
    for ex in result.exchanges:
        print(f"you › {ex.user}")
        for line in ex.text.splitlines():
            print(f"bot › {line}" if line else "bot ›")
        print()
    print("4. Next steps to go live")
    for index, step in enumerate(NEXT_STEPS, start=1):
        print(f"   {index}. {step}")
    print(f"\nDemo finished in {result.elapsed:.1f} s; the temporary store was deleted.")


def print_rich(result: DemoResult) -> None:
    """The same tour laid out for a terminal (rules, a feeds table, posts as cards)."""
    from rich.console import Console, Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    console = Console()
    console.print(
        Text("orbitwire demo", style="bold")
        + Text(" — offline: sample feeds on 127.0.0.1, a temporary store, no token.")
    )
    console.rule(f"1. Fetched {len(result.feeds)} sample feeds from {result.server_url}")
    table = Table("feed", "status", "new articles", box=None, padding=(0, 2))
    for feed in result.feeds:
        status = f"HTTP {feed.http_status}" if feed.http_status is not None else feed.result
        table.add_row(feed.name, status, str(feed.new) if feed.result == "ok" else feed.error)
    console.print(table)
    console.print(Text(_links_line(result), style="dim"))
    console.rule(f"2. What {DEMO_CHANNEL} would publish next, as subscribers read it")
    for index, post in enumerate(result.posts, start=1):
        console.print(
            Panel(Text(post.post.plain), title=_post_heading(index, post), title_align="left")
        )
    for channel, why in result.skipped.items():
        console.print(Text(f"{channel}: nothing more to post — {why}", style="yellow"))
    console.rule("3. Ask the bot (the replies the chat would show)")
    for ex in result.exchanges:
        console.print(Text(f"you › {ex.user}", style="bold cyan"))
        console.print(Panel(Group(Text(ex.text)), border_style="dim"))
    console.rule("4. Next steps to go live")
    for index, step in enumerate(NEXT_STEPS, start=1):
        console.print(Text(f"  {index}. {step}"))
    console.print(
        Text(
            f"\nDemo finished in {result.elapsed:.1f} s; the temporary store was deleted.",
            style="dim",
        )
    )


def run_demo(settings: Settings, *, json_output: bool = False) -> None:
    """``orbitwire demo [--json]``. ``settings`` (the operator's) are deliberately unused for
    the tour itself: it must not touch their database, feeds or endpoints."""
    del settings
    with _quiet_logs():
        result = asyncio.run(run_tour())
    if json_output:
        print(json.dumps(result.to_json(), indent=2, ensure_ascii=False, default=str))
    elif sys.stdout.isatty():
        print_rich(result)
    else:
        print_plain(result)
