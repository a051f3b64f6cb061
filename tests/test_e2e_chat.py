"""End to end: chat answers through the real app, the Bot API emulator and a real database.

Articles come from a loopback feed of synthetic stories (written for these tests, not copied
from any site), fetched by the real ``Updater`` and linked by ``Knowledge.link_new``, on SQLite
and PostgreSQL. Assertions are what a user would notice: flags, payloads, sources, links,
buttons.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.ingest.fetch import Fetcher, FetchLimits
from bot.ingest.policy import PollPolicy
from bot.ingest.pool import ParserPool
from bot.ingest.updater import Updater, UpdaterConfig
from bot.knowledge.service import Knowledge
from storage.db import Database
from storage.feeds import add_feed
from tests.support.botapi import BotAPIEmulator, SentMessage
from tests.support.feedgen import Item, rss
from tests.support.feedserver import FeedServer
from tests.support.runbot import running_bot

USER = 515151
OTHER = 616161
GROUP = -100777
BASE = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)

#: Synthetic stories (title, summary) for the loopback feed, newest last.
STORIES: list[tuple[str, str]] = [
    (
        "Chang'e-6 far-side samples reach Beijing laboratories",
        "Scientists began unpacking the far-side samples returned by Chang'e-6. The Swedish "
        "Institute of Space Physics built the NILS negative ion detector that flew on "
        "Chang'e-6, and researchers in Stockholm expect its first ion maps this winter.",
    ),
    (
        "Pakistan's lunar cubesat data released",
        "Pakistan's ICUBE-Q cubesat, which rode to lunar orbit with Chang'e-6, has returned "
        "images of the Moon. The Institute of Space Technology said the cubesat worked for "
        "three months.",
    ),
    (
        "Chang'e-7 payloads shipped to Wenchang",
        "The instruments for Chang'e-7 have arrived at the launch site. Chang'e-7 will carry "
        "an Egyptian and Bahraini hyperspectral imager on its orbiter, and a Thai payload "
        "will measure space weather.",
    ),
    (
        "Tianwen-2 cruise update: asteroid approach on track",
        "Tianwen-2 fired its engines to refine the approach to asteroid Kamoʻoalewa. Tianwen-2 "
        "will carry a Russian instrument to study the asteroid's dust environment.",
    ),
    (
        "ILRS gains new partners at lunar research forum",
        "Delegates at a lunar research forum said more countries have signed on to the "
        "International Lunar Research Station. Pakistan is an ILRS partner and Egypt joined "
        "as a co-founder of the ILRS network, officials said.",
    ),
    (
        "Lunar south pole: why water ice matters",
        "Water ice near the lunar south pole could support future bases. Chang'e-7 will hunt "
        "for ice in permanently shadowed craters with a hopping probe.",
    ),
] + [
    (
        f"Moon mission roundup, week {n}",
        f"A weekly roundup of lunar exploration news, edition {n}: rovers, landers and "
        "orbiters around the Moon, plus a look at sample analysis.",
    )
    for n in range(1, 15)
]


def feed_items(site: str = "lunarwire.example") -> list[Item]:
    return [
        Item(
            guid=f"{site}-{i}",
            title=title,
            link=f"https://{site}/news/{i:03d}",
            summary=summary,
            published=BASE + timedelta(hours=i),
        )
        for i, (title, summary) in enumerate(STORIES)
    ]


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        yield srv


@pytest.fixture
async def ingested(db: Database, server: FeedServer) -> Database:
    """The store after one real ingestion pass over the loopback feed, articles linked."""
    server.add_feed("/lunar.xml", rss(feed_items(), title="Lunar Wire"))
    db.call(add_feed, server.url("/lunar.xml"))
    knowledge = Knowledge()
    knowledge.seed(db)
    config = UpdaterConfig(
        policy=PollPolicy(interval=timedelta(minutes=15)), backfill=100, max_new_per_fetch=100
    )
    async with (
        Fetcher(allow_private=True, limits=FetchLimits(total_timeout=5.0)) as fetcher,
        ParserPool(max_workers=1) as pool,
    ):
        updater = Updater(db, fetcher, pool, config)
        report = await updater.run_pass(include_all=True)
    assert report.new == len(STORIES)
    ids = db.call(_all_ids)
    await knowledge.link_new(db, ids)
    return db


def _all_ids(session: object) -> list[int]:
    from sqlmodel import Session, col, select

    from storage.models import Article

    assert isinstance(session, Session)
    return [int(i) for i in session.exec(select(col(Article.id))).all()]


async def ask(emu: BotAPIEmulator, text: str, *, count: int | None = None) -> list[SentMessage]:
    """Send ``text`` privately; return the bot's new messages (waits for ``count`` of them)."""
    before = len(emu.messages(USER))
    emu.send_message(USER, text)
    msgs = await emu.async_wait_for_messages(USER, count=before + (count or 1), timeout=10)
    return msgs[before:]


