"""Per-channel publishing schedule: defaults from settings, overrides from the TOML file.

```toml
# orbitwire.toml (named by ORBITWIRE_CONFIG)
channels = ["@orbitwire", "-1001234567890"]
max_posts_per_day = 12            # defaults for every channel …

[channel."@orbitwire"]            # … overridden for one channel
max_posts_per_day = 20
quiet_hours = "23:00-07:00"
timezone = "Europe/Berlin"
publish_mode = "review"
include = ["Chang'e", "lunar"]
```
"""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

_QUIET_RE = re.compile(r"^\s*(\d{1,2})(?::(\d{2}))?\s*-\s*(\d{1,2})(?::(\d{2}))?\s*$")


def parse_quiet_hours(value: str) -> tuple[time, time] | None:
    """``"23-7"`` / ``"23:00-07:30"`` → (start, end); empty → None. Raises ValueError."""
    if not value.strip():
        return None
    match = _QUIET_RE.match(value)
    if not match:
        raise ValueError(f"quiet hours must look like 23:00-07:00, got {value!r}")
    h1, m1, h2, m2 = (int(g) if g else 0 for g in match.groups())
    if not (0 <= h1 < 24 and 0 <= h2 < 24 and 0 <= m1 < 60 and 0 <= m2 < 60):
        raise ValueError(f"quiet hours out of range: {value!r}")
    return time(h1, m1), time(h2, m2)


class ChannelSchedule(BaseModel):
    """How and when one channel gets posts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_posts_per_day: int = Field(default=12, ge=0, le=500)
    min_spacing_minutes: int = Field(default=30, ge=0, le=24 * 60)
    quiet_hours: str = ""
    timezone: str = "UTC"
    publish_mode: Literal["auto", "review"] = "auto"
    review_chat: int | None = None
    languages: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    min_score: float = Field(default=0.0, ge=0.0, le=100.0)

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str) -> str:
        parse_quiet_hours(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except Exception as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    def is_quiet(self, moment: datetime) -> bool:
        """Whether ``moment`` falls in the channel's quiet hours (in the channel's zone)."""
        window = parse_quiet_hours(self.quiet_hours)
        if window is None:
            return False
        local = moment.astimezone(ZoneInfo(self.timezone)).time()
        start, end = window
        if start <= end:
            return start <= local < end
        return local >= start or local < end  # wraps midnight
