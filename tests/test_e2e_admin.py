"""Admin desk end to end: the real app, the Bot API emulator, a loopback web page, both DBs.

An admin queues a URL (fetched through the real fetcher), sees the post exactly as the channel
will, approves it and the channel gets it once; scheduling fires at the chosen time on a
controllable clock (``AppServices.clock``), never by sleeping; edits go through the sanitizer;
review posts from the publisher are approved with their buttons; non-admins and forged or
replayed presses change nothing; events reach admins once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select

from bot.admin.jobs import admin_tick
from bot.context import services_of
from storage.db import Database
from storage.feeds import record_event
from storage.models import Channel, Delivery, Feed, QueueItem
from tests.support.botapi import BotAPIEmulator, SentMessage
from tests.support.feedserver import FeedServer
from tests.support.runbot import running_bot
from tests.support.stories import store_and_link, story

ADMIN = 700001
OTHER_ADMIN = 700002
STRANGER = 800001
CHANNEL = -1004444444444
SECOND = -1004444444445
REVIEW = -1005555555555

PAGE = """<!doctype html><html><head><title>Chang'e-7 lander passes thermal vacuum tests</title>
<meta property="og:title" content="Chang'e-7 lander passes thermal vacuum tests">
<meta name="description" content="The Chang'e-7 lander completed thermal vacuum testing.">
</head><body><article><h1>Chang'e-7 lander passes thermal vacuum tests</h1>
<p>The Chang'e-7 lander has completed a month of thermal vacuum tests in Beijing, engineers at the
China Academy of Space Technology said on Tuesday. The campaign simulated the cold of the lunar
south pole and the heat of the lunar day.</p>
<p>An Egyptian and Bahraini hyperspectral camera and an Italian laser retroreflector were mounted
on the spacecraft for the tests. The probe ships to the Wenchang launch site next spring.</p>
<p>Engineers said the lander's hopping probe, designed to look for water ice in permanently
shadowed craters, passed its own separate trials earlier this autumn.</p>
</article></body></html>"""


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        srv.add("/news/ce7-tvac.html", PAGE.encode(), content_type="text/html; charset=utf-8")
        yield srv


def settings(**extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "admins": [ADMIN, OTHER_ADMIN],
        "channels": [str(CHANNEL), str(SECOND)],
        "follow_us": "Telegram=https://t.me/orbitwire_news",
        "min_spacing_minutes": 0,
    }
    values.update(extra)
    return values


def channels(emu: BotAPIEmulator) -> None:
    emu.add_channel(CHANNEL, username="orbitwire_news", title="Orbitwire")
    emu.add_channel(SECOND, title="Orbitwire Lab")
    emu.add_group(REVIEW, title="Orbitwire admins")
    emu.add_user(OTHER_ADMIN, "Second admin")


async def say(emu: BotAPIEmulator, user: int, text: str, count: int = 1) -> list[SentMessage]:
    before = len(emu.messages(user))
    emu.send_message(user, text)
    msgs = await emu.async_wait_for_messages(user, count=before + count, timeout=15)
    return msgs[before:]


async def answer_for(emu: BotAPIEmulator, query_id: str) -> str:
    found = await emu.async_wait_for(
        lambda e: [a for a in e.callback_answers if a.callback_query_id == query_id],
        timeout=10,
        what="callback answer",
    )
    return str(found[0].text or "")


async def preview_recorded(db: Database, message_id: int) -> None:
    """Wait until the queue item points at this preview message (the bot records it after send)."""
    for _ in range(250):
        if items(db)[0].review_message_id == message_id:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"preview {message_id} was never recorded")


def items(db: Database) -> list[QueueItem]:
    with db.session() as s:
        return list(s.exec(select(QueueItem).order_by(QueueItem.id)).all())  # type: ignore[arg-type]


def posts(db: Database, chat_id: int) -> list[Delivery]:
    with db.session() as s:
        query = select(Delivery).where(Delivery.chat_id == chat_id, Delivery.kind == "post")
        return list(s.exec(query).all())


async def seed(db: Database, n: int, title: str, summary: str) -> int:
    (article_id,) = await store_and_link(
        db, [story(n, title, summary, "lunarwire.example", minutes_ago=20)]
    )
    return article_id


def preview_of(msgs: list[SentMessage]) -> SentMessage:
    return next(m for m in msgs if any(d.startswith("q:ok:") for d in m.callback_data))


async def test_queue_url_preview_approve_posts_once(
    botapi: BotAPIEmulator, db: Database, server: FeedServer
) -> None:
    channels(botapi)
    url = server.url("/news/ce7-tvac.html")
    async with running_bot(botapi, db, **settings()):
        note, preview = await say(botapi, ADMIN, f"/queue {url}", count=2)
        assert "Queued" in note.content
        assert "#1" in note.content
        assert "Chang'e-7 lander passes thermal vacuum tests" in preview.content
        assert "According to" in preview.content
        assert "Follow us: Telegram" in preview.content
        assert "#ChangE7" in preview.content  # the fetched article was linked
        assert preview.callback_data[:2] == ["q:ok:1", "q:no:1"]
        assert server.hits("/news/ce7-tvac.html") == 1

        # queueing the same URL again shows the same item, fetches nothing
        again = await say(botapi, ADMIN, f"/queue {url}", count=2)
        assert "Already in the queue" in again[0].content
        assert server.hits("/news/ce7-tvac.html") == 1

        # the newest preview is the one that counts; the first one is now out of date (once the
        # new preview's id is recorded, right after Telegram answers the send)
        await preview_recorded(db, again[1].message_id)
        query = botapi.press_button(ADMIN, preview, "q:ok:1")
        assert "out of date" in await answer_for(botapi, query)
        preview = again[1]
        query = botapi.press_button(ADMIN, preview, "q:ok:1")
        assert "on its way" in await answer_for(botapi, query)
        (post,) = await botapi.async_wait_for_messages(CHANNEL, count=1, timeout=20)
        # exactly what the admin saw (HTML and text), without the buttons
        assert post.html == preview.html
        assert post.content == preview.content
        assert post.reply_markup is None

        # a replayed press, a press by a second admin, and a forged press on another message:
        # nothing changes
        for user, msg in ((ADMIN, preview), (OTHER_ADMIN, preview), (ADMIN, again[0])):
            query = botapi.press_button(user, msg, "q:ok:1", check=False)
            assert "handled" in (await answer_for(botapi, query)).lower()
        (item,) = items(db)
        assert item.state == "posted"
        assert item.decided_by == ADMIN
        assert len(posts(db, CHANNEL)) == 1
        assert len(botapi.messages(CHANNEL)) == 1


async def test_unknown_and_refused_urls(botapi: BotAPIEmulator, db: Database) -> None:
    channels(botapi)
    async with running_bot(botapi, db, **settings(allow_private_feeds=False)):
        (reply,) = await say(botapi, ADMIN, "/queue http://127.0.0.1:9/secret")
        assert "⚠️" in reply.content
        (reply,) = await say(botapi, ADMIN, "/queue 424242")
        assert "no article with id 424242" in reply.content
        (reply,) = await say(botapi, ADMIN, "/queue ftp://example.com/x")
        assert "URL" in reply.content
    assert items(db) == []


async def test_schedule_fires_at_the_chosen_time(botapi: BotAPIEmulator, db: Database) -> None:
    channels(botapi)
    article = await seed(
        db, 1, "ESA picks Mars sample return partner", "ESA chose a partner for Mars samples."
    )
    t0 = datetime.now(UTC).replace(microsecond=0)
    async with running_bot(botapi, db, **settings()) as app:
        services = services_of(app)
        services.clock = lambda: t0
        _note, preview = await say(botapi, ADMIN, f"/queue {article}", count=2)
        item_id = items(db)[0].id
        query = botapi.press_button(ADMIN, preview, f"q:s:{item_id}:1h")
        assert "scheduled for" in await answer_for(botapi, query)
        (item,) = items(db)
        assert item.state == "scheduled"
        assert item.scheduled_at == t0 + timedelta(hours=1)

        # change the channel before it goes out
        query = botapi.press_button(ADMIN, preview, f"q:ch:{item_id}")
        await answer_for(botapi, query)
        with db.session() as s:
            second = s.exec(select(Channel).where(Channel.chat_id == SECOND)).one()
        keyed = await botapi.async_wait_for(
            lambda e: f"q:cc:{item_id}:{second.id}" in e.messages(ADMIN)[-1].callback_data,
            what="channel keyboard",
        )
        assert keyed
        query = botapi.press_button(
            ADMIN, botapi.messages(ADMIN)[-1], f"q:cc:{item_id}:{second.id}"
        )
        assert "Orbitwire Lab" in await answer_for(botapi, query)

        services.clock = lambda: t0 + timedelta(minutes=59)
        await admin_tick(services, app.bot)
        assert items(db)[0].state == "scheduled"
        assert posts(db, SECOND) == []

        services.clock = lambda: t0 + timedelta(hours=1)
        await admin_tick(services, app.bot)
        await admin_tick(services, app.bot)  # a second tick (or replica) posts nothing more
        assert items(db)[0].state == "posted"
        (post,) = await botapi.async_wait_for_messages(SECOND, count=1, timeout=20)
        assert "ESA picks Mars sample return partner" in post.content
        assert len(posts(db, SECOND)) == 1
        # the first channel never got it from the queue (its own publisher may pick the story
        # now that the queue no longer holds it for that channel)
        assert not [d for d in posts(db, CHANNEL) if d.payload.get("queue_item")]


async def test_edit_summary_typed_time_and_stale_previews(
    botapi: BotAPIEmulator, db: Database
) -> None:
    channels(botapi)
    article = await seed(db, 1, "Tianwen-2 cruise update", "Tianwen-2 fired its engines.")
    t0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    async with running_bot(botapi, db, **settings(timezone="Europe/Berlin")) as app:
        services_of(app).clock = lambda: t0
        _note, first = await say(botapi, ADMIN, f"/queue {article}", count=2)
        item_id = items(db)[0].id
        botapi.press_button(ADMIN, first, f"q:ed:{item_id}")
        prompt = (await botapi.async_wait_for_messages(ADMIN, count=3, timeout=10))[-1]
        assert f"queue item #{item_id}" in prompt.content

        before = len(botapi.messages(ADMIN))
        botapi.send_message(
            ADMIN,
            "New <b>summary</b> <script>x</script> & more",
            reply_to_message_id=prompt.message_id,
        )
        msgs = await botapi.async_wait_for_messages(ADMIN, count=before + 2, timeout=10)
        done, second = msgs[before:]
        assert "summary updated" in done.content
        # typed text is text: shown literally, never as markup
        assert "New <b>summary</b> <script>x</script> & more" in second.content
        assert "<script>" not in second.html
        assert items(db)[0].summary_override is not None

        # the first preview is now out of date (once the new preview's id is recorded, which
        # happens right after Telegram answers the send)
        await preview_recorded(db, second.message_id)
        query = botapi.press_button(ADMIN, first, f"q:ok:{item_id}")
        assert "out of date" in await answer_for(botapi, query)
        assert items(db)[0].state == "pending"

        # a typed time, read in the admin zone (Europe/Berlin)
        botapi.press_button(ADMIN, second, f"q:st:{item_id}")
        await botapi.async_wait_for(
            lambda e: "When should" in e.messages(ADMIN)[-1].content, what="time prompt"
        )
        time_prompt = botapi.messages(ADMIN)[-1]
        assert "Europe/Berlin" in time_prompt.content
        before = len(botapi.messages(ADMIN))
        botapi.send_message(ADMIN, "tomorrow 9:00", reply_to_message_id=time_prompt.message_id)
        (reply,) = (await botapi.async_wait_for_messages(ADMIN, count=before + 1))[before:]
        assert "Sun 22 Nov 09:00 CET" in reply.content
        assert items(db)[0].scheduled_at == datetime(2026, 11, 22, 8, 0, tzinfo=UTC)

        # /queue lists it; /cancel cancels it; cancelling twice is "already handled"
        listed = await say(botapi, ADMIN, "/queue", count=3)
        assert "1 open item" in listed[0].content
        assert "scheduled for Sun 22 Nov 09:00 CET" in listed[1].content
        (reply,) = await say(botapi, ADMIN, f"/cancel {item_id}")
        assert "cancelled" in reply.content
        (reply,) = await say(botapi, ADMIN, f"/cancel {item_id}")
        assert "already handled" in reply.content
        (reply,) = await say(botapi, ADMIN, "/queue")
        assert "empty" in reply.content


async def test_review_mode_buttons_post_to_the_channel(
    botapi: BotAPIEmulator, db: Database
) -> None:
    channels(botapi)
    article = await seed(
        db,
        1,
        "Chang'e-7 completes final tests before launch",
        "China's Chang'e-7 lunar probe has completed its final integration tests in Beijing. "
        "An Egyptian and Bahraini joint camera will fly on the Chang'e-7 mission.",
    )
    extra = settings(channels=[str(CHANNEL)], publish_mode="review", review_chat=REVIEW)
    async with running_bot(botapi, db, **extra) as app:
        (review,) = await botapi.async_wait_for_messages(REVIEW, count=1, timeout=20)
        assert f"rv:ok:{article}:{CHANNEL}" in review.callback_data
        # the first channel never got it from the queue (its own publisher may pick the story
        # now that the queue no longer holds it for that channel)
        assert not [d for d in posts(db, CHANNEL) if d.payload.get("queue_item")]
        # the admin job swaps in the full queue keyboard on the same message
        await admin_tick(services_of(app), app.bot)
        item_id = items(db)[0].id
        await botapi.async_wait_for(
            lambda e: f"q:s:{item_id}:1h" in e.messages(REVIEW)[0].callback_data,
            what="queue keyboard on the review post",
        )
        # a non-admin in the review chat presses approve: refused
        query = botapi.press_button(STRANGER, review, f"rv:ok:{article}:{CHANNEL}", check=False)
        assert "admins" in (await answer_for(botapi, query)).lower()
        assert items(db)[0].state == "pending"
        query = botapi.press_button(ADMIN, review, f"rv:ok:{article}:{CHANNEL}", check=False)
        assert "on its way" in await answer_for(botapi, query)
        (post,) = await botapi.async_wait_for_messages(CHANNEL, count=1, timeout=20)
        assert post.html == review.html
        query = botapi.press_button(ADMIN, review, f"rv:no:{article}:{CHANNEL}", check=False)
        assert "handled" in (await answer_for(botapi, query)).lower()
        assert items(db)[0].state == "posted"


async def test_non_admins_are_refused_everything(botapi: BotAPIEmulator, db: Database) -> None:
    channels(botapi)
    article = await seed(db, 1, "Lunar south pole", "Water ice near the lunar south pole.")
    async with running_bot(botapi, db, **settings()):
        _note, preview = await say(botapi, ADMIN, f"/queue {article}", count=2)
        item_id = items(db)[0].id
        for command in (
            f"/queue {article}",
            "/queue",
            f"/cancel {item_id}",
            "/feeds",
            "/addfeed https://example.com/feed.xml",
            "/disablefeed 1",
            f"/pause {CHANNEL}",
            f"/resume {CHANNEL}",
            "/stats",
        ):
            (reply,) = await say(botapi, STRANGER, command)
            assert "admins only" in reply.content, command
        for data in (f"q:ok:{item_id}", f"q:no:{item_id}", f"q:s:{item_id}:1h", f"q:ed:{item_id}",
                     f"q:cc:{item_id}:1", f"rv:ok:{article}:{CHANNEL}"):  # fmt: skip
            query = botapi.press_button(STRANGER, preview, data, check=False)
            assert "admins" in (await answer_for(botapi, query)).lower()
        # garbage callback data is answered too
        query = botapi.press_button(ADMIN, preview, "q:ok:notanumber", check=False)
        assert "expired" in await answer_for(botapi, query)
        (item,) = items(db)
        assert item.state == "pending"
        assert item.scheduled_at is None
        with db.session() as s:
            assert s.exec(select(Feed)).all() == []
            assert not any(c.paused for c in s.exec(select(Channel)).all())
        assert posts(db, CHANNEL) == []
        assert len(botapi.messages(STRANGER)) == 9  # one refusal per command, nothing else


async def test_feeds_pause_stats_and_events(
    botapi: BotAPIEmulator, db: Database, server: FeedServer
) -> None:
    channels(botapi)
    async with running_bot(botapi, db, **settings()) as app:
        services = services_of(app)
        (reply,) = await say(botapi, ADMIN, f"/addfeed {server.url('/feed.xml')}")
        assert "added" in reply.content
        (reply,) = await say(botapi, ADMIN, f"/addfeed {server.url('/feed.xml')}")
        assert "already" in reply.content
        (reply,) = await say(botapi, ADMIN, "/feeds")
        assert "Feeds (1)" in reply.content
        feed_id = db.call(lambda s: s.exec(select(Feed)).one().id)
        (reply,) = await say(botapi, ADMIN, f"/disablefeed {feed_id}")
        assert "disabled" in reply.content
        (reply,) = await say(botapi, ADMIN, "/feeds")
        assert "⛔" in reply.content
        (reply,) = await say(botapi, ADMIN, "/pause")
        assert "Usage" in reply.content  # two channels: say which
        (reply,) = await say(botapi, ADMIN, f"/pause {CHANNEL}")
        assert "paused" in reply.content
        with db.session() as s:
            assert s.exec(select(Channel).where(Channel.chat_id == CHANNEL)).one().paused
        (reply,) = await say(botapi, ADMIN, f"/resume {CHANNEL}")
        assert "resumed" in reply.content
        (reply,) = await say(botapi, ADMIN, "/stats")
        for part in (
            "Feeds: 1",
            "1 disabled",
            "Articles today: 0",
            "Queue: 0 pending",
            "Posts today: 0",
        ):
            assert part in reply.content

        # events reach every admin once (no review chat configured: privately)
        db.call(record_event, "feed_disabled", "Bad Feed", "disabled after 10 failures")
        before = {a: len(botapi.messages(a)) for a in (ADMIN, OTHER_ADMIN)}
        await admin_tick(services, app.bot)
        await admin_tick(services, app.bot)
        for admin in (ADMIN, OTHER_ADMIN):
            new = botapi.messages(admin)[before[admin] :]
            assert [m.content for m in new] == ["⛔ Bad Feed: disabled after 10 failures"]
