"""Runtime settings: environment variables (prefix ``ORBITWIRE_``) over an optional TOML file.

Why pydantic-settings: one typed object is validated once at start-up, so a bad value fails
before the bot touches Telegram or the database, with a message that names the setting
(:func:`describe_errors`) instead of a traceback deep inside a handler.

Precedence (highest first): explicit keyword arguments (tests), environment variables, the TOML
file named by ``ORBITWIRE_CONFIG``, defaults.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from config.channels import ChannelSchedule, parse_quiet_hours

ENV_PREFIX = "ORBITWIRE_"
CONFIG_ENV = "ORBITWIRE_CONFIG"
CONFIG_DIR = Path(__file__).resolve().parent
DEFAULT_FEEDS_FILE = CONFIG_DIR / "feeds.toml"

_TOKEN_RE = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
_CHAT_ID_RE = re.compile(r"^-?\d+$")
_CHAT_USERNAME_RE = re.compile(r"^@[A-Za-z][A-Za-z0-9_]{3,31}$")


class ConfigError(Exception):
    """Settings could not be loaded; ``str(err)`` is a short, user-facing explanation."""


def _split_csv(value: Any) -> Any:
    """Accept ``"a, b"`` from the environment as well as real lists from TOML."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, int):
        return [value]
    return value


