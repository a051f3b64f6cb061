"""Subscriptions end to end: /subscribe → alert → unsubscribe, batching, one alert per story,
the daily digest at its time, blocked users removed; real app, emulator, both databases.

Alert and digest passes are driven with an explicit ``now`` (the job's own entry point), and
the app's send job delivers what they queued: no sleeping for the scheduler.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from bot.alerts import subscriptions_tick
from bot.context import services_of
from storage.db import Database
from storage.models import Delivery, Subscription, UserPref
from tests.support.botapi import BotAPIEmulator, SentMessage
from tests.support.runbot import running_bot
from tests.support.stories import store_and_link, story

USER = 515151
OTHER = 616161


async def seed(
    db: Database,
    n: int,
    title: str,
    summary: str,
    site: str = "lunarwire.example",
    published: datetime | None = None,
) -> int:
    (article_id,) = await store_and_link(
        db, [story(n, title, summary, site, minutes_ago=10, published=published)]
    )
    return article_id


def _from_outbox(message: SentMessage) -> bool:
    """Alerts and digests arrive on the subscription job's schedule, not as a reply."""
    return "sb:l" in message.callback_data or "Your space-news digest" in message.content


async def say(emu: BotAPIEmulator, user: int, text: str) -> SentMessage:
    """Send ``text`` and return the bot's reply (skipping alerts the job sends meanwhile)."""
    before = len(emu.messages(user))
    emu.send_message(user, text)
    for _ in range(300):
        replies = [m for m in emu.messages(user)[before:] if not _from_outbox(m)]
        if replies:
            return replies[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no reply to {text!r}")


async def next_message(emu: BotAPIEmulator, user: int, before: int) -> SentMessage:
    return (await emu.async_wait_for_messages(user, count=before + 1, timeout=20))[before]


def deliveries(db: Database, user: int, kind: str) -> list[Delivery]:
    with db.session() as s:
        query = select(Delivery).where(Delivery.chat_id == user, Delivery.kind == kind)
        return list(s.exec(query).all())


async def test_subscribe_alert_batch_unsubscribe(botapi: BotAPIEmulator, db: Database) -> None:
    async with running_bot(botapi, db) as app:
        services = services_of(app)
        catalog = services.get_answers().knowledge.catalog
        reply = await say(botapi, USER, "/subscribe chang'e 7")
        assert "Subscribed to Chang'e-7" in reply.content
        reply = await say(botapi, USER, "/subscribe Chang'e-7")
        assert "already follow" in reply.content
        reply = await say(botapi, USER, '/subscribe "sample return"')
        assert "Subscribed to “sample return”" in reply.content
        reply = await say(botapi, OTHER, "/subscribe ESA")
        assert "Subscribed to ESA" in reply.content

        first = await seed(
            db, 1, "Chang'e-7 payloads shipped to Wenchang",
            "The instruments for Chang'e-7 have arrived at the launch site.",
        )  # fmt: skip
        await seed(db, 2, "Starship static fire", "SpaceX test-fired its booster.")
        before = len(botapi.messages(USER))
        await subscriptions_tick(db, services.now(), catalog)
        alert = await next_message(botapi, USER, before)
        assert "New on Chang'e-7" in alert.content
        assert "Chang'e-7 payloads shipped to Wenchang" in alert.content
        assert "Starship" not in alert.content
        assert alert.callback_data == ["sb:l"]
        assert [d.article_id for d in deliveries(db, USER, "alert")] == [first]
        assert deliveries(db, OTHER, "alert") == []  # ESA was not mentioned

        # the same story reported again elsewhere, and another pass: no second alert
        await seed(
            db, 3, "Chang'e-7 payloads shipped to Wenchang launch site",
            "Instruments for China's Chang'e-7 arrived at Wenchang.", site="spacewire.example",
        )  # fmt: skip
        await subscriptions_tick(db, services.now(), catalog)
        await subscriptions_tick(db, services.now(), catalog)
        assert len(deliveries(db, USER, "alert")) == 1

        # two new stories arriving together: one message listing both
        await seed(
            db, 4, "Mars sample return gets a new plan",
            "NASA outlined a cheaper sample return architecture.",
        )  # fmt: skip
        await seed(
            db, 5, "Chang'e-7 hopper tested in a lava tube",
            "The Chang'e-7 hopping probe was tested in a lava tube.",
        )  # fmt: skip
        before = len(botapi.messages(USER))
        await subscriptions_tick(db, services.now(), catalog)
        batch = await next_message(botapi, USER, before)
        assert "2 new stories for your subscriptions" in batch.content
        assert "Mars sample return gets a new plan" in batch.content
        assert "Chang'e-7 hopper tested in a lava tube" in batch.content
        assert len(deliveries(db, USER, "alert")) == 2

        # /subscriptions with remove buttons; only the owner's own rows can be removed
        listing = await say(botapi, USER, "/subscriptions")
        assert "Chang'e-7" in listing.content
        assert "“sample return”" in listing.content
        remove = next(d for d in listing.callback_data if d.startswith("sb:r:"))
        botapi.press_button(OTHER, listing, remove, check=False)  # forged: not OTHER's row
        await botapi.async_wait_for(lambda e: len(e.callback_answers) >= 1, what="answer")
        with db.session() as s:
            assert len(s.exec(select(Subscription).where(Subscription.user_id == USER)).all()) == 2
        botapi.press_button(USER, listing, remove)
        await botapi.async_wait_for(
            lambda e: "Chang'e-7" not in e.messages(USER)[-1].content, what="list edited"
        )
        reply = await say(botapi, USER, "/unsubscribe sample return")
        assert "Unsubscribed" in reply.content
        reply = await say(botapi, USER, "/subscriptions")
        assert "You follow nothing" in reply.content

        await seed(db, 6, "Chang'e-7 launch date set", "Chang'e-7 will launch in August.")
        await subscriptions_tick(db, services.now(), catalog)
        assert len(deliveries(db, USER, "alert")) == 2


async def test_ambiguous_names_ask_with_buttons(botapi: BotAPIEmulator, db: Database) -> None:
    async with running_bot(botapi, db):
        reply = await say(botapi, USER, "/subscribe tianwen")
        assert "Which one did you mean" in reply.content
        choice = next(d for d in reply.callback_data if d.startswith("sb:a:m:"))
        botapi.press_button(USER, reply, choice)
        await botapi.async_wait_for(
            lambda e: "Subscribed to" in e.messages(USER)[-1].content, what="subscribed"
        )
        with db.session() as s:
            (sub,) = s.exec(select(Subscription)).all()
        assert sub.kind == "mission"
        assert sub.target.startswith("tianwen")


async def test_digest_at_its_time_and_follow(botapi: BotAPIEmulator, db: Database) -> None:
    extra = {
        "channels": ["@orbitwire_news"],
        "follow_us": "Telegram=https://t.me/orbitwire_news,X=https://x.com/orbitwire",
    }
    botapi.add_channel(-1004444444444, username="orbitwire_news", title="Orbitwire")
    async with running_bot(botapi, db, **extra) as app:
        services = services_of(app)
        catalog = services.get_answers().knowledge.catalog
        reply = await say(botapi, USER, "/follow")
        markup = reply.reply_markup or {}
        urls = [b["url"] for row in markup["inline_keyboard"] for b in row]
        assert urls == [
            "https://t.me/orbitwire_news",
            "https://t.me/orbitwire_news",
            "https://x.com/orbitwire",
        ]

        reply = await say(botapi, USER, "/timezone europe/berlin")
        assert "Europe/Berlin" in reply.content
        reply = await say(botapi, USER, "/digest 8:00")
        assert "08:00 (Europe/Berlin)" in reply.content
        await say(botapi, USER, "/subscribe ESA")
        await seed(db, 1, "ESA approves lunar lander", "ESA approved the Argonaut lunar lander.")
        await seed(db, 2, "Starship static fire", "SpaceX test-fired its booster.")

        today = datetime.now(UTC).date()
        just_before = datetime(today.year, today.month, today.day, 6, 59, tzinfo=UTC)  # 07:59 CET
        from bot.alerts import run_digests

        assert await run_digests(db, just_before, catalog) == 0
        at_time = just_before + timedelta(minutes=1)
        before = len(botapi.messages(USER))
        assert await run_digests(db, at_time, catalog) == 1
        assert await run_digests(db, at_time + timedelta(hours=3), catalog) == 0  # once a day
        digest = await next_message(botapi, USER, before)
        assert "Your space-news digest" in digest.content
        assert "ESA approves lunar lander" in digest.content
        assert "Starship" not in digest.content
        # the next day it comes again, with the next day's news
        tomorrow = at_time + timedelta(days=1)
        await seed(
            db, 3, "ESA signs Mars rover deal", "ESA signed a deal for its Mars rover.",
            published=tomorrow - timedelta(hours=1),
        )  # fmt: skip
        before = len(botapi.messages(USER))
        assert await run_digests(db, tomorrow, catalog) == 1
        digest = await next_message(botapi, USER, before)
        assert "ESA signs Mars rover deal" in digest.content
        reply = await say(botapi, USER, "/digest off")
        assert "off" in reply.content
        assert await run_digests(db, at_time + timedelta(days=2), catalog) == 0


async def test_blocked_user_is_unsubscribed(botapi: BotAPIEmulator, db: Database) -> None:
    async with running_bot(botapi, db) as app:
        services = services_of(app)
        await say(botapi, USER, "/subscribe NASA")
        botapi.block(USER)
        await seed(db, 1, "NASA picks new Artemis crew", "NASA named four astronauts.")
        await subscriptions_tick(db, services.now(), None)

        def gone(_emu: BotAPIEmulator) -> bool:
            with db.session() as s:
                pref = s.get(UserPref, USER)
                subs = s.exec(select(Subscription)).all()
            return pref is not None and pref.blocked and not subs

        await botapi.async_wait_for(gone, timeout=20, what="blocked user unsubscribed")
        (alert,) = deliveries(db, USER, "alert")
        assert alert.state == "failed"
        # no more alerts are planned for them
        await seed(db, 2, "NASA Artemis crew begins training", "NASA crew training began.")
        await subscriptions_tick(db, services.now(), None)
        assert len(deliveries(db, USER, "alert")) == 1
