"""Shared machinery of the crash and soak benchmarks (``crash.py``, ``soak.py``).

Everything runs on 127.0.0.1: a Bot API emulator (ground truth of what subscribers saw), a
loopback feed server whose feeds grow over time and which records every item it served in a
``200`` answer, and ``orbitwire run`` as a real subprocess that the benchmark ``kill -9``s.

The audit (:func:`audit`) compares three sources after a final clean run:

* the emulator's messages per channel (what subscribers saw),
* the outbox (``delivery`` rows) and the articles in the database,
* the feed server's log of served items (what ingestion had a chance to store).

A post is identified by its first line, which the renderer makes the article title; every
synthetic title here is unique (it carries a per-feed serial number).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from aiohttp import web
from sqlalchemy import update
from sqlmodel import col, select

from benchmarks.common import SummaryRow, private_pg_schema
from storage.db import Database
from storage.models import Article, Delivery, Feed
from storage.types import utcnow
from tests.support import feedgen
from tests.support.botapi import BotAPIEmulator
from tests.support.feedserver import RSS_TYPE, FeedServer

ROOT = Path(__file__).resolve().parents[1]
PG_ENV = "ORBITWIRE_TEST_DATABASE_URL"

SUBJECTS = [
    "Psyche",
    "JUICE",
    "Hera",
    "NISAR",
    "Euclid",
    "SLIM",
    "Tianwen-2",
    "Artemis II",
    "Europa Clipper",
    "BepiColombo",
    "Lucy",
    "OSIRIS-APEX",
]
ACTIONS = [
    "engineers test a thruster valve",
    "team uploads new flight software",
    "controllers trim the trajectory",
    "scientists release calibration images",
    "crew rehearses the docking procedure",
    "operators switch to the backup antenna",
    "instrument team reports a detector anomaly",
    "managers confirm the review schedule",
    "navigators plan a gravity assist",
    "analysts publish a dust survey",
]
NOUNS = ["batch", "sequence", "campaign", "bulletin", "slot", "window", "note", "series"]
KEYWORD = "bulletin"  # the soak's alert subscriber follows this word


# ----------------------------------------------------------------------------- feeds
@dataclass
class Served:
    """One feed request as the feed server answered it."""

    at: float
    path: str
    status: int
    guids: tuple[str, ...] = ()


class StoryFeeds:
    """Several loopback RSS feeds of distinct stories that grow when told to.

    ETags change with every new item (304 when the client has the current version); every
    ``200`` answer is logged with the guids it carried, so the audit knows exactly which items
    ingestion could have stored. ``error_rate`` answers that share of requests with a 503.
    """

    def __init__(self, feeds: int, rng: random.Random, *, error_rate: float = 0.0) -> None:
        self.server = FeedServer().start()
        self.rng = rng
        self.error_rate = error_rate
        self.paths = [f"/feed{i}.xml" for i in range(feeds)]
        self.items: dict[str, list[feedgen.Item]] = {p: [] for p in self.paths}
        self.log: list[Served] = []
        self._lock = threading.Lock()
        self._serial = 0
        for path in self.paths:
            self.server.add_handler(path, self._handler(path))

    def close(self) -> None:
        self.server.stop()

    def url(self, path: str) -> str:
        return self.server.url(path)

    def feeds_toml(self, directory: Path) -> Path:
        lines = []
        for i, path in enumerate(self.paths):
            lines += [
                "[[feeds]]",
                f'name = "Loopback {i}"',
                f'url = "{self.url(path)}"',
                f'homepage = "https://site{i}.example/"',
                "",
            ]
        target = directory / "feeds.toml"
        target.write_text("\n".join(lines))
        return target

    def add_item(self, path: str | None = None) -> feedgen.Item:
        """One new story (now) in ``path`` (a random feed by default)."""
        path = path or self.rng.choice(self.paths)
        feed_no = self.paths.index(path)
        with self._lock:
            self._serial += 1
            serial = self._serial
            subject = self.rng.choice(SUBJECTS)
            action = self.rng.choice(ACTIONS)
            noun = self.rng.choice(NOUNS)
            number = 1000 * (feed_no + 1) + serial
            entry = feedgen.Item(
                guid=f"site{feed_no}-{serial}",
                title=f"{subject}: {action}, {noun} {number}",
                link=f"https://site{feed_no}.example/news/{serial}",
                summary=(
                    f"In {noun} {number} the {subject} {action.split(' ', 1)[0]} describe "
                    f"progress item {serial} of the {rng_word(self.rng)} programme."
                ),
                published=datetime.now(UTC),
            )
            self.items[path].append(entry)
        return entry

    def grow(self, low: int, high: int) -> int:
        """Give every feed between ``low`` and ``high`` new items; returns how many."""
        added = 0
        for path in self.paths:
            for _ in range(self.rng.randint(low, high)):
                self.add_item(path)
                added += 1
        return added

    def titles(self) -> dict[str, str]:
        """guid → title of every item ever published."""
        with self._lock:
            return {i.guid or "": i.title for items in self.items.values() for i in items}

    def served_guids(self, before: float | None = None) -> set[str]:
        with self._lock:
            return {
                g
                for s in self.log
                if s.status == 200 and (before is None or s.at < before)
                for g in s.guids
            }

    def answered_since(self, since: float) -> set[str]:
        """Paths that got a 200 or 304 after ``since`` (monotonic)."""
        with self._lock:
            return {s.path for s in self.log if s.at >= since and s.status in (200, 304)}

    def _handler(self, path: str) -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            with self._lock:
                items = list(self.items[path])
                fail = self.rng.random() < self.error_rate
            now = time.monotonic()
            if fail:
                self._record(Served(now, path, 503))
                return web.Response(status=503)
            etag = f'"v{len(items)}"'
            if request.headers.get("If-None-Match") == etag:
                self._record(Served(now, path, 304))
                return web.Response(status=304, headers={"ETag": etag})
            body = feedgen.rss(list(reversed(items)), title=f"Loopback {path}")
            self._record(Served(now, path, 200, tuple(i.guid or "" for i in items)))
            return web.Response(
                status=200, body=body, headers={"ETag": etag, "Content-Type": RSS_TYPE}
            )

        return handler

    def _record(self, served: Served) -> None:
        with self._lock:
            self.log.append(served)


def rng_word(rng: random.Random) -> str:
    return "".join(rng.choice("bcdfghjklmnprstvz") + rng.choice("aeiou") for _ in range(3))


# ----------------------------------------------------------------------------- databases
@dataclass
class Backend:
    """A database for one benchmark: a SQLite file, or a private PostgreSQL schema."""

    name: str
    url: str
    _drop: Any = None

    def close(self) -> None:
        if self._drop is not None:
            self._drop()


def backends(workdir: Path, wanted: str = "all") -> list[Backend]:
    """SQLite always; PostgreSQL too when ``ORBITWIRE_TEST_DATABASE_URL`` is set."""
    found: list[Backend] = []
    if wanted in ("all", "sqlite"):
        found.append(
            Backend(
                "sqlite",
                f"sqlite:///{workdir / 'orbitwire.db'}",
                lambda: shutil.rmtree(workdir, ignore_errors=True),
            )
        )
    base = os.environ.get(PG_ENV)
    if base and wanted in ("all", "postgresql"):
        url, drop = private_pg_schema(base)
        found.append(Backend("postgresql", url, drop))
    elif wanted == "postgresql":
        raise SystemExit(f"--backend postgresql needs {PG_ENV}")
    return found


def make_feeds_due(db: Database) -> None:
    """As if the fetch interval had passed: every feed is due at the next ingest tick."""
    with db.session() as session:
        session.execute(update(Feed).values(next_check_at=utcnow()))
        session.commit()


def open_deliveries(db: Database) -> int:
    with db.session() as session:
        rows = session.exec(
            select(Delivery.id).where(col(Delivery.state).in_(("queued", "claimed", "sending")))
        ).all()
    return len(rows)


def delivery_states(db: Database) -> Counter[str]:
    with db.session() as session:
        return Counter(session.exec(select(Delivery.state)).all())


# ----------------------------------------------------------------------------- the bot
CHANNELS = [-1001000000001, -1001000000002, -1001000000003]
SUBSCRIBER = 700001


class Bot:
    """``orbitwire run`` as a subprocess, pointed at the emulator, the feeds and the database."""

    def __init__(
        self, emu: BotAPIEmulator, db_url: str, feeds_file: Path, workdir: Path, **extra: str
    ) -> None:
        self.emu = emu
        self.workdir = workdir
        base = {k: v for k, v in os.environ.items() if not k.startswith("ORBITWIRE_")}
        self.env = {
            **base,
            "PYTHONPATH": str(ROOT),
            "ORBITWIRE_BOT_TOKEN": emu.token,
            "ORBITWIRE_TELEGRAM_API_URL": emu.base_url,
            "ORBITWIRE_DATABASE_URL": db_url,
            "ORBITWIRE_CHANNELS": ",".join(str(c) for c in CHANNELS),
            "ORBITWIRE_MIN_SPACING_MINUTES": "0",
            "ORBITWIRE_MAX_POSTS_PER_DAY": "500",
            "ORBITWIRE_PUBLISH_TICK_SECONDS": "1",
            "ORBITWIRE_FEEDS_FILE": str(feeds_file),
            "ORBITWIRE_ALLOW_PRIVATE_FEEDS": "true",
            "ORBITWIRE_METRICS_PORT": "0",
            "ORBITWIRE_FETCH_INTERVAL_MINUTES": "5",
            "ORBITWIRE_BACKFILL_ITEMS": "100",
            "ORBITWIRE_FETCH_TIMEOUT_SECONDS": "10",
        }
        self.env.update(extra)
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.starts = 0

    def start(self, failpoints: str = "") -> subprocess.Popen[bytes]:
        env = dict(self.env)
        if failpoints:
            env["ORBITWIRE_FAILPOINTS"] = failpoints
        self.starts += 1
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run"],
            env=env,
            cwd=self.workdir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        return self.proc

    @property
    def log_path(self) -> Path:
        """The log of the current (or last) process."""
        return self.workdir / f"bot-{self.starts:03d}.log"

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def wait_ready(self, since_calls: int, timeout: float = 60.0) -> bool:
        """Until the bot pushed its command menu (post_init has begun) or died."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.emu.requests_for("setMyCommands")) > since_calls:
                return True
            if self.proc is None or self.proc.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def kill9(self) -> None:
        """``kill -9`` the bot and its parser workers (they die with it in production too)."""
        if self.proc is None:
            return
        children = descendants(self.proc.pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=20)
        for child in children:  # orphaned workers would otherwise linger
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        self._close_log()

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (clean shutdown); SIGKILL if it does not exit in time."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill9()
        self._close_log()
        return self.proc.returncode

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def descendants(pid: int) -> list[int]:
    """All live descendants of ``pid`` (parser workers, the resource tracker …)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError, ValueError):
                kids = [int(k) for k in (task / "children").read_text().split()]
                found += kids
                todo += kids
    return found


def rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


# ----------------------------------------------------------------------------- faults
def random_faults(emu: BotAPIEmulator, rng: random.Random, count: int) -> list[str]:
    """Script ``count`` random send faults (5xx, 429, slow/lost answers, dropped connections).

    PTB's read timeout is 5 s: a ``delay`` of 7 s is an answer the bot never gets (``deliver``
    decides whether Telegram kept the message); 1–2 s is merely slow.
    """
    done = []
    for _ in range(count):
        chat = rng.choice([*CHANNELS, None])
        kind = rng.choice(["server_error", "retry_after", "delay_slow", "delay_lost", "drop"])
        if kind == "server_error":
            emu.add_fault("sendMessage", chat, "server_error", times=rng.randint(1, 3), status=502)
        elif kind == "retry_after":
            emu.add_fault("sendMessage", chat, "retry_after", seconds=rng.randint(1, 3))
        elif kind == "delay_slow":
            emu.add_fault("sendMessage", chat, "delay", seconds=rng.uniform(0.5, 2.0))
        elif kind == "delay_lost":
            deliver = rng.random() < 0.5
            emu.add_fault("sendMessage", chat, "delay", seconds=7.0, deliver=deliver)
            kind += "/delivered" if deliver else "/not-delivered"
        else:
            deliver = rng.random() < 0.5
            emu.add_fault("sendMessage", chat, "drop", deliver=deliver)
            kind += "/delivered" if deliver else "/not-delivered"
        done.append(kind)
    return done


# ----------------------------------------------------------------------------- workbench
@dataclass
class Workbench:
    """Emulator + feeds + work directory for one benchmark."""

    rng: random.Random
    feeds: int = 4
    feed_error_rate: float = 0.0
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ow-bench-")))

    def __post_init__(self) -> None:
        self.emu = BotAPIEmulator(log_requests=True).start()
        for i, chat in enumerate(CHANNELS):
            self.emu.add_channel(chat, username=f"orbitwire_bench{i}", title=f"Bench {i}")
        self.emu.add_user(SUBSCRIBER, first_name="Alerts")
        self.stories = StoryFeeds(self.feeds, self.rng, error_rate=self.feed_error_rate)
        self.feeds_file = self.stories.feeds_toml(self.workdir)

    def close(self, *, keep: bool = False) -> None:
        self.stories.close()
        self.emu.stop()
        if not keep:
            shutil.rmtree(self.workdir, ignore_errors=True)


@contextlib.contextmanager
def database(url: str) -> Iterator[Database]:
    db = Database(url)
    try:
        db.upgrade()
        yield db
    finally:
        db.close()


def subscribe_alerts(db: Database) -> None:
    from storage.subscriptions import subscribe

    with db.session() as session:
        subscribe(session, SUBSCRIBER, "keyword", KEYWORD)
        session.commit()


def drain(
    bot: Bot, db: Database, stories: StoryFeeds, *, timeout: float = 150.0, quiet: float = 8.0
) -> tuple[bool, float]:
    """A clean final run: every feed fetched once more and the outbox empty for ``quiet`` s.

    Returns (drained, seconds). The run is stopped with SIGTERM afterwards.
    """
    started = time.monotonic()
    make_feeds_due(db)
    calls = len(bot.emu.requests_for("setMyCommands"))
    bot.start()
    bot.wait_ready(calls)
    idle_since: float | None = None
    drained = False
    while time.monotonic() - started < timeout:
        fetched = stories.answered_since(started) >= set(stories.paths)
        if fetched and open_deliveries(db) == 0:
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= quiet:
                drained = True
                break
        else:
            idle_since = None
        time.sleep(0.5)
    bot.stop()
    return drained, time.monotonic() - started


# ----------------------------------------------------------------------------- audit
@dataclass
class Audit:
    """What the subscribers saw vs. what the database says (see the module docstring)."""

    channels: int = 0
    deliveries: int = 0
    states: dict[str, int] = field(default_factory=dict)
    posts_seen: int = 0  # channel messages in the emulator
    posts_per_channel: dict[int, int] = field(default_factory=dict)
    duplicates: int = 0  # extra copies of one story in one channel
    duplicates_tied_to_unknown: int = 0  # …of which the story had an `unknown` delivery
    duplicate_titles: list[str] = field(default_factory=list)
    ambiguous: int = 0  # deliveries in `unknown`
    ambiguous_delivered: int = 0
    ambiguous_not_delivered: int = 0
    ambiguous_never_requested: int = 0  # …not delivered, and no request ever reached Telegram
    lost_posts: int = 0
    lost_detail: list[str] = field(default_factory=list)
    failed_permanent: int = 0
    orphan_messages: int = 0  # channel messages that match no delivery at all
    alerts: dict[str, int] = field(default_factory=dict)
    alert_messages: int = 0
    alerts_lost: int = 0
    articles_served: int = 0
    articles_stored: int = 0
    articles_lost: int = 0
    lost_guids: list[str] = field(default_factory=list)

    def summary_rows(self, label: str, command: str) -> list[SummaryRow]:
        """The summary rows crash runs and the soak share: ambiguous sends, articles lost."""
        return [
            SummaryRow(
                f"{label}: ambiguous sends (delivered / not)",
                f"{self.ambiguous} ({self.ambiguous_delivered} / {self.ambiguous_not_delivered})",
                "counted, never re-sent",
                "—",
                command,
            ),
            SummaryRow(
                f"{label}: articles lost",
                str(self.articles_lost),
                "0",
                "yes" if self.articles_lost == 0 else "no",
                command,
            ),
        ]

    def rows(self) -> list[tuple[str, str]]:
        per_channel = ", ".join(str(n) for n in self.posts_per_channel.values())
        return [
            ("deliveries (outbox rows)", str(self.deliveries)),
            ("delivery states", ", ".join(f"{k} {v}" for k, v in sorted(self.states.items()))),
            ("channel posts seen by subscribers", f"{self.posts_seen} ({per_channel})"),
            ("posts lost", str(self.lost_posts)),
            ("posts duplicated", str(self.duplicates)),
            ("…of which tied to an `unknown` delivery", str(self.duplicates_tied_to_unknown)),
            (
                "ambiguous sends (`unknown`): delivered / not delivered",
                f"{self.ambiguous} ({self.ambiguous_delivered} / {self.ambiguous_not_delivered})",
            ),
            (
                "…not delivered, and the request never reached the emulator",
                str(self.ambiguous_never_requested),
            ),
            ("failed by a permanent fault", str(self.failed_permanent)),
            ("channel messages matching no delivery", str(self.orphan_messages)),
            (
                "alerts: deliveries / messages seen / lost",
                f"{sum(self.alerts.values())} / {self.alert_messages} / {self.alerts_lost}",
            ),
            ("articles served by the feeds", str(self.articles_served)),
            ("articles stored", str(self.articles_stored)),
            ("articles lost", str(self.articles_lost)),
        ]


def _first_line(text: str | None) -> str:
    return (text or "").strip().split("\n", 1)[0].strip()


PERMANENT = ("forbidden", "bad request", "kicked", "blocked", "chat not found")


def audit(db: Database, emu: BotAPIEmulator, stories: StoryFeeds) -> Audit:
    result = Audit(channels=len(CHANNELS))
    with db.session() as session:
        rows = session.exec(
            select(Delivery, Article.title, Article.guid).join(
                Article, col(Article.id) == col(Delivery.article_id)
            )
        ).all()
        stored_guids = {g for g in session.exec(select(Article.guid)).all() if g}
    result.deliveries = len(rows)
    result.states = dict(Counter(d.state for d, _t, _g in rows))
    by_chat: dict[int, list[tuple[Delivery, str]]] = defaultdict(list)
    for d, title, _guid in rows:
        if d.kind == "alert":
            result.alerts[d.state] = result.alerts.get(d.state, 0) + 1
        else:
            by_chat[d.chat_id].append((d, title))

    requested: dict[int, str] = defaultdict(str)  # chat → every text a send request carried
    for record in emu.requests:
        if record.method.lower() in ("sendmessage", "sendphoto"):
            params = record.params
            with contextlib.suppress(TypeError, ValueError):
                chat_id = int(params.get("chat_id", 0))
                requested[chat_id] += "\n" + str(params.get("text") or params.get("caption"))
    for chat in CHANNELS:
        messages = emu.messages(chat)
        titles = Counter(_first_line(m.content) for m in messages)
        ids = {m.message_id for m in messages}
        result.posts_per_channel[chat] = len(messages)
        result.posts_seen += len(messages)
        deliveries = by_chat.get(chat, [])
        unknown_titles = {t for d, t in deliveries if d.state == "unknown"}
        known_titles = {t for _d, t in deliveries}
        for title, n in titles.items():
            if n > 1:
                result.duplicates += n - 1
                result.duplicate_titles.append(f"{chat}: {title} ×{n}")
                if title in unknown_titles:
                    result.duplicates_tied_to_unknown += n - 1
            if title not in known_titles:
                result.orphan_messages += n
        for d, title in deliveries:
            seen = titles.get(title, 0) > 0
            if d.state == "unknown":
                result.ambiguous += 1
                if seen:
                    result.ambiguous_delivered += 1
                else:
                    result.ambiguous_not_delivered += 1
                    if title not in requested.get(chat, ""):
                        result.ambiguous_never_requested += 1
            elif d.state == "sent":
                if d.message_id not in ids or not seen:
                    result.lost_posts += 1
                    result.lost_detail.append(f"{chat} #{d.id} sent but not seen: {title}")
            elif d.state in ("failed", "skipped") and any(
                p in (d.last_error or "").lower() for p in PERMANENT
            ):
                result.failed_permanent += 1
            else:  # still open after the final run, or failed/skipped without a permanent fault
                result.lost_posts += 1
                result.lost_detail.append(
                    f"{chat} #{d.id} {d.state} ({(d.last_error or '')[:80]}): {title}"
                )
    alert_msgs = emu.messages(SUBSCRIBER)
    result.alert_messages = len(alert_msgs)
    alert_ids = {m.message_id for m in alert_msgs}
    for d, _title, _guid in rows:
        if d.kind != "alert":
            continue
        if (d.state == "sent" and d.message_id not in alert_ids) or d.state not in (
            "sent",
            "unknown",
        ):
            result.alerts_lost += 1

    served = stories.served_guids()
    result.articles_served = len(served)
    result.articles_stored = len(stored_guids & set(stories.titles()))
    missing = sorted(served - stored_guids)
    result.articles_lost = len(missing)
    result.lost_guids = missing[:20]
    return result


def table(rows: list[tuple[str, str]]) -> str:
    out = ["| figure | value |", "|---|---:|"]
    out += [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(out)


def linear_slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (x, y) points (0 with fewer than two)."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in points) / sxx
