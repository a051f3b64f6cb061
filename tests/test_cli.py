"""The ``orbitwire`` command line as a user runs it (a real subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def orbitwire(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ORBITWIRE_")}
    base.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        env={**base, "PYTHONPATH": str(ROOT)},
        cwd=cwd or ROOT,
        timeout=timeout,
        check=False,
    )


def test_run_without_token_explains_what_to_do(tmp_path: Path) -> None:
    result = orbitwire("run", cwd=tmp_path)
    assert result.returncode == 2
    assert "ORBITWIRE_BOT_TOKEN" in result.stderr
    assert "orbitwire demo" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_setting_is_one_clear_line(tmp_path: Path) -> None:
    result = orbitwire("version", env={"ORBITWIRE_ADMINS": "root"}, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "orbitwire: invalid setting ORBITWIRE_ADMINS: 'root' is not a numeric Telegram user id"
    ]


def test_version(tmp_path: Path) -> None:
    result = orbitwire("version", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["orbitwire"]


def test_demo_works_offline_without_token(tmp_path: Path) -> None:
    result = orbitwire("demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "you › /start" in result.stdout
    assert "you › /help" in result.stdout
    assert "/help — All commands" in result.stdout
    assert "<b>" not in result.stdout  # rendered as a user reads it, not raw HTML
    assert not list(tmp_path.glob("*.db")), "the demo must not create the operator's database"
    as_json = orbitwire("demo", "--json", cwd=tmp_path)
    exchanges = json.loads(as_json.stdout)["exchanges"]
    assert [e["user"] for e in exchanges][:2] == ["/start", "/help"]


def test_db_upgrade_creates_an_empty_database(tmp_path: Path) -> None:
    target = tmp_path / "data" / "bot.db"
    env = {"ORBITWIRE_DATABASE_URL": f"sqlite:///{target}"}
    result = orbitwire("db", "upgrade", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert target.exists()
    again = orbitwire("db", "current", "--json", env=env, cwd=tmp_path)
    assert json.loads(again.stdout)["revision"]


def test_unreachable_database_is_reported_plainly(tmp_path: Path) -> None:
    env = {"ORBITWIRE_DATABASE_URL": "postgresql+psycopg://nobody:secretpw@127.0.0.1:1/none"}
    result = orbitwire("db", "upgrade", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "cannot open database" in result.stderr
    assert "secretpw" not in result.stderr
    assert "Traceback" not in result.stderr


def test_config_masks_the_token(tmp_path: Path) -> None:
    token = "123456:SECRETsecretSECRETsecret1234567"
    result = orbitwire("config", "--json", env={"ORBITWIRE_BOT_TOKEN": token}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "SECRETsecret" not in result.stdout
    assert json.loads(result.stdout)["bot_token"] == "***"


@pytest.mark.parametrize("flag", ["--help", "run --help"])
def test_help_lists_commands(flag: str, tmp_path: Path) -> None:
    result = orbitwire(*flag.split(), cwd=tmp_path)
    assert result.returncode == 0
    assert "orbitwire" in result.stdout
