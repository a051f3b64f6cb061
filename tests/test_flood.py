"""Flood control on a virtual clock: Telegram's limits hold before any 429 is needed."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import Any

from telegram.error import RetryAfter

from bot.flood import FloodControl


class VirtualTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)


def limiter(vt: VirtualTime) -> FloodControl:
    return FloodControl(clock=vt.clock, sleep=vt.sleep)


async def send(
    flood: FloodControl, vt: VirtualTime, chat: int, log: list[tuple[int, float]]
) -> Any:
    async def callback() -> dict[str, Any]:
        log.append((chat, vt.now))
        return {"ok": True}

    return await flood.process_request(callback, (), {}, "sendMessage", {"chat_id": chat}, None)


def max_in_window(times: list[float], span: float) -> int:
    best = 0
    for i, t in enumerate(times):
        best = max(best, sum(1 for u in times[i:] if u < t + span))
    return best


async def test_channel_gets_at_most_20_per_minute() -> None:
    vt = VirtualTime()
    flood, log = limiter(vt), []
    for _ in range(45):
        await send(flood, vt, -100123, log)
    times = [t for _, t in log]
    assert max_in_window(times, 60.0) == 20
    assert times[20] >= 60.0  # the 21st waits for the window


async def test_overall_rate_never_exceeds_30_per_second() -> None:
    vt = VirtualTime()
    flood, log = limiter(vt), []
    await asyncio.gather(*(send(flood, vt, 1000 + i, log) for i in range(300)))
    times = sorted(t for _, t in log)
    assert max_in_window(times, 1.0) <= 30
    assert len(times) / times[-1] >= 28.5  # but close to it


async def test_private_chat_is_spaced_one_per_second() -> None:
    vt = VirtualTime()
    flood, log = limiter(vt), []
    for _ in range(5):
        await send(flood, vt, 42, log)
    times = [t for _, t in log]
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(times))


async def test_retry_after_blocks_only_that_chat() -> None:
    vt = VirtualTime()
    flood = limiter(vt)
    calls = {"n": 0}

    async def flooded() -> dict[str, Any]:
        calls["n"] += 1
        raise RetryAfter(30)

    with contextlib.suppress(RetryAfter):
        await flood.process_request(
            flooded, (), {}, "sendMessage", {"chat_id": -1001}, {"retries": 0}
        )
    assert calls["n"] == 1
    assert flood.blocked_chats() == [-1001]
    log: list[tuple[int, float]] = []
    await send(flood, vt, -1002, log)  # another chat is not held back
    assert log[0][1] < 1.0


async def test_non_send_methods_pass_through() -> None:
    vt = VirtualTime()
    flood = limiter(vt)
    seen = []

    async def callback() -> bool:
        seen.append(vt.now)
        return True

    for _ in range(100):
        await flood.process_request(callback, (), {}, "answerCallbackQuery", {"chat_id": 1}, None)
    assert seen == [0.0] * 100
