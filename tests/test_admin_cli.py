"""``orbitwire queue add|list|cancel`` against both databases."""

from __future__ import annotations

import json

import pytest

from bot.cli import main
from storage.articles import ArticleDraft, store_articles
from storage.db import Database

CHANNEL = "-1001234567890"


def test_queue_cli(
    db: Database, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("ORBITWIRE_DATABASE_URL", db.url)
    clean_env.setenv("ORBITWIRE_CHANNELS", CHANNEL)
    draft = ArticleDraft(
        identity="a", canonical_url="https://x.example/a", url="https://x.example/a",
        title="ESA news", summary="ESA approved a new lunar lander today.", content_hash="h",
    )  # fmt: skip
    (article,) = db.call(store_articles, None, [draft]).new_ids
    assert main(["queue", "list"]) == 0
    assert "empty" in capsys.readouterr().out
    assert main(["queue", "add", str(article), "--at", "2099-01-01T10:00"]) == 2  # too far
    capsys.readouterr()
    assert main(["queue", "add", str(article), "--at", "+2h", "--json"]) == 0
    added = json.loads(capsys.readouterr().out)
    assert added["state"] == "scheduled"
    assert added["created"] is True
    assert added["chat_id"] == int(CHANNEL)
    assert main(["queue", "add", str(article)]) == 0
    assert "already queued" in capsys.readouterr().out
    assert main(["queue", "list", "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["id"] == added["id"]
    assert main(["queue", "cancel", str(added["id"])]) == 0
    assert "cancelled" in capsys.readouterr().out
    assert main(["queue", "cancel", str(added["id"])]) == 1
    assert main(["queue", "add", "999"]) == 1
    assert "no article with id 999" in capsys.readouterr().err
    assert main(["queue", "add", str(article), "--channel", "@nope"]) == 1
    assert "unknown channel" in capsys.readouterr().err