class Settings(BaseSettings):
    """Every knob orbitwire reads. The README's configuration table mirrors this class."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="ignore",
        validate_default=True,
        hide_input_in_errors=True,
    )

    bot_token: SecretStr | None = Field(
        default=None, description="Bot token from @BotFather. Secret: never logged."
    )
    telegram_api_url: str = Field(
        default="https://api.telegram.org/bot",
        description="Bot API base URL (PTB base_url); point it at a local Bot API server.",
    )
    database_url: str = Field(
        default="sqlite:///./orbitwire.db",
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user@host/db.",
    )
    feeds_file: Path = Field(
        default=DEFAULT_FEEDS_FILE,
        description="TOML list of feeds synced into the store at start (bundled list by default).",
    )
    channels: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Channels to publish to: comma-separated chat ids or @usernames.",
    )
    admins: Annotated[list[int], NoDecode] = Field(
        default_factory=list,
        description="Telegram user ids allowed to run admin commands, comma-separated.",
    )
    allow_private_feeds: bool = Field(
        default=False,
        description="Allow feed URLs on loopback/private networks (tests and demos only).",
    )
    fetch_interval_minutes: int = Field(
        default=15, ge=5, le=1440, description="How often each feed is polled (minutes, 5–1440)."
    )
    fetch_concurrency: int = Field(
        default=16, ge=1, le=200, description="Feeds fetched at once (2 per host at most)."
    )
    fetch_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=300,
        description="Deadline for one whole feed fetch, redirects included.",
    )
    backfill_items: int = Field(
        default=20,
        ge=0,
        le=100,
        description="Items stored from a feed's first fetch (newest first).",
    )
    follow_us: str = Field(
        default="",
        description="Follow-us footer: Label=https://…,Label2=https://… (channel and socials).",
    )
    publish_mode: Literal["auto", "review"] = Field(
        default="auto", description="auto posts the best stories; review sends them to admins."
    )
    review_chat: int | None = Field(
        default=None, description="Chat id where review-mode candidates go (admins' chat)."
    )
    max_posts_per_day: int = Field(default=12, ge=0, le=500, description="Posts per channel/day.")
    min_spacing_minutes: int = Field(
        default=30, ge=0, le=1440, description="Minimum minutes between two posts in a channel."
    )
    quiet_hours: str = Field(
        default="", description="No posts in this window, e.g. 23:00-07:00 (channel time zone)."
    )
    publish_tick_seconds: int = Field(
        default=60, ge=1, le=3600, description="How often the publisher plans the next posts."
    )
    backlog_hours: int = Field(
        default=24, ge=1, le=24 * 14, description="Only stories this recent are considered."
    )
    summarizer_url: str | None = Field(
        default=None, description="OpenAI-compatible endpoint for abstractive summaries."
    )
    summarizer_model: str = Field(default="gpt-4o-mini", description="Model name for it.")
    summarizer_api_key: SecretStr | None = Field(
        default=None, description="API key for the summarizer (secret)."
    )
    channel: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description='Per-channel overrides from the TOML file: [channel."@name"] …',
    )
    webhook_url: str | None = Field(
        default=None,
        description="Public HTTPS URL Telegram posts updates to; unset = long polling.",
    )
    webhook_secret: SecretStr | None = Field(
        default=None, description="Secret Telegram echoes in X-Telegram-Bot-Api-Secret-Token."
    )
    webhook_listen: str = Field(default="0.0.0.0", description="Address the webhook server binds.")  # noqa: S104 - behind a proxy
    webhook_port: int = Field(default=8443, ge=1, le=65535, description="Port it listens on.")
    metrics_host: str = Field(default="127.0.0.1", description="Address of /healthz and /metrics.")
    metrics_port: int = Field(
        default=9464, ge=0, le=65535, description="Port of /healthz and /metrics (0 disables)."
    )
    timezone: str = Field(
        default="UTC", description="Default time zone for schedules and admin times (IANA name)."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Log level of orbitwire's own loggers."
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="text for people, json for log collectors."
    )

    # ----------------------------------------------------------------- validators
    @field_validator("bot_token", mode="before")
    @classmethod
    def _token_shape(cls, value: Any) -> Any:
        if value is None or value == "":
            return None
        raw = value.get_secret_value() if isinstance(value, SecretStr) else str(value).strip()
        if not _TOKEN_RE.match(raw):
            # Never echo the value: it may be a real token with a typo.
            raise ValueError("does not look like a bot token (expected '123456:ABC-def...')")
        return raw

    @field_validator("telegram_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http(s) URL such as https://api.telegram.org/bot")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _db_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError("is not a database URL (try sqlite:///./orbitwire.db)") from exc
        backend = url.get_backend_name()
        if backend == "postgresql" and url.drivername in ("postgresql", "postgres"):
            # psycopg 3 is the driver we ship; a bare postgresql:// would ask for psycopg2.
            url = url.set(drivername="postgresql+psycopg")
        elif backend == "postgres":
            url = url.set(drivername="postgresql+psycopg")
        elif backend not in ("sqlite", "postgresql"):
            raise ValueError(f"backend {backend!r} is not supported (use sqlite or postgresql)")
        return url.render_as_string(hide_password=False)

    @field_validator("channels", mode="before")
    @classmethod
    def _channels_csv(cls, value: Any) -> Any:
        items = _split_csv(value)
        return [str(item) for item in items] if isinstance(items, list) else items

    @field_validator("channels")
    @classmethod
    def _channel_refs(cls, value: list[str]) -> list[str]:
        for item in value:
            if not (_CHAT_ID_RE.match(item) or _CHAT_USERNAME_RE.match(item)):
                raise ValueError(f"{item!r} is neither a chat id (-100123...) nor an @username")
        return value

    @field_validator("admins", mode="before")
    @classmethod
    def _admins_csv(cls, value: Any) -> Any:
        items = _split_csv(value)
        if isinstance(items, list):
            for item in items:
                if isinstance(item, str) and not item.isdigit():
                    raise ValueError(f"{item!r} is not a numeric Telegram user id")
        return items

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            hint = "use an IANA name like Europe/Paris"
            raise ValueError(f"unknown time zone {value!r} ({hint})") from exc
        return value

    @field_validator("follow_us")
    @classmethod
    def _follow(cls, value: str) -> str:
        from bot.publish.render import parse_follow_us

        parse_follow_us(value)
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str) -> str:
        parse_quiet_hours(value)
        return value

    @field_validator("channel")
    @classmethod
    def _overrides(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for ref, override in value.items():
            try:
                ChannelSchedule(**override)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise ValueError(f"[channel.{ref!r}] {where}: {first['msg']}") from None
        return value

    @field_validator("webhook_url")
    @classmethod
    def _webhook(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be the public https:// URL Telegram will post updates to")
        return value or None

    @field_validator("webhook_secret", mode="before")
    @classmethod
    def _secret_shape(cls, value: Any) -> Any:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if raw in (None, ""):
            return None
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(raw)):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)")
        return raw

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> Settings:
        if self.webhook_url and self.webhook_secret is None:
            raise ValueError(
                "ORBITWIRE_WEBHOOK_SECRET is required with ORBITWIRE_WEBHOOK_URL, so forged "
                "updates are rejected"
            )
        return self

    @field_validator("feeds_file")
    @classmethod
    def _feeds_file(cls, value: Path) -> Path:
        return value.expanduser()

    # ------------------------------------------------------------------- sources
    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlFileSource(settings_cls))

    # ------------------------------------------------------------------- helpers
    @property
    def token(self) -> str | None:
        """The raw token, for the one place that needs it (building the PTB application)."""
        return self.bot_token.get_secret_value() if self.bot_token else None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def schedule_for(self, chat_ref: str) -> ChannelSchedule:
        """The channel's schedule: global defaults, then its ``[channel."…"]`` overrides."""
        base: dict[str, Any] = {
            "max_posts_per_day": self.max_posts_per_day,
            "min_spacing_minutes": self.min_spacing_minutes,
            "quiet_hours": self.quiet_hours,
            "timezone": self.timezone,
            "publish_mode": self.publish_mode,
            "review_chat": self.review_chat,
        }
        base.update(self.channel.get(chat_ref, {}))
        return ChannelSchedule(**base)

    def redacted(self) -> dict[str, Any]:
        """Settings as a dict that is safe to print or log (secrets masked)."""
        data = self.model_dump(mode="json")
        if self.bot_token is not None:
            data["bot_token"] = "***"  # noqa: S105 - a mask, not a password
        for secret in ("summarizer_api_key", "webhook_secret"):
            if getattr(self, secret) is not None:
                data[secret] = "***"
        data["database_url"] = make_url(self.database_url).render_as_string(hide_password=True)
        return data


