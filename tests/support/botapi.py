"""A loopback Telegram Bot API emulator for tests and benchmarks.

Why an emulator instead of mocking ``telegram.Bot``: the bugs that hurt a Telegram bot in
production live on the wire — HTML that Telegram refuses to parse, texts that are too long once
counted in UTF-16, flood limits answered with ``429 retry_after``, chats that migrate, users that
block the bot, long polling that conflicts with a second instance.  Mocks reproduce none of that.
This module speaks real HTTP, so the *real* python-telegram-bot client (and ``orbitwire run`` in a
subprocess) talks to it exactly as it talks to ``api.telegram.org``::

    with BotAPIEmulator() as emu:
        app = ApplicationBuilder().token(emu.token).base_url(emu.base_url).build()
        emu.send_message(1000, "/start")
        ...
        emu.wait_for_messages(1000)

The server runs in **its own thread with its own event loop**, so it works the same from sync
tests, async tests on any loop, subprocess tests and benchmarks.  Every public method is
thread-safe; the ones that wait have ``async_`` variants that never block the caller's loop
(blocking it would freeze a bot running on that same loop).

Run standalone with ``python -m tests.support.botapi --port 8081`` (see :func:`main`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import hashlib
import itertools
import json
import math
import re
import struct
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from .html_rules import HTMLParseError, parse_html, utf16_len

__all__ = [
    "DEFAULT_TOKEN",
    "APIError",
    "BotAPIEmulator",
    "CallbackAnswer",
    "EmulatorStats",
    "Fault",
    "FloodLimiter",
    "HTMLParseError",
    "InlineAnswer",
    "MessageVersion",
    "RequestRecord",
    "SentMessage",
    "WebhookDelivery",
    "WebhookState",
    "main",
    "parse_html",
    "utf16_len",
]

JSON = dict[str, Any]

DEFAULT_TOKEN = "123456789:TEST-orbitwire_token"
TOKEN_RE = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
SECRET_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
BOT_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER_LENGTH = 200
MAX_INLINE_RESULTS = 50

#: Methods that count against flood limits (edits and answers do not, as on Telegram).
SEND_METHODS = frozenset(
    {
        "sendmessage",
        "sendphoto",
        "sendmediagroup",
        "senddocument",
        "copymessage",
        "forwardmessage",
    }
)

#: Update types delivered when ``allowed_updates`` is not given (Telegram's documented default).
DEFAULT_ALLOWED_UPDATES = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
)

# Form values arrive as strings; everything else PTB JSON-encodes.  These parameters are always
# plain strings and must never be JSON-decoded ("123" stays a string, "true" stays text).
STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "inline_query_id",
        "inline_message_id",
        "url",
        "secret_token",
        "next_offset",
        "query",
        "language_code",
        "file_id",
        "photo",
        "document",
        "title",
        "description",
        "short_description",
        "name",
        "emoji",
        "message_effect_id",
        "business_connection_id",
        "ip_address",
        "switch_pm_text",
        "switch_pm_parameter",
    }
)

_STATUS_TEXT = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

_CANONICAL_METHODS: dict[str, str] = {}


# --------------------------------------------------------------------------------------------
# Records (what tests assert on)
# --------------------------------------------------------------------------------------------


@dataclass
class MessageVersion:
    """One state of a bot message: the original send, then one per successful edit."""

    method: str
    time: float
    text: str | None
    html: str | None
    caption: str | None
    parse_mode: str | None
    entities: list[JSON]
    reply_markup: JSON | None


@dataclass
class SentMessage:
    """A message the bot sent, as Telegram stored it (current state; see ``history``).

    ``text`` / ``caption`` are the *plain* strings after entity parsing and Telegram's
    whitespace trimming; ``html`` is the raw text or caption exactly as the bot sent it.
    """

    chat_id: int
    message_id: int
    method: str
    date: int
    timestamp: float
    text: str | None = None
    html: str | None = None
    caption: str | None = None
    parse_mode: str | None = None
    entities: list[JSON] = field(default_factory=list)
    reply_markup: JSON | None = None
    link_preview_options: JSON | None = None
    disable_web_page_preview: bool | None = None
    photo: list[JSON] | None = None
    document: JSON | None = None
    media_group_id: str | None = None
    reply_to_message_id: int | None = None
    message_thread_id: int | None = None
    params: JSON = field(default_factory=dict)
    deleted: bool = False
    edit_date: int | None = None
    history: list[MessageVersion] = field(default_factory=list)

    @property
    def content(self) -> str:
        """The visible plain text: ``text`` for text messages, ``caption`` for media."""
        return self.text if self.text is not None else (self.caption or "")

    @property
    def edits(self) -> list[MessageVersion]:
        """The versions produced by edits (``history`` minus the original send)."""
        return self.history[1:]

    @property
    def callback_data(self) -> list[str]:
        """All ``callback_data`` values of the current inline keyboard."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [b["callback_data"] for row in rows for b in row if "callback_data" in b]


@dataclass
class RequestRecord:
    """One HTTP request the emulator answered (for assertions on what the bot called)."""

    method: str
    params: JSON
    time: float
    status: int
    response: JSON | None
    duration: float

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass
class CallbackAnswer:
    """An ``answerCallbackQuery`` call."""

    callback_query_id: str
    user_id: int | None
    data: str | None
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int
    time: float


@dataclass
class InlineAnswer:
    """An ``answerInlineQuery`` call, with the query it answered."""

    inline_query_id: str
    user_id: int | None
    query: str | None
    results: list[JSON]
    cache_time: int | None
    is_personal: bool
    next_offset: str | None
    button: JSON | None
    time: float


@dataclass
class WebhookState:
    """What ``setWebhook`` stored (``url == ""`` means no webhook)."""

    url: str = ""
    secret_token: str | None = None
    allowed_updates: list[str] | None = None
    max_connections: int = 40
    ip_address: str | None = None
    has_custom_certificate: bool = False
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass
class WebhookDelivery:
    """One POST of an update to the bot's webhook."""

    update_id: int
    status: int | None
    error: str | None
    time: float


@dataclass
class Fault:
    """A scripted failure; see :meth:`BotAPIEmulator.add_fault`."""

    kind: str
    method: str | None
    chat_id: int | str | None
    times: int | None
    params: JSON
    fired: int = 0

    def matches(self, method: str, chat_id: int | None) -> bool:
        if self.times is not None and self.fired >= self.times:
            return False
        if self.method is not None and self.method.lower() != method:
            return False
        return self.chat_id is None or self.chat_id == chat_id

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times


@dataclass
class EmulatorStats:
    """Counters for benchmarks and assertions (a snapshot; mutate-free)."""

    requests: Counter[str] = field(default_factory=Counter)
    responses: Counter[int] = field(default_factory=Counter)
    flood_429: int = 0
    flood_429_by_chat: Counter[int] = field(default_factory=Counter)
    faults_fired: Counter[str] = field(default_factory=Counter)
    messages_sent: int = 0
    edits: int = 0
    updates_injected: int = 0


