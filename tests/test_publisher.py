"""Publisher end to end: stored articles → curated, rendered posts in a channel (both DBs)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import select
from telegram.ext import ExtBot

from bot.flood import FloodControl
from bot.publish.publisher import Publisher
from bot.publish.sender import Sender
from config.settings import load_settings
from storage import outbox
from storage.articles import ArticleDraft
from storage.db import Database
from storage.models import Delivery, QueueItem
from tests.support.botapi import BotAPIEmulator
from tests.support.stories import store_and_link, story

CHANNEL = -1004444444444
REVIEW = -1005555555555
NOW = datetime.now(UTC)

CHANGE7 = (
    "China's Chang'e-7 lunar probe has completed its final integration tests in Beijing. "
    "An Egyptian and Bahraini joint camera and an Italian retroreflector will fly on the "
    "Chang'e-7 mission, which targets the lunar south pole. The spacecraft ships to the "
    "Wenchang launch site next month. Follow us on X for more updates. Image credit: CNSA."
)


def draft(
    n: int, title: str, summary: str, site: str, *, minutes_ago: int = 30, image: str | None = None
) -> ArticleDraft:
    return story(n, title, summary, site, minutes_ago=minutes_ago, image=image)


async def seed(db: Database, drafts: list[ArticleDraft]) -> list[int]:
    return await store_and_link(db, drafts)


def settings(emu: BotAPIEmulator, db: Database, **extra: Any) -> Any:
    values: dict[str, Any] = {
        "bot_token": emu.token,
        "telegram_api_url": emu.base_url,
        "database_url": db.url,
        "channels": [str(CHANNEL)],
        "follow_us": "Telegram=https://t.me/orbitwire_news,X=https://x.com/orbitwire",
        "min_spacing_minutes": 0,
    }
    values.update(extra)
    return load_settings(**values)


@pytest.fixture
async def bot(botapi: BotAPIEmulator) -> AsyncIterator[ExtBot[Any]]:
    botapi.add_channel(CHANNEL, username="orbitwire_news", title="Orbitwire")
    botapi.add_channel(REVIEW, title="Orbitwire admins")
    ext = ExtBot(botapi.token, base_url=botapi.base_url, rate_limiter=FloodControl())
    async with ext:
        yield ext


async def test_a_story_becomes_one_attributed_post_with_footer(
    db: Database, botapi: BotAPIEmulator, bot: ExtBot[Any]
) -> None:
    await seed(
        db,
        [
            draft(
                1,
                "Chang'e-7 completes final tests before launch",
                CHANGE7,
                "spacenews.com",
                image="https://img.example/ce7.jpg",
            ),
            draft(
                2,
                "Chang'e-7 finishes final testing ahead of lunar launch",
                "The Chang'e-7 probe finished testing.",
                "spaceflightnow.com",
                minutes_ago=20,
            ),
        ],
    )
    publisher = Publisher(settings(botapi, db), db)
    report = await publisher.plan()
    assert len(report.planned) == 1
    await Sender(db, bot, bot.rate_limiter).drain()  # type: ignore[arg-type]
    (post,) = botapi.messages(CHANNEL)
    assert post.method == "sendPhoto"
    text = post.content
    assert "Chang'e-7 completes final tests" in text
    assert "According to spacenews.com" in text
    assert "Also reported by spaceflightnow.com" in text
    assert "#ChangE7" in text
    assert "Follow us: Telegram · X" in text
    assert "Follow us on X for more" not in text  # boilerplate left out of the summary
    assert "Egyptian" in text  # the partner sentence is what the summary keeps

    # the same story is never posted again, even by a fresh process after a restart
    again = await Publisher(settings(botapi, db), db).plan()
    assert again.planned == []
    await Sender(db, bot, bot.rate_limiter).drain()  # type: ignore[arg-type]
    assert len(botapi.messages(CHANNEL)) == 1


async def test_schedule_limits_and_dry_run(
    db: Database, botapi: BotAPIEmulator, bot: ExtBot[Any]
) -> None:
    topics = [
        ("JUICE", "completes lunar-Earth flyby"),
        ("Hera", "reaches asteroid Didymos"),
        ("NISAR", "releases first radar maps"),
        ("SLIM", "wakes up after lunar night"),
        ("Psyche", "switches on its thrusters"),
    ]
    await seed(
        db,
        [
            draft(i, f"{name} {event}", f"{name} news.", f"s{i}.example", minutes_ago=10 * i)
            for i, (name, event) in enumerate(topics, start=1)
        ],
    )
    dry = await Publisher(settings(botapi, db), db).plan(dry_run=True)
    assert len(dry.planned) == 1
    assert db.call(outbox.counts) == {}  # a dry run queues nothing

    limited = settings(botapi, db, max_posts_per_day=2)
    for _ in range(4):
        await Publisher(limited, db).plan()
    assert db.call(outbox.counts) == {"queued": 2}
    report = await Publisher(limited, db).plan()
    assert "daily limit" in report.skipped[str(CHANNEL)]

    spaced = settings(botapi, db, min_spacing_minutes=60, max_posts_per_day=10)
    report = await Publisher(spaced, db).plan()
    assert "spacing" in report.skipped[str(CHANNEL)]


async def test_quiet_hours_and_backlog(
    db: Database, botapi: BotAPIEmulator, bot: ExtBot[Any]
) -> None:
    await seed(db, [draft(1, "Old Tianwen-2 news", "Tianwen-2.", "a.example", minutes_ago=60 * 30)])
    assert (await Publisher(settings(botapi, db), db).plan()).planned == []  # outside backlog
    await seed(db, [draft(2, "Tianwen-2 returns images", "Tianwen-2.", "b.example")])
    hour = NOW.hour
    quiet = settings(botapi, db, quiet_hours=f"{hour:02d}:00-{(hour + 1) % 24:02d}:00")
    report = await Publisher(quiet, db).plan()
    assert "quiet hours" in report.skipped[str(CHANNEL)]


async def test_review_mode_sends_candidates_to_admins(
    db: Database, botapi: BotAPIEmulator, bot: ExtBot[Any]
) -> None:
    await seed(db, [draft(1, "NISAR delivers first radar maps", "NISAR maps.", "jpl.example")])
    review = settings(botapi, db, publish_mode="review", review_chat=REVIEW)
    report = await Publisher(review, db).plan()
    assert report.planned[0].target_chat_id == REVIEW
    await Sender(db, bot, bot.rate_limiter).drain()  # type: ignore[arg-type]
    (candidate,) = botapi.messages(REVIEW)
    assert botapi.messages(CHANNEL) == []
    assert any(d.startswith("rv:ok:") for d in candidate.callback_data)
    with db.session() as s:
        item = s.exec(select(QueueItem)).one()
        assert item.state == "pending"
        assert item.chat_id == CHANNEL
        assert s.exec(select(Delivery)).one().kind == "review"
    assert (await Publisher(review, db).plan()).planned == []  # not offered twice
