"""User-facing texts as pure functions returning Telegram HTML.

Pure so they are tested without Telegram, reused by ``orbitwire demo`` and the CLI, and always
escaped: any value that comes from outside (names, feed text) goes through :func:`html.escape`.
"""

from __future__ import annotations

from html import escape

from bot.commands import BotCommandInfo, admin_commands, public_commands

PRODUCT = "orbitwire"


def start_text(first_name: str | None) -> str:
    """Greeting for /start: what the bot does and how to begin."""
    who = f", {escape(first_name)}" if first_name else ""
    return (
        f"👋 Hi{who}! I'm <b>{PRODUCT}</b>, the space-news desk of this channel.\n\n"
        "I read space-news feeds (SpaceNews, NASA, ESA, Spaceflight Now and more), link every "
        "story to the missions, agencies and countries it mentions, and answer questions "
        "about them.\n\n"
        "Try /help to see everything I can do."
    )


def _command_line(cmd: BotCommandInfo) -> str:
    usage = f" {escape(cmd.usage)}" if cmd.usage else ""
    return f"/{cmd.name}{usage} — {escape(cmd.description)}"


def help_text(*, is_admin: bool = False) -> str:
    """The /help answer: every command, grouped, admin commands only for admins."""
    lines = [f"<b>{PRODUCT} commands</b>", ""]
    lines += [_command_line(cmd) for cmd in public_commands()]
    admin = admin_commands()
    if is_admin and admin:
        lines += ["", "<b>Admin commands</b>"]
        lines += [_command_line(cmd) for cmd in admin]
    return "\n".join(lines)


def error_text() -> str:
    """What a user sees when a handler fails unexpectedly (details go to the log only)."""
    return "Sorry, something went wrong on my side. The team has been told; please try again later."
