"""End to end: the real application, the real PTB client, the Bot API emulator, a real database."""

from __future__ import annotations

import time
from pathlib import Path

from storage.db import Database
from tests.support.botapi import BotAPIEmulator
from tests.support.runbot import orbitwire_process, running_bot

USER = 424242


async def test_start_and_help_answer(botapi: BotAPIEmulator, db: Database) -> None:
    async with running_bot(botapi, db, admins="777"):
        botapi.send_message(USER, "/start", first_name="Valentina")
        (reply,) = await botapi.async_wait_for_messages(USER, count=1)
        assert "Hi, Valentina" in reply.content
        assert "orbitwire" in reply.content
        assert reply.parse_mode == "HTML"

        botapi.send_message(USER, "/help")
        replies = await botapi.async_wait_for_messages(USER, count=2)
        assert "/start" in replies[1].content
        assert "/help" in replies[1].content


async def test_command_menu_is_published(botapi: BotAPIEmulator, db: Database) -> None:
    async with running_bot(botapi, db):
        names = [c["command"] for c in botapi.get_commands()]
        assert {"start", "help"} <= set(names)


async def test_user_names_are_escaped(botapi: BotAPIEmulator, db: Database) -> None:
    """A first name with HTML in it must not break the reply (the emulator validates HTML)."""
    async with running_bot(botapi, db):
        botapi.send_message(USER, "/start", first_name="<b>Bob & Co")
        (reply,) = await botapi.async_wait_for_messages(USER, count=1)
        assert "<b>Bob & Co" in reply.content


async def test_a_failing_handler_tells_the_user(botapi: BotAPIEmulator, db: Database) -> None:
    from telegram.ext import CommandHandler

    async def boom(update: object, context: object) -> None:
        raise RuntimeError("kaboom")

    async with running_bot(botapi, db) as app:
        app.add_handler(CommandHandler("boom", boom))
        botapi.send_message(USER, "/boom")
        (reply,) = await botapi.async_wait_for_messages(USER, count=1)
        assert "something went wrong" in reply.content
        botapi.send_message(USER, "/start")  # the bot keeps serving
        await botapi.async_wait_for_messages(USER, count=2)


def test_orbitwire_run_answers_start_within_a_second(
    botapi: BotAPIEmulator, tmp_path: Path
) -> None:
    """The operator's path: `orbitwire run` as a process, SIGTERM stops it cleanly."""
    with orbitwire_process(botapi, tmp_path) as run:
        botapi.wait_for(lambda e: e.requests_for("deleteWebhook"), timeout=30, what="polling")
        sent_at = time.monotonic()
        botapi.send_message(USER, "/start")
        botapi.wait_for_messages(USER, count=1, timeout=5)
        assert time.monotonic() - sent_at < 1.0
    assert run.returncode == 0, run.stderr
    assert botapi.token not in run.stderr
