"""Flood control for every request the bot sends: stay under Telegram's limits *before* a 429.

Why not PTB's ``AIORateLimiter``: on a 429 it pauses *all* requests, so one channel's flood wait
would stall every other chat; and it does not pace private chats. This limiter:

- spaces message sends globally (at most 30 in any 1.02 s, ~29.4/s) *and* keeps a sliding
  window of the actual send times, so no rolling second ever holds more than the limit — not even
  when the event loop was busy and several sends became due at once;
- keeps a sliding 60 s window per group/channel (20 messages per minute);
- spaces each private chat (~1 message/s);
- on a 429 (``RetryAfter``) blocks only the chat that got it, for ``retry_after`` seconds.

Requests that do not send messages (answers, edits, getUpdates) pass untouched.
Callers that manage retries themselves (the outbox sender) pass ``rate_limit_args={"retries": 0}``
and get the ``RetryAfter`` back immediately; interactive replies retry once after a short wait.
``rate_limit_args["before_send"]`` is awaited after every wait, right before the request leaves:
the outbox commits its ``sending`` state there, so time spent queued in the limiter never
counts as "maybe delivered".
"""

from __future__ import annotations

import asyncio
import time
import warnings
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

SEND_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendMediaGroup",
        "sendDocument",
        "sendVideo",
        "sendAnimation",
        "copyMessage",
        "forwardMessage",
    }
)


def retry_after_seconds(exc: RetryAfter) -> float:
    """``RetryAfter.retry_after`` as seconds (PTB 22 warns while migrating int → timedelta)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def is_group(chat_id: int | str) -> bool:
    """Groups, supergroups and channels have negative ids; ``@name`` targets are channels."""
    return isinstance(chat_id, str) or chat_id < 0


@dataclass(slots=True)
class _ChatState:
    window: deque[float] = field(default_factory=deque)  # send times (groups)
    next_free: float = 0.0  # earliest next send (private spacing, 429 blocks)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class FloodControl(BaseRateLimiter[dict[str, Any]]):
    """Proactive per-chat and global pacing (see the module docstring)."""

    def __init__(
        self,
        *,
        overall_per_second: float = 30.0,
        group_per_minute: int = 20,
        group_window: float = 61.0,
        private_interval: float = 1.0,
        max_interactive_wait: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.interval = 1.0 / overall_per_second
        self.overall_limit = max(1, int(overall_per_second))
        self.overall_window = 1.02  # a little wider than Telegram's second: transit jitter
        self.group_limit = group_per_minute
        self.group_window = group_window
        self.private_interval = private_interval
        self.max_interactive_wait = max_interactive_wait
        self.clock = clock
        self.sleep = sleep
        self._last_global = -1e9
        self._global_window: deque[float] = deque()
        self._global_lock = asyncio.Lock()
        self._chats: dict[int | str, _ChatState] = {}
        self.retry_after_count = 0  # 429s received (metrics)

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    def blocked_until(self, chat_id: int | str) -> float:
        """Monotonic time before which nothing should be sent to this chat (0: free)."""
        state = self._chats.get(chat_id)
        return state.next_free if state is not None else 0.0

    def blocked_chats(self, margin: float = 1.0) -> list[int]:
        """Chats that must not be sent to for at least ``margin`` more seconds."""
        limit = self.clock() + margin
        return [
            chat
            for chat, state in self._chats.items()
            if isinstance(chat, int) and state.next_free > limit
        ]

    def penalize(self, chat_id: int | str, seconds: float) -> None:
        """A 429 for this chat: hold it back, and only it."""
        state = self._chats.setdefault(chat_id, _ChatState())
        state.next_free = max(state.next_free, self.clock() + seconds)
        self.retry_after_count += 1

    async def _wait_for_chat(self, chat_id: int | str, state: _ChatState) -> None:
        while True:
            now = self.clock()
            ready = state.next_free
            if is_group(chat_id):
                while state.window and state.window[0] <= now - self.group_window + 1e-6:
                    state.window.popleft()
                if len(state.window) >= self.group_limit:
                    ready = max(ready, state.window[0] + self.group_window)
            if ready <= now:
                return
            await self.sleep(ready - now)

    async def _wait_global(self) -> None:
        """Wait for a global send slot: spacing and the rolling-window cap, on real send times."""
        async with self._global_lock:
            window = self._global_window
            while True:
                now = self.clock()
                while window and window[0] <= now - self.overall_window + 1e-6:
                    window.popleft()
                wait = self._last_global + self.interval - now
                if len(window) >= self.overall_limit:
                    wait = max(wait, window[0] + self.overall_window - now)
                if wait <= 0:
                    break
                await self.sleep(wait)
            self._last_global = now
            window.append(now)

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: dict[str, Any] | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        chat_id = data.get("chat_id")
        if endpoint not in SEND_METHODS or chat_id is None:
            return await callback(*args, **kwargs)
        retries = (rate_limit_args or {}).get("retries", 1)
        state = self._chats.setdefault(chat_id, _ChatState())
        attempt = 0
        while True:
            async with state.lock:  # one send per chat at a time keeps per-chat order
                await self._wait_for_chat(chat_id, state)
                await self._wait_global()
                sent_at = self.clock()
                if is_group(chat_id):
                    state.window.append(sent_at)
                else:
                    state.next_free = max(state.next_free, sent_at + self.private_interval)
                hook = (rate_limit_args or {}).get("before_send")
                if hook is not None:  # e.g. the outbox marks "the request is leaving now"
                    await hook()
                try:
                    return await callback(*args, **kwargs)
                except RetryAfter as exc:
                    seconds = retry_after_seconds(exc)
                    self.penalize(chat_id, seconds)
                    if attempt >= retries or seconds > self.max_interactive_wait:
                        raise
            attempt += 1
