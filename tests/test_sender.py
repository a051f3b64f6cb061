"""The outbox sender against the Bot API emulator: the fault matrix, on both databases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlmodel import select
from telegram.ext import ExtBot
from telegram.request import HTTPXRequest

from bot.flood import FloodControl
from bot.publish.sender import Sender
from storage import outbox
from storage.articles import ArticleDraft, store_articles
from storage.channels import sync_channels
from storage.db import Database
from storage.models import Channel, Delivery, Event
from tests.support.botapi import BotAPIEmulator

CHANNEL = -1001111111111
OTHER = -1002222222222


@pytest.fixture
async def bot(botapi: BotAPIEmulator) -> AsyncIterator[ExtBot[Any]]:
    botapi.add_channel(CHANNEL, username="orbitwire_news", title="Orbitwire")
    botapi.add_channel(OTHER, username="orbitwire_two", title="Other")
    request = HTTPXRequest(read_timeout=0.5, connection_pool_size=32)
    ext = ExtBot(
        botapi.token,
        base_url=botapi.base_url,
        request=request,
        rate_limiter=FloodControl(),
    )
    async with ext:
        yield ext


def post(title: str, **extra: Any) -> dict[str, Any]:
    html = f'<b><a href="https://news.example/{title}">{title}</a></b>\n\nAccording to news.example'
    return {"kind": "text", "html": html, "plain": f"{title}\n\nAccording to news.example", **extra}


def queue(db: Database, chat_id: int, payloads: list[dict[str, Any]], start: int = 0) -> list[int]:
    drafts = [
        ArticleDraft(
            identity=f"a{chat_id}-{start + i}",
            canonical_url=None,
            url="",
            title="t",
            summary="",
            content_hash="h",
        )
        for i in range(len(payloads))
    ]
    ids = db.call(store_articles, None, drafts).new_ids
    for article_id, payload in zip(ids, payloads, strict=True):
        db.call(outbox.enqueue, article_id, chat_id, payload=payload)
    return ids


async def drain(sender: Sender, db: Database, seconds: float = 10.0) -> None:
    """Run the sender until every delivery is final (or time runs out)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        await sender.run_once()
        open_rows = {k: v for k, v in db.call(outbox.counts).items() if k in outbox.OPEN_STATES}
        if not open_rows:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"outbox not drained: {db.call(outbox.counts)}")


def states(db: Database) -> dict[int, str]:
    with db.session() as s:
        return {d.article_id: d.state for d in s.exec(select(Delivery)).all()}


async def test_posts_arrive_in_order_with_message_ids(
    db: Database, botapi: BotAPIEmulator, bot: ExtBot[Any]
) -> None:
    queue(db, CHANNEL, [post(f"story-{i}") for i in range(3)])
    sender = Sender(db, bot, bot.rate_limiter, retry_base=0.05)  # type: ignore[arg-type]
    await drain(sender, db)
    sent = botapi.messages(CHANNEL)
    assert [m.text.split("\n")[0] for m in sent if m.text] == ["story-0", "story-1", "story-2"]
    with db.session() as s:
        rows = s.exec(select(Delivery).order_by(Delivery.id)).all()
    assert [r.message_id for r in rows] == [m.message_id for m in sent]
    assert {r.state for r in rows} == {"sent"}


async def test_server_errors_retry_and_keep_order(
    db: Database, botapi: BotAPIEmulator, bot: ExtBot[Any]
) -> None:
    botapi.add_fault("sendMessage", chat_id=CHANNEL, kind="server_error", times=2)
    queue(db, CHANNEL, [post("first"), post("second")])
    sender = Sender(db, bot, bot.rate_limiter, retry_base=0.05)  # type: ignore[arg-type]
    await drain(sender, db)
    assert [m.text.split("\n")[0] for m in botapi.messages(CHANNEL) if m.text] == [
        "first",
        "second",
    ]


async def test_kicked_channel_is_disabled_and_others_continue(
    db: Database, botapi: BotAPIEmulator, bot: ExtBot[Any]
) -> None:
    db.call(sync_channels, [str(CHANNEL), str(OTHER)])
    botapi.kick(CHANNEL)
    gone: list[int] = []

    async def on_gone(chat_id: int, reason: str) -> None:
        gone.append(chat_id)

    queue(db, CHANNEL, [post("a"), post("b")])
    queue(db, OTHER, [post("c")], start=10)
    sender = Sender(db, bot, bot.rate_limiter, on_chat_gone=on_gone)  # type: ignore[arg-type]
    await drain(sender, db)
    assert len(botapi.messages(OTHER)) == 1
    assert botapi.messages(CHANNEL) == []
    assert sorted(states(db).values()) == ["failed", "sent", "skipped"]
    assert gone == [CHANNEL]
    with db.session() as s:
        channel = s.exec(select(Channel).where(Channel.chat_id == CHANNEL)).one()
        events = s.exec(select(Event).where(Event.kind == "channel_gone")).all()
    assert not channel.enabled
    assert "kicked" in (channel.disabled_reason or "")
    assert len(events) == 1


