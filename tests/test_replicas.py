"""Two `orbitwire run` processes on one PostgreSQL behave like one bot.

In polling mode only the leader polls (Telegram allows one getUpdates consumer) and schedules;
every story reaches the channel once; when the leader is killed the other takes over both the
updates and the schedule, and nothing is posted twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from bot.knowledge.service import Knowledge
from storage.articles import store_articles
from storage.db import Database
from tests.support.botapi import BotAPIEmulator
from tests.support.runbot import NO_FEEDS
from tests.support.stories import story
from tests.test_cli import ROOT
from tests.test_publisher import NOW

CHANNEL = -1007777777777
TOPICS = [
    ("JUICE", "completes its lunar-Earth flyby"),
    ("Hera", "reaches the asteroid Didymos"),
    ("NISAR", "releases its first radar maps"),
    ("SLIM", "wakes up after the lunar night"),
    ("Psyche", "switches on its Hall thrusters"),
    ("Euclid", "publishes its first deep field"),
]


def seed(db: Database, topics: list[tuple[str, str]], start: int = 0) -> None:
    Knowledge().seed(db)
    drafts = [
        story(0, f"{name} {event}", f"The {name} team reports that the spacecraft {event}.",
              f"r{start + i}.example", published=NOW - timedelta(minutes=i))
        for i, (name, event) in enumerate(topics)
    ]  # fmt: skip
    db.call(store_articles, None, drafts)


def start(emu: BotAPIEmulator, db_url: str, tmp_path: Path, name: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORBITWIRE_")}
    env.update(
        ORBITWIRE_BOT_TOKEN=emu.token,
        ORBITWIRE_TELEGRAM_API_URL=emu.base_url,
        ORBITWIRE_DATABASE_URL=db_url,
        ORBITWIRE_CHANNELS=str(CHANNEL),
        ORBITWIRE_MIN_SPACING_MINUTES="0",
        ORBITWIRE_MAX_POSTS_PER_DAY="100",
        ORBITWIRE_PUBLISH_TICK_SECONDS="1",
        ORBITWIRE_FEEDS_FILE=str(NO_FEEDS),
        ORBITWIRE_METRICS_PORT="0",
        PYTHONPATH=str(ROOT),
    )
    log = (tmp_path / f"{name}.log").open("w")
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run"],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=log,
        text=True,
    )


def titles(emu: BotAPIEmulator) -> list[str]:
    return [m.text.split("\n")[0] for m in emu.messages(CHANNEL) if m.text]


def wait_for(predicate: object, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_two_processes_post_each_story_once_and_fail_over(
    db: Database, botapi: BotAPIEmulator, tmp_path: Path
) -> None:
    if not db.is_postgres:
        pytest.skip("replicas share PostgreSQL; SQLite is the single-process store")
    botapi.add_channel(CHANNEL, username="orbitwire_replicas", title="Replicas")
    seed(db, TOPICS[:3])
    first = start(botapi, db.url, tmp_path, "a")
    second = start(botapi, db.url, tmp_path, "b")
    procs = [first, second]
    try:
        wait_for(lambda: len(titles(botapi)) >= 3, "the first three stories")
        botapi.send_message(4242, "/start")
        botapi.wait_for_messages(4242, count=1, timeout=10)

        # kill whichever leads; the other must take over and post the rest, once each
        leader = _leader(tmp_path, procs)
        leader.send_signal(signal.SIGKILL)
        leader.communicate(timeout=10)
        seed(db, TOPICS[3:], start=3)
        wait_for(lambda: len(titles(botapi)) >= 6, "the stories after failover")
        botapi.send_message(4343, "/start")  # the survivor now takes the updates
        botapi.wait_for_messages(4343, count=1, timeout=20)
        time.sleep(3)  # a few more ticks: nothing else may appear
        posted = titles(botapi)
        assert sorted(posted) == sorted(f"{n} {e}" for n, e in TOPICS)
        assert len(posted) == len(set(posted))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.communicate(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()


def _leader(tmp_path: Path, procs: list[subprocess.Popen[str]]) -> subprocess.Popen[str]:
    for proc, name in zip(procs, ("a", "b"), strict=True):
        if "leadership acquired" in (tmp_path / f"{name}.log").read_text():
            return proc
    raise AssertionError("no process reported leadership")
