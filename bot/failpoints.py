"""Failpoints: named places where crash tests can make the process pause.

``ORBITWIRE_FAILPOINTS="sender.after_claim=30,sender.after_begin=30"`` makes the sender sleep
that many seconds at those points, so a test (or the soak benchmark) can ``kill -9`` the process
exactly between "claimed" and "request sent", or between "sent" and "acknowledged". Unset in
production: a failpoint is then a dictionary lookup and nothing else.
"""

from __future__ import annotations

import asyncio
import logging
import os

log = logging.getLogger(__name__)
ENV = "ORBITWIRE_FAILPOINTS"


def _parse(value: str) -> dict[str, float]:
    points: dict[str, float] = {}
    for part in value.split(","):
        name, _, seconds = part.partition("=")
        if name.strip():
            try:
                points[name.strip()] = float(seconds or 0)
            except ValueError:
                log.warning("ignoring malformed failpoint %r", part)
    return points


_POINTS = _parse(os.environ.get(ENV, ""))


async def failpoint(name: str) -> None:
    """Pause here if the failpoint is armed (see the module docstring)."""
    seconds = _POINTS.get(name)
    if seconds:
        log.warning("failpoint %s: pausing %.1fs", name, seconds)
        await asyncio.sleep(seconds)