def buttons(msg: SentMessage) -> list[str]:
    rows = (msg.reply_markup or {}).get("inline_keyboard") or []
    return [b["text"] for row in rows for b in row]


async def test_mission_card(botapi: BotAPIEmulator, ingested: Database) -> None:
    async with running_bot(botapi, ingested):
        (card,) = await ask(botapi, "/mission change 6")
        text = card.content
        assert "Chang'e-6" in text
        assert "🇨🇳 CNSA" in text
        sweden = next(line for line in text.splitlines() if "Sweden" in line)
        assert "🇸🇪" in sweden
        assert "NILS" in sweden
        assert "leonarddavid.com" in sweden
        assert "🇨🇳" not in text.split("International partners")[1].split("Latest news")[0]
        assert "Pakistan" in text
        assert "Latest news" in text
        assert "Chang'e-6 far-side samples reach Beijing laboratories" in text
        assert 'href="https://lunarwire.example/news/000"' in (card.html or "")
        assert card.parse_mode == "HTML"


async def test_typo_offers_buttons_and_pressing_one_shows_the_card(
    botapi: BotAPIEmulator, ingested: Database
) -> None:
    async with running_bot(botapi, ingested):
        (reply,) = await ask(botapi, "/mission chnage 7")
        assert "Did you mean" in reply.content
        assert "🛰 Chang'e-7" in buttons(reply)
        assert "m:change-7" in reply.callback_data
        botapi.press_button(USER, reply, "m:change-7")
        await botapi.async_wait_for(
            lambda e: "Moon (south pole)" in (e.messages(USER)[-1].content or ""), timeout=10
        )
        card = botapi.messages(USER)[-1]
        assert card.message_id == reply.message_id  # edited in place
        assert "🇪🇬" in card.content
        assert "Egypt" in card.content
        assert any(a.callback_query_id for a in botapi.callback_answers)


async def test_unknown_mission_is_answered_helpfully(
    botapi: BotAPIEmulator, ingested: Database
) -> None:
    async with running_bot(botapi, ingested):
        (reply,) = await ask(botapi, "/mission zzqxv")
        assert "I don't know a mission called zzqxv" in reply.content
        assert "/missions" in reply.content
        (usage,) = await ask(botapi, "/mission")
        assert "Usage: /mission NAME" in usage.content


async def test_partners_for_mission_country_and_agency(
    botapi: BotAPIEmulator, ingested: Database
) -> None:
    async with running_bot(botapi, ingested):
        (mission,) = await ask(botapi, "/partners CE-7")
        assert "Partners of Chang'e-7" in mission.content
        assert "🇧🇭" in mission.content
        assert "🇹🇭" in mission.content
        (country,) = await ask(botapi, "/partners pakistani")
        text = country.content
        assert "🇵🇰 Pakistan" in text
        assert "Chang'e-6" in text
        assert "ICUBE-Q" in text
        assert "reported by lunarwire.example" in text  # an article fact, with its site
        (uae,) = await ask(botapi, "/partners UAE")
        assert "United Arab Emirates" in uae.content
        (agency,) = await ask(botapi, "/partners CNSA")
        assert "Leads" in agency.content
        assert "Chang'e-7" in agency.content
        (typo,) = await ask(botapi, "/partners Pakistn")
        assert "pc:PK" in typo.callback_data


async def test_missions_latest_sources(botapi: BotAPIEmulator, ingested: Database) -> None:
    async with running_bot(botapi, ingested):
        (esa,) = await ask(botapi, "/missions ESA")
        assert "JUICE" in esa.content
        assert "Chang'e-6" not in esa.content
        (moon,) = await ask(botapi, "/missions moon")
        assert "Chang'e-7" in moon.content
        assert "JUICE" not in moon.content
        everything = await ask(botapi, "/missions", count=2)
        assert "Chang'e-7" in "".join(m.content for m in everything)
        (latest,) = await ask(botapi, "/latest 3")
        assert "Latest 3 articles" in latest.content
        assert "Moon mission roundup, week 14" in latest.content
        (sources,) = await ask(botapi, "/sources")
        assert "Lunar Wire" in sources.content
        assert f"{len(STORIES)} articles" in sources.content


