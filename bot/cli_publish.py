"""``orbitwire publish``: one publishing pass from the command line (or a dry run)."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable
from typing import Any

from bot.flood import FloodControl
from bot.leader import Leadership
from bot.publish.publisher import PlanReport, Publisher
from bot.publish.sender import Sender, SendReport
from bot.publish.summarize import Summarizer
from config.settings import Settings
from storage.db import Database

OpenDb = Callable[[Settings], Database]


class PublishBusy(Exception):
    """Another orbitwire process is the publishing leader."""


def _summarizer(settings: Settings) -> Summarizer:
    key = settings.summarizer_api_key.get_secret_value() if settings.summarizer_api_key else None
    return Summarizer.from_settings(settings.summarizer_url, settings.summarizer_model, key)


async def _publish(
    settings: Settings, db: Database, *, dry_run: bool
) -> tuple[PlanReport, SendReport | None]:
    summarizer = _summarizer(settings)
    try:
        publisher = Publisher(settings, db, summarizer)
        if dry_run:
            return await publisher.plan(dry_run=True), None
        from telegram.ext import ExtBot

        from bot.app import file_base_url
        from bot.context import AppServices
        from bot.jobs import resolve_channels

        assert settings.token is not None
        flood = FloodControl()
        bot: ExtBot[Any] = ExtBot(
            settings.token,
            base_url=settings.telegram_api_url,
            base_file_url=file_base_url(settings.telegram_api_url),
            rate_limiter=flood,
        )
        leader = Leadership(db)
        if not await asyncio.to_thread(leader.refresh):
            raise PublishBusy
        try:
            async with bot:
                await resolve_channels(bot, AppServices(settings=settings, db=db, flood=flood))
                plan = await publisher.plan()
                sent = await Sender(db, bot, flood).drain(max_seconds=300)
        finally:
            await asyncio.to_thread(leader.release)
        return plan, sent
    finally:
        await summarizer.aclose()


def cmd_publish(
    settings: Settings,
    args: argparse.Namespace,
    open_db: OpenDb,
    error: Callable[[str, int], Exception],
) -> int:
    """Plan one post per channel and send the outbox; ``--dry-run`` only prints the posts."""
    if not args.dry_run and not settings.token:
        raise error("orbitwire: publishing needs ORBITWIRE_BOT_TOKEN (or use --dry-run)", 2)
    if not settings.channels:
        raise error("orbitwire: no channels configured (set ORBITWIRE_CHANNELS)", 2)
    db = open_db(settings)
    try:
        plan, sent = asyncio.run(_publish(settings, db, dry_run=args.dry_run))
    except PublishBusy:
        raise error(
            "orbitwire: another orbitwire process is publishing (it holds the scheduler lock); "
            "its schedule will send the outbox",
            1,
        ) from None
    finally:
        db.close()
    if args.json:
        data: dict[str, Any] = {
            "dry_run": args.dry_run,
            "planned": [p.to_json() for p in plan.planned],
            "skipped": plan.skipped,
        }
        if sent is not None:
            data["sent"] = {
                "sent": sent.sent,
                "retried": sent.retried,
                "failed": sent.failed,
                "unknown": sent.unknown,
                "flood_waits": sent.flood_waits,
            }
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return 0
    for planned in plan.planned:
        where = f"{planned.channel}" + (" (for review)" if planned.mode == "review" else "")
        print(f"── {where} · score {planned.score:.1f} · {planned.post.kind}")
        print(planned.post.plain)
        print()
    for channel, why in plan.skipped.items():
        print(f"{channel}: nothing planned — {why}")
    if sent is not None:
        print(
            f"sent {sent.sent}, retried {sent.retried}, failed {sent.failed}, "
            f"unknown {sent.unknown}"
        )
    elif args.dry_run:
        print("dry run: nothing was queued or sent")
    return 0
