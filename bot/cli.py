"""The ``orbitwire`` command line: thin over the same services the bot uses.

Exit codes: 0 success, 1 runtime failure, 2 bad configuration or usage (like argparse).
Every command that touches the database upgrades it first, so a fresh machine needs no
separate migration step.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from bot.logs import setup_logging
from config.settings import CONFIG_ENV, ConfigError, Settings, load_settings
from storage.db import Database, current_revision

log = logging.getLogger("orbitwire")

NO_CREDENTIALS_HELP = (
    "orbitwire: no bot token. Set ORBITWIRE_BOT_TOKEN to the token @BotFather gave you "
    "(e.g. export ORBITWIRE_BOT_TOKEN=123456:ABC...).\n"
    "To look around without a token, try: orbitwire demo"
)


class CliError(Exception):
    """A failure with a message for the user and an exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def package_version() -> str:
    try:
        return version("orbitwire")
    except PackageNotFoundError:  # running from a source tree without install
        return "0+unknown"


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def open_database(settings: Settings) -> Database:
    """Open the configured database and bring its schema up to date."""
    db = Database(settings.database_url)
    try:
        db.upgrade()
    except Exception as exc:
        db.close()
        safe_url = settings.redacted()["database_url"]
        raise CliError(f"orbitwire: cannot open database {safe_url}: {exc}") from exc
    return db


# ------------------------------------------------------------------------------ commands
def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    """Start the bot (polling). ``--dry-run`` checks settings, database and token, then exits."""
    if not settings.token:
        raise CliError(NO_CREDENTIALS_HELP, code=2)
    from bot.app import build_application, run_polling
    from bot.context import AppServices
    from config.feeds import load_feed_specs

    try:
        load_feed_specs(settings.feeds_file)  # fail now, plainly, rather than inside the bot
    except ConfigError as exc:
        raise CliError(f"orbitwire: {exc}", code=2) from None
    db = open_database(settings)
    services = AppServices(settings=settings, db=db)
    app = build_application(settings, services)
    if args.dry_run:
        print(
            "orbitwire: configuration OK, database at revision "
            f"{current_revision(db.engine)}, Bot API {settings.telegram_api_url}; "
            "dry run, not polling."
        )
        db.close()
        return 0
    try:
        run_polling(app)
    finally:
        db.close()
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    """An offline tour: what the bot answers, without a token or network."""
    from bot.demo import run_demo

    run_demo(settings, json_output=args.json)
    return 0


def cmd_db(settings: Settings, args: argparse.Namespace) -> int:
    db = open_database(settings)  # upgrades
    try:
        revision = current_revision(db.engine)
        if args.json:
            _print_json({"database": settings.redacted()["database_url"], "revision": revision})
        else:
            print(f"database {settings.redacted()['database_url']} is at revision {revision}")
    finally:
        db.close()
    return 0


def cmd_version(settings: Settings, args: argparse.Namespace) -> int:
    if args.json:
        _print_json({"orbitwire": package_version(), "python": sys.version.split()[0]})
    else:
        print(f"orbitwire {package_version()}")
    return 0


def cmd_config(settings: Settings, args: argparse.Namespace) -> int:
    """Show the effective settings with secrets masked."""
    data = settings.redacted()
    if args.json:
        _print_json(data)
    else:
        for key, value in data.items():
            print(f"ORBITWIRE_{key.upper()}={value}")
    return 0


# ------------------------------------------------------------------------------ parser
Handler = Callable[[Settings, argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orbitwire",
        description="A Telegram bot that runs a curated space-news channel.",
    )
    parser.add_argument(
        "--config", metavar="FILE", help=f"TOML settings file (same as {CONFIG_ENV}=FILE)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, handler: Handler, help_text: str, *, listing: bool = False) -> Any:
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        cmd.set_defaults(handler=handler)
        if listing:
            cmd.add_argument("--json", action="store_true", help="machine-readable output")
        return cmd

    run = add("run", cmd_run, "start the bot (needs ORBITWIRE_BOT_TOKEN)")
    run.add_argument(
        "--dry-run", action="store_true", help="check settings, database and token, then exit"
    )
    add("demo", cmd_demo, "offline tour of what the bot does (no token needed)", listing=True)
    db = add("db", cmd_db, "database schema management", listing=True)
    db.add_argument("action", choices=["upgrade", "current"], help="upgrade to the latest schema")
    from bot import cli_ingest

    cli_ingest.register(add, cli_ingest.IngestCommands(open_database, CliError))
    from bot import cli_answers

    cli_answers.register(add, cli_answers.AnswerCommands(open_database, CliError))
    from bot import cli_queue

    cli_queue.register(add, cli_queue.QueueCommands(open_database, CliError))
    from bot import cli_publish

    publish = add(
        "publish",
        lambda settings, args: cli_publish.cmd_publish(settings, args, open_database, CliError),
        "plan one post per channel and send the outbox",
        listing=True,
    )
    publish.add_argument("--once", action="store_true", help="one pass, then exit (the default)")
    publish.add_argument(
        "--dry-run", action="store_true", help="print the posts and their targets; send nothing"
    )
    from bot import cli_outbox

    cli_outbox.register(add, open_database, CliError)
    add("version", cmd_version, "print the version", listing=True)
    add("config", cmd_config, "show the effective settings (secrets masked)", listing=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.config:
        os.environ[CONFIG_ENV] = args.config
    try:
        settings = load_settings()
    except ConfigError as exc:
        for line in str(exc).splitlines():
            print(f"orbitwire: {line}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level, settings.log_format, secrets=(settings.token or "",))
    handler: Handler = args.handler
    try:
        return handler(settings, args)
    except CliError as exc:
        print(str(exc), file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
