"""Turning what an admin types ("18:30", "tomorrow 9:00", "+1h", "tonight", ISO 8601) into an
aware UTC datetime.

Pure (``now`` and the zone are arguments) so the scheduling buttons, the typed-time reply, the
``/queue URL when`` argument and ``orbitwire queue add --at`` share one tested implementation and
tests never depend on the wall clock. Local times are read in the admin's zone (the
``TIMEZONE`` setting, or the user's ``/timezone``), because "18:30" means the admin's evening,
not UTC's. A wall time that falls in a DST gap or fold is resolved by :mod:`zoneinfo`'s
``fold=0`` rule (the earlier reading), which is what people expect from a clock on the wall.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

#: "Tonight" means this local time (or soon after it, if it has already passed).
TONIGHT = time(20, 0)
#: The "tomorrow" button and a bare "tomorrow" mean this local time.
MORNING = time(9, 0)
#: A schedule at most this far in the past is taken as "now" (typing takes a moment).
GRACE = timedelta(minutes=2)
#: Nothing is scheduled further ahead than this: a typo such as 2062 must not park a post.
HORIZON = timedelta(days=60)

_CLOCK = re.compile(r"^(?P<h>[01]?\d|2[0-3])(?:[:.h](?P<m>[0-5]\d))?\s*(?P<ampm>am|pm)?$")
_OFFSET = re.compile(r"^(?:\+|in\s+)(?P<parts>(?:\s*\d+\s*(?:d|h|m|min|mins|hours?|days?))+)$")
_OFFSET_PART = re.compile(r"(\d+)\s*(d|h|m|min|mins|hours?|days?)")


class TimeParseError(ValueError):
    """The text is not a time we understand, or it is in the past or too far ahead."""


def _clock(text: str) -> time | None:
    match = _CLOCK.match(text.strip().lower())
    if match is None:
        return None
    hour = int(match["h"])
    minute = int(match["m"] or 0)
    ampm = match["ampm"]
    if ampm is not None:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    elif match["m"] is None:
        return None  # a bare "9" is too ambiguous to schedule a post by
    return time(hour, minute)


def _at(day: datetime, wall: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day.date(), wall, tzinfo=zone)


def _offset(text: str) -> timedelta | None:
    match = _OFFSET.match(text)
    if match is None:
        return None
    total = timedelta()
    for amount, unit in _OFFSET_PART.findall(match["parts"]):
        value = int(amount)
        if unit.startswith("d"):
            total += timedelta(days=value)
        elif unit.startswith("h"):
            total += timedelta(hours=value)
        else:
            total += timedelta(minutes=value)
    return total if total > timedelta() else None


def parse_when(text: str, now: datetime, zone: ZoneInfo | str = "UTC") -> datetime:
    """The moment ``text`` names, as aware UTC; raises :class:`TimeParseError` otherwise.

    Accepted: ``now``; ``+1h``, ``+90m``, ``+1h30m``, ``in 2 hours``; ``18:30`` / ``6:30pm``
    (today, or tomorrow when that time has passed); ``today 18:30``; ``tomorrow`` (09:00) and
    ``tomorrow 9:00``; ``tonight`` (20:00, or half an hour from now if that has passed, as long
    as it is still today); ISO 8601 dates and times (``2026-11-21T18:30``, with or without an
    offset; without one it is local time; a bare date means 09:00 that day).
    """
    if now.tzinfo is None:
        raise ValueError("now must be time-zone aware")
    tz = ZoneInfo(zone) if isinstance(zone, str) else zone
    raw = " ".join(text.strip().lower().split())
    if not raw:
        raise TimeParseError("no time given")
    local_now = now.astimezone(tz)
    when: datetime | None = None
    if raw == "now":
        when = now
    elif (delta := _offset(raw)) is not None:
        when = now + delta
    elif raw == "tonight":
        when = _at(local_now, TONIGHT, tz)
        if when <= local_now:
            when = local_now + timedelta(minutes=30)
            if when.date() != local_now.date():
                raise TimeParseError("it is too late for tonight; give a time instead")
    elif raw.startswith(("tomorrow", "today")):
        word, _, rest = raw.partition(" ")
        wall = _clock(rest) if rest else MORNING
        if wall is None:
            raise TimeParseError(f"not a time of day: {rest!r} (try 9:00 or 18:30)")
        day = local_now + timedelta(days=1 if word == "tomorrow" else 0)
        when = _at(day, wall, tz)
    elif (wall := _clock(raw)) is not None:
        when = _at(local_now, wall, tz)
        if when <= local_now - GRACE:
            when = _at(local_now + timedelta(days=1), wall, tz)
    else:
        when = _iso(raw, tz)
    if when is None:
        raise TimeParseError(
            f"I don't understand {text.strip()!r}; try 18:30, tomorrow 9:00, +1h, tonight "
            "or 2026-11-21T18:30"
        )
    when = when.astimezone(UTC)
    if when < now - GRACE:
        raise TimeParseError("that time has already passed")
    if when - now > HORIZON:
        raise TimeParseError(f"that is more than {HORIZON.days} days ahead")
    return max(when, now)


def _iso(raw: str, tz: ZoneInfo) -> datetime | None:
    candidate = raw.upper().replace(" ", "T", 1) if re.match(r"^\d{4}-\d\d-\d\d ", raw) else raw
    candidate = candidate.upper().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        return None
    if re.fullmatch(r"\d{4}-\d\d-\d\d", raw):
        parsed = datetime.combine(parsed.date(), MORNING)
    return parsed.replace(tzinfo=tz) if parsed.tzinfo is None else parsed


def preset(name: str, now: datetime, zone: ZoneInfo | str = "UTC") -> datetime:
    """The schedule buttons: ``1h`` (+1 h), ``tn`` (tonight), ``tm`` (tomorrow 09:00)."""
    text = {"1h": "+1h", "tn": "tonight", "tm": "tomorrow 9:00"}.get(name)
    if text is None:
        raise TimeParseError(f"unknown preset {name!r}")
    return parse_when(text, now, zone)


def format_local(when: datetime, zone: ZoneInfo | str = "UTC") -> str:
    """``Sat 21 Nov 18:30 CET``: how a scheduled time is shown back to the admin."""
    tz = ZoneInfo(zone) if isinstance(zone, str) else zone
    local = when.astimezone(tz)
    return f"{local:%a %d %b %H:%M} {local.tzname() or ''}".strip()
