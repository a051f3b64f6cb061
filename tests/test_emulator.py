"""Tests of the loopback Bot API emulator, driven through the *real* python-telegram-bot client.

Going through ``telegram.Bot`` proves two things at once: the emulator enforces Telegram's rules
(HTML, lengths, flood limits, long polling) and every answer it gives parses into PTB objects.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import json
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    LinkPreviewOptions,
    Update,
)
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes
from telegram.request import HTTPXRequest

from tests.support.botapi import BotAPIEmulator, FloodLimiter
from tests.support.html_rules import HTMLParseError, normalize_url, parse_html, utf16_len

# Fixtures botapi, botapi_bot and botapi_factory come from tests.support.fixtures (conftest).
pytestmark = [
    pytest.mark.timeout(30),
    # PTB itself reads RetryAfter.retry_after while building the exception message.
    pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning"),
]

USER = 1000
CHANNEL = -1001234567890
PNG_100x50 = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + (100).to_bytes(4, "big") + (50).to_bytes(4, "big")
)


def retry_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


def make_bot(emu: BotAPIEmulator, **request_kwargs: float) -> Bot:
    request = HTTPXRequest(**request_kwargs) if request_kwargs else None
    return Bot(emu.token, base_url=emu.base_url, base_file_url=emu.base_file_url, request=request)


# --------------------------------------------------------------------------------------------
# parse_html as a pure function
# --------------------------------------------------------------------------------------------

# Error and success vectors taken from TDLib's own parse_html tests (lenient mode == Telegram).
TDLIB_ERRORS = [
    ("🏟 🏟&lt;<abacaba", "Unclosed start tag at byte offset 13"),
    ("🏟 🏟&lt;<abac aba>", 'Unsupported start tag "abac" at byte offset 13'),
    ("🏟 🏟&lt;<i   =aba>", 'Empty attribute name in the tag "i" at byte offset 13'),
    ("🏟 🏟&lt;<i    aba>", 'Can\'t find end tag corresponding to start tag "i"'),
    ("🏟 🏟&lt;<i    aba  =  ", 'Unclosed start tag "i" at byte offset 13'),
    ("🏟 🏟&lt;<i    aba  =  190azAz-.,", "Unexpected end of name token at byte offset 27"),
    ('🏟 🏟&lt;<i    aba  =  "&lt;&gt;&quot;>', "Unclosed start tag at byte offset 13"),
    ("🏟 🏟&lt;</", "Unexpected end tag at byte offset 13"),
    ("🏟 🏟&lt;<b></b></", "Unexpected end tag at byte offset 20"),
    ("🏟 🏟&lt;<i>a</i   ", "Unclosed end tag at byte offset 17"),
    (
        "🏟 🏟&lt;<i>a</em   >",
        'Unmatched end tag at byte offset 17, expected "</i>", found "</em>"',
    ),
    ("&#57311;", "Text contains invalid Unicode characters after decoding HTML entities"),
    ('<span class="x">a</span>', 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
]


@pytest.mark.parametrize(("markup", "error"), TDLIB_ERRORS)
def test_parse_html_errors_match_telegram(markup: str, error: str) -> None:
    with pytest.raises(HTMLParseError) as info:
        parse_html(markup, strict=False)
    assert str(info.value).startswith(error)


@pytest.mark.parametrize(
    ("markup", "text", "entities"),
    [
        (
            "🏟 🏟<i>🏟 &gt;<b aba   =   caba>&lt🏟</b></i>",
            "🏟 🏟🏟 ><🏟",
            [
                {"type": "italic", "offset": 5, "length": 7},
                {"type": "bold", "offset": 9, "length": 3},
            ],
        ),
        (
            '🏟 🏟&lt;<pre><code class="language-fift">🏟 🏟&lt;</></>',
            "🏟 🏟<🏟 🏟<",
            [{"type": "pre", "offset": 6, "length": 6, "language": "fift"}],
        ),
        (
            "🏟 🏟&lt;<pre><code>🏟 🏟&lt;</code></>",
            "🏟 🏟<🏟 🏟<",
            [{"type": "pre", "offset": 6, "length": 6}, {"type": "code", "offset": 6, "length": 6}],
        ),
        (
            "<a href=telegram.org>x</a>",
            "x",
            [{"type": "text_link", "offset": 0, "length": 1, "url": "http://telegram.org/"}],
        ),
        ("<a>telegram.org </a>", "telegram.org ", []),
        ("&ge;&laquo;&#12345678;", "&ge;&laquo;&#12345678;", []),
        ("🏟 🏟&lt;<b></b>", "🏟 🏟<", []),
        (
            "<blockquote   expandable>a&lt;<pre  >b;</></>",
            "a<b;",
            [
                {"type": "expandable_blockquote", "offset": 0, "length": 4},
                {"type": "pre", "offset": 2, "length": 2},
            ],
        ),
    ],
)
def test_parse_html_lenient_matches_tdlib(markup: str, text: str, entities: list[dict]) -> None:
    assert parse_html(markup, strict=False) == (text, entities)


@pytest.mark.parametrize(
    ("markup", "fragment"),
    [
        ("AT&T rocks", 'Character "&" at byte offset 2 must be escaped'),
        ("a&nbsp;b", 'Unsupported HTML entity "&nbsp;" at byte offset 1'),
        ("x &#X41; y", "Invalid numeric character reference"),
        ("<a>https://example.com</a>", 'Tag "a" must have attribute "href"'),
        ('<a href="javascript:alert(1)">x</a>', 'Unsupported URL "javascript:alert(1)"'),
    ],
)
def test_parse_html_strict_rejects_what_telegram_would_show_literally(
    markup: str, fragment: str
) -> None:
    with pytest.raises(HTMLParseError) as info:
        parse_html(markup)
    assert fragment in str(info.value)
    # Telegram itself accepts these (showing the text literally or dropping the link).
    parse_html(markup, strict=False)


def test_parse_html_entities_and_utf16_offsets() -> None:
    text, entities = parse_html(
        '🚀 <b>bold <i>both</i></b> <a href="https://example.com/x?a=1&amp;b=2">l</a> '
        '&#128640;&#x1F680; <tg-spoiler>s</tg-spoiler> <span class="tg-spoiler">t</span> '
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji> <u>u</u><s>s</s>'
        '<a href="tg://user?id=42">m</a>'
    )
    assert text == "🚀 bold both l 🚀🚀 s t 👍 usm"
    by_type = {e["type"]: e for e in entities}
    assert by_type["bold"] == {"type": "bold", "offset": 3, "length": 9}
    assert by_type["italic"] == {"type": "italic", "offset": 8, "length": 4}
    assert by_type["text_link"]["url"] == "https://example.com/x?a=1&b=2"
    assert by_type["custom_emoji"]["custom_emoji_id"] == "5368324170671202286"
    assert by_type["custom_emoji"]["length"] == 2  # 👍 is two UTF-16 code units
    assert by_type["text_mention"]["user"]["id"] == 42
    assert {"underline", "strikethrough", "spoiler"} <= by_type.keys()
    assert utf16_len("🚀") == 2
    assert utf16_len("é") == 1
    assert utf16_len(text) == len(text) + 4  # four astral characters count two units each


def test_normalize_url() -> None:
    assert normalize_url("telegram.org") == "http://telegram.org/"
    assert normalize_url("https://t.me/x?y=1#z") == "https://t.me/x?y=1#z"
    assert normalize_url("tg://resolve?domain=x") == "tg://resolve?domain=x"
    assert normalize_url("javascript:alert(1)") is None
    assert normalize_url("") is None


# --------------------------------------------------------------------------------------------
# Basic methods through PTB
# --------------------------------------------------------------------------------------------


async def test_get_me_identity_derives_from_token(botapi: BotAPIEmulator) -> None:
    async with Bot("987654:OTHER_token-x", base_url=botapi.base_url) as bot:
        me = await bot.get_me()
    assert me.id == 987654
    assert me.username == "orbitwire_test_bot"
    assert me.is_bot


async def test_send_message_is_stored_and_ids_increase_per_chat(
    botapi: BotAPIEmulator,
    botapi_bot: Bot,
) -> None:
    botapi.add_user(USER)
    botapi.add_user(2000)
    botapi.add_channel(CHANNEL, username="orbitnews")
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("More", callback_data="more:1")]])
    first = await botapi_bot.send_message(
        USER,
        "<b>Launch</b> &amp; <i>landing</i> at 12:00 &lt;UTC&gt;",
        parse_mode="HTML",
        reply_markup=markup,
        link_preview_options=LinkPreviewOptions(is_disabled=True),
    )
    second = await botapi_bot.send_message(USER, "plain")
    other = await botapi_bot.send_message(2000, "hello")
    post = await botapi_bot.send_message("@orbitnews", "news")

    assert first.text == "Launch & landing at 12:00 <UTC>"
    assert first.from_user is not None
    assert first.from_user.id == botapi.bot_id
    assert first.reply_markup == markup
    assert [e.type for e in first.entities] == ["bold", "italic"]
    assert (first.message_id, second.message_id, other.message_id) == (1, 2, 1)
    assert post.chat.id == CHANNEL
    assert post.sender_chat is not None

    stored = botapi.messages(USER)
    assert [m.message_id for m in stored] == [1, 2]
    assert stored[0].html.startswith("<b>Launch</b>")
    assert stored[0].text == "Launch & landing at 12:00 <UTC>"
    assert stored[0].parse_mode == "HTML"
    assert stored[0].callback_data == ["more:1"]
    assert stored[0].link_preview_options == {"is_disabled": True}
    assert stored[1].parse_mode is None
    assert botapi.last_message(CHANNEL).text == "news"


async def test_unknown_chat_and_empty_text(botapi: BotAPIEmulator, botapi_bot: Bot) -> None:
    botapi.add_user(USER)
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await botapi_bot.send_message(424242, "hi")
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await botapi_bot.send_message(USER, "<b> </b>  ", parse_mode="HTML")


@pytest.mark.parametrize(
    "markup",
    [
        "AT&T <3",
        "<div>launch</div>",
        "<b>unbalanced",
        "<b><i>crossed</b></i>",
        "space&nbsp;news",
        '<a href="javascript:alert(1)">click</a>',
        "x < y",
    ],
)
async def test_invalid_html_is_rejected(
    botapi: BotAPIEmulator,
    botapi_bot: Bot,
    markup: str,
) -> None:
    botapi.add_user(USER)
    with pytest.raises(BadRequest) as info:
        await botapi_bot.send_message(USER, markup, parse_mode="HTML")
    assert "can't parse entities" in str(info.value).lower()
    assert botapi.messages() == []


@pytest.mark.parametrize(
    "markup",
    [
        "<b>bold <i>and italic</i></b>",
        '<pre><code class="language-python">print("hi")</code></pre>',
        "Liftoff &#128640; &#x1F680;",
        '<span class="tg-spoiler">secret</span> <tg-spoiler>also</tg-spoiler>',
        "<blockquote expandable>long quote</blockquote>",
        '<a href="https://example.com/?a=1&amp;b=2">link</a>',
        "1 &gt; 0 &amp;&amp; &quot;quoted&quot;",
    ],
)
async def test_valid_html_is_accepted(
    botapi: BotAPIEmulator,
    botapi_bot: Bot,
    markup: str,
) -> None:
    botapi.add_user(USER)
    message = await botapi_bot.send_message(USER, markup, parse_mode="HTML")
    assert message.text == parse_html(markup)[0]
    assert botapi.last_message(USER).html == markup


async def test_edit_delete_and_not_modified(
    botapi: BotAPIEmulator,
    botapi_bot: Bot,
) -> None:
    botapi.add_user(USER)
    sent = await botapi_bot.send_message(USER, "v1")
    edited = await botapi_bot.edit_message_text(
        "<b>v2</b>", USER, sent.message_id, parse_mode="HTML"
    )
    assert edited.text == "v2"
    assert edited.edit_date is not None
    with pytest.raises(BadRequest, match=r"(?i)not modified"):
        await botapi_bot.edit_message_text("<b>v2</b>", USER, sent.message_id, parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)parse entities"):
        await botapi_bot.edit_message_text("<b>v3", USER, sent.message_id, parse_mode="HTML")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("ok", callback_data="ok")]])
    await botapi_bot.edit_message_reply_markup(USER, sent.message_id, reply_markup=keyboard)
    record = botapi.last_message(USER)
    assert [v.text for v in record.history] == ["v1", "v2", "v2"]
    assert record.edits[-1].method == "editMessageReplyMarkup"
    assert record.callback_data == ["ok"]

    assert await botapi_bot.delete_message(USER, sent.message_id)
    assert botapi.last_message(USER).deleted
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await botapi_bot.delete_message(USER, sent.message_id)
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await botapi_bot.edit_message_text("v4", USER, sent.message_id)


# --------------------------------------------------------------------------------------------
# Lengths
# --------------------------------------------------------------------------------------------


async def test_text_length_is_counted_in_utf16_after_parsing(
    botapi_factory: Callable[..., BotAPIEmulator],
) -> None:
    emu = botapi_factory(flood_limits=False)
    emu.add_user(USER)
    async with make_bot(emu) as bot:
        await bot.send_message(USER, "a" * 4096)
        with pytest.raises(BadRequest, match=r"(?i)too long"):
            await bot.send_message(USER, "a" * 4097)
        await bot.send_message(USER, "🚀" * 2048)  # 4096 UTF-16 code units
        with pytest.raises(BadRequest, match=r"(?i)too long"):
            await bot.send_message(USER, "🚀" * 2048 + "a")
        # 4096 visible characters inside ~12k characters of markup: counted after parsing.
        await bot.send_message(USER, "<b>ab</b>" * 2048, parse_mode="HTML")
        with pytest.raises(BadRequest, match=r"(?i)too long"):
            await bot.send_message(USER, "<b>ab</b>" * 2048 + "&amp;", parse_mode="HTML")

        url = "https://example.com/rocket.jpg"
        photo = await bot.send_photo(USER, url, caption="c" * 1024)
        assert photo.caption == "c" * 1024
        with pytest.raises(BadRequest, match=r"(?i)caption is too long"):
            await bot.send_photo(USER, url, caption="c" * 1025)
    assert emu.stats.messages_sent == 4


async def test_callback_data_limit(botapi: BotAPIEmulator, botapi_bot: Bot) -> None:
    botapi.add_user(USER)
    ok = InlineKeyboardMarkup([[InlineKeyboardButton("b", callback_data="x" * 64)]])
    await botapi_bot.send_message(USER, "fits", reply_markup=ok)
    too_long = InlineKeyboardMarkup([[InlineKeyboardButton("b", callback_data="é" * 33)]])
    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        await botapi_bot.send_message(USER, "66 bytes", reply_markup=too_long)


async def test_send_photo_upload_and_file_download(
    botapi: BotAPIEmulator,
    botapi_bot: Bot,
) -> None:
    botapi.add_user(USER)
    message = await botapi_bot.send_photo(
        USER, PNG_100x50, caption="<i>Mars</i>", parse_mode="HTML"
    )
    assert message.caption == "Mars"
    assert message.caption_entities[0].type == "italic"
    largest = message.photo[-1]
    assert (largest.width, largest.height) == (100, 50)
    downloaded = await (await botapi_bot.get_file(largest.file_id)).download_as_bytearray()
    assert bytes(downloaded) == PNG_100x50
    again = await botapi_bot.send_photo(USER, largest.file_id)  # re-send by file_id
    assert again.photo[-1].file_id == largest.file_id
    with pytest.raises(BadRequest, match=r"(?i)wrong file identifier"):
        await botapi_bot.send_photo(USER, "no-such-file-id")
    record = botapi.messages(USER)[0]
    assert record.method == "sendPhoto"
    assert record.caption == "Mars"
    assert record.text is None


# --------------------------------------------------------------------------------------------
# Flood limits
# --------------------------------------------------------------------------------------------


async def test_channel_flood_limit_20_per_minute(
    botapi: BotAPIEmulator,
    botapi_bot: Bot,
) -> None:
    botapi.add_channel(CHANNEL)
    for number in range(20):
        await botapi_bot.send_message(CHANNEL, f"post {number}")
    with pytest.raises(RetryAfter) as info:
        await botapi_bot.send_message(CHANNEL, "post 21")
    assert 1 <= retry_seconds(info.value) <= 60
    stats = botapi.stats
    assert stats.flood_429 == 1
    assert stats.flood_429_by_chat[CHANNEL] == 1
    assert len(botapi.messages(CHANNEL)) == 20
    # Edits do not count against the limit.
    await botapi_bot.edit_message_text("edited", CHANNEL, 1)


async def test_global_flood_limit_30_per_second(
    botapi: BotAPIEmulator,
    botapi_bot: Bot,
) -> None:
    users = [USER + n for n in range(31)]
    for user in users:
        botapi.add_user(user)
    results = await asyncio.gather(
        *(botapi_bot.send_message(user, "hi") for user in users), return_exceptions=True
    )
    failures = [r for r in results if isinstance(r, BaseException)]
    assert len(failures) == 1
    assert isinstance(failures[0], RetryAfter)
    assert retry_seconds(failures[0]) == 1


async def test_private_chat_burst_then_one_per_second(
    botapi: BotAPIEmulator,
    botapi_bot: Bot,
) -> None:
    botapi.add_user(USER)
    for _ in range(3):
        await botapi_bot.send_message(USER, "burst")
    with pytest.raises(RetryAfter) as info:
        await botapi_bot.send_message(USER, "one too many")
    assert retry_seconds(info.value) == 1


def test_flood_limiter_windows_with_a_fake_clock() -> None:
    now = [0.0]
    limiter = FloodLimiter(global_rate=30, group_per_minute=20, clock=lambda: now[0])
    assert [limiter.check(1) for _ in range(3)] == [0, 0, 0]
    assert limiter.check(1) == 1  # bucket empty
    now[0] = 1.0
    assert limiter.check(1) == 0  # refilled one token
    assert limiter.check(1) == 1
    for _ in range(20):
        assert limiter.check(-100) == 0
        now[0] += 0.5
    assert limiter.check(-100) == 50  # the first send (t=1.0) leaves the window at t=61
    now[0] = 61.0
    assert limiter.check(-100) == 0
    now[0] = 62.0
    for user in range(100, 130):
        assert limiter.check(user) == 0
    assert limiter.check(500) == 1  # 30 sends this second already


async def test_flood_limits_can_be_disabled(botapi_factory: Callable[..., BotAPIEmulator]) -> None:
    emu = botapi_factory(flood_limits=False)
    emu.add_channel(CHANNEL)
    async with make_bot(emu) as bot:
        for number in range(25):
            await bot.send_message(CHANNEL, f"post {number}")
    assert emu.stats.flood_429 == 0


# --------------------------------------------------------------------------------------------
# Faults
# --------------------------------------------------------------------------------------------


async def test_faults_map_to_ptb_exceptions(
    botapi_factory: Callable[..., BotAPIEmulator],
) -> None:
    emu = botapi_factory(flood_limits=False)
    emu.add_user(USER)
    emu.add_channel(CHANNEL, username="orbitnews")
    emu.add_fault("sendMessage", kind="server_error")
    emu.add_fault("sendMessage", kind="server_error", status=502)
    emu.add_fault("sendMessage", kind="retry_after", seconds=7)
    emu.add_fault("sendMessage", kind="bad_request", description="custom problem")
    async with make_bot(emu) as bot:
        with pytest.raises(NetworkError, match="Internal Server Error"):
            await bot.send_message(USER, "a")
        with pytest.raises(NetworkError, match="Bad Gateway"):
            await bot.send_message(USER, "b")
        with pytest.raises(RetryAfter) as info:
            await bot.send_message(USER, "d")
        assert retry_seconds(info.value) == 7
        with pytest.raises(BadRequest, match=r"(?i)Custom problem"):
            await bot.send_message(USER, "e")
        await bot.send_message(USER, "faults are used up")

        emu.add_fault("sendMessage", chat_id=CHANNEL, kind="forbidden")
        await bot.send_message(USER, "the forbidden fault only matches the channel")
        with pytest.raises(Forbidden, match="kicked from the channel"):
            await bot.send_message("@orbitnews", "c")

        emu.block(USER)
        with pytest.raises(Forbidden, match="blocked by the user"):
            await bot.send_message(USER, "f")
        emu.unblock(USER)
        await bot.send_message(USER, "unblocked")
    assert [m.text for m in emu.messages(USER)] == [
        "faults are used up",
        "the forbidden fault only matches the channel",
        "unblocked",
    ]
    assert emu.stats.faults_fired["server_error"] == 2


async def test_migrate_fault_moves_the_chat(botapi: BotAPIEmulator, botapi_bot: Bot) -> None:
    old, new = -4001, -1009876543210
    botapi.add_group(old, "Crew", supergroup=False)
    botapi.add_fault("sendMessage", chat_id=old, kind="migrate", new_chat_id=new)
    with pytest.raises(ChatMigrated) as info:
        await botapi_bot.send_message(old, "hello")
    assert info.value.new_chat_id == new
    with pytest.raises(ChatMigrated):  # the old id stays dead, as on Telegram
        await botapi_bot.send_message(old, "hello again")
    message = await botapi_bot.send_message(new, "hello supergroup")
    assert message.chat.type == "supergroup"
    assert message.chat.title == "Crew"
    assert botapi.migrated == {old: new}


async def test_delay_fault_gives_timed_out_and_optionally_delivers(
    botapi: BotAPIEmulator,
) -> None:
    botapi.add_user(USER)
    botapi.add_fault("sendMessage", kind="delay", seconds=1.5, deliver=True)
    botapi.add_fault("sendMessage", kind="delay", seconds=0.6, deliver=False)
    async with make_bot(botapi, read_timeout=0.3) as bot:
        with pytest.raises(TimedOut):
            await bot.send_message(USER, "delivered but the answer is lost")
        with pytest.raises(TimedOut):
            await bot.send_message(USER, "never delivered")
        await asyncio.sleep(0.5)
    assert [m.text for m in botapi.messages(USER)] == ["delivered but the answer is lost"]


async def test_drop_fault_closes_the_connection(botapi: BotAPIEmulator, botapi_bot: Bot) -> None:
    botapi.add_user(USER)
    botapi.add_fault("sendMessage", kind="drop", deliver=True)
    with pytest.raises(NetworkError):
        await botapi_bot.send_message(USER, "lost answer")
    assert botapi.last_message(USER).text == "lost answer"


def test_raw_http_errors_and_encodings(botapi: BotAPIEmulator) -> None:
    botapi.add_user(USER)
    with httpx.Client(timeout=5) as client:
        unknown = client.post(botapi.api_url("sendTelepathy"), data={"chat_id": USER})
        assert unknown.status_code == 404
        assert unknown.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
        malformed = client.post(f"{botapi.base_url}not-a-token/getMe")
        assert malformed.status_code == 404

        by_get = client.get(botapi.api_url("sendMessage"), params={"chat_id": USER, "text": "q"})
        assert by_get.json()["result"]["text"] == "q"
        by_json = client.post(
            botapi.api_url("sendMessage"),
            json={"chat_id": str(USER), "text": "123", "reply_markup": {"inline_keyboard": []}},
        )
        assert by_json.json()["result"]["text"] == "123"
        missing = client.post(botapi.api_url("sendMessage"), data={"chat_id": USER})
        assert missing.json()["description"] == "Bad Request: message text is empty"
    assert [r.status for r in botapi.requests_for("sendMessage")] == [200, 200, 400]
    assert botapi.stats.requests["sendTelepathy"] == 1


async def test_wrong_token_is_unauthorized(botapi_factory: Callable[..., BotAPIEmulator]) -> None:
    emu = botapi_factory(accept_any_token=False)
    with pytest.raises(InvalidToken):
        async with Bot("111:wrong", base_url=emu.base_url):
            pass


# --------------------------------------------------------------------------------------------
# getUpdates long polling
# --------------------------------------------------------------------------------------------


async def test_long_poll_returns_as_soon_as_an_update_arrives(
    botapi: BotAPIEmulator,
    botapi_bot: Bot,
) -> None:
    timer = threading.Timer(0.3, botapi.send_message, args=(USER, "/start"))
    started = time.monotonic()
    timer.start()
    updates = await botapi_bot.get_updates(timeout=5)
    elapsed = time.monotonic() - started
    timer.join()
    assert 0.25 <= elapsed < 1.5  # answered on arrival, not at the 5 s timeout
    assert len(updates) == 1
    message = updates[0].message
    assert message.text == "/start"
    assert message.chat.id == USER
    assert message.entities[0].type == "bot_command"

    # Without an offset the update is delivered again; the offset confirms it.
    assert [u.update_id for u in await botapi_bot.get_updates(timeout=0)] == [updates[0].update_id]
    assert await botapi_bot.get_updates(offset=updates[0].update_id + 1, timeout=0) == ()
    assert botapi.pending_updates() == []


async def test_get_updates_limit_and_allowed_updates(
    botapi: BotAPIEmulator,
    botapi_bot: Bot,
) -> None:
    for number in range(3):
        botapi.send_message(USER, f"m{number}")
    botapi.inline_query(USER, "mars")
    first = await botapi_bot.get_updates(limit=2, timeout=0)
    assert [u.message.text for u in first] == ["m0", "m1"]
    rest = await botapi_bot.get_updates(
        offset=first[-1].update_id + 1, timeout=0, allowed_updates=["inline_query"]
    )
    assert [u.inline_query.query for u in rest] == ["mars"]  # m2 is dropped, not delivered


async def test_second_poller_conflicts(botapi: BotAPIEmulator) -> None:
    async with make_bot(botapi) as first, make_bot(botapi) as second:
        older = asyncio.create_task(first.get_updates(timeout=5))
        await asyncio.sleep(0.2)
        newer = asyncio.create_task(second.get_updates(timeout=1))
        with pytest.raises(Conflict, match="terminated by other getUpdates"):
            await older
        botapi.send_message(USER, "for the newer poller")
        assert [u.message.text for u in await newer] == ["for the newer poller"]


async def test_get_updates_conflicts_with_webhook(
    botapi: BotAPIEmulator,
    botapi_bot: Bot,
) -> None:
    botapi.webhook_mode = False
    assert await botapi_bot.set_webhook("https://bot.example.com/hook", secret_token="s3cr3t_-")
    with pytest.raises(Conflict, match="webhook is active"):
        await botapi_bot.get_updates(timeout=0)
    info = await botapi_bot.get_webhook_info()
    assert info.url == "https://bot.example.com/hook"
    with pytest.raises(BadRequest, match=r"(?i)secret token"):
        await botapi_bot.set_webhook("https://bot.example.com/hook", secret_token="bad token!")
    assert await botapi_bot.delete_webhook()
    assert await botapi_bot.get_updates(timeout=0) == ()


async def test_webhook_mode_posts_updates_with_the_secret(
    botapi: BotAPIEmulator,
    botapi_bot: Bot,
) -> None:
    received: list[tuple[str | None, dict]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(
            (request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json())
        )
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        await botapi_bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="topsecret")
        botapi.send_message(USER, "via webhook")
        await botapi.async_wait_for(
            lambda emu: emu.webhook_deliveries and not emu.pending_updates(), what="a delivery"
        )
        assert received[0][0] == "topsecret"
        update = Update.de_json(received[0][1], botapi_bot)
        assert update.message.text == "via webhook"
        assert botapi.pending_updates() == []
        statuses = await botapi.async_deliver_webhook({"message": received[0][1]["message"]})
        assert statuses == [200]
    finally:
        await runner.cleanup()


# --------------------------------------------------------------------------------------------
# Callback and inline round trips, commands, helpers
# --------------------------------------------------------------------------------------------


async def test_callback_query_round_trip(
    botapi: BotAPIEmulator,
    botapi_bot: Bot,
) -> None:
    botapi.add_user(USER)
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Next", callback_data="page:2")]])
    sent = await botapi_bot.send_message(USER, "page 1", reply_markup=keyboard)
    message = botapi.last_message(USER)
    with pytest.raises(ValueError, match="no button"):
        botapi.press_button(USER, message, "page:3")
    query_id = botapi.press_button(USER, message, "page:2")
    (update,) = await botapi_bot.get_updates(timeout=1)
    query = update.callback_query
    assert query.id == query_id
    assert query.data == "page:2"
    assert query.message.text == "page 1"
    assert query.message.message_id == message.message_id
    assert query.from_user.id == USER
    with pytest.raises(BadRequest, match=r"(?i)MESSAGE_TOO_LONG"):
        await query.answer("x" * 201)
    assert await query.answer("Loading page 2")
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await query.answer("twice")
    (answer,) = botapi.callback_answers
    assert (answer.text, answer.data, answer.user_id) == ("Loading page 2", "page:2", USER)
    botapi.press_button(USER, USER, message.message_id, "page:2")  # the other call forms
    botapi.press_button(USER, sent, "page:2")


async def test_group_command_update(botapi: BotAPIEmulator, botapi_bot: Bot) -> None:
    group = -1005550001
    botapi.send_message(
        USER, "/status@orbitwire_test_bot now", chat_id=group, chat_type="supergroup"
    )
    (update,) = await botapi_bot.get_updates(timeout=1)
    message = update.message
    assert message.chat.id == group
    assert message.chat.type == "supergroup"
    assert message.parse_entity(message.entities[0]) == "/status@orbitwire_test_bot"
    reply = await message.reply_text("ok")  # groups: PTB quotes the command by default
    assert reply.reply_to_message.message_id == message.message_id


async def test_inline_query_round_trip(botapi: BotAPIEmulator, botapi_bot: Bot) -> None:
    query_id = botapi.inline_query(USER, "artemis")
    (update,) = await botapi_bot.get_updates(timeout=1)
    assert update.inline_query.query == "artemis"
    too_many = [
        InlineQueryResultArticle(str(n), f"r{n}", InputTextMessageContent("x")) for n in range(51)
    ]
    with pytest.raises(BadRequest, match=r"(?i)RESULTS_TOO_MUCH"):
        await update.inline_query.answer(too_many)
    with pytest.raises(BadRequest, match=r"(?i)parse entities"):
        await update.inline_query.answer(
            [InlineQueryResultArticle("1", "t", InputTextMessageContent("<b>x", parse_mode="HTML"))]
        )
    await update.inline_query.answer(too_many[:50], cache_time=5, next_offset="50")
    (answer,) = botapi.inline_answers
    assert answer.inline_query_id == query_id
    assert answer.query == "artemis"
    assert len(answer.results) == 50
    assert answer.next_offset == "50"
    assert answer.cache_time == 5


async def test_commands_per_scope(botapi: BotAPIEmulator, botapi_bot: Bot) -> None:
    await botapi_bot.set_my_commands([BotCommand("start", "Start"), BotCommand("next", "Next")])
    await botapi_bot.set_my_commands(
        [BotCommand("admin", "Admin")], scope=BotCommandScopeChat(USER), language_code="de"
    )
    assert [c.command for c in await botapi_bot.get_my_commands()] == ["start", "next"]
    assert botapi.get_commands("chat:1000", "de") == [{"command": "admin", "description": "Admin"}]
    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
        await botapi_bot.set_my_commands([BotCommand("Bad-Command", "x")])
    await botapi_bot.delete_my_commands()
    assert await botapi_bot.get_my_commands() == ()


async def test_chat_member_and_get_chat(botapi: BotAPIEmulator, botapi_bot: Bot) -> None:
    botapi.add_channel(CHANNEL, username="orbitnews", title="Orbit News")
    botapi.set_chat_member(CHANNEL, USER, "creator")
    botapi.set_chat_member(CHANNEL, 2000, "administrator", can_post_messages=False)
    chat = await botapi_bot.get_chat("@orbitnews")
    assert (chat.id, chat.title, chat.type) == (CHANNEL, "Orbit News", "channel")
    assert (await botapi_bot.get_chat_member(CHANNEL, USER)).status == "creator"
    admin = await botapi_bot.get_chat_member(CHANNEL, 2000)
    assert admin.status == "administrator"
    assert admin.can_post_messages is False
    assert (await botapi_bot.get_chat_member(CHANNEL, 3000)).status == "left"
    me = await botapi_bot.get_chat_member(CHANNEL, botapi.bot_id)
    assert me.status == "administrator"
    assert me.can_post_messages
    admins = await botapi_bot.get_chat_administrators(CHANNEL)
    assert {a.user.id for a in admins} == {USER, 2000, botapi.bot_id}


def test_wait_for_messages_sync_and_timeout_report(botapi: BotAPIEmulator) -> None:
    botapi.add_user(USER)

    def send_later() -> None:
        time.sleep(0.1)
        httpx.post(botapi.api_url("sendMessage"), data={"chat_id": USER, "text": "late"})

    thread = threading.Thread(target=send_later)
    thread.start()
    (message,) = botapi.wait_for_messages(USER, timeout=5)
    thread.join()
    assert message.text == "late"
    with pytest.raises(AssertionError, match=r"(?s)expected 2 message.*'late'"):
        botapi.wait_for_messages(USER, count=2, timeout=0.2)


async def test_application_polling_end_to_end(botapi: BotAPIEmulator) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_html("<b>Welcome</b> aboard 🚀")

    app = ApplicationBuilder().token(botapi.token).base_url(botapi.base_url).build()
    app.add_handler(CommandHandler("start", start))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(timeout=1, drop_pending_updates=True)
        botapi.send_message(USER, "/start")
        (reply,) = await botapi.async_wait_for_messages(USER, timeout=5)
        await app.updater.stop()
        await app.stop()
    assert reply.text == "Welcome aboard 🚀"
    assert reply.entities == [{"type": "bold", "offset": 0, "length": 7}]


def test_standalone_entry_point() -> None:
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-m", "tests.support.botapi", "--port", "0", "--script", "1000:/start"],
        input="1000 hello\nquit\n",
        capture_output=True,
        text=True,
        timeout=20,
        cwd=root,
        check=True,
    )
    assert "listening: http://127.0.0.1:" in result.stdout
    assert "-> 1000 /start" in result.stdout
    assert "-> 1000 hello" in result.stdout


def test_context_manager_from_sync_code() -> None:
    with BotAPIEmulator(bot_username="other_bot") as emu:
        reply = httpx.get(emu.api_url("getMe")).json()
        assert reply["result"]["username"] == "other_bot"
        assert json.loads(json.dumps(emu.chat(emu.add_channel(CHANNEL))))["type"] == "channel"
    emu.stop()  # idempotent
