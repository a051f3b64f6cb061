"""Subscriptions storage and matching on both databases (no Telegram)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.alerts import digest_due, matches, parse_hhmm
from storage import subscriptions as subs
from storage.candidates import CandidateRow
from storage.db import Database

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def row(title: str, summary: str = "", **links: dict[str, str]) -> CandidateRow:
    return CandidateRow(
        article_id=1, title=title, summary=summary, content=None, url="https://x.example/1",
        site="x.example", source_name="x", published_at=NOW, fetched_at=NOW, language="en",
        image_url=None, source_weight=1.0, **links,
    )  # fmt: skip


def sub(kind: str, target: str) -> subs.SubRow:
    return subs.SubRow(1, 1, kind, target, NOW)


def test_matching_links_and_keywords_on_word_boundaries() -> None:
    linked = row("Probe news", missions={"change-7": "Chang'e-7"}, agencies={"ESA": "ESA"})
    assert matches(sub("mission", "change-7"), linked)
    assert matches(sub("agency", "ESA"), linked)
    assert not matches(sub("country", "CN"), linked)
    assert matches(sub("keyword", "sample return"), row("Mars Sample Return replanned"))
    assert not matches(sub("keyword", "mars"), row("Marsupials in orbit?"))
    assert matches(sub("keyword", "mars"), row("Rover news", "Water on Mars, again."))


def test_digest_time_in_the_users_zone() -> None:
    assert parse_hhmm("8:05") == "08:05"
    assert parse_hhmm("24:00") is None
    assert parse_hhmm("8") is None
    pref = subs.PrefRow(1, "Europe/Berlin", "11:30", None, False)
    assert digest_due(pref, NOW) is None  # 11:00 in Berlin
    start = digest_due(pref, NOW + timedelta(minutes=30))
    assert start == datetime(2026, 11, 20, 23, 0, tzinfo=UTC)  # midnight in Berlin
    done = subs.PrefRow(1, "Europe/Berlin", "11:30", NOW + timedelta(minutes=30), False)
    assert digest_due(done, NOW + timedelta(hours=2)) is None
    assert digest_due(done, NOW + timedelta(days=1, hours=1)) is not None


def test_subscribe_once_remove_only_own_and_claim_digest_once(db: Database) -> None:
    assert db.call(subs.subscribe, 7, "mission", "change-7")
    assert not db.call(subs.subscribe, 7, "mission", "change-7")
    assert db.call(subs.subscribe, 8, "keyword", "mars", default_tz="Europe/Berlin")
    (mine,) = db.call(subs.list_for, 7)
    assert not db.call(subs.unsubscribe_id, 8, mine.id)  # not user 8's row
    assert db.call(subs.unsubscribe_id, 7, mine.id)
    assert db.call(subs.list_for, 7) == []
    assert [s.user_id for s in db.call(subs.active_subscriptions)] == [8]

    db.call(subs.set_digest, 8, "08:00", default_tz="Europe/Berlin")
    start = datetime(2026, 11, 20, 23, 0, tzinfo=UTC)
    assert db.call(subs.claim_digest, 8, start, NOW)
    assert not db.call(subs.claim_digest, 8, start, NOW)  # a second replica: no
    assert db.call(subs.claim_digest, 8, start + timedelta(days=1), NOW + timedelta(days=1))
    pref = db.call(subs.get_pref, 8)
    assert pref is not None
    assert pref.timezone == "Europe/Berlin"
    assert pref.digest_time == "08:00"
