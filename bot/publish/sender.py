"""The sender: drains the outbox into Telegram, one head-of-queue per chat, paced, fault-tolerant.

Every Bot API failure maps to one outcome (:func:`classify`), and none of them blocks the queue:

============================  =====================================================
what happened                 what the sender does
============================  =====================================================
sent                          ``sent`` with the Telegram message id
429 RetryAfter                that chat waits ``retry_after``; the row is re-queued
5xx answer / request never    re-queued with exponential backoff; per-chat order kept
left (connect error, pool)
403 kicked / blocked          ``failed``; the chat is disabled, its queue skipped,
                              admins get an event; other chats continue
400 migrate_to_chat_id        the chat's new id is stored, deliveries move, re-sent
400 can't parse entities      re-sent once as plain text
400 caption/message too long  re-sent shorter (photo → text with a large preview)
other 400                     ``failed`` with the reason
read timeout / dropped        ``unknown``: the request may have been delivered.
connection after sending      Telegram has no idempotency key, so we never re-send
                              blindly (at-most-once); admins see it and may re-queue
============================  =====================================================
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum
from typing import Any

import httpx
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Message
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import ExtBot

from bot.failpoints import failpoint
from bot.flood import FloodControl, retry_after_seconds
from storage import outbox
from storage.channels import chat_gone, chat_migrated
from storage.db import Database
from storage.types import utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BACKOFF_BASE = 2.0
BACKOFF_CAP = 600.0
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024

ChatGoneHook = Callable[[int, str], Awaitable[None]]


class Outcome(Enum):
    SENT = "sent"
    RETRY = "retry"  # certainly not delivered: try again later
    FLOOD = "flood"  # 429 for this chat
    GONE = "gone"  # kicked / blocked: stop sending to this chat
    MIGRATED = "migrated"
    PARSE = "parse"  # can't parse entities → plain text
    TOO_LONG = "too_long"
    FAILED = "failed"
    UNKNOWN = "unknown"  # maybe delivered


def _request_left(exc: BaseException) -> bool:
    """Did the HTTP request possibly reach Telegram before this transport error?"""
    cause = exc.__cause__
    if isinstance(cause, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return False
    return not (isinstance(exc, TimedOut) and "Pool timeout" in str(exc))


def classify(exc: BaseException) -> tuple[Outcome, str]:
    """Map a Bot API exception to what the sender should do (pure; see the module table)."""
    text = str(exc)
    if isinstance(exc, RetryAfter):
        return Outcome.FLOOD, text
    if isinstance(exc, ChatMigrated):
        return Outcome.MIGRATED, text
    if isinstance(exc, Forbidden):
        return Outcome.GONE, text
    if isinstance(exc, BadRequest):
        lowered = text.lower()
        if "can't parse entities" in lowered or "can't find end" in lowered:
            return Outcome.PARSE, text
        if "too long" in lowered:
            return Outcome.TOO_LONG, text
        if "chat not found" in lowered or "chat_write_forbidden" in lowered:
            return Outcome.GONE, text
        return Outcome.FAILED, text
    if isinstance(exc, TimedOut):
        return (Outcome.UNKNOWN if _request_left(exc) else Outcome.RETRY), text
    if isinstance(exc, NetworkError):
        if exc.__cause__ is None:  # Telegram answered with a 5xx: it did not take the message
            return Outcome.RETRY, text
        return (Outcome.UNKNOWN if _request_left(exc) else Outcome.RETRY), text
    return Outcome.FAILED, text


def backoff(attempts: int, base: float = BACKOFF_BASE, rng: random.Random | None = None) -> float:
    """Seconds before the next try: base × 2^(attempts-1), capped at 10 minutes, ±20 % jitter."""
    rng = rng or random.Random()  # noqa: S311 - jitter
    delay = min(BACKOFF_CAP, base * 2.0 ** max(0, attempts - 1))
    return delay * rng.uniform(0.8, 1.2)


def _markup(payload: dict[str, Any]) -> InlineKeyboardMarkup | None:
    rows = payload.get("buttons") or []
    if not rows:
        return None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    b["text"], callback_data=b.get("callback_data"), url=b.get("url")
                )
                for b in row
            ]
            for row in rows
        ]
    )


def _cut(text: str, limit: int) -> str:
    """Cut plain text to ``limit`` UTF-16 units at a word boundary, with an ellipsis."""
    if len(text.encode("utf-16-le")) // 2 <= limit:
        return text
    out = []
    used = 0
    for ch in text:
        size = 2 if ord(ch) > 0xFFFF else 1
        if used + size > limit - 1:
            break
        out.append(ch)
        used += size
    cut = "".join(out)
    if " " in cut[-40:]:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip() + "…"


@dataclass(slots=True)
class SendReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    unknown: int = 0
    flood_waits: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def add(self, other: SendReport) -> None:
        for name in ("sent", "retried", "failed", "unknown", "flood_waits"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for key, value in other.outcomes.items():
            self.outcomes[key] = self.outcomes.get(key, 0) + value


class Sender:
    """Claims deliveries and sends them through ``bot`` (whose rate limiter is ``flood``)."""

    def __init__(
        self,
        db: Database,
        bot: ExtBot[Any],
        flood: FloodControl | None = None,
        *,
        worker_id: str | None = None,
        batch: int = 64,
        retry_base: float = BACKOFF_BASE,
        recover_lease: timedelta = timedelta(0),
        on_chat_gone: ChatGoneHook | None = None,
    ) -> None:
        self.db = db
        self.bot = bot
        self.flood = flood
        self.worker_id = worker_id or f"sender-{uuid.uuid4().hex[:8]}"
        self.batch = batch
        self.retry_base = retry_base
        self.recover_lease = recover_lease
        self.on_chat_gone = on_chat_gone
        self._recovered = False
        self.recovered_term = 0  # the leadership term whose recovery has run (see bot.jobs)

    async def recover(self) -> tuple[int, int]:
        """Resolve what a previous crash left in flight (see :func:`storage.outbox.recover`).

        Only the scheduler leader sends, and it calls this when it becomes leader: every row
        still in flight then belongs to a process that is gone, whatever its age.
        """
        requeued, unknown = await self.db.run(outbox.recover, lease=self.recover_lease)
        if requeued or unknown:
            log.warning(
                "outbox recovery: %d re-queued, %d unknown (not re-sent)", requeued, unknown
            )
        self._recovered = True
        return requeued, unknown

    def _blocked_chats(self) -> list[int]:
        return self.flood.blocked_chats() if self.flood is not None else []

    async def run_once(self) -> SendReport:
        """Claim one batch (one head per chat) and send it concurrently."""
        if not self._recovered:
            await self.recover()
        report = SendReport()
        claimed = await self.db.run(
            outbox.claim, self.worker_id, limit=self.batch, skip_chats=self._blocked_chats()
        )
        if claimed:
            await failpoint("sender.after_claim")
        await asyncio.gather(*(self._deliver(c, report) for c in claimed))
        return report

    async def drain(self, *, max_seconds: float | None = None) -> SendReport:
        """Send until nothing is due (or time runs out): the send job, ``publish --once``, tests.

        Two batches overlap: the next one is claimed while the current one is still being
        paced out, so the flood-control slots never sit idle between batches (a claim only
        takes chats with nothing in flight, so overlapping batches cannot reorder a chat).
        """
        total = SendReport()
        loop = asyncio.get_running_loop()
        deadline = None if max_seconds is None else loop.time() + max_seconds
        in_flight: set[asyncio.Task[SendReport]] = set()
        idle = False  # the last claim found nothing: wait for in-flight work before asking again
        while True:
            expired = deadline is not None and loop.time() >= deadline
            if not expired and not idle and len(in_flight) < 2:
                in_flight.add(asyncio.create_task(self.run_once()))
            if not in_flight:
                break
            done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                report = task.result()
                total.add(report)
                idle = not report.outcomes
            if idle and not in_flight:
                break
        return total

    # ------------------------------------------------------------------ one delivery
    async def _deliver(self, item: outbox.Claimed, report: SendReport) -> None:
        payload = dict(item.payload)
        chat_id = item.chat_id
        plain_fallback = False
        for _ in range(4):  # re-sends within one claim: plain text, shortened, migrated

            async def request_leaves(delivery_id: int = item.id) -> None:
                # Called by the flood control after its waits, right before the HTTP request:
                # a process killed while waiting leaves the row `claimed` (safely re-queued),
                # not `sending` (which would park it as unknown).
                await self.db.run(outbox.begin_send, delivery_id)
                await failpoint("sender.after_begin")

            try:
                message = await self._send(
                    chat_id, payload, plain=plain_fallback, before_send=request_leaves
                )
            except TelegramError as exc:
                outcome, reason = classify(exc)
                report.count(outcome.value)
                if outcome is Outcome.PARSE and not plain_fallback:
                    log.warning(
                        "chat %s: HTML rejected (%s); re-sending as plain text", chat_id, reason
                    )
                    plain_fallback = True
                    await self._back_to_claimed(item.id)
                    continue
                if outcome is Outcome.TOO_LONG and not payload.get("_shortened"):
                    payload = self._shorten(payload)
                    await self._back_to_claimed(item.id)
                    continue
                if outcome is Outcome.MIGRATED and isinstance(exc, ChatMigrated):
                    new_id = int(exc.new_chat_id)
                    await self.db.run(chat_migrated, chat_id, new_id)
                    chat_id = new_id
                    await self._back_to_claimed(item.id)
                    continue
                await self._settle(item, outcome, reason, exc, report)
                return
            await self.db.run(outbox.mark_sent, item.id, message.message_id)
            report.sent += 1
            report.count(Outcome.SENT.value)
            return
        await self.db.run(outbox.mark_failed, item.id, "gave up after repeated re-sends")
        report.failed += 1

    async def _back_to_claimed(self, delivery_id: int) -> None:
        await self.db.run(outbox.refused, delivery_id)

    async def _settle(
        self,
        item: outbox.Claimed,
        outcome: Outcome,
        reason: str,
        exc: BaseException,
        report: SendReport,
    ) -> None:
        if outcome is Outcome.FLOOD and isinstance(exc, RetryAfter):
            seconds = retry_after_seconds(exc)
            if self.flood is not None and self.flood.blocked_until(item.chat_id) == 0.0:
                self.flood.penalize(item.chat_id, seconds)
            report.flood_waits += 1
            await self.db.run(
                outbox.mark_retry, item.id, reason, utcnow() + timedelta(seconds=seconds)
            )
            return
        if outcome is Outcome.RETRY and item.attempts < MAX_ATTEMPTS:
            report.retried += 1
            delay = timedelta(seconds=backoff(item.attempts, self.retry_base))
            await self.db.run(outbox.mark_retry, item.id, reason, utcnow() + delay)
            return
        if outcome is Outcome.UNKNOWN:
            report.unknown += 1
            log.warning(
                "delivery %s to %s: outcome unknown (%s); not re-sent",
                item.id,
                item.chat_id,
                reason,
            )
            await self.db.run(outbox.mark_unknown, item.id, reason)
            return
        report.failed += 1
        await self.db.run(outbox.mark_failed, item.id, reason)
        if outcome is Outcome.GONE:
            await self.db.run(chat_gone, item.chat_id, reason)
            if self.on_chat_gone is not None:
                await self.on_chat_gone(item.chat_id, reason)

    @staticmethod
    def _shorten(payload: dict[str, Any]) -> dict[str, Any]:
        """Too long: a photo becomes a text post with a large preview; text is cut safely."""
        plain = str(payload.get("plain") or "")
        shorter = dict(payload, _shortened=True)
        if payload.get("kind") == "photo" and payload.get("photo_url"):
            shorter.update(
                kind="text",
                link_preview={
                    "url": payload["photo_url"],
                    "prefer_large_media": True,
                    "show_above_text": True,
                },
            )
            return shorter
        shorter.update(kind="text", html=None, plain=_cut(plain, TEXT_LIMIT - 96))
        return shorter

    async def _send(
        self,
        chat_id: int,
        payload: dict[str, Any],
        *,
        plain: bool,
        before_send: Callable[[], Awaitable[None]],
    ) -> Message:
        html = payload.get("html")
        text = str(payload.get("plain") or "") if (plain or not html) else str(html)
        parse_mode = None if (plain or not html) else ParseMode.HTML
        markup = _markup(payload)
        limits: dict[str, Any] = {"retries": 0, "before_send": before_send}
        if self.bot.rate_limiter is None:  # no flood control to call it at the last moment
            await before_send()
            limits = {}
        if payload.get("kind") == "photo" and payload.get("photo_url"):
            caption = _cut(text, CAPTION_LIMIT) if parse_mode is None else text
            return await self.bot.send_photo(
                chat_id,
                photo=payload["photo_url"],
                caption=caption,
                parse_mode=parse_mode,
                reply_markup=markup,
                rate_limit_args=limits,
            )
        preview = payload.get("link_preview")
        options = LinkPreviewOptions(**preview) if isinstance(preview, dict) else None
        if parse_mode is None:
            text = _cut(text, TEXT_LIMIT)
        return await self.bot.send_message(
            chat_id,
            text=text,
            parse_mode=parse_mode,
            link_preview_options=options,
            reply_markup=markup,
            rate_limit_args=limits,
        )