async def test_unparseable_html_is_resent_as_plain_text(
    db: Database, botapi: BotAPIEmulator, bot: ExtBot[Any]
) -> None:
    queue(db, CHANNEL, [{"kind": "text", "html": "AT&T <3 Chang'e", "plain": "AT&T <3 Chang'e"}])
    await drain(Sender(db, bot, bot.rate_limiter), db)  # type: ignore[arg-type]
    (message,) = botapi.messages(CHANNEL)
    assert message.text == "AT&T <3 Chang'e"
    assert message.parse_mode is None


async def test_too_long_caption_becomes_a_text_post_with_large_preview(
    db: Database, botapi: BotAPIEmulator, bot: ExtBot[Any]
) -> None:
    long_html = "<b>Title</b>\n" + "word " * 300
    payload = {
        "kind": "photo",
        "photo_url": "https://img.example/p.jpg",
        "html": long_html,
        "plain": "Title\n" + "word " * 300,
    }
    queue(db, CHANNEL, [payload])
    await drain(Sender(db, bot, bot.rate_limiter), db)  # type: ignore[arg-type]
    (message,) = botapi.messages(CHANNEL)
    assert message.method == "sendMessage"
    assert message.link_preview_options is not None
    assert message.link_preview_options["url"] == "https://img.example/p.jpg"
    assert message.link_preview_options.get("prefer_large_media") is True


async def test_migrated_chat_gets_the_post_at_its_new_id(
    db: Database, botapi: BotAPIEmulator, bot: ExtBot[Any]
) -> None:
    new_id = -1003333333333
    db.call(sync_channels, [str(CHANNEL)])
    botapi.add_fault("sendMessage", chat_id=CHANNEL, kind="migrate", new_chat_id=new_id)
    queue(db, CHANNEL, [post("moved"), post("after")])
    await drain(Sender(db, bot, bot.rate_limiter), db)  # type: ignore[arg-type]
    assert [m.text.split("\n")[0] for m in botapi.messages(new_id) if m.text] == ["moved", "after"]
    with db.session() as s:
        channel = s.exec(select(Channel)).one()
    assert channel.chat_id == new_id
    assert channel.migrated_from == CHANNEL


async def test_retry_after_holds_only_that_chat(
    db: Database, botapi: BotAPIEmulator, bot: ExtBot[Any]
) -> None:
    botapi.add_fault("sendMessage", chat_id=CHANNEL, kind="retry_after", seconds=2)
    queue(db, CHANNEL, [post("held")])
    queue(db, OTHER, [post(f"free-{i}") for i in range(3)], start=10)
    sender = Sender(db, bot, bot.rate_limiter)  # type: ignore[arg-type]
    loop = asyncio.get_running_loop()
    started = loop.time()
    await botapi.async_wait_for_messages(OTHER, count=0)
    task = asyncio.create_task(drain(sender, db, seconds=15))
    await botapi.async_wait_for_messages(OTHER, count=3, timeout=8)
    other_done = loop.time() - started
    await task
    (held,) = botapi.messages(CHANNEL)
    assert held.timestamp - botapi.messages(OTHER)[0].timestamp >= 1.5
    assert other_done < 5  # not stalled by the other chat's flood wait
    assert botapi.stats.responses.get(429, 0) == 1


async def test_lost_response_is_not_sent_twice(
    db: Database, botapi: BotAPIEmulator, bot: ExtBot[Any]
) -> None:
    """The request reached Telegram but the answer never came back: at-most-once."""
    botapi.add_fault("sendMessage", chat_id=CHANNEL, kind="delay", seconds=2.0, deliver=True)
    queue(db, CHANNEL, [post("once"), post("next")])
    await drain(Sender(db, bot, bot.rate_limiter), db)  # type: ignore[arg-type]
    texts = [m.text.split("\n")[0] for m in botapi.messages(CHANNEL) if m.text]
    assert texts.count("once") == 1
    assert "next" in texts  # the queue moved on
    assert sorted(states(db).values()) == ["sent", "unknown"]
