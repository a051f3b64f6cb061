"""The feed list file (``feeds.toml``): its format is part of orbitwire's interface.

```toml
[[feeds]]
name = "SpaceNews"
url = "https://spacenews.com/feed/"
homepage = "https://spacenews.com"
language = "en"      # optional, default "en"
weight = 1.0         # optional, default 1.0
full_text = false    # optional, default false
```
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from config.settings import ConfigError


class FeedSpec(BaseModel):
    """One ``[[feeds]]`` entry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=512)
    url: str = Field(min_length=8, max_length=2048)
    homepage: str | None = None
    language: str = Field(default="en", min_length=2, max_length=16)
    weight: float = Field(default=1.0, ge=0.0, le=10.0)
    full_text: bool = False

    @field_validator("url", "homepage")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not value.lower().startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value


def load_feed_specs(path: Path) -> list[FeedSpec]:
    """Read and validate a feeds file; errors name the entry and field."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ConfigError(f"feeds file {path} does not exist (ORBITWIRE_FEEDS_FILE)") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"feeds file {path} is not valid TOML: {exc}") from exc
    raw = data.get("feeds", [])
    if not isinstance(raw, list):
        raise ConfigError(f"feeds file {path}: expected [[feeds]] entries")
    specs: list[FeedSpec] = []
    seen: set[str] = set()
    for index, item in enumerate(raw, start=1):
        try:
            spec = FeedSpec.model_validate(item)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "entry"
            name = item.get("name", "?") if isinstance(item, dict) else "?"
            raise ConfigError(
                f"feeds file {path}: feed #{index} ({name}): {field}: {first['msg']}"
            ) from None
        if spec.url in seen:
            raise ConfigError(f"feeds file {path}: feed #{index} repeats url {spec.url}")
        seen.add(spec.url)
        specs.append(spec)
    return specs
