"""Run the real orbitwire application in the test's event loop against the emulator."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.app import AppType, build_application, serve
from bot.context import AppServices
from config.settings import Settings, load_settings
from storage.db import Database
from tests.support.botapi import BotAPIEmulator

NO_FEEDS = Path(__file__).resolve().parents[1] / "data" / "no_feeds.toml"
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ProcessRun:
    """An ``orbitwire run`` subprocess; ``stderr`` and ``returncode`` are set once it stopped."""

    proc: subprocess.Popen[str]
    stderr: str = ""
    returncode: int | None = None


@contextlib.contextmanager
def orbitwire_process(
    emu: BotAPIEmulator, workdir: Path, *, stop_timeout: float = 20, **env: str
) -> Iterator[ProcessRun]:
    """``orbitwire run`` as the operator starts it (a process, SQLite in ``workdir``, no feeds,
    metrics on a free port), stopped with SIGTERM on exit (and given ``stop_timeout`` seconds
    to finish). ``env``: extra ``ORBITWIRE_*`` variables."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ORBITWIRE_")}
    environ.update(
        ORBITWIRE_BOT_TOKEN=emu.token,
        ORBITWIRE_TELEGRAM_API_URL=emu.base_url,
        ORBITWIRE_DATABASE_URL=f"sqlite:///{workdir / 'bot.db'}",
        ORBITWIRE_FEEDS_FILE=str(NO_FEEDS),
        ORBITWIRE_METRICS_PORT="0",
        PYTHONPATH=str(ROOT),
        **env,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run"],
        env=environ,
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    run = ProcessRun(proc)
    try:
        yield run
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _out, run.stderr = proc.communicate(timeout=stop_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        run.returncode = proc.returncode


def settings_for(emu: BotAPIEmulator, db_url: str, **overrides: Any) -> Settings:
    """Settings as an operator would give them, pointed at the emulator and the test database."""
    values: dict[str, Any] = {
        "bot_token": emu.token,
        "telegram_api_url": emu.base_url,
        "database_url": db_url,
        "allow_private_feeds": True,
        "feeds_file": NO_FEEDS,  # never the bundled list: tests must not reach the internet
        "metrics_port": 0,  # tests that want /healthz pick a free port themselves
    }
    values.update(overrides)
    return load_settings(**values)


@contextlib.asynccontextmanager
async def running_bot(
    emu: BotAPIEmulator, db: Database, **overrides: Any
) -> AsyncIterator[AppType]:
    """Start the bot exactly as ``orbitwire run`` does (same :func:`serve`); stop it after."""
    settings = settings_for(emu, db.url, **overrides)
    app = build_application(settings, AppServices(settings=settings, db=db))
    stop = asyncio.Event()
    task = asyncio.create_task(serve(app, stop, poll_timeout=1))
    try:
        await _wait_until_polling(emu, task)
        yield app
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)


def task_started_polling(emu: BotAPIEmulator) -> bool:
    """PTB deletes any webhook right before its first getUpdates: from then on it is polling."""
    return bool(emu.requests_for("setMyCommands"))


async def _wait_until_polling(emu: BotAPIEmulator, task: asyncio.Task[None]) -> None:
    for _ in range(3000):  # up to 30 s: start-up seeds the catalog, slow on a loaded machine
        if task.done():
            task.result()  # surface start-up errors
        transport = emu.requests_for("deleteWebhook") or emu.requests_for("setWebhook")
        if transport and task_started_polling(emu):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the bot never started taking updates")
