"""`orbitwire fetch`, `feeds`, `articles` and `relink` as an operator runs them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.feedgen import feed_of, item, rss
from tests.support.feedserver import FeedServer
from tests.test_cli import orbitwire


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        srv.add_feed("/one.xml", feed_of(12, site="one.example"), etag='"1"')
        srv.add(
            "/two.xml",
            rss([item(i, site="two.example") for i in range(8)]),
            content_type="application/rss+xml",
        )
        srv.add("/broken.xml", status=500)
        yield srv


@pytest.fixture
def env(tmp_path: Path, server: FeedServer) -> dict[str, str]:
    feeds = tmp_path / "feeds.toml"
    feeds.write_text(
        "\n".join(
            f'[[feeds]]\nname = "{name}"\nurl = "{server.url(path)}"\n'
            for name, path in (("One", "/one.xml"), ("Two", "/two.xml"), ("Broken", "/broken.xml"))
        ),
        encoding="utf-8",
    )
    return {
        "ORBITWIRE_DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
        "ORBITWIRE_FEEDS_FILE": str(feeds),
        "ORBITWIRE_ALLOW_PRIVATE_FEEDS": "true",
        "ORBITWIRE_BACKFILL_ITEMS": "100",
    }


def test_fetch_twice_adds_nothing_the_second_time(env: dict[str, str], tmp_path: Path) -> None:
    first = orbitwire("fetch", "--once", "--json", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    totals = json.loads(first.stdout)["totals"]
    assert totals["new"] == 20
    assert totals["failed"] == 1
    second = orbitwire("fetch", "--once", "--all", "--json", env=env, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    data = json.loads(second.stdout)
    assert data["totals"]["new"] == 0
    assert {f["result"] for f in data["feeds"]} == {"ok", "not_modified", "error"}
    human = orbitwire("fetch", "--once", env=env, cwd=tmp_path)
    assert "No feeds were due" in human.stdout  # everything was just fetched


def test_feeds_and_articles_listing(env: dict[str, str], tmp_path: Path) -> None:
    orbitwire("fetch", "--once", env=env, cwd=tmp_path)
    listing = json.loads(orbitwire("feeds", "list", "--json", env=env, cwd=tmp_path).stdout)
    by_title = {f["title"]: f for f in listing}
    assert by_title["One"]["articles"] == 12
    assert by_title["Broken"]["error_count"] == 1
    assert "500" in by_title["Broken"]["last_error"]
    table = orbitwire("feeds", "list", env=env, cwd=tmp_path).stdout
    assert "One" in table
    articles = json.loads(
        orbitwire(
            "articles", "--json", "--limit", "5", "--source", "two.example", env=env, cwd=tmp_path
        ).stdout
    )
    assert len(articles) == 5
    assert all(a["site"] == "two.example" for a in articles)


def test_feeds_add_refuses_private_addresses_unless_allowed(tmp_path: Path) -> None:
    env = {"ORBITWIRE_DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}"}
    refused = orbitwire(
        "feeds", "add", "http://169.254.169.254/latest/meta-data", env=env, cwd=tmp_path
    )
    assert refused.returncode == 2
    assert "169.254.169.254" in refused.stderr
    bad = orbitwire("feeds", "add", "ftp://example.org/feed", env=env, cwd=tmp_path)
    assert bad.returncode == 2
    ok = orbitwire("feeds", "add", "https://example.org/feed.xml", env=env, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    dup = orbitwire("feeds", "add", "https://example.org/feed.xml", env=env, cwd=tmp_path)
    assert dup.returncode == 1
    assert "already" in dup.stderr
    missing = orbitwire("feeds", "remove", env=env, cwd=tmp_path)
    assert missing.returncode == 2


def test_opml_round_trip_and_enable_disable(tmp_path: Path) -> None:
    env = {"ORBITWIRE_DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}"}
    opml = tmp_path / "subs.opml"
    opml.write_text(
        '<?xml version="1.0"?><opml version="2.0"><body><outline text="Space">'
        '<outline text="SpaceNews" xmlUrl="https://spacenews.com/feed/"/>'
        '<outline text="ESA" xmlUrl="https://www.esa.int/rssfeed/Our_Activities/Space_News"/>'
        '<outline text="Local" xmlUrl="http://127.0.0.1/feed"/>'
        "</outline></body></opml>",
        encoding="utf-8",
    )
    result = json.loads(
        orbitwire("feeds", "import", str(opml), "--json", env=env, cwd=tmp_path).stdout
    )
    assert len(result["added"]) == 2
    assert len(result["refused"]) == 1  # loopback, guard on
    exported = orbitwire("feeds", "export", env=env, cwd=tmp_path).stdout
    assert 'xmlUrl="https://spacenews.com/feed/"' in exported
    assert orbitwire("feeds", "disable", "1", env=env, cwd=tmp_path).returncode == 0
    listing = json.loads(orbitwire("feeds", "list", "--json", env=env, cwd=tmp_path).stdout)
    assert listing[0]["enabled"] is False
    assert orbitwire("feeds", "enable", "1", env=env, cwd=tmp_path).returncode == 0
    assert orbitwire("feeds", "remove", "99", env=env, cwd=tmp_path).returncode == 1


def test_relink_after_fetch(env: dict[str, str], tmp_path: Path) -> None:
    orbitwire("fetch", "--once", env=env, cwd=tmp_path)
    result = orbitwire("relink", "--json", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["articles"] == 20
    # stories naming Hera, Psyche or SLIM without space context are (rightly) left unlinked
    assert report["mission_links"] >= 10
