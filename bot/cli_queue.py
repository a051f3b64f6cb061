"""``orbitwire queue add|list|cancel``: the admin queue from the command line.

The same :class:`~bot.admin.queue.QueueService` the chat uses, so a story queued here is
previewed, scheduled and posted exactly like one queued with ``/queue``: the bot's due-items job
posts scheduled items, and ``/queue`` in chat lists them. Whoever can run the CLI against the
database is the operator, so no ``ADMINS`` check applies here (``created_by`` stays empty).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable
from typing import Any

from bot.admin.queue import QueueError, QueueService
from bot.admin.timeparse import TimeParseError, format_local, parse_when
from config.settings import Settings
from storage.db import Database
from storage.types import utcnow

AddCommand = Callable[..., argparse.ArgumentParser]
OpenDb = Callable[[Settings], Database]


def _json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


class QueueCommands:
    def __init__(self, open_db: OpenDb, error: Callable[[str, int], Exception]) -> None:
        self.open_db = open_db
        self.error = error

    def run(self, settings: Settings, args: argparse.Namespace) -> int:
        db = self.open_db(settings)
        try:
            return asyncio.run(self._run(settings, db, args))
        except QueueError as exc:
            raise self.error(f"orbitwire: {exc}", 1) from None
        finally:
            db.close()

    async def _run(self, settings: Settings, db: Database, args: argparse.Namespace) -> int:
        service = QueueService(settings, db)
        if args.action == "list":
            return await self._list(service, settings, args)
        if not args.target:
            raise self.error(f"orbitwire: queue {args.action} needs an argument", 2)
        if args.action == "cancel":
            item_id = args.target.lstrip("#")
            if not item_id.isdigit():
                raise self.error("orbitwire: queue cancel needs a numeric item id", 2)
            outcome = await service.cancel(int(item_id), by=None)
            if args.json:
                _json({"ok": outcome.ok, "message": outcome.message})
            else:
                print(outcome.message)
            return 0 if outcome.ok else 1
        return await self._add(service, settings, db, args)

    async def _add(
        self, service: QueueService, settings: Settings, db: Database, args: argparse.Namespace
    ) -> int:
        now = utcnow()
        when = None
        if args.at:
            try:
                when = parse_when(args.at, now, settings.tz)
            except TimeParseError as exc:
                raise self.error(f"orbitwire: --at: {exc}", 2) from None
        knowledge = None
        if not args.target.strip().isdigit():
            from bot.knowledge.service import Knowledge

            knowledge = Knowledge()
            await asyncio.to_thread(knowledge.seed, db)
        added = await service.add(
            args.target, by=None, when=when, channel=args.channel, now=now, knowledge=knowledge
        )
        item = added.item
        if args.json:
            _json({**item.to_json(), "created": added.created, "fetched": added.fetched})
            return 0
        label = await service.label_for(item.chat_id)
        when_text = (
            f" for {format_local(item.scheduled_at, settings.tz)}" if item.scheduled_at else ""
        )
        head = "queued" if added.created else "already queued"
        print(f"{head} #{item.id} ({item.state}{when_text}) for {label}: {item.title}")
        return 0

    async def _list(
        self, service: QueueService, settings: Settings, args: argparse.Namespace
    ) -> int:
        items = await service.list_open(limit=500)
        if args.json:
            _json([i.to_json() for i in items])
            return 0
        if not items:
            print("the queue is empty")
            return 0
        for item in items:
            label = await service.label_for(item.chat_id)
            when = format_local(item.scheduled_at, settings.tz) if item.scheduled_at else "pending"
            print(f"#{item.id}\t{when}\t{label}\t{item.title}\t{item.url}")
        return 0


def register(add: AddCommand, commands: QueueCommands) -> None:
    """Add ``queue add|list|cancel`` to the ``orbitwire`` parser."""
    queue = add("queue", commands.run, "the admin post queue: add, list, cancel", listing=True)
    queue.add_argument("action", choices=["add", "list", "cancel"])
    queue.add_argument("target", nargs="?", help="add: URL or article id; cancel: item id")
    queue.add_argument(
        "--at", metavar="WHEN", help="schedule: ISO 8601 or 18:30 / tomorrow 9:00 (TIMEZONE)"
    )
    queue.add_argument("--channel", metavar="ID", help="channel chat id or @name (default: first)")
