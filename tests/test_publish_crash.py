"""`orbitwire publish` as a process: dry run, and kill -9 at the two dangerous moments.

Whatever the crash point, nothing queued is lost and nothing sent is sent again: a crash after
the claim re-sends (the request never left); a crash after the request left is parked as
``unknown`` (at-most-once), never duplicated.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from bot.knowledge.service import Knowledge
from storage.articles import store_articles
from storage.db import Database
from storage.models import Delivery
from tests.support.botapi import BotAPIEmulator
from tests.support.runbot import NO_FEEDS
from tests.support.stories import story
from tests.test_cli import ROOT, orbitwire
from tests.test_publisher import NOW

CHANNEL = -1006666666666
TOPICS = [
    ("JUICE", "completes its lunar-Earth flyby"),
    ("Hera", "reaches the asteroid Didymos"),
    ("NISAR", "releases its first radar maps"),
]


def seed(db: Database) -> None:
    Knowledge().seed(db)
    drafts = [
        story(0, f"{name} {event}", f"The {name} team reports that the spacecraft {event}.",
              f"s{i}.example", published=NOW - timedelta(minutes=5 * i))
        for i, (name, event) in enumerate(TOPICS)
    ]  # fmt: skip
    db.call(store_articles, None, drafts)


def env_for(emu: BotAPIEmulator, db: Database, **extra: str) -> dict[str, str]:
    env = {
        "ORBITWIRE_BOT_TOKEN": emu.token,
        "ORBITWIRE_TELEGRAM_API_URL": emu.base_url,
        "ORBITWIRE_DATABASE_URL": db.url,
        "ORBITWIRE_CHANNELS": str(CHANNEL),
        "ORBITWIRE_MIN_SPACING_MINUTES": "0",
        "ORBITWIRE_FEEDS_FILE": str(NO_FEEDS),
    }
    env.update(extra)
    return env


def spawn(env: dict[str, str], tmp_path: Path) -> subprocess.Popen[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ORBITWIRE_")}
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "publish", "--once"],
        env={**base, **env, "PYTHONPATH": str(ROOT)},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def states(db: Database) -> list[str]:
    with db.session() as s:
        return sorted(d.state for d in s.exec(select(Delivery)).all())


def wait_until(predicate: object, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)


@pytest.fixture
def channel(botapi: BotAPIEmulator) -> int:
    botapi.add_channel(CHANNEL, username="orbitwire_crash", title="Crash test")
    return CHANNEL


def test_dry_run_prints_posts_and_sends_nothing(
    db: Database, botapi: BotAPIEmulator, channel: int, tmp_path: Path
) -> None:
    seed(db)
    result = orbitwire(
        "publish", "--once", "--dry-run", "--json", env=env_for(botapi, db), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    (planned,) = data["planned"]
    assert planned["target_chat_id"] == CHANNEL
    assert "According to" in planned["plain"]
    assert botapi.messages() == []
    assert states(db) == []


def test_crash_after_claim_loses_nothing(
    db: Database, botapi: BotAPIEmulator, channel: int, tmp_path: Path
) -> None:
    seed(db)
    env = env_for(botapi, db)
    proc = spawn({**env, "ORBITWIRE_FAILPOINTS": "sender.after_claim=60"}, tmp_path)
    wait_until(lambda: "claimed" in states(db), "a claimed delivery")
    kill(proc)
    assert botapi.messages(CHANNEL) == []
    for _ in range(3):  # each pass plans one more story and sends the outbox
        result = orbitwire("publish", "--once", env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    titles = [m.text.split("\n")[0] for m in botapi.messages(CHANNEL) if m.text]
    assert sorted(titles) == sorted(f"{n} {e}" for n, e in TOPICS)
    assert states(db) == ["sent", "sent", "sent"]


def test_crash_after_send_never_duplicates(
    db: Database, botapi: BotAPIEmulator, channel: int, tmp_path: Path
) -> None:
    seed(db)
    env = env_for(botapi, db)
    botapi.add_fault("sendMessage", chat_id=CHANNEL, kind="delay", seconds=60, deliver=True)
    proc = spawn(env, tmp_path)
    wait_until(lambda: len(botapi.messages(CHANNEL)) == 1, "the first post to be delivered")
    kill(proc)  # Telegram has the post; our process never heard back
    botapi.clear_faults()
    for _ in range(3):
        result = orbitwire("publish", "--once", env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    titles = [m.text.split("\n")[0] for m in botapi.messages(CHANNEL) if m.text]
    assert len(titles) == len(set(titles)) == 3  # every story once, none twice
    assert states(db) == ["sent", "sent", "unknown"]

    # the operator sees the ambiguous delivery and decides; only then is it sent again
    shown = json.loads(orbitwire("outbox", "--json", env=env, cwd=tmp_path).stdout)
    (problem,) = shown["problems"]
    assert problem["state"] == "unknown"
    requeued = orbitwire("outbox", "requeue", str(problem["id"]), env=env, cwd=tmp_path)
    assert requeued.returncode == 0, requeued.stderr
    orbitwire("publish", "--once", env=env, cwd=tmp_path)
    assert states(db) == ["sent", "sent", "sent"]
    assert len(botapi.messages(CHANNEL)) == 4  # the admin chose the duplicate
