"""Settings: defaults, environment parsing, TOML file, and one clear line per bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import DEFAULT_FEEDS_FILE, ConfigError, load_settings

TOKEN = "123456:ABCdefGHIjklMNOpqrSTUvwxYZ0123456789"


def test_defaults(clean_env: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert settings.token is None
    assert settings.telegram_api_url == "https://api.telegram.org/bot"
    assert settings.database_url == "sqlite:///./orbitwire.db"
    assert settings.feeds_file == DEFAULT_FEEDS_FILE
    assert settings.channels == []
    assert settings.admins == []
    assert settings.allow_private_feeds is False


def test_environment_values_are_parsed(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("ORBITWIRE_BOT_TOKEN", TOKEN)
    clean_env.setenv("ORBITWIRE_CHANNELS", "@orbitwire_news, -1001234567890")
    clean_env.setenv("ORBITWIRE_ADMINS", "42, 4242424242")
    clean_env.setenv("ORBITWIRE_ALLOW_PRIVATE_FEEDS", "true")
    clean_env.setenv("ORBITWIRE_TELEGRAM_API_URL", "http://127.0.0.1:8081/bot/")
    settings = load_settings()
    assert settings.token == TOKEN
    assert settings.channels == ["@orbitwire_news", "-1001234567890"]
    assert settings.admins == [42, 4242424242]
    assert settings.allow_private_feeds is True
    assert settings.telegram_api_url == "http://127.0.0.1:8081/bot"


def test_toml_file_is_read_and_environment_wins(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "orbitwire.toml"
    config.write_text(
        'channels = ["@from_file"]\nadmins = [7, 8]\ntimezone = "Europe/Paris"\n'
        'database_url = "sqlite:///from-file.db"\n',
        encoding="utf-8",
    )
    clean_env.setenv("ORBITWIRE_CONFIG", str(config))
    clean_env.setenv("ORBITWIRE_ADMINS", "9")
    settings = load_settings()
    assert settings.channels == ["@from_file"]
    assert settings.admins == [9]  # env overrides file
    assert settings.timezone == "Europe/Paris"
    assert settings.database_url == "sqlite:///from-file.db"


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        ("ORBITWIRE_ADMINS", "alice", "ORBITWIRE_ADMINS: 'alice' is not a numeric"),
        ("ORBITWIRE_CHANNELS", "my channel", "ORBITWIRE_CHANNELS: 'my channel' is neither"),
        ("ORBITWIRE_BOT_TOKEN", "not-a-token", "ORBITWIRE_BOT_TOKEN: does not look like"),
        ("ORBITWIRE_TIMEZONE", "Moon/Shackleton", "ORBITWIRE_TIMEZONE: unknown time zone"),
        ("ORBITWIRE_DATABASE_URL", "mysql://x@y/z", "ORBITWIRE_DATABASE_URL: backend 'mysql'"),
        ("ORBITWIRE_DATABASE_URL", "::nonsense::", "ORBITWIRE_DATABASE_URL: is not a database"),
        ("ORBITWIRE_TELEGRAM_API_URL", "ftp://x", "ORBITWIRE_TELEGRAM_API_URL: must be an http"),
        ("ORBITWIRE_ALLOW_PRIVATE_FEEDS", "maybe", "ORBITWIRE_ALLOW_PRIVATE_FEEDS"),
    ],
)
def test_bad_values_name_the_setting(
    clean_env: pytest.MonkeyPatch, var: str, value: str, expected: str
) -> None:
    clean_env.setenv(var, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert expected in message
    assert len(message.splitlines()) == 1
    assert "Traceback" not in message


def test_bad_token_is_not_echoed(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("ORBITWIRE_BOT_TOKEN", "123:has spaces SECRETPART")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "SECRETPART" not in str(info.value)


def test_missing_or_broken_config_file(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("ORBITWIRE_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings()
    broken = tmp_path / "broken.toml"
    broken.write_text("channels = [", encoding="utf-8")
    clean_env.setenv("ORBITWIRE_CONFIG", str(broken))
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings()


def test_token_never_in_repr_or_redacted_dump(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("ORBITWIRE_BOT_TOKEN", TOKEN)
    clean_env.setenv("ORBITWIRE_DATABASE_URL", "postgresql://bot:hunter2@db.example/orbit")
    settings = load_settings()
    assert TOKEN not in repr(settings)
    dumped = str(settings.redacted())
    assert TOKEN not in dumped
    assert "hunter2" not in dumped


def test_plain_postgresql_url_uses_psycopg3(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("ORBITWIRE_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    assert load_settings().database_url.startswith("postgresql+psycopg://")


def test_readme_documents_every_setting() -> None:
    """The configuration table in the README is the operator's reference: keep it complete."""
    from config.settings import Settings

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"`ORBITWIRE_{name.upper()}`" in readme, f"README lacks ORBITWIRE_{name.upper()}"


def test_channel_overrides_from_the_config_file(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    config = tmp_path / "orbitwire.toml"
    config.write_text(
        'channels = ["@orbitwire_news"]\nmax_posts_per_day = 10\n'
        '[channel."@orbitwire_news"]\nmax_posts_per_day = 3\nquiet_hours = "23:00-07:00"\n'
        'timezone = "Asia/Shanghai"\npublish_mode = "review"\n',
        encoding="utf-8",
    )
    clean_env.setenv("ORBITWIRE_CONFIG", str(config))
    settings = load_settings()
    news = settings.schedule_for("@orbitwire_news")
    assert news.max_posts_per_day == 3
    assert news.publish_mode == "review"
    assert settings.schedule_for("@other").max_posts_per_day == 10
    # 16:30 UTC is 00:30 in Shanghai: inside the window that wraps midnight
    assert news.is_quiet(datetime(2026, 11, 24, 16, 30, tzinfo=UTC))
    assert not news.is_quiet(datetime(2026, 11, 24, 3, 0, tzinfo=UTC))  # 11:00 local


def test_bad_channel_override_names_the_channel(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "orbitwire.toml"
    config.write_text('[channel."@x_news"]\nmax_posts_per_dya = 3\n', encoding="utf-8")
    clean_env.setenv("ORBITWIRE_CONFIG", str(config))
    with pytest.raises(ConfigError, match=r"ORBITWIRE_CHANNEL: .*@x_news.*max_posts_per_dya"):
        load_settings()


def test_follow_us_and_quiet_hours_are_validated(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("ORBITWIRE_FOLLOW_US", "Telegram=https://t.me/orbitwire,X=https://x.com/o")
    assert load_settings().follow_us
    clean_env.setenv("ORBITWIRE_FOLLOW_US", "Telegram=javascript:alert(1)")
    with pytest.raises(ConfigError, match="ORBITWIRE_FOLLOW_US"):
        load_settings()
    clean_env.delenv("ORBITWIRE_FOLLOW_US")
    clean_env.setenv("ORBITWIRE_QUIET_HOURS", "late night")
    with pytest.raises(ConfigError, match="ORBITWIRE_QUIET_HOURS"):
        load_settings()
