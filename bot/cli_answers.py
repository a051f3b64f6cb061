"""``orbitwire ask`` and ``orbitwire missions``: the chat answers on the command line.

``ask`` goes through :meth:`bot.answers.Answers.ask` — the very call the free-text handler makes
(and ``/command`` text takes the same command dispatch as the Telegram command handlers) — so
what it prints is what the bot would send. The database is opened (and migrated) and the catalog
seeded first, as the bot does at start.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable
from typing import Any

from bot.answers import Answers
from bot.knowledge.service import Knowledge
from bot.replies import Reply
from config.settings import Settings
from storage.db import Database
from storage.queries import MissionRow, all_missions

AddCommand = Callable[..., argparse.ArgumentParser]
OpenDb = Callable[[Settings], Database]


def _json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _print_replies(replies: list[Reply], as_json: bool) -> None:
    if as_json:
        _json([r.to_json() for r in replies])
        return
    for i, reply in enumerate(replies):
        if i:
            print("\n---\n")
        print(reply.text)
        for row in reply.buttons:
            print("  " + "  ".join(f"[{b.text}]" for b in row))


def _mission_json(m: MissionRow) -> dict[str, Any]:
    return {
        "slug": m.slug,
        "name": m.name,
        "lead_agency": m.lead.abbrev if m.lead else None,
        "target": m.target,
        "type": m.type,
        "status": m.status,
        "launch": m.launch_date.isoformat() if m.launch_date else m.launch_window,
    }


class AnswerCommands:
    """Command handlers; ``open_db`` opens (and migrates) the configured database."""

    def __init__(self, open_db: OpenDb, error: Callable[[str, int], Exception]) -> None:
        self.open_db = open_db
        self.error = error

    def _open(self, settings: Settings) -> tuple[Database, Answers]:
        db = self.open_db(settings)
        knowledge = Knowledge()
        knowledge.seed(db)
        return db, Answers(db, knowledge)

    def ask(self, settings: Settings, args: argparse.Namespace) -> int:
        text = " ".join(args.text).strip()
        if not text:
            raise self.error('orbitwire: ask needs a message: orbitwire ask "/mission CE-7"', 2)
        db, answers = self._open(settings)
        try:
            is_admin = args.user_id is not None and args.user_id in settings.admins
            replies = asyncio.run(answers.ask(text, is_admin=is_admin))
        finally:
            db.close()
        _print_replies(replies, args.json)
        return 0

    def missions(self, settings: Settings, args: argparse.Namespace) -> int:
        if args.action == "show" and not args.name:
            raise self.error("orbitwire: missions show needs a mission name", 2)
        db, answers = self._open(settings)
        try:
            if args.action == "list":
                rows = db.call(all_missions)
                if args.json:
                    _json([_mission_json(m) for m in rows])
                else:
                    for m in rows:
                        lead = m.lead.abbrev if m.lead else "—"
                        print(f"{m.slug:<28} {m.name:<32} {lead:<8} {m.status or ''}")
                return 0
            name = " ".join(args.name)
            if answers.resolver.mission(name) is None:
                replies = asyncio.run(answers.mission(name))
                _print_replies(replies, args.json)
                return 1
            replies = asyncio.run(answers.mission(name))
            _print_replies(replies, args.json)
            return 0
        finally:
            db.close()


def register(add: AddCommand, commands: AnswerCommands) -> None:
    """Add ``ask`` and ``missions`` to the ``orbitwire`` parser."""
    ask = add("ask", commands.ask, "print what the bot would answer to a message", listing=True)
    ask.add_argument("text", nargs="+", help='the message, e.g. "/mission Chang\'e-7"')
    ask.add_argument("--user-id", type=int, help="answer as this Telegram user (admin rights)")
    missions = add("missions", commands.missions, "list missions or show one", listing=True)
    missions.add_argument("action", choices=["list", "show"])
    missions.add_argument("name", nargs="*", help="mission name (show)")