class APIError(Exception):
    """An error answer: ``{"ok": false, "error_code": ..., "description": ...}``."""

    def __init__(
        self,
        error_code: int,
        description: str,
        parameters: JSON | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters
        self.http_status = http_status or error_code

    def to_json(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad(description: str, parameters: JSON | None = None) -> APIError:
    return APIError(400, f"Bad Request: {description}", parameters)


def _forbidden(description: str) -> APIError:
    return APIError(403, f"Forbidden: {description}")


class _DropConnection(Exception):
    """Raised by a ``drop`` fault: close the socket without any HTTP answer."""


# --------------------------------------------------------------------------------------------
# Flood limits
# --------------------------------------------------------------------------------------------


class FloodLimiter:
    """Telegram's documented broadcast limits, as sliding windows and a token bucket.

    * about ``global_rate`` messages per second across all chats (sliding 1 s window);
    * ``group_per_minute`` messages per minute to one group/supergroup/channel (negative chat
      id; sliding 60 s window);
    * private chats: ``private_rate`` messages per second with a burst of ``private_burst``
      (token bucket) — Telegram tolerates short bursts but not a sustained rate above 1/s.

    A refused send consumes nothing.  ``retry_after`` is the whole number of seconds until the
    blocking window has room again (at least 1), like Telegram's ``parameters.retry_after``.
    """

    def __init__(
        self,
        global_rate: int = 30,
        group_per_minute: int = 20,
        private_rate: float = 1.0,
        private_burst: int = 3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.global_rate = global_rate
        self.group_per_minute = group_per_minute
        self.private_rate = private_rate
        self.private_burst = private_burst
        self._clock = clock
        self._global: deque[float] = deque()
        self._groups: dict[int, deque[float]] = {}
        self._buckets: dict[int, tuple[float, float]] = {}  # chat -> (tokens, last refill)

    @staticmethod
    def _prune(window: deque[float], now: float, span: float) -> None:
        while window and window[0] <= now - span:
            window.popleft()

    @staticmethod
    def _window_wait(window: deque[float], limit: int, cost: int, now: float, span: float) -> float:
        if len(window) + cost <= limit:
            return 0.0
        if cost > limit:
            return span
        return window[len(window) + cost - limit - 1] + span - now

    def check(self, chat_id: int, cost: int = 1) -> int:
        """Consume ``cost`` sends to ``chat_id`` and return 0, or return ``retry_after`` > 0."""
        now = self._clock()
        self._prune(self._global, now, 1.0)
        wait = self._window_wait(self._global, self.global_rate, cost, now, 1.0)
        group = None
        tokens = 0.0
        if chat_id < 0:
            group = self._groups.setdefault(chat_id, deque())
            self._prune(group, now, 60.0)
            wait = max(wait, self._window_wait(group, self.group_per_minute, cost, now, 60.0))
        else:
            tokens, last = self._buckets.get(chat_id, (float(self.private_burst), now))
            tokens = min(float(self.private_burst), tokens + (now - last) * self.private_rate)
            if tokens + 1e-9 < cost:
                wait = max(wait, (cost - tokens) / self.private_rate)
        if wait > 0:
            return max(1, math.ceil(wait - 1e-9))
        self._global.extend([now] * cost)
        if group is not None:
            group.extend([now] * cost)
        else:
            self._buckets[chat_id] = (tokens - cost, now)
        return 0


# --------------------------------------------------------------------------------------------
# Internal state
# --------------------------------------------------------------------------------------------


@dataclass
class _Chat:
    id: int
    type: str
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    next_message_id: int = 1
    # Every message that exists in the chat (bot's and users'), as Bot API JSON.
    messages: dict[int, JSON] = field(default_factory=dict)

    def to_json(self) -> JSON:
        chat: JSON = {"id": self.id, "type": self.type}
        if self.type == "private":
            chat["first_name"] = self.first_name or f"User {self.id}"
            if self.last_name:
                chat["last_name"] = self.last_name
        else:
            chat["title"] = self.title or f"Chat {self.id}"
        if self.username and self.type != "group":
            chat["username"] = self.username
        return chat

    def take_message_id(self) -> int:
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    data: bytes | None
    source: str
    file_path: str
    mime_type: str | None = None
    file_name: str | None = None

    @property
    def file_size(self) -> int | None:
        return len(self.data) if self.data is not None else None


@dataclass
class _Upload:
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class _Call:
    method: str
    params: JSON
    files: dict[str, _Upload]
    token: str
    request: web.Request


def _as_int(value: Any, name: str, default: int | None = None) -> int:
    if value is None or value == "":
        if default is None:
            raise _bad(f"{name} is empty")
        return default
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except ValueError:
        raise _bad(f'invalid {name} specified: "{value}"') from None


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in {"true", "1", "yes"}
    return bool(value)


def _as_json(value: Any, name: str) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise _bad(f"can't parse {name} JSON object") from None
    return value


def _coerce_form_value(name: str, value: str) -> Any:
    """Undo PTB's form encoding: non-string values were JSON-encoded, strings were not."""
    if name in STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _strip_formatted(text: str, entities: list[JSON]) -> tuple[str, list[JSON]]:
    """Trim leading/trailing whitespace like Telegram, shifting and clipping entities."""
    stripped_left = text.lstrip()
    lead = utf16_len(text) - utf16_len(stripped_left)
    stripped = stripped_left.rstrip()
    total = utf16_len(stripped)
    result: list[JSON] = []
    for entity in entities:
        start = max(0, entity["offset"] - lead)
        end = min(total, entity["offset"] + entity["length"] - lead)
        if end > start:
            result.append({**entity, "offset": start, "length": end - start})
    return stripped, result


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    return None


def _scope_key(scope: Any) -> str:
    """A readable key for a ``BotCommandScope``: ``default``, ``chat:123``, ..."""
    if not scope:
        return "default"
    scope = _as_json(scope, "scope")
    kind = str(scope.get("type", "default"))
    parts = [kind]
    if "chat_id" in scope:
        parts.append(str(scope["chat_id"]))
    if "user_id" in scope:
        parts.append(str(scope["user_id"]))
    return ":".join(parts)


def _summarize_params(params: JSON, files: dict[str, _Upload]) -> JSON:
    logged = dict(params)
    for name, upload in files.items():
        logged[name] = f"<file {upload.filename or name}: {len(upload.data)} bytes>"
    return logged


# --------------------------------------------------------------------------------------------
# The emulator
# --------------------------------------------------------------------------------------------


class BotAPIEmulator:
    """An in-process, real-HTTP Telegram Bot API for one bot.  See the module docstring.

    Args:
        host, port: where to listen (``port=0``: an ephemeral port; read :attr:`base_url`).
        token: the token tests should give the client (:attr:`token`).  With
            ``accept_any_token`` (default) any well-formed token works and the bot's id is the
            number before ``:``; otherwise other tokens get ``401 Unauthorized``.
        bot_username, bot_first_name: the identity ``getMe`` returns.
        flood_limits: enforce :class:`FloodLimiter` limits (``global_rate`` ... ``private_burst``).
        strict_html: reject what Telegram would render literally (see ``html_rules``).
        webhook_mode: when a webhook is set, POST injected updates to it as Telegram does;
            ``False`` keeps them queued until :meth:`deliver_webhook` is called.
        on_message: called (on the emulator thread) with each new :class:`SentMessage`.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = DEFAULT_TOKEN,
        accept_any_token: bool = True,
        bot_username: str = "orbitwire_test_bot",
        bot_first_name: str = "Orbitwire Test Bot",
        flood_limits: bool = True,
        global_rate: int = 30,
        group_per_minute: int = 20,
        private_rate: float = 1.0,
        private_burst: int = 3,
        strict_html: bool = True,
        webhook_mode: bool = True,
        log_requests: bool = True,
        on_message: Callable[[SentMessage], None] | None = None,
    ) -> None:
        if not TOKEN_RE.match(token):
            raise ValueError(f"token must look like '123:ABC', got {token!r}")
        self._host = host
        self._requested_port = port
        self._token = token
        self._accept_any_token = accept_any_token
        self._bot_id = int(token.split(":", 1)[0])
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.strict_html = strict_html
        self.webhook_mode = webhook_mode
        self.log_requests = log_requests
        self.on_message = on_message
        self.flood_limits = flood_limits
        self.limiter = FloodLimiter(global_rate, group_per_minute, private_rate, private_burst)

        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._closing = False
        self._closing_event: asyncio.Event | None = None
        self._poll_event: asyncio.Event | None = None
        self._client: aiohttp.ClientSession | None = None
        self._webhook_task: asyncio.Task[None] | None = None

        self._chats: dict[int, _Chat] = {}
        self._migrated: dict[int, int] = {}
        self._kicked: set[int] = set()
        self._users: dict[int, JSON] = {}
        self._members: dict[tuple[int, int], JSON] = {}
        self._sent: list[SentMessage] = []
        self._sent_index: dict[tuple[int, int], SentMessage] = {}
        self._updates: list[JSON] = []
        self._next_update_id = 1
        self._allowed_updates: tuple[str, ...] = DEFAULT_ALLOWED_UPDATES
        self._poll_generation = 0
        self._faults: list[Fault] = []
        self._callback_queries: dict[str, JSON] = {}
        self._inline_queries: dict[str, JSON] = {}
        self._answered: set[str] = set()
        self._callback_answers: list[CallbackAnswer] = []
        self._inline_answers: list[InlineAnswer] = []
        self._commands: dict[tuple[str, str], list[JSON]] = {}
        self._webhook = WebhookState()
        self._webhook_deliveries: list[WebhookDelivery] = []
        self._files: dict[str, _StoredFile] = {}
        self._requests: list[RequestRecord] = []
        self._stats = EmulatorStats()
        self._ids = itertools.count(1)

        self._handlers: dict[str, Callable[[_Call], Awaitable[Any]]] = {}
        for name in dir(self):
            if name.startswith("_api_"):
                canonical = name[len("_api_") :]
                _CANONICAL_METHODS[canonical.lower()] = canonical
                self._handlers[canonical.lower()] = getattr(self, name)

    # ---------------------------------------------------------------- lifecycle & addresses

    @property
    def token(self) -> str:
        return self._token

    @property
    def bot_id(self) -> int:
        return self._bot_id

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the emulator is not started")
        return self._port

    @property
    def url(self) -> str:
        """``http://host:port`` (no path)."""
        return f"http://{self._host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The PTB ``base_url``: ``http://127.0.0.1:PORT/bot`` (PTB appends ``TOKEN/method``)."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """The PTB ``base_file_url``: ``http://127.0.0.1:PORT/file/bot``."""
        return f"{self.url}/file/bot"

    def api_url(self, method: str, token: str | None = None) -> str:
        """Full URL of one method, for raw HTTP clients."""
        return f"{self.base_url}{token or self._token}/{method}"

    def start(self) -> BotAPIEmulator:
        """Start serving in a background thread; returns once the socket is bound."""
        if self._thread is not None:
            return self
        started = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._startup())
            except BaseException as exc:  # report bind errors to start()
                failure.append(exc)
                started.set()
                loop.close()
                return
            started.set()
            try:
                loop.run_forever()
            finally:
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for task in pending:
                    task.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._loop = loop
        self._closing = False
        self._thread = threading.Thread(target=run, name="botapi-emulator", daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            self._thread.join()
            self._thread = None
            self._loop = None
            raise failure[0]
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server: pending long polls return ``[]``, connections close.  Idempotent."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._thread = None
        self._loop = None

    def __enter__(self) -> BotAPIEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def _startup(self) -> None:
        self._closing_event = asyncio.Event()
        self._poll_event = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._requested_port)
        await site.start()
        address = self._runner.addresses[0]
        self._port = int(address[1])
        if self._webhook.url and self.webhook_mode:
            self._ensure_webhook_worker()

    async def _shutdown(self) -> None:
        self._closing = True
        if self._closing_event is not None:
            self._closing_event.set()
        self._wake_pollers()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(BaseException):
                await self._webhook_task
            self._webhook_task = None
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _call_soon(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` on the emulator loop (from any thread)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            callback()
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(callback)

    def _run_sync(self, coro: Awaitable[Any], timeout: float | None = None) -> Any:
        loop = self._loop
        if loop is None:
            raise RuntimeError("the emulator is not started")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            raise RuntimeError("use the async_ variant on the emulator's own loop")
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)  # type: ignore[arg-type]

    # ---------------------------------------------------------------- HTTP layer

    async def _read_params(self, request: web.Request) -> tuple[JSON, dict[str, _Upload]]:
        params: JSON = {k: _coerce_form_value(k, v) for k, v in request.query.items()}
        files: dict[str, _Upload] = {}
        if request.method != "POST" or not request.body_exists:
            return params, files
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise _bad("can't parse JSON encoded request") from None
            if not isinstance(body, dict):
                raise _bad("JSON object expected")
            params.update(body)
            return params, files
        form = await request.post()
        for name, value in form.items():
            if isinstance(value, web.FileField):
                files[name] = _Upload(value.filename, value.content_type, value.file.read())
            elif isinstance(value, str):
                params[name] = _coerce_form_value(name, value)
        return params, files

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        token = request.match_info["token"]
        raw_method = request.match_info["method"]
        method = raw_method.lower()
        name = _CANONICAL_METHODS.get(method, raw_method)
        params: JSON = {}
        files: dict[str, _Upload] = {}
        try:
            if not TOKEN_RE.match(token):
                raise APIError(404, "Not Found")
            if not self._accept_any_token and token != self._token:
                raise APIError(401, "Unauthorized")
            params, files = await self._read_params(request)
            handler = self._handlers.get(method)
            if handler is None:
                raise APIError(404, "Not Found")
            with self._lock:
                self._bot_id = int(token.split(":", 1)[0])
            call = _Call(method, params, files, token, request)
            result = await self._dispatch(call, handler)
            status, body = 200, {"ok": True, "result": result}
        except APIError as exc:
            status, body = exc.http_status, exc.to_json()
        except _DropConnection:
            self._record_request(name, params, files, started, 0, None)
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError from None
        self._record_request(name, params, files, started, status, body)
        return web.json_response(body, status=status)

    def _record_request(
        self,
        name: str,
        params: JSON,
        files: dict[str, _Upload],
        started: float,
        status: int,
        body: JSON | None,
    ) -> None:
        with self._changed:
            self._stats.requests[name] += 1
            self._stats.responses[status] += 1
            if self.log_requests:
                self._requests.append(
                    RequestRecord(
                        method=name,
                        params=_summarize_params(params, files),
                        time=time.time(),
                        status=status,
                        response=body,
                        duration=time.monotonic() - started,
                    )
                )
            self._changed.notify_all()

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if not TOKEN_RE.match(request.match_info["token"]):
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        path = request.match_info["path"]
        with self._lock:
            stored = next((f for f in self._files.values() if f.file_path == path), None)
        if stored is None or stored.data is None:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        return web.Response(body=stored.data, content_type=stored.mime_type or "application/octet")

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake up early when the emulator stops."""
        assert self._closing_event is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing_event.wait(), seconds)

    async def _dispatch(self, call: _Call, handler: Callable[[_Call], Awaitable[Any]]) -> Any:
        chat_id = self._soft_chat_id(call.params.get("chat_id"))
        with self._lock:
            fault = next((f for f in self._faults if f.matches(call.method, chat_id)), None)
            if fault is not None:
                fault.fired += 1
                self._stats.faults_fired[fault.kind] += 1
                if fault.exhausted:
                    self._faults.remove(fault)
        if fault is None:
            return await handler(call)
        p = fault.params
        if fault.kind == "delay":
            seconds = float(p.get("seconds", 1.0))
            if _as_bool(p.get("deliver", True)):
                try:
                    result = await handler(call)
                finally:
                    await self._sleep(seconds)
                return result
            await self._sleep(seconds)
            transport = call.request.transport
            if transport is None or transport.is_closing():
                raise _DropConnection  # the client gave up: the request is never processed
            return await handler(call)
        if fault.kind == "drop":
            if _as_bool(p.get("deliver", False)):
                with contextlib.suppress(APIError):
                    await handler(call)
            raise _DropConnection
        raise self._fault_error(fault, chat_id)

    def _fault_error(self, fault: Fault, chat_id: int | None) -> APIError:
        p = fault.params
        kind = fault.kind
        if kind == "server_error":
            status = int(p.get("status", 500))
            text = p.get("description") or _STATUS_TEXT.get(status, "Internal Server Error")
            return APIError(status, text)
        if kind == "forbidden":
            if p.get("description"):
                return APIError(403, str(p["description"]))
            return self._kicked_error(chat_id)
        if kind == "retry_after":
            seconds = int(p.get("seconds") or p.get("retry_after") or 1)
            return APIError(
                429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds}
            )
        if kind == "bad_request":
            description = str(p.get("description", "fault injected"))
            if not description.startswith("Bad Request"):
                description = f"Bad Request: {description}"
            return APIError(400, description)
        if kind == "migrate":
            new_id = int(p.get("new_chat_id", 0)) or -(10**12 + abs(chat_id or 1))
            if chat_id is not None:
                self._migrate_chat(chat_id, new_id)
            return _bad(
                "group chat was upgraded to a supergroup chat", {"migrate_to_chat_id": new_id}
            )
        raise ValueError(f"unknown fault kind {kind!r}")

    # ---------------------------------------------------------------- chats & users

    def _soft_chat_id(self, value: Any) -> int | None:
        """Best-effort chat id for fault matching: ``@username`` resolved, never raising."""
        if value is None:
            return None
        if isinstance(value, str) and value.startswith("@"):
            with self._lock:
                chat = self._find_username(value[1:])
            return chat.id if chat else None
        try:
            return int(value)
        except (TypeError, ValueError):
            return None

    def _find_username(self, username: str) -> _Chat | None:
        lowered = username.lower()
        return next(
            (c for c in self._chats.values() if c.username and c.username.lower() == lowered),
            None,
        )

    def _resolve_chat(self, value: Any, *, check_access: bool = True) -> _Chat:
        """Telegram's chat lookup: ``@username`` or id; migrated groups; kicked/blocked."""
        if value is None or value == "":
            raise _bad("chat_id is empty")
        with self._lock:
            if isinstance(value, str) and value.startswith("@"):
                chat = self._find_username(value[1:])
            else:
                try:
                    chat_id = int(value)
                except (TypeError, ValueError):
                    raise _bad("chat not found") from None
                if chat_id in self._migrated:
                    raise _bad(
                        "group chat was upgraded to a supergroup chat",
                        {"migrate_to_chat_id": self._migrated[chat_id]},
                    )
                chat = self._chats.get(chat_id)
            if chat is None:
                raise _bad("chat not found")
            if check_access and chat.id in self._kicked:
                raise self._kicked_error(chat.id)
            return chat

    def _kicked_error(self, chat_id: int | None) -> APIError:
        with self._lock:
            chat = self._chats.get(chat_id) if chat_id is not None else None
        kind = chat.type if chat else ("private" if (chat_id or 0) > 0 else "group")
        if kind == "private":
            return _forbidden("bot was blocked by the user")
        return _forbidden(f"bot was kicked from the {kind} chat")

    def _migrate_chat(self, old_id: int, new_id: int) -> None:
        with self._lock:
            old = self._chats.get(old_id)
            if old is None or old_id == new_id:
                return
            self._chats[new_id] = _Chat(
                id=new_id, type="supergroup", title=old.title, username=old.username
            )
            old.username = None
            self._migrated[old_id] = new_id
            if old_id in self._kicked:
                self._kicked.add(new_id)

    def _user_json(self, user_id: int) -> JSON:
        with self._lock:
            user = self._users.get(user_id)
            return dict(user) if user else {"id": user_id, "is_bot": False, "first_name": "User"}

    def _bot_user(self) -> JSON:
        return {
            "id": self._bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    def add_chat(
        self,
        chat_id: int,
        type: str | None = None,
        *,
        title: str | None = None,
        username: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
    ) -> int:
        """Make a chat known (and reachable).  ``type`` defaults from the id's sign/prefix."""
        if type is None:
            if chat_id > 0:
                type = "private"
            else:
                type = "supergroup" if str(chat_id).startswith("-100") else "group"
        if type not in {"private", "group", "supergroup", "channel"}:
            raise ValueError(f"bad chat type {type!r}")
        if (type == "private") != (chat_id > 0):
            raise ValueError("private chats have positive ids, others negative ones")
        with self._lock:
            chat = self._chats.get(chat_id)
            if chat is None:
                chat = self._chats[chat_id] = _Chat(id=chat_id, type=type)
            chat.type = type
            chat.title = title or chat.title
            chat.username = (username or chat.username or "").lstrip("@") or None
            chat.first_name = first_name or chat.first_name
            chat.last_name = last_name or chat.last_name
            if type == "private" and chat_id not in self._users:
                self._users[chat_id] = {
                    "id": chat_id,
                    "is_bot": False,
                    "first_name": first_name or f"User {chat_id}",
                    **({"username": chat.username} if chat.username else {}),
                }
        return chat_id

    def add_user(
        self,
        user_id: int,
        first_name: str = "Test",
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
    ) -> int:
        """Register a user who has started the bot (their private chat becomes reachable)."""
        user: JSON = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        with self._lock:
            self._users[user_id] = user
            self.add_chat(
                user_id, "private", first_name=first_name, last_name=last_name, username=username
            )
        return user_id

    def add_channel(
        self, chat_id: int, username: str | None = None, title: str = "Test Channel"
    ) -> int:
        """Add a channel (ids look like ``-100xxxxxxxxxx``) the bot can post to."""
        return self.add_chat(chat_id, "channel", title=title, username=username)

    def add_group(
        self,
        chat_id: int,
        title: str = "Test Group",
        *,
        supergroup: bool = True,
        username: str | None = None,
    ) -> int:
        """Add a group (``supergroup=False``) or supergroup the bot is a member of."""
        return self.add_chat(
            chat_id, "supergroup" if supergroup else "group", title=title, username=username
        )

    def kick(self, chat_id: int) -> None:
        """Every further call for this chat answers 403 until :meth:`unkick`."""
        with self._lock:
            self._kicked.add(chat_id)

    def unkick(self, chat_id: int) -> None:
        with self._lock:
            self._kicked.discard(chat_id)

    def block(self, user_id: int) -> None:
        """The user blocks the bot: sends to their private chat answer 403."""
        self.kick(user_id)

    def unblock(self, user_id: int) -> None:
        self.unkick(user_id)

    def set_chat_member(self, chat_id: int, user_id: int, status: str, **fields: Any) -> None:
        """Configure ``getChatMember`` (``creator``/``administrator``/``member``/``left``/...).

        Extra keyword arguments override administrator rights (``can_post_messages=False``).
        """
        with self._lock:
            self._members[(chat_id, user_id)] = {"status": status, **fields}

    # ---------------------------------------------------------------- faults

    def add_fault(
        self,
        method: str | None = "sendMessage",
        chat_id: int | str | None = None,
        kind: str = "server_error",
        times: int | None = 1,
        **params: Any,
    ) -> Fault:
        """Script the next matching call(s) to fail.

        ``kind``: ``server_error`` (``status=500|502``), ``forbidden``, ``migrate``
        (``new_chat_id=``; the chat really moves), ``retry_after`` (``seconds=``),
        ``bad_request`` (``description=``), ``delay`` (``seconds=``, ``deliver=True`` records
        the message *before* sleeping — a send whose answer gets lost; ``deliver=False``
        processes it after the sleep only if the client is still waiting), ``drop`` (close
        the connection without an answer; ``deliver=True`` records the message first).
        Faults fire in the order added; ``method=None`` matches any method, ``times=None``
        forever.
        """
        kinds = {
            "server_error",
            "forbidden",
            "migrate",
            "retry_after",
            "bad_request",
            "delay",
            "drop",
        }
        if kind not in kinds:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(kinds)}")
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            resolved = self._soft_chat_id(chat_id)
            if resolved is None:
                raise ValueError(f"unknown chat {chat_id}")
            chat_id = resolved
        fault = Fault(kind=kind, method=method, chat_id=chat_id, times=times, params=params)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    # ---------------------------------------------------------------- updates (injection)

    def inject_update(self, payload: JSON) -> int:
        """Queue any update (``{"my_chat_member": {...}}``); assigns and returns ``update_id``."""
        with self._changed:
            update_id = self._next_update_id
            self._next_update_id += 1
            update = {"update_id": update_id, **payload}
            self._updates.append(update)
            self._stats.updates_injected += 1
            webhook = bool(self._webhook.url) and self.webhook_mode
            self._changed.notify_all()
        self._call_soon(self._wake_pollers)
        if webhook:
            self._call_soon(self._ensure_webhook_worker)
        return update_id

    def _store_incoming(self, chat: _Chat, message: JSON) -> None:
        with self._lock:
            chat.messages[message["message_id"]] = message

    def send_message(
        self,
        user_id: int,
        text: str,
        *,
        chat_id: int | None = None,
        chat_type: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
        reply_to_message_id: int | None = None,
        chat_title: str | None = None,
        entities: list[JSON] | None = None,
    ) -> int:
        """A user writes ``text`` to the bot (private chat, or ``chat_id`` < 0 for groups).

        A leading ``/cmd`` or ``/cmd@bot`` gets a ``bot_command`` entity so PTB's
        ``CommandHandler`` fires.  Returns the ``update_id``.
        """
        with self._lock:
            known = self._users.get(user_id, {})
            self.add_user(
                user_id,
                first_name or known.get("first_name") or "Test",
                last_name=last_name or known.get("last_name"),
                username=username or known.get("username"),
                language_code=language_code or known.get("language_code") or "en",
            )
            target = user_id if chat_id is None else chat_id
            if target < 0 and target not in self._chats:
                kind = chat_type if chat_type not in (None, "private") else None
                self.add_chat(target, kind, title=chat_title or "Test Group")
            if target in self._migrated:
                raise ValueError(f"chat {target} migrated to {self._migrated[target]}")
            chat = self._chats[target]
            message: JSON = {
                "message_id": chat.take_message_id(),
                "from": self._user_json(user_id),
                "chat": chat.to_json(),
                "date": int(time.time()),
                "text": text,
            }
            command = re.match(r"^/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?", text)
            found = list(entities or [])
            if command and not entities:
                found.append(
                    {"type": "bot_command", "offset": 0, "length": utf16_len(command.group(0))}
                )
            if found:
                message["entities"] = found
            if reply_to_message_id is not None:
                replied = chat.messages.get(reply_to_message_id)
                if replied is None:
                    raise ValueError(f"no message {reply_to_message_id} in chat {target}")
                message["reply_to_message"] = {
                    k: v for k, v in replied.items() if k != "reply_to_message"
                }
            self._store_incoming(chat, message)
            return self.inject_update({"message": message})

    def channel_post(self, chat_id: int, text: str) -> int:
        """Someone posts ``text`` in a channel the bot is in (a ``channel_post`` update)."""
        with self._lock:
            if chat_id not in self._chats:
                self.add_channel(chat_id)
            chat = self._chats[chat_id]
            message = {
                "message_id": chat.take_message_id(),
                "sender_chat": chat.to_json(),
                "chat": chat.to_json(),
                "date": int(time.time()),
                "text": text,
            }
            self._store_incoming(chat, message)
            return self.inject_update({"channel_post": message})

    def press_button(self, user_id: int, *args: Any, check: bool = True) -> str:
        """A user presses an inline button: ``press_button(user_id, message, data)`` (a
        :class:`SentMessage` or PTB ``Message``) or
        ``press_button(user_id, chat_id, message_id, data)``.  Returns the callback query id.

        With ``check`` the button must exist in the message's current keyboard — a real user
        cannot press a button the bot never sent.
        """
        if len(args) == 2 and hasattr(args[0], "message_id") and hasattr(args[0], "chat_id"):
            # A SentMessage record or a PTB ``telegram.Message`` the bot got back.
            chat_id, message_id, data = int(args[0].chat_id), int(args[0].message_id), args[1]
        elif len(args) == 3:
            chat_id, message_id, data = int(args[0]), int(args[1]), args[2]
        else:
            raise TypeError("press_button(user_id, message, data) or (user_id, chat, msg, data)")
        with self._lock:
            record = self._sent_index.get((chat_id, message_id))
            chat = self._chats.get(chat_id)
            if record is None or record.deleted or chat is None:
                raise ValueError(f"the bot has no message {message_id} in chat {chat_id}")
            if check and data not in record.callback_data:
                raise ValueError(
                    f"message {message_id} has no button with callback_data {data!r}; "
                    f"buttons: {record.callback_data}"
                )
            if user_id not in self._users:
                self.add_user(user_id)
            query_id = str(4_000_000_000_000 + next(self._ids))
            instance = hashlib.sha1(f"{chat_id}".encode(), usedforsecurity=False).hexdigest()
            query = {
                "id": query_id,
                "from": self._user_json(user_id),
                "message": copy.deepcopy(chat.messages[message_id]),
                "chat_instance": str(int(instance[:15], 16)),
                "data": data,
            }
            self._callback_queries[query_id] = query
        self.inject_update({"callback_query": query})
        return query_id

    def inline_query(
        self, user_id: int, query: str, offset: str = "", *, chat_type: str = "private"
    ) -> str:
        """A user types ``@bot query``; returns the inline query id (see :attr:`inline_answers`)."""
        with self._lock:
            if user_id not in self._users:
                self.add_user(user_id)
            query_id = str(5_000_000_000_000 + next(self._ids))
            payload = {
                "id": query_id,
                "from": self._user_json(user_id),
                "query": query,
                "offset": offset,
                "chat_type": chat_type,
            }
            self._inline_queries[query_id] = payload
        self.inject_update({"inline_query": payload})
        return query_id

    def add_file(
        self, data: bytes, *, file_name: str | None = None, mime_type: str | None = None
    ) -> str:
        """Store a file (e.g. a photo a user sent) and return its ``file_id``."""
        with self._lock:
            return self._store_file(data, "upload", file_name, mime_type, "documents").file_id

    def _store_file(
        self,
        data: bytes | None,
        source: str,
        file_name: str | None,
        mime_type: str | None,
        folder: str,
    ) -> _StoredFile:
        number = next(self._ids)
        digest = hashlib.sha1(data or source.encode(), usedforsecurity=False).hexdigest()
        suffix = (file_name or "").rsplit(".", 1)[-1] if file_name and "." in file_name else "bin"
        if folder == "photos":
            suffix = "jpg"
        stored = _StoredFile(
            file_id=f"EMU{folder[:3].upper()}{number:08d}{digest[:16]}",
            file_unique_id=f"U{digest[:14]}",
            data=data,
            source=source,
            file_path=f"{folder}/file_{number}.{suffix}",
            mime_type=mime_type,
            file_name=file_name,
        )
        self._files[stored.file_id] = stored
        return stored

    # ---------------------------------------------------------------- long polling

    def _wake_pollers(self) -> None:
        """(Loop thread) wake every waiting ``getUpdates`` and the webhook worker."""
        event = self._poll_event
        if event is not None:
            self._poll_event = asyncio.Event()
            event.set()

    def _confirm_updates(self, offset: int) -> None:
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]

    def _take_updates(self, limit: int, allowed: tuple[str, ...]) -> list[JSON]:
        # Updates of types the bot did not ask for are dropped, never delivered later.
        self._updates = [
            u for u in self._updates if next((k for k in u if k != "update_id"), None) in allowed
        ]
        return self._updates[:limit]

    # ---------------------------------------------------------------- webhook delivery

    def _ensure_webhook_worker(self) -> None:
        if self._closing or self._loop is None:
            return
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.ensure_future(self._webhook_worker())
        self._wake_pollers()

    async def _post_update(self, hook: WebhookState, update: JSON) -> tuple[int | None, str | None]:
        if self._client is None:
            self._client = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        headers = {"Content-Type": "application/json"}
        if hook.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret_token
        status: int | None = None
        error: str | None = None
        try:
            async with self._client.post(hook.url, data=json.dumps(update), headers=headers) as r:
                await r.read()
                status = r.status
                if not 200 <= status < 300:
                    error = f"Wrong response from the webhook: {status} {r.reason}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            error = f"Connection failed: {exc!r}"
        with self._changed:
            self._webhook_deliveries.append(
                WebhookDelivery(update["update_id"], status, error, time.time())
            )
            if error:
                self._webhook.last_error_date = int(time.time())
                self._webhook.last_error_message = error
            self._changed.notify_all()
        return status, error

    async def _webhook_worker(self) -> None:
        backoff = 0.05
        while not self._closing:
            with self._lock:
                hook = copy.copy(self._webhook)
                allowed = tuple(hook.allowed_updates or self._allowed_updates)
                batch = self._take_updates(1, allowed) if hook.url else []
            if not hook.url or not self.webhook_mode:
                return
            if not batch:
                event = self._poll_event
                assert event is not None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), 1.0)
                continue
            update = batch[0]
            status, _ = await self._post_update(hook, update)
            if status is not None and 200 <= status < 300:
                with self._lock:
                    self._confirm_updates(update["update_id"] + 1)
                backoff = 0.05
            else:
                await self._sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    async def async_deliver_webhook(self, update: JSON | None = None) -> list[int | None]:
        """POST ``update`` (or every queued update) to the webhook; returns HTTP statuses."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("the emulator is not started")
        future = asyncio.run_coroutine_threadsafe(self._deliver(update), loop)
        return await asyncio.wrap_future(future)

    def deliver_webhook(self, update: JSON | None = None) -> list[int | None]:
        """Sync :meth:`async_deliver_webhook` (don't call it from the bot's own loop)."""
        result: list[int | None] = self._run_sync(self._deliver(update), 30)
        return result

    async def _deliver(self, update: JSON | None) -> list[int | None]:
        with self._lock:
            hook = copy.copy(self._webhook)
            if not hook.url:
                raise RuntimeError("no webhook is set")
            if update is not None:
                update = dict(update)
                if "update_id" not in update:
                    update["update_id"] = self._next_update_id
                    self._next_update_id += 1
                pending = [update]
            else:
                pending = list(self._updates)
        statuses: list[int | None] = []
        for item in pending:
            status, _ = await self._post_update(hook, item)
            statuses.append(status)
            if update is None and status is not None and 200 <= status < 300:
                with self._lock:
                    self._confirm_updates(item["update_id"] + 1)
        return statuses

    # ---------------------------------------------------------------- formatting & validation

    def _format(
        self, raw: str, parse_mode: Any, entities: Any, *, field_name: str
    ) -> tuple[str, list[JSON], str | None]:
        mode = str(parse_mode) if parse_mode else None
        if mode is None:
            given = _as_json(entities, f"{field_name}_entities") if entities else []
            if not isinstance(given, list):
                raise _bad("can't parse entities: entities must be an array")
            plain, parsed = raw, [dict(e) for e in given]
        elif mode.lower() == "html":
            try:
                plain, parsed = parse_html(raw, strict=self.strict_html)
            except HTMLParseError as exc:
                raise _bad(f"can't parse entities: {exc}") from None
        elif mode.lower() in {"markdown", "markdownv2"}:
            plain, parsed = raw, []  # accepted without checking (not emulated)
        else:
            raise _bad("unsupported parse_mode")
        plain, parsed = _strip_formatted(plain, parsed)
        return plain, parsed, mode

    def _text(self, params: JSON) -> tuple[str, list[JSON], str | None]:
        raw = params.get("text")
        if raw is None or raw == "":
            raise _bad("message text is empty")
        plain, entities, mode = self._format(
            str(raw), params.get("parse_mode"), params.get("entities"), field_name="text"
        )
        if not plain:
            raise _bad("message text is empty")
        if utf16_len(plain) > MAX_TEXT_LENGTH:
            raise _bad("message is too long")
        return plain, entities, mode

    def _caption(self, params: JSON) -> tuple[str | None, list[JSON], str | None]:
        raw = params.get("caption")
        if raw is None or raw == "":
            return None, [], params.get("parse_mode")
        plain, entities, mode = self._format(
            str(raw),
            params.get("parse_mode"),
            params.get("caption_entities"),
            field_name="caption",
        )
        if utf16_len(plain) > MAX_CAPTION_LENGTH:
            raise _bad("message caption is too long")
        return plain, entities, mode

    @staticmethod
    def _markup(value: Any) -> JSON | None:
        """Validate ``reply_markup`` the way Telegram does for inline keyboards."""
        if value is None or value == "":
            return None
        markup = _as_json(value, "reply keyboard markup")
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        rows = markup.get("inline_keyboard")
        if rows is None:
            return markup
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise _bad(
                'can\'t parse inline keyboard button: field "inline_keyboard" must be an '
                "Array of Arrays"
            )
        actions = (
            "url",
            "callback_data",
            "web_app",
            "login_url",
            "switch_inline_query",
            "switch_inline_query_current_chat",
            "switch_inline_query_chosen_chat",
            "copy_text",
            "callback_game",
            "pay",
        )
        for row in rows:
            for button in row:
                if not isinstance(button, dict) or not button.get("text"):
                    raise _bad("can't parse inline keyboard button: Text must be non-empty")
                if not any(a in button for a in actions):
                    raise _bad(
                        "can't parse inline keyboard button: "
                        "Text buttons are unallowed in the inline keyboard"
                    )
                if "callback_data" in button:
                    data = str(button["callback_data"]).encode("utf-8")
                    if not 1 <= len(data) <= MAX_CALLBACK_DATA_BYTES:
                        raise _bad("BUTTON_DATA_INVALID")
                if "url" in button and not re.match(
                    r"^(https?://[^\s/$.?#][^\s]*|tg://\S+)$", str(button["url"]), re.IGNORECASE
                ):
                    raise _bad("BUTTON_URL_INVALID")
        return markup

    def _reply_target(self, chat: _Chat, params: JSON) -> int | None:
        reply = _as_json(params.get("reply_parameters"), "reply parameters")
        if isinstance(reply, dict):
            message_id = reply.get("message_id")
            allow = _as_bool(reply.get("allow_sending_without_reply", False))
        else:
            message_id = params.get("reply_to_message_id")
            allow = _as_bool(params.get("allow_sending_without_reply", False))
        if message_id in (None, ""):
            return None
        message_id = _as_int(message_id, "reply_to_message_id")
        with self._lock:
            if message_id in chat.messages:
                return message_id
        if allow:
            return None
        raise _bad("message to be replied not found")

    def _check_flood(self, chat: _Chat, cost: int = 1) -> None:
        if not self.flood_limits:
            return
        with self._lock:
            retry_after = self.limiter.check(chat.id, cost)
            if retry_after:
                self._stats.flood_429 += 1
                self._stats.flood_429_by_chat[chat.id] += 1
        if retry_after:
            raise APIError(
                429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
            )

    def _input_file(self, call: _Call, name: str, value: Any, folder: str) -> _StoredFile:
        """Resolve an uploaded file, ``attach://`` reference, URL or existing ``file_id``."""
        upload: _Upload | None = None
        if value is None and name in call.files:
            upload = call.files[name]
        elif isinstance(value, str) and value.startswith("attach://"):
            upload = call.files.get(value[len("attach://") :])
            if upload is None:
                raise _bad("wrong file identifier/HTTP URL specified")
        if upload is not None:
            if not upload.data:
                raise _bad("file must be non-empty")
            with self._lock:
                return self._store_file(
                    upload.data, "upload", upload.filename, upload.content_type, folder
                )
        if value is None or value == "":
            raise _bad(f"there is no {name} in the request")
        text = str(value)
        if re.match(r"^https?://\S+$", text, re.IGNORECASE):
            with self._lock:
                return self._store_file(None, text, text.rsplit("/", 1)[-1], None, folder)
        with self._lock:
            stored = self._files.get(text)
        if stored is None:
            raise _bad("wrong file identifier/HTTP URL specified")
        return stored

    def _photo_sizes(self, stored: _StoredFile) -> list[JSON]:
        width, height = _png_size(stored.data or b"") or (1280, 720)
        scale = min(1.0, 90 / max(width, height))
        with self._lock:
            thumb = self._store_file(stored.data, stored.source, stored.file_name, None, "photos")
        return [
            {
                "file_id": thumb.file_id,
                "file_unique_id": thumb.file_unique_id,
                "width": max(1, int(width * scale)),
                "height": max(1, int(height * scale)),
                **({"file_size": thumb.file_size} if thumb.file_size else {}),
            },
            {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "width": width,
                "height": height,
                **({"file_size": stored.file_size} if stored.file_size else {}),
            },
        ]

    # ---------------------------------------------------------------- recording

    def _message_json(self, chat: _Chat, record: SentMessage) -> JSON:
        message: JSON = {
            "message_id": record.message_id,
            "date": record.date,
            "chat": chat.to_json(),
        }
        if chat.type == "channel":
            message["sender_chat"] = chat.to_json()
        else:
            message["from"] = self._bot_user()
        if record.message_thread_id is not None:
            message["message_thread_id"] = record.message_thread_id
        if record.reply_to_message_id is not None:
            replied = chat.messages.get(record.reply_to_message_id)
            if replied is not None:
                message["reply_to_message"] = {
                    k: v for k, v in replied.items() if k != "reply_to_message"
                }
        if record.text is not None:
            message["text"] = record.text
            if record.entities:
                message["entities"] = record.entities
            if record.link_preview_options:
                message["link_preview_options"] = record.link_preview_options
        if record.photo is not None:
            message["photo"] = record.photo
        if record.document is not None:
            message["document"] = record.document
        if record.caption is not None:
            message["caption"] = record.caption
            if record.entities:
                message["caption_entities"] = record.entities
        if record.media_group_id is not None:
            message["media_group_id"] = record.media_group_id
        markup = record.reply_markup or {}
        if markup.get("inline_keyboard"):
            message["reply_markup"] = {"inline_keyboard": markup["inline_keyboard"]}
        if record.edit_date is not None:
            message["edit_date"] = record.edit_date
        return message

    def _record(self, chat: _Chat, call: _Call, **fields: Any) -> JSON:
        """Store a new bot message in ``chat`` and return its Bot API JSON."""
        params = call.params
        with self._changed:
            now = time.time()
            record = SentMessage(
                chat_id=chat.id,
                message_id=chat.take_message_id(),
                method=_CANONICAL_METHODS.get(call.method, call.method),
                date=int(now),
                timestamp=now,
                message_thread_id=(
                    _as_int(params["message_thread_id"], "message_thread_id")
                    if params.get("message_thread_id") not in (None, "")
                    else None
                ),
                params=_summarize_params(params, call.files),
                **fields,
            )
            record.history.append(self._version(record, record.method))
            message = self._message_json(chat, record)
            chat.messages[record.message_id] = message
            self._sent.append(record)
            self._sent_index[(chat.id, record.message_id)] = record
            self._stats.messages_sent += 1
            self._changed.notify_all()
            snapshot = copy.deepcopy(record) if self.on_message else None
        if snapshot is not None and self.on_message is not None:
            self.on_message(snapshot)
        return message

    @staticmethod
    def _version(record: SentMessage, method: str) -> MessageVersion:
        return MessageVersion(
            method=method,
            time=time.time(),
            text=record.text,
            html=record.html,
            caption=record.caption,
            parse_mode=record.parse_mode,
            entities=copy.deepcopy(record.entities),
            reply_markup=copy.deepcopy(record.reply_markup),
        )

    def _link_preview(self, params: JSON) -> tuple[JSON | None, bool | None]:
        options = _as_json(params.get("link_preview_options"), "link preview options")
        disabled = params.get("disable_web_page_preview")
        disabled_flag = None if disabled in (None, "") else _as_bool(disabled)
        if not isinstance(options, dict):
            options = {"is_disabled": True} if disabled_flag else None
        return options, disabled_flag

    # ---------------------------------------------------------------- API methods

    async def _api_getMe(self, call: _Call) -> JSON:
        return {
            **self._bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": True,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _api_logOut(self, call: _Call) -> bool:
        return True

    async def _api_close(self, call: _Call) -> bool:
        return True

    async def _trivial(self, call: _Call) -> bool:
        return True

    async def _api_sendChatAction(self, call: _Call) -> bool:
        self._resolve_chat(call.params.get("chat_id"))
        return True

    async def _api_getUpdates(self, call: _Call) -> list[JSON]:
        p = call.params
        offset = _as_int(p.get("offset"), "offset", 0)
        limit = min(100, max(1, _as_int(p.get("limit"), "limit", 100)))
        timeout = max(0.0, float(p.get("timeout") or 0))
        allowed = _as_json(p.get("allowed_updates"), "allowed updates")
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._webhook.url:
                raise APIError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                )
            if isinstance(allowed, list):
                self._allowed_updates = tuple(allowed) or DEFAULT_ALLOWED_UPDATES
            self._confirm_updates(offset)
            self._poll_generation += 1
            generation = self._poll_generation
        # Telegram terminates the *older* pending request when a new one arrives.
        self._wake_pollers()
        deadline = loop.time() + timeout
        while True:
            event = self._poll_event
            assert event is not None
            with self._lock:
                if generation != self._poll_generation:
                    raise APIError(
                        409,
                        "Conflict: terminated by other getUpdates request; "
                        "make sure that only one bot instance is running",
                    )
                batch = self._take_updates(limit, self._allowed_updates)
                if self._webhook.url:
                    batch = []
            remaining = deadline - loop.time()
            if batch or remaining <= 0 or self._closing:
                return copy.deepcopy(batch)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    async def _api_setWebhook(self, call: _Call) -> bool:
        p = call.params
        url = str(p.get("url") or "")
        secret = p.get("secret_token")
        if url and not re.match(r"^https?://[^\s/]+", url, re.IGNORECASE):
            raise _bad("bad webhook: Unsupported URL protocol")
        if secret not in (None, "") and not SECRET_TOKEN_RE.match(str(secret)):
            raise _bad("secret token contains unallowed characters")
        allowed = _as_json(p.get("allowed_updates"), "allowed updates")
        with self._lock:
            if _as_bool(p.get("drop_pending_updates", False)):
                self._updates.clear()
            self._webhook = WebhookState(
                url=url,
                secret_token=str(secret) if secret else None,
                allowed_updates=list(allowed) if isinstance(allowed, list) and allowed else None,
                max_connections=_as_int(p.get("max_connections"), "max_connections", 40),
                ip_address=p.get("ip_address"),
                has_custom_certificate="certificate" in call.files,
            )
            self._poll_generation += 1  # a pending getUpdates is terminated
        self._wake_pollers()
        if url and self.webhook_mode:
            self._ensure_webhook_worker()
        return True

    async def _api_deleteWebhook(self, call: _Call) -> bool:
        with self._lock:
            self._webhook = WebhookState()
            if _as_bool(call.params.get("drop_pending_updates", False)):
                self._updates.clear()
        self._wake_pollers()
        return True

    async def _api_getWebhookInfo(self, call: _Call) -> JSON:
        with self._lock:
            hook = self._webhook
            info: JSON = {
                "url": hook.url,
                "has_custom_certificate": hook.has_custom_certificate,
                "pending_update_count": len(self._updates),
            }
            if hook.url:
                info["max_connections"] = hook.max_connections
                if hook.allowed_updates:
                    info["allowed_updates"] = hook.allowed_updates
                if hook.ip_address:
                    info["ip_address"] = hook.ip_address
                if hook.last_error_date:
                    info["last_error_date"] = hook.last_error_date
                    info["last_error_message"] = hook.last_error_message
            return info

    async def _api_sendMessage(self, call: _Call) -> JSON:
        p = call.params
        chat = self._resolve_chat(p.get("chat_id"))
        plain, entities, mode = self._text(p)
        markup = self._markup(p.get("reply_markup"))
        reply_to = self._reply_target(chat, p)
        preview, disabled = self._link_preview(p)
        self._check_flood(chat)
        return self._record(
            chat,
            call,
            text=plain,
            html=str(p["text"]),
            parse_mode=mode,
            entities=entities,
            reply_markup=markup,
            link_preview_options=preview,
            disable_web_page_preview=disabled,
            reply_to_message_id=reply_to,
        )

    async def _api_sendPhoto(self, call: _Call) -> JSON:
        p = call.params
        chat = self._resolve_chat(p.get("chat_id"))
        caption, entities, mode = self._caption(p)
        markup = self._markup(p.get("reply_markup"))
        reply_to = self._reply_target(chat, p)
        stored = self._input_file(call, "photo", p.get("photo"), "photos")
        self._check_flood(chat)
        return self._record(
            chat,
            call,
            caption=caption,
            html=p.get("caption"),
            parse_mode=mode,
            entities=entities,
            reply_markup=markup,
            photo=self._photo_sizes(stored),
            reply_to_message_id=reply_to,
        )

    async def _api_sendDocument(self, call: _Call) -> JSON:
        p = call.params
        chat = self._resolve_chat(p.get("chat_id"))
        caption, entities, mode = self._caption(p)
        markup = self._markup(p.get("reply_markup"))
        reply_to = self._reply_target(chat, p)
        stored = self._input_file(call, "document", p.get("document"), "documents")
        document: JSON = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
        if stored.file_name:
            document["file_name"] = stored.file_name
        if stored.mime_type:
            document["mime_type"] = stored.mime_type
        if stored.file_size:
            document["file_size"] = stored.file_size
        self._check_flood(chat)
        return self._record(
            chat,
            call,
            caption=caption,
            html=p.get("caption"),
            parse_mode=mode,
            entities=entities,
            reply_markup=markup,
            document=document,
            reply_to_message_id=reply_to,
        )

    async def _api_sendMediaGroup(self, call: _Call) -> list[JSON]:
        p = call.params
        chat = self._resolve_chat(p.get("chat_id"))
        media = _as_json(p.get("media"), "media")
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise _bad("wrong number of media; a media group must contain 2-10 items")
        reply_to = self._reply_target(chat, p)
        prepared = []
        for item in media:
            if not isinstance(item, dict) or item.get("type") not in {
                "photo",
                "video",
                "document",
                "audio",
            }:
                raise _bad("can't parse InputMedia: unsupported media type")
            caption, entities, mode = self._caption(item)
            stored = self._input_file(call, "media", item.get("media"), item["type"] + "s")
            prepared.append((item, caption, entities, mode, stored))
        self._check_flood(chat, cost=len(prepared))
        group_id = str(13_000_000_000_000_000 + next(self._ids))
        messages = []
        for item, caption, entities, mode, stored in prepared:
            extra: JSON = {}
            if item["type"] == "photo":
                extra["photo"] = self._photo_sizes(stored)
            else:
                extra["document"] = {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                }
            messages.append(
                self._record(
                    chat,
                    call,
                    caption=caption,
                    html=item.get("caption"),
                    parse_mode=mode,
                    entities=entities,
                    media_group_id=group_id,
                    reply_to_message_id=reply_to,
                    **extra,
                )
            )
        return messages

    def _source_message(self, call: _Call, what: str) -> JSON:
        source = self._resolve_chat(call.params.get("from_chat_id"), check_access=False)
        message_id = _as_int(call.params.get("message_id"), "message_id")
        with self._lock:
            message = source.messages.get(message_id)
            record = self._sent_index.get((source.id, message_id))
        if message is None or (record is not None and record.deleted):
            raise _bad(f"message to {what} not found")
        return message

    async def _api_forwardMessage(self, call: _Call) -> JSON:
        chat = self._resolve_chat(call.params.get("chat_id"))
        message = self._source_message(call, "forward")
        self._check_flood(chat)
        origin_chat = message["chat"]
        if origin_chat["type"] == "channel":
            origin: JSON = {
                "type": "channel",
                "chat": origin_chat,
                "message_id": message["message_id"],
                "date": message["date"],
            }
        else:
            origin = {
                "type": "user",
                "sender_user": message.get("from") or self._bot_user(),
                "date": message["date"],
            }
        result = self._record(
            chat,
            call,
            text=message.get("text"),
            html=message.get("text"),
            caption=message.get("caption"),
            entities=message.get("entities") or message.get("caption_entities") or [],
            photo=message.get("photo"),
        )
        result["forward_origin"] = origin
        with self._lock:
            chat.messages[result["message_id"]] = result
        return result

    async def _api_copyMessage(self, call: _Call) -> JSON:
        p = call.params
        chat = self._resolve_chat(p.get("chat_id"))
        message = self._source_message(call, "copy")
        caption: str | None = None
        entities: list[JSON] = []
        mode: str | None = None
        if "caption" in p:
            caption, entities, mode = self._caption(p)
        elif message.get("caption") is not None:
            caption, entities = message["caption"], message.get("caption_entities", [])
        markup = self._markup(p.get("reply_markup"))
        self._check_flood(chat)
        result = self._record(
            chat,
            call,
            text=message.get("text"),
            html=message.get("text") if "text" in message else p.get("caption"),
            caption=caption,
            parse_mode=mode,
            entities=message.get("entities", []) if "text" in message else entities,
            photo=message.get("photo"),
            reply_markup=markup,
        )
        return {"message_id": result["message_id"]}

    def _editable(self, call: _Call) -> tuple[_Chat, SentMessage]:
        p = call.params
        if p.get("inline_message_id"):
            raise _InlineEdit
        chat = self._resolve_chat(p.get("chat_id"))
        message_id = _as_int(p.get("message_id"), "message_id")
        with self._lock:
            record = self._sent_index.get((chat.id, message_id))
            exists = message_id in chat.messages
        if record is None or record.deleted:
            if exists and record is None:
                raise _bad("message can't be edited")
            raise _bad("message to edit not found")
        return chat, record

    def _apply_edit(self, chat: _Chat, record: SentMessage, call: _Call, **changes: Any) -> JSON:
        with self._changed:
            if all(getattr(record, k) == v for k, v in changes.items() if k != "html"):
                raise _bad(
                    "message is not modified: specified new message content and reply markup "
                    "are exactly the same as a current content and reply markup of the message"
                )
            for key, value in changes.items():
                setattr(record, key, value)
            record.edit_date = int(time.time())
            record.history.append(
                self._version(record, _CANONICAL_METHODS.get(call.method, call.method))
            )
            message = self._message_json(chat, record)
            chat.messages[record.message_id] = message
            self._stats.edits += 1
            self._changed.notify_all()
            return message

    async def _api_editMessageText(self, call: _Call) -> JSON | bool:
        p = call.params
        try:
            chat, record = self._editable(call)
        except _InlineEdit:
            self._text(p)
            self._markup(p.get("reply_markup"))
            return True
        if record.text is None:
            raise _bad("there is no text in the message to edit")
        plain, entities, mode = self._text(p)
        markup = self._markup(p.get("reply_markup"))
        preview, _ = self._link_preview(p)
        return self._apply_edit(
            chat,
            record,
            call,
            text=plain,
            html=str(p["text"]),
            parse_mode=mode,
            entities=entities,
            reply_markup=markup,
            link_preview_options=preview or record.link_preview_options,
        )

    async def _api_editMessageCaption(self, call: _Call) -> JSON | bool:
        p = call.params
        try:
            chat, record = self._editable(call)
        except _InlineEdit:
            self._caption(p)
            return True
        if record.text is not None:
            raise _bad("there is no caption in the message to edit")
        caption, entities, mode = self._caption(p)
        markup = self._markup(p.get("reply_markup"))
        return self._apply_edit(
            chat,
            record,
            call,
            caption=caption,
            html=p.get("caption"),
            parse_mode=mode,
            entities=entities,
            reply_markup=markup,
        )

    async def _api_editMessageReplyMarkup(self, call: _Call) -> JSON | bool:
        try:
            chat, record = self._editable(call)
        except _InlineEdit:
            self._markup(call.params.get("reply_markup"))
            return True
        markup = self._markup(call.params.get("reply_markup"))
        return self._apply_edit(chat, record, call, reply_markup=markup)

    async def _api_deleteMessage(self, call: _Call) -> bool:
        chat = self._resolve_chat(call.params.get("chat_id"))
        message_id = _as_int(call.params.get("message_id"), "message_id")
        with self._changed:
            record = self._sent_index.get((chat.id, message_id))
            if message_id not in chat.messages or (record is not None and record.deleted):
                raise _bad("message to delete not found")
            del chat.messages[message_id]  # users' messages too: bots may delete them
            if record is not None:
                record.deleted = True
            self._changed.notify_all()
        return True

    async def _api_deleteMessages(self, call: _Call) -> bool:
        chat = self._resolve_chat(call.params.get("chat_id"))
        ids = _as_json(call.params.get("message_ids"), "message_ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            raise _bad("message_ids must be a non-empty array of at most 100 elements")
        with self._changed:
            for message_id in ids:
                chat.messages.pop(int(message_id), None)
                record = self._sent_index.get((chat.id, int(message_id)))
                if record is not None:
                    record.deleted = True
            self._changed.notify_all()
        return True

    async def _api_answerCallbackQuery(self, call: _Call) -> bool:
        p = call.params
        query_id = str(p.get("callback_query_id") or "")
        text = p.get("text")
        with self._changed:
            query = self._callback_queries.get(query_id)
            if query is None or query_id in self._answered:
                raise _bad("query is too old and response timeout expired or query ID is invalid")
            if text is not None and len(str(text)) > MAX_CALLBACK_ANSWER_LENGTH:
                raise _bad("MESSAGE_TOO_LONG")
            self._answered.add(query_id)
            self._callback_answers.append(
                CallbackAnswer(
                    callback_query_id=query_id,
                    user_id=query["from"]["id"],
                    data=query.get("data"),
                    text=None if text is None else str(text),
                    show_alert=_as_bool(p.get("show_alert", False)),
                    url=p.get("url"),
                    cache_time=_as_int(p.get("cache_time"), "cache_time", 0),
                    time=time.time(),
                )
            )
            self._changed.notify_all()
        return True

    async def _api_answerInlineQuery(self, call: _Call) -> bool:
        p = call.params
        query_id = str(p.get("inline_query_id") or "")
        results = _as_json(p.get("results"), "results")
        if not isinstance(results, list):
            raise _bad("can't parse inline query results JSON object")
        if len(results) > MAX_INLINE_RESULTS:
            raise _bad("RESULTS_TOO_MUCH")
        seen: set[str] = set()
        for result in results:
            if not isinstance(result, dict) or "type" not in result:
                raise _bad("can't parse inline query result: type is missing")
            result_id = str(result.get("id", ""))
            if not 1 <= len(result_id.encode()) <= 64:
                raise _bad("RESULT_ID_INVALID")
            if result_id in seen:
                raise _bad("RESULT_ID_DUPLICATE")
            seen.add(result_id)
            content = result.get("input_message_content")
            if isinstance(content, dict) and "message_text" in content:
                self._text({**content, "text": content["message_text"]})
            if result.get("caption"):
                self._caption(result)
            self._markup(result.get("reply_markup"))
        next_offset = p.get("next_offset")
        if next_offset is not None and len(str(next_offset).encode()) > 64:
            raise _bad("NEXT_OFFSET_INVALID")
        with self._changed:
            query = self._inline_queries.get(query_id)
            if query is None or query_id in self._answered:
                raise _bad("query is too old and response timeout expired or query ID is invalid")
            self._answered.add(query_id)
            cache_time = p.get("cache_time")
            self._inline_answers.append(
                InlineAnswer(
                    inline_query_id=query_id,
                    user_id=query["from"]["id"],
                    query=query.get("query"),
                    results=results,
                    cache_time=None if cache_time in (None, "") else int(cache_time),
                    is_personal=_as_bool(p.get("is_personal", False)),
                    next_offset=None if next_offset is None else str(next_offset),
                    button=_as_json(p.get("button"), "button"),
                    time=time.time(),
                )
            )
            self._changed.notify_all()
        return True

    async def _api_setMyCommands(self, call: _Call) -> bool:
        p = call.params
        commands = _as_json(p.get("commands"), "commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _bad("BOT_COMMANDS_TOO_MUCH" if isinstance(commands, list) else "commands")
        for command in commands:
            if not isinstance(command, dict) or not BOT_COMMAND_RE.match(
                str(command.get("command", ""))
            ):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        key = (_scope_key(p.get("scope")), str(p.get("language_code") or ""))
        with self._lock:
            if commands:
                self._commands[key] = [
                    {"command": c["command"], "description": c["description"]} for c in commands
                ]
            else:
                self._commands.pop(key, None)
        return True

    async def _api_getMyCommands(self, call: _Call) -> list[JSON]:
        key = (_scope_key(call.params.get("scope")), str(call.params.get("language_code") or ""))
        with self._lock:
            return copy.deepcopy(self._commands.get(key, []))

    async def _api_deleteMyCommands(self, call: _Call) -> bool:
        key = (_scope_key(call.params.get("scope")), str(call.params.get("language_code") or ""))
        with self._lock:
            self._commands.pop(key, None)
        return True

    async def _api_getChat(self, call: _Call) -> JSON:
        chat = self._resolve_chat(call.params.get("chat_id"), check_access=False)
        info = chat.to_json()
        info.update(
            {
                "accent_color_id": 0,
                "max_reaction_count": 11,
                "accepted_gift_types": {
                    "unlimited_gifts": False,
                    "limited_gifts": False,
                    "unique_gifts": False,
                    "premium_subscription": False,
                    "gifts_from_channels": False,
                },
            }
        )
        return info

    def _member_json(self, chat: _Chat, user_id: int) -> JSON:
        with self._lock:
            configured = dict(self._members.get((chat.id, user_id), {}))
        user = self._bot_user() if user_id == self._bot_id else self._user_json(user_id)
        if not configured:
            if user_id == self._bot_id:
                configured = {"status": "administrator" if chat.type != "private" else "member"}
            elif chat.type == "private" and chat.id == user_id:
                configured = {"status": "member"}
            else:
                configured = {"status": "left"}
        status = configured.pop("status")
        member: JSON = {"status": status, "user": user}
        if status == "creator":
            member["is_anonymous"] = configured.pop("is_anonymous", False)
        elif status == "administrator":
            rights = {
                "can_be_edited": False,
                "is_anonymous": False,
                "can_manage_chat": True,
                "can_delete_messages": True,
                "can_manage_video_chats": True,
                "can_restrict_members": True,
                "can_promote_members": False,
                "can_change_info": True,
                "can_invite_users": True,
                "can_post_stories": True,
                "can_edit_stories": True,
                "can_delete_stories": True,
            }
            if chat.type == "channel":
                rights.update(can_post_messages=True, can_edit_messages=True)
            else:
                rights.update(can_pin_messages=True)
            member.update(rights)
        elif status == "restricted":
            member.update(
                {
                    "is_member": True,
                    "until_date": 0,
                    "can_edit_tag": False,
                    **{
                        f"can_{name}": False
                        for name in (
                            "change_info",
                            "invite_users",
                            "pin_messages",
                            "send_messages",
                            "send_polls",
                            "send_other_messages",
                            "add_web_page_previews",
                            "manage_topics",
                            "send_audios",
                            "send_documents",
                            "send_photos",
                            "send_videos",
                            "send_video_notes",
                            "send_voice_notes",
                        )
                    },
                }
            )
        elif status == "kicked":
            member["until_date"] = 0
        member.update(configured)
        return member

    async def _api_getChatMember(self, call: _Call) -> JSON:
        chat = self._resolve_chat(call.params.get("chat_id"))
        user_id = _as_int(call.params.get("user_id"), "user_id")
        return self._member_json(chat, user_id)

    async def _api_getChatAdministrators(self, call: _Call) -> list[JSON]:
        chat = self._resolve_chat(call.params.get("chat_id"))
        with self._lock:
            users = {u for (c, u) in self._members if c == chat.id}
        users.add(self._bot_id)
        members = [self._member_json(chat, u) for u in sorted(users)]
        return [m for m in members if m["status"] in {"creator", "administrator"}]

    async def _api_getFile(self, call: _Call) -> JSON:
        file_id = str(call.params.get("file_id") or "")
        with self._lock:
            stored = self._files.get(file_id)
        if stored is None:
            raise _bad("invalid file_id")
        result: JSON = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_path": stored.file_path,
        }
        if stored.file_size is not None:
            result["file_size"] = stored.file_size
        return result

    _api_setMyDescription = _trivial
    _api_setMyShortDescription = _trivial
    _api_setMyName = _trivial
    _api_setChatMenuButton = _trivial
    _api_pinChatMessage = _trivial
    _api_unpinChatMessage = _trivial

    # ---------------------------------------------------------------- inspection helpers

    def messages(
        self, chat_id: int | None = None, *, include_deleted: bool = True
    ) -> list[SentMessage]:
        """Snapshots of the messages the bot sent (optionally to one chat), oldest first."""
        with self._lock:
            found = [
                m
                for m in self._sent
                if (chat_id is None or m.chat_id == chat_id) and (include_deleted or not m.deleted)
            ]
            return copy.deepcopy(found)

    def last_message(self, chat_id: int | None = None) -> SentMessage:
        found = self.messages(chat_id)
        if not found:
            raise AssertionError(f"the bot sent no message{self._in_chat(chat_id)}")
        return found[-1]

    @staticmethod
    def _in_chat(chat_id: int | None) -> str:
        return "" if chat_id is None else f" to chat {chat_id}"

    def _describe(self) -> str:
        with self._lock:
            sent = [
                f"  chat {m.chat_id} #{m.message_id} {m.method}: {m.content[:80]!r}"
                for m in self._sent[-20:]
            ]
            failed = [
                f"  {r.method} -> {r.status} {(r.response or {}).get('description', '')}"
                for r in self._requests[-200:]
                if r.status != 200
            ][-10:]
        return (
            "sent so far:\n"
            + ("\n".join(sent) or "  (nothing)")
            + "\nfailed requests:\n"
            + ("\n".join(failed) or "  (none)")
        )

    def _enough(self, chat_id: int | None, count: int) -> list[SentMessage] | None:
        found = [m for m in self._sent if chat_id is None or m.chat_id == chat_id]
        return copy.deepcopy(found) if len(found) >= count else None

    def wait_for_messages(
        self, chat_id: int | None = None, count: int = 1, timeout: float = 5.0
    ) -> list[SentMessage]:
        """Block until the bot sent ``count`` messages (to ``chat_id``); return them all.

        Raises ``AssertionError`` listing what *was* sent.  Don't call it from a loop that
        also runs the bot — use :meth:`async_wait_for_messages` there.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = self._enough(chat_id, count)
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
        raise AssertionError(
            f"expected {count} message(s){self._in_chat(chat_id)} within {timeout}s; "
            + self._describe()
        )

    async def async_wait_for_messages(
        self,
        chat_id: int | None = None,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - mirrors the sync signature
    ) -> list[SentMessage]:
        """:meth:`wait_for_messages` that polls, never blocking the caller's event loop."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = self._enough(chat_id, count)
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"expected {count} message(s){self._in_chat(chat_id)} within {timeout}s; "
                    + self._describe()
                )
            await asyncio.sleep(0.005)

    def wait_for(
        self, predicate: Callable[[BotAPIEmulator], Any], timeout: float = 5.0, what: str = ""
    ) -> Any:
        """Block until ``predicate(emu)`` is truthy (re-checked on every state change)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                value = predicate(self)
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(min(remaining, 0.05))
        raise AssertionError(f"timed out waiting for {what or predicate!r}; " + self._describe())

    async def async_wait_for(
        self,
        predicate: Callable[[BotAPIEmulator], Any],
        timeout: float = 5.0,  # noqa: ASYNC109 - mirrors the sync signature
        what: str = "",
    ) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate(self)
            if value:
                return value
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"timed out waiting for {what or predicate!r}; " + self._describe()
                )
            await asyncio.sleep(0.005)

    @property
    def requests(self) -> list[RequestRecord]:
        """Every answered request, oldest first (a snapshot)."""
        with self._lock:
            return list(self._requests)

    def requests_for(self, method: str) -> list[RequestRecord]:
        lowered = method.lower()
        return [r for r in self.requests if r.method.lower() == lowered]

    @property
    def stats(self) -> EmulatorStats:
        with self._lock:
            return copy.deepcopy(self._stats)

    def reset_stats(self) -> None:
        """Clear counters and the request log (e.g. between benchmark phases)."""
        with self._lock:
            self._stats = EmulatorStats()
            self._requests.clear()

    @property
    def callback_answers(self) -> list[CallbackAnswer]:
        with self._lock:
            return list(self._callback_answers)

    @property
    def inline_answers(self) -> list[InlineAnswer]:
        with self._lock:
            return copy.deepcopy(self._inline_answers)

    @property
    def commands(self) -> dict[tuple[str, str], list[JSON]]:
        """``setMyCommands`` state: ``{(scope_key, language_code): [{command, description}]}``.

        ``scope_key`` is ``"default"``, ``"all_private_chats"``, ``"chat:<id>"``, ...
        """
        with self._lock:
            return copy.deepcopy(self._commands)

    def get_commands(self, scope: str = "default", language_code: str = "") -> list[JSON]:
        return self.commands.get((scope, language_code), [])

    @property
    def webhook(self) -> WebhookState:
        with self._lock:
            return copy.copy(self._webhook)

    @property
    def webhook_deliveries(self) -> list[WebhookDelivery]:
        with self._lock:
            return list(self._webhook_deliveries)

    def pending_updates(self) -> list[JSON]:
        """Updates queued and not yet confirmed by the bot."""
        with self._lock:
            return copy.deepcopy(self._updates)

    def chat(self, chat_id: int) -> JSON:
        """The ``Chat`` JSON of a known chat (raises ``KeyError`` otherwise)."""
        with self._lock:
            return self._chats[chat_id].to_json()

    @property
    def migrated(self) -> dict[int, int]:
        with self._lock:
            return dict(self._migrated)


class _InlineEdit(Exception):
    """Internal: an edit addressed by ``inline_message_id`` (answered with ``True``)."""


# --------------------------------------------------------------------------------------------
# Standalone mode
# --------------------------------------------------------------------------------------------


def _print_message(message: SentMessage) -> None:
    markup = ""
    if message.callback_data:
        markup = f"  [buttons: {', '.join(message.callback_data)}]"
    print(f"<- chat {message.chat_id} #{message.message_id}: {message.content}{markup}", flush=True)


def _repl(emu: BotAPIEmulator, lines: Iterator[str]) -> bool:
    """Inject one user action per line; returns ``True`` when the user typed ``quit``."""
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line in {"quit", "exit"}:
            return True
        parts = line.split(maxsplit=1)
        try:
            if parts[0] == "press" and len(parts) == 2:
                user, chat, message_id, data = parts[1].split(maxsplit=3)
                emu.press_button(int(user), int(chat), int(message_id), data)
            elif len(parts) == 2 and parts[0].lstrip("-").isdigit():
                emu.send_message(int(parts[0]), parts[1])
            else:
                print("?? expected 'USER_ID TEXT' or 'press USER CHAT MSG DATA'", flush=True)
                continue
        except (ValueError, KeyError) as exc:
            print(f"!! {exc}", flush=True)
            continue
        print(f"-> {line}", flush=True)
    return False


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.support.botapi``: run the emulator for manual testing."""
    parser = argparse.ArgumentParser(description="Loopback Telegram Bot API emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--username", default="orbitwire_test_bot")
    parser.add_argument("--no-flood", action="store_true", help="disable flood limits")
    parser.add_argument(
        "--script",
        action="append",
        default=[],
        metavar="USER:TEXT",
        help="inject a user message at start (repeatable), e.g. --script 1000:/start",
    )
    args = parser.parse_args(argv)
    emu = BotAPIEmulator(
        host=args.host,
        port=args.port,
        token=args.token,
        bot_username=args.username,
        flood_limits=not args.no_flood,
        on_message=_print_message,
    )
    emu.start()
    print(f"Bot API emulator listening: {emu.base_url}", flush=True)
    print(
        f"  ORBITWIRE_TELEGRAM_API_URL={emu.base_url} ORBITWIRE_BOT_TOKEN={emu.token}", flush=True
    )
    print("  type 'USER_ID TEXT' to send a user message, 'quit' to stop", flush=True)
    try:
        for item in args.script:
            user, _, text = item.partition(":")
            emu.send_message(int(user), text)
            print(f"-> {user} {text}", flush=True)
        if not _repl(emu, iter(sys.stdin)) and not sys.stdin.isatty():
            threading.Event().wait()  # stdin exhausted (e.g. </dev/null): keep serving
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
