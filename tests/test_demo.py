"""``orbitwire demo``: what a newcomer sees, and that the tour stays offline and leaves nothing.

The subprocess tests run the command exactly as a user would (environment without
``ORBITWIRE_*``, a fresh working directory); the in-process test wraps the socket layer so any
connection that is not to 127.0.0.1 fails the tour.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.demo import DEMO_CHANNEL, SAMPLE_FEEDS, SAMPLES_DIR, run_tour
from bot.demo_server import SampleFeedServer, expand_dates

ROOT = Path(__file__).resolve().parents[1]
#: A hang guard, not a performance target (the issue asks for < 30 s; typical is a few seconds).
HANG_GUARD = 60.0


def orbitwire(*args: str, cwd: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORBITWIRE_")}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=cwd,
        timeout=HANG_GUARD,
        check=False,
    )
    return result, time.perf_counter() - started


def test_demo_shows_the_whole_bot(tmp_path: Path) -> None:
    result, elapsed = orbitwire("demo", cwd=tmp_path)
    print(f"orbitwire demo took {elapsed:.1f} s (wall, including interpreter start)")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Traceback" not in result.stderr
    # ingestion: every sample feed fetched, with counts
    assert "Fetched 3 sample feeds from http://127.0.0.1:" in out
    for name in ("Orbit Daily", "Lunar Ledger", "Deep Space Desk"):
        line = next(ln for ln in out.splitlines() if ln.strip().startswith(name))
        assert "HTTP 200" in line, line
        assert "new articles" in line, line
    assert "articles stored in a temporary SQLite store" in out
    # posts, as subscribers read them
    posts = out.split("2. What ", 1)[1].split("3. Ask the bot", 1)[0]
    assert posts.count("── post ") >= 2
    assert posts.count("According to ") >= 2
    assert posts.count("Follow us: Telegram · X") >= 2
    assert "Also reported by " in posts
    # answers
    answers = out.split("3. Ask the bot", 1)[1]
    mission = answers.split("you › /mission Chang'e-6", 1)[1].split("you › ", 1)[0]
    assert "Sweden" in mission
    assert "NILS" in mission
    partners = answers.split("you › /partners Pakistan", 1)[1].split("you › ", 1)[0]
    assert "Pakistan" in partners
    assert "Chang'e-6" in partners
    free_text = answers.split("you › who flies instruments on Chang'e-7?", 1)[1]
    free_text = free_text.split("you › ", 1)[0]
    assert "Partners of Chang'e-7" in free_text
    assert "Egypt" in free_text
    search = answers.split("you › /search radon", 1)[1]
    assert "radon" in search.split("4. Next steps", 1)[0]
    # next steps to go live
    steps = out.split("4. Next steps to go live", 1)[1]
    for needle in ("@BotFather", "ORBITWIRE_BOT_TOKEN", "ORBITWIRE_CHANNELS", "administrator",
                   "ORBITWIRE_ADMINS", "make run", "PostgreSQL", "README"):  # fmt: skip
        assert needle in steps, needle
    # nothing left behind in the working directory
    assert list(tmp_path.iterdir()) == []
    assert elapsed < HANG_GUARD


def test_demo_json(tmp_path: Path) -> None:
    result, elapsed = orbitwire("demo", "--json", cwd=tmp_path)
    print(f"orbitwire demo --json took {elapsed:.1f} s")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["offline"] is True
    assert [f["name"] for f in data["feeds"]] == ["Orbit Daily", "Lunar Ledger", "Deep Space Desk"]
    assert all(f["result"] == "ok" and f["new_articles"] > 0 for f in data["feeds"])
    assert data["articles"] == sum(f["new_articles"] for f in data["feeds"])
    assert data["channel"] == DEMO_CHANNEL
    assert len(data["posts"]) >= 2
    assert all("According to" in p["plain"] and "Follow us" in p["plain"] for p in data["posts"])
    assert any(p["sites"] > 1 for p in data["posts"])
    asked = [a["user"] for a in data["exchanges"]]
    assert "/mission Chang'e-6" in asked
    assert "/partners Pakistan" in asked
    assert all(a["replies"] and a["text"] for a in data["exchanges"])
    assert data["next_steps"]
    assert list(tmp_path.iterdir()) == []


def _loopback(host: Any) -> bool:
    try:
        return ipaddress.ip_address(str(host)).is_loopback
    except ValueError:
        return str(host) == "localhost"


def test_demo_never_leaves_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every TCP/UDP connection and name lookup of the tour must be for 127.0.0.1."""
    seen: list[Any] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_create = socket.create_connection
    real_getaddrinfo = socket.getaddrinfo

    def check(family: int, address: Any) -> None:
        if family in (socket.AF_INET, socket.AF_INET6):
            seen.append(address)
            if not _loopback(address[0]):
                raise AssertionError(f"the demo tried to connect to {address!r}")

    def connect(self: socket.socket, address: Any) -> None:
        check(self.family, address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(self.family, address)
        return real_connect_ex(self, address)

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        check(socket.AF_INET, address)
        return real_create(address, *args, **kwargs)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _loopback(host.decode() if isinstance(host, bytes) else host):
            raise AssertionError(f"the demo tried to resolve {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    result = asyncio.run(run_tour())

    assert seen, "the guard saw no connection at all: it is not wired in"
    assert [f.result for f in result.feeds] == ["ok", "ok", "ok"]
    assert len(result.posts) >= 2
    assert len(result.exchanges) >= 6


def test_sample_server_dates_and_routes() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert expand_dates("{{NOW-1h30m}}", now, atom=True) == "2026-03-01T10:30:00Z"
    assert (
        expand_dates("<d>{{NOW-1d}}</d>", now, atom=False) == "<d>Sat, 28 Feb 2026 12:00:00 GMT</d>"
    )
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no env proxies
    with SampleFeedServer(SAMPLES_DIR, list(SAMPLE_FEEDS), clock=lambda: now) as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        with direct.open(f"{server.base_url}/orbit-daily.rss") as reply:
            body = reply.read().decode()
            assert reply.headers["Content-Type"].startswith("application/rss+xml")
        assert "{{" not in body
        assert "Orbit Daily" in body
        with pytest.raises(urllib.error.HTTPError) as err:
            direct.open(f"{server.base_url}/feeds.toml")
        assert err.value.code == 404
        err.value.close()
        assert server.hits == {"/orbit-daily.rss": 1, "/feeds.toml": 1}