async def test_search_pages_with_next_button(botapi: BotAPIEmulator, ingested: Database) -> None:
    async with running_bot(botapi, ingested):
        (first,) = await ask(botapi, "/search lunar roundup")
        assert "page 1/" in first.content
        assert "<b>" in (first.html or "")  # highlighted snippet
        next_data = next(d for d in first.callback_data if d.startswith("s:1:"))
        botapi.press_button(USER, first, next_data)
        await botapi.async_wait_for(
            lambda e: "page 2/" in (e.messages(USER)[-1].content or ""), timeout=10
        )
        second = botapi.messages(USER)[-1]
        assert second.message_id == first.message_id
        assert any(d.startswith("s:0:") for d in second.callback_data)  # Prev
        titles_1 = {ln for ln in first.content.splitlines() if ln[:2].rstrip(".").isdigit()}
        titles_2 = {ln for ln in second.content.splitlines() if ln[:2].rstrip(".").isdigit()}
        assert titles_1.isdisjoint(titles_2)


async def test_free_text_private(botapi: BotAPIEmulator, ingested: Database) -> None:
    async with running_bot(botapi, ingested):
        (card,) = await ask(botapi, "Tianwen-2")
        assert "🛰 Tianwen-2" in card.content
        (partners,) = await ask(botapi, "who are the partners of Chang'e 6?")
        assert "Partners of Chang'e-6" in partners.content
        assert "🇸🇪" in partners.content
        (fly,) = await ask(botapi, "which countries fly on Chang'e-7")
        assert "Partners of Chang'e-7" in fly.content
        (pk,) = await ask(botapi, "what does Pakistan contribute to")
        assert "🇵🇰 Pakistan" in pk.content
        assert "Chang'e-6" in pk.content
        (found,) = await ask(botapi, "water ice in shadowed craters")
        assert "Lunar south pole: why water ice matters" in found.content


async def test_free_text_in_groups_needs_a_mention_or_reply(
    botapi: BotAPIEmulator, ingested: Database
) -> None:
    async with running_bot(botapi, ingested):
        botapi.send_message(USER, "Tianwen-2", chat_id=GROUP, chat_type="supergroup")
        mention = [{"type": "mention", "offset": 0, "length": 19}]
        botapi.send_message(USER, "@orbitwire_test_bot Chang'e-7", chat_id=GROUP, entities=mention)
        (card,) = await botapi.async_wait_for_messages(GROUP, count=1, timeout=10)
        assert "🛰 Chang'e-7" in card.content  # the un-addressed message got no answer
        botapi.send_message(OTHER, "Tianwen-2", chat_id=GROUP, reply_to_message_id=card.message_id)
        msgs = await botapi.async_wait_for_messages(GROUP, count=2, timeout=10)
        assert "🛰 Tianwen-2" in msgs[1].content
        botapi.send_message(USER, "/mission@orbitwire_test_bot CE-6", chat_id=GROUP)
        msgs = await botapi.async_wait_for_messages(GROUP, count=3, timeout=10)
        assert "🛰 Chang'e-6" in msgs[2].content


async def test_inline_mode_offers_missions_and_articles(
    botapi: BotAPIEmulator, ingested: Database
) -> None:
    async with running_bot(botapi, ingested):
        botapi.inline_query(USER, "chang")
        await botapi.async_wait_for(lambda e: e.inline_answers, timeout=10)
        answer = botapi.inline_answers[-1]
        titles = [r["title"] for r in answer.results]
        assert "🛰 Chang'e-7" in titles
        assert "🛰 Chang'e-6" in titles
        assert any("Chang'e-7 payloads shipped" in t for t in titles)
        card = next(r for r in answer.results if r["title"] == "🛰 Chang'e-7")
        assert "International partners" in card["input_message_content"]["message_text"]


async def test_long_answers_are_split_validly(botapi: BotAPIEmulator, ingested: Database) -> None:
    """/missions lists 100 missions: more than one message, each valid HTML under the limit."""
    async with running_bot(botapi, ingested):
        before = len(botapi.messages(USER))
        botapi.send_message(USER, "/missions")
        await botapi.async_wait_for(lambda e: len(e.messages(USER)) >= before + 2, timeout=10)
        await botapi.async_wait_for(
            lambda e: "Chang'e-7" in "".join(m.content for m in e.messages(USER)), timeout=10
        )
        parts = botapi.messages(USER)[before:]
        assert len(parts) >= 2
        assert all(p.parse_mode == "HTML" for p in parts)  # the emulator validated each


async def test_command_menu_lists_answer_commands(
    botapi: BotAPIEmulator, ingested: Database
) -> None:
    async with running_bot(botapi, ingested):
        names = {c["command"] for c in botapi.get_commands()}
        assert {"mission", "partners", "missions", "latest", "search", "sources"} <= names


def test_stories_are_synthetic() -> None:
    """The loopback corpus is ours: every link points at a reserved example domain."""
    assert all(i.link and ".example/" in i.link for i in feed_items())
    assert dataclasses.is_dataclass(feed_items()[0])
