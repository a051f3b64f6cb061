"""Fan-out benchmark: the outbox sender against the emulator's Telegram flood limits.

3,000 alerts to 3,000 private chats plus 3 posts to each of 50 channels, all queued at once,
sent by one :class:`~bot.publish.sender.Sender` through :class:`~bot.flood.FloodControl`.
Reports delivered messages per second, the 429s the emulator returned, and the busiest minute of
any channel. Target (issue 5): ≥ 28.5 msg/s overall (95 % of Telegram's 30/s), zero 429s,
channels at ≤ 20 posts per minute.

    python -m benchmarks.fanout [--private 3000] [--channels 50] [--per-channel 3]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from telegram.ext import ExtBot  # noqa: E402
from telegram.request import HTTPXRequest  # noqa: E402

from bot.flood import FloodControl  # noqa: E402
from bot.publish.sender import Sender  # noqa: E402
from storage import outbox  # noqa: E402
from storage.articles import ArticleDraft, store_articles  # noqa: E402
from storage.db import Database  # noqa: E402
from tests.support.botapi import BotAPIEmulator  # noqa: E402


def _queue(db: Database, private: int, channels: int, per_channel: int) -> list[int]:
    drafts = [
        ArticleDraft(
            identity=f"fan-{i}",
            canonical_url=f"https://f.example/{i}",
            url="",
            title=f"Story {i}",
            summary="",
            content_hash=f"h{i}",
        )
        for i in range(max(per_channel, 1))
    ]
    article_ids = db.call(store_articles, None, drafts).new_ids
    channel_ids = [-1008000000000 - c for c in range(channels)]

    def fill(session: Any) -> None:
        for user in range(private):
            payload = {"kind": "text", "html": f"<b>Alert</b> for user {user}", "plain": "Alert"}
            outbox.enqueue(session, article_ids[0], 100_000 + user, kind="alert", payload=payload)
        for k in range(per_channel):
            for chat in channel_ids:
                payload = {"kind": "text", "html": f"<b>Post {k}</b>", "plain": f"Post {k}"}
                outbox.enqueue(session, article_ids[k], chat, payload=payload)

    db.call(fill)
    return channel_ids


def busiest_minute(stamps: list[float]) -> int:
    stamps = sorted(stamps)
    best, j = 0, 0
    for i, t in enumerate(stamps):
        while stamps[j] < t - 60.0:
            j += 1
        best = max(best, i - j + 1)
    return best


async def _run(private: int, channels: int, per_channel: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, BotAPIEmulator(log_requests=False) as emu:
        db = Database(f"sqlite:///{Path(tmp) / 'fanout.db'}")
        db.upgrade()
        channel_ids = _queue(db, private, channels, per_channel)
        for chat in channel_ids:
            emu.add_channel(chat, title=f"channel {chat}")
        for user in range(private):
            emu.add_chat(100_000 + user, "private", first_name=f"u{user}")
        flood = FloodControl()
        request = HTTPXRequest(connection_pool_size=128)
        bot: ExtBot[Any] = ExtBot(
            emu.token, base_url=emu.base_url, request=request, rate_limiter=flood
        )
        total = private + channels * per_channel
        async with bot:
            sender = Sender(db, bot, flood, batch=128)
            started = time.perf_counter()
            while True:  # the send job's own loop: drain, and come back while work remains
                await sender.drain(max_seconds=30)
                counts = db.call(outbox.counts)
                if not any(counts.get(s, 0) for s in outbox.OPEN_STATES):
                    break
                await asyncio.sleep(0.2)  # channel heads wait for their 20/min window
            elapsed = time.perf_counter() - started
        sent = emu.messages()
        first = min(m.timestamp for m in sent)
        private_sent = [m for m in sent if m.chat_id > 0]
        private_elapsed = max(m.timestamp for m in private_sent) - first if private_sent else 0.0
        per_channel_minute = max(
            busiest_minute([m.timestamp for m in sent if m.chat_id == c]) for c in channel_ids
        )
        states = db.call(outbox.counts)
        db.close()
        return {
            "messages": len(sent),
            "expected": total,
            "seconds": elapsed,
            "msg_per_s": len(sent) / elapsed,
            "private_msg_per_s": len(private_sent) / private_elapsed if private_elapsed else 0.0,
            "http_429": emu.stats.responses.get(429, 0),
            "busiest_channel_minute": per_channel_minute,
            "final_states": states,
        }


COMMAND = ".venv/bin/python -m benchmarks fanout --write"


def _write(result: dict[str, Any], args: argparse.Namespace) -> None:
    from benchmarks.common import SummaryRow, machine, update_doc

    met = "yes" if result["msg_per_s"] >= 28.5 else "no"
    no_429 = "yes" if result["http_429"] == 0 else "no"
    paced = "yes" if result["busiest_channel_minute"] <= 20 else "no"
    body = f"""
Command: `{COMMAND}`

Measured {time.strftime("%Y-%m-%d")}, {machine()}.

{args.private:,} alerts to {args.private:,} private chats plus {args.per_channel} posts to each of
{args.channels} channels, all queued at once in the outbox (SQLite) and sent by one `Sender`
through `FloodControl` to the Bot API emulator, which enforces Telegram's limits (30 msg/s
overall in any 1 s, 20 per minute per group/channel, private chats 1/s with a burst of 3) with
HTTP 429.

| figure | value | target |
|---|---:|---|
| messages delivered | {result["messages"]:,} / {result["expected"]:,} | all |
| wall time | {result["seconds"]:.1f} s | — |
| delivered msg/s overall | {result["msg_per_s"]:.2f} | ≥ 28.5 |
| 429 answers from the emulator | {result["http_429"]} | 0 |
| busiest minute of any channel | {result["busiest_channel_minute"]} posts | ≤ 20 |
| outbox after the run | {result["final_states"]} | all sent |
"""
    rows = [
        SummaryRow(
            "fan-out: delivered msg/s overall", f"{result['msg_per_s']:.2f}", "≥ 28.5", met, COMMAND
        ),
        SummaryRow("fan-out: 429s received", str(result["http_429"]), "0", no_429, COMMAND),
        SummaryRow(
            "fan-out: busiest channel minute",
            str(result["busiest_channel_minute"]),
            "≤ 20",
            paced,
            COMMAND,
        ),
    ]
    print(f"wrote {update_doc('fanout', 'Fan-out (publisher pacing)', body, rows)}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--private", type=int, default=3000)
    parser.add_argument("--channels", type=int, default=50)
    parser.add_argument("--per-channel", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args(argv)
    result = asyncio.run(_run(args.private, args.channels, args.per_channel))
    print(
        f"fan-out: {result['messages']}/{result['expected']} messages in {result['seconds']:.1f}s "
        f"= {result['msg_per_s']:.2f} msg/s overall "
        f"({result['private_msg_per_s']:.2f} msg/s while private alerts flowed; target ≥ 28.5), "
        f"429s: {result['http_429']} (target 0), busiest channel minute: "
        f"{result['busiest_channel_minute']} posts (limit 20); outbox: {result['final_states']}"
    )
    if args.write:
        _write(result, args)
    return result


if __name__ == "__main__":
    main()