class _TomlFileSource(PydanticBaseSettingsSource):
    """Reads the TOML file named by ``ORBITWIRE_CONFIG`` (if set). Keys are the field names."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self._data = load_config_file()

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        fields = self.settings_cls.model_fields
        return {key: value for key, value in self._data.items() if key in fields}


def load_config_file(path: str | None = None) -> dict[str, Any]:
    """Parse the TOML config file; missing or malformed files are a :class:`ConfigError`."""
    path = path if path is not None else os.environ.get(CONFIG_ENV)
    if not path:
        return {}
    file = Path(path).expanduser()
    try:
        with file.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ConfigError(f"{CONFIG_ENV}: config file {file} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{CONFIG_ENV}: {file} is not valid TOML: {exc}") from exc
    return {str(k).lower(): v for k, v in data.items()}


def describe_errors(error: ValidationError) -> list[str]:
    """One line per bad setting, naming its environment variable and what is wrong."""
    lines = []
    for item in error.errors():
        message = str(item["msg"]).removeprefix("Value error, ")
        if not item["loc"]:  # a rule about several settings names them itself
            lines.append(f"invalid settings: {message}")
            continue
        field = str(item["loc"][0])
        lines.append(f"invalid setting {ENV_PREFIX}{field.upper()}: {message}")
    return lines


def load_settings(**overrides: Any) -> Settings:
    """Build :class:`Settings`; validation failures become one readable :class:`ConfigError`."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError("\n".join(describe_errors(exc))) from None
