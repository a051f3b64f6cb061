"""Column types shared by the models.

Why a custom datetime type: SQLite has no time-zone aware timestamps, PostgreSQL does. Storing
naive UTC everywhere and handing back aware UTC keeps comparisons identical on both backends and
keeps "naive vs aware" errors out of the rest of the code.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as naive UTC and always returned time-zone aware (UTC)."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        parsed: datetime = (
            # raw SQL paths on SQLite can hand back text
            datetime.fromisoformat(value) if isinstance(value, str) else value
        )
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)


def utcnow() -> datetime:
    """The current time, aware and in UTC (the only clock the storage layer uses)."""
    return datetime.now(UTC)
