"""Bulk article storage on both backends: dedup, edits, caps, feed sync."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import select

from config.feeds import FeedSpec
from storage.articles import ArticleDraft, count_articles, latest_articles, store_articles
from storage.db import Database
from storage.feeds import RETIRED_REASON, add_feed, due_feed_ids, list_feeds, sync_feeds
from storage.models import Article, Feed


def draft(n: int, **kw: object) -> ArticleDraft:
    values: dict[str, object] = {
        "identity": f"id-{n}",
        "canonical_url": f"https://spacenews.com/story-{n}",
        "url": f"https://spacenews.com/story-{n}?utm_source=rss",
        "title": f"Story {n}",
        "summary": f"Summary {n}",
        "content_hash": f"h{n}",
        "source_name": "SpaceNews",
        "source_site": "spacenews.com",
        "published_at": datetime(2026, 11, 1, tzinfo=UTC) + timedelta(hours=n),
    }
    values.update(kw)
    return ArticleDraft(**values)  # type: ignore[arg-type]


def test_store_twice_adds_nothing_the_second_time(db: Database) -> None:
    first = db.call(store_articles, None, [draft(i) for i in range(50)])
    assert len(first.new_ids) == 50
    second = db.call(store_articles, None, [draft(i) for i in range(50)])
    assert second.new_ids == []
    assert second.unchanged == 50
    assert db.call(count_articles) == 50


def test_duplicates_inside_one_batch_first_wins(db: Database) -> None:
    result = db.call(
        store_articles,
        None,
        [draft(1), draft(1, title="later copy"), draft(2, canonical_url=draft(1).canonical_url)],
    )
    assert len(result.new_ids) == 1
    assert result.skipped == 2
    with db.session() as s:
        assert s.exec(select(Article.title)).all() == ["Story 1"]


def test_edited_item_updates_the_same_row(db: Database) -> None:
    (article_id,) = db.call(store_articles, None, [draft(7)]).new_ids
    result = db.call(
        store_articles, None, [draft(7, title="Story 7 (updated)", content_hash="h7b")]
    )
    assert result.updated_ids == [article_id]
    assert result.new_ids == []
    with db.session() as s:
        row = s.get(Article, article_id)
        assert row is not None
        assert row.title == "Story 7 (updated)"
        assert row.update_count == 1


def test_updates_are_capped(db: Database) -> None:
    db.call(store_articles, None, [draft(3)])
    for i in range(5):
        db.call(store_articles, None, [draft(3, content_hash=f"v{i}")], max_updates=2)
    with db.session() as s:
        row = s.exec(select(Article)).one()
    assert row.update_count == 2


def test_same_story_from_another_feed_is_not_duplicated(db: Database) -> None:
    db.call(store_articles, None, [draft(1)])
    other = draft(1, identity="other-feed-guid")  # same canonical URL, different identity
    result = db.call(store_articles, None, [other])
    assert result.new_ids == []
    assert db.call(count_articles) == 1


def test_sync_feeds_adds_updates_and_retires(db: Database) -> None:
    specs = [
        FeedSpec(name="SpaceNews", url="https://spacenews.com/feed/"),
        FeedSpec(name="ESA", url="https://www.esa.int/rssfeed/Our_Activities/Space_News"),
    ]
    report = db.call(sync_feeds, specs)
    assert len(report.added) == 2
    db.call(add_feed, "https://example.org/chat-feed.xml", origin="chat")
    specs2 = [FeedSpec(name="SpaceNews (renamed)", url="https://spacenews.com/feed/", weight=2.0)]
    report2 = db.call(sync_feeds, specs2)
    assert report2.updated == ["https://spacenews.com/feed/"]
    assert report2.retired == ["https://www.esa.int/rssfeed/Our_Activities/Space_News"]
    rows = {r.url: r for r in db.call(list_feeds)}
    assert rows["https://example.org/chat-feed.xml"].enabled  # chat feeds are kept
    assert rows["https://spacenews.com/feed/"].title == "SpaceNews (renamed)"
    esa = rows["https://www.esa.int/rssfeed/Our_Activities/Space_News"]
    assert not esa.enabled
    assert esa.disabled_reason == RETIRED_REASON
    db.call(sync_feeds, specs)  # back in the file: enabled again
    rows = {r.url: r for r in db.call(list_feeds)}
    assert rows["https://www.esa.int/rssfeed/Our_Activities/Space_News"].enabled


def test_due_feeds_and_latest(db: Database) -> None:
    now = datetime.now(UTC)
    with db.session() as s:
        s.add(Feed(url="https://a/feed", title="A", next_check_at=now - timedelta(minutes=1)))
        s.add(Feed(url="https://b/feed", title="B", next_check_at=now + timedelta(hours=1)))
        s.add(Feed(url="https://c/feed", title="C", enabled=False))
    due = db.call(due_feed_ids, now)
    assert len(due) == 1
    assert len(db.call(due_feed_ids, now, include_all=True)) == 2
    db.call(store_articles, due[0], [draft(1), draft(2)])
    latest = db.call(latest_articles, limit=1)
    assert [a.title for a in latest] == ["Story 2"]
    assert [a.title for a in db.call(latest_articles, source="spacenews")] == ["Story 2", "Story 1"]
    assert db.call(latest_articles, source="nasa") == []


def test_new_rows_per_fetch_are_capped(db: Database) -> None:
    result = db.call(store_articles, None, [draft(i) for i in range(30)], max_new=10)
    assert len(result.new_ids) == 10
    assert result.skipped == 20
    titles = {a.title for a in db.call(latest_articles, limit=50)}
    assert titles == {f"Story {i}" for i in range(10)}  # the first (newest-first) drafts win
