"""Reusable pytest fixtures around :class:`~tests.support.botapi.BotAPIEmulator`.

Register them from ``tests/conftest.py`` with
``from tests.support.fixtures import botapi, botapi_bot, botapi_factory  # noqa: F401``
(or ``pytest_plugins = ["tests.support.fixtures"]`` in the root conftest).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from telegram import Bot

from .botapi import BotAPIEmulator


@pytest.fixture
def botapi() -> Iterator[BotAPIEmulator]:
    """A started emulator with Telegram's default flood limits, stopped after the test."""
    with BotAPIEmulator() as emu:
        yield emu


@pytest.fixture
def botapi_factory() -> Iterator[Callable[..., BotAPIEmulator]]:
    """Build extra/custom emulators: ``botapi_factory(flood_limits=False)``; all are stopped."""
    started: list[BotAPIEmulator] = []

    def make(**kwargs: Any) -> BotAPIEmulator:
        emu = BotAPIEmulator(**kwargs).start()
        started.append(emu)
        return emu

    yield make
    for emu in reversed(started):
        emu.stop()


@pytest.fixture
async def botapi_bot(botapi: BotAPIEmulator) -> AsyncIterator[Bot]:
    """An initialized real ``telegram.Bot`` pointed at the ``botapi`` emulator."""
    async with Bot(
        botapi.token, base_url=botapi.base_url, base_file_url=botapi.base_file_url
    ) as bot:
        yield bot
