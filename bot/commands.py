"""The bot's command list: one source for the Telegram menu, /help and the demo.

Each later capability adds its commands here, so the menu Telegram shows, the help text and the
handlers cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BotCommandInfo:
    """A command as users see it."""

    name: str
    description: str  # ≤256 chars; shown in Telegram's command menu
    usage: str = ""  # arguments, e.g. "NAME"
    admin_only: bool = False


COMMANDS: tuple[BotCommandInfo, ...] = (
    BotCommandInfo("start", "What this bot does"),
    BotCommandInfo("help", "All commands and examples"),
    BotCommandInfo(
        "mission", "A mission's card: agency, target, launch, partners, latest news", "NAME"
    ),
    BotCommandInfo(
        "partners",
        "Who contributes what to a mission, or what a country or agency contributes",
        "COUNTRY|AGENCY|MISSION",
    ),
    BotCommandInfo(
        "missions", "Missions I follow, by agency, country or target", "[AGENCY|COUNTRY|TARGET]"
    ),
    BotCommandInfo("latest", "The newest articles", "[N]"),
    BotCommandInfo("search", 'Search the news ("phrases", or, -word)', "QUERY"),
    BotCommandInfo("sources", "The news feeds I read"),
    BotCommandInfo(
        "subscribe", "Alerts for a mission, agency, country or keyword", 'NAME|"keyword"'
    ),
    BotCommandInfo("unsubscribe", "Stop alerts (no argument: choose with buttons)", "[NAME|all]"),
    BotCommandInfo("subscriptions", "What you follow, with remove buttons"),
    BotCommandInfo("digest", "A daily digest of your top stories at this time", "HH:MM|off"),
    BotCommandInfo("timezone", "Your time zone for the digest", "Area/City"),
    BotCommandInfo("follow", "Our channel and social profiles"),
    BotCommandInfo(
        "queue",
        "Queue a story (preview, post, schedule, edit) or list the queue",
        "[URL|ARTICLE_ID [when]]",
        admin_only=True,
    ),
    BotCommandInfo("cancel", "Cancel a queued or scheduled post", "ID", admin_only=True),
    BotCommandInfo("feeds", "Feeds with their health", admin_only=True),
    BotCommandInfo("addfeed", "Add a feed", "URL", admin_only=True),
    BotCommandInfo("disablefeed", "Disable a feed", "ID", admin_only=True),
    BotCommandInfo("pause", "Pause publishing to a channel", "[CHANNEL]", admin_only=True),
    BotCommandInfo("resume", "Resume publishing to a channel", "[CHANNEL]", admin_only=True),
    BotCommandInfo("stats", "Feeds, articles, queue, posts and errors today", admin_only=True),
)


def public_commands() -> list[BotCommandInfo]:
    """Commands for the menu every user sees (admin commands stay out of it)."""
    return [c for c in COMMANDS if not c.admin_only]


def admin_commands() -> list[BotCommandInfo]:
    return [c for c in COMMANDS if c.admin_only]
