"""Storage on both backends: migrations, constraints users rely on, and value round trips."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from storage.db import Database, current_revision, upgrade_database
from storage.models import Article, Channel, Delivery, Feed, Subscription, metadata
from storage.search import include_name
from tests.conftest import drop_pg_schema, fresh_pg_schema

EXPECTED_TABLES = {
    "feed",
    "article",
    "country",
    "agency",
    "mission",
    "article_mission",
    "article_agency",
    "article_country",
    "partner_fact",
    "channel",
    "delivery",
    "queue_item",
    "subscription",
    "user_pref",
    "event",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    """An empty database (no schema at all) on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    url, schema = fresh_pg_schema()
    try:
        yield url
    finally:
        drop_pg_schema(schema)


def test_upgrade_creates_schema_and_is_idempotent(empty_url: str) -> None:
    engine = create_engine(empty_url)
    assert current_revision(engine) is None
    upgrade_database(engine)
    head = current_revision(engine)
    assert head is not None
    assert set(inspect(engine).get_table_names()) >= EXPECTED_TABLES
    upgrade_database(engine)  # second run: nothing to do, no error
    assert current_revision(engine) == head
    engine.dispose()


def test_migrations_match_models(empty_url: str) -> None:
    """Autogenerate finds nothing to add: the migration scripts and the models agree."""
    engine = create_engine(empty_url)
    upgrade_database(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": include_name})
        diff = compare_metadata(context, metadata)
    engine.dispose()
    assert diff == []


def test_concurrent_upgrades_do_not_collide(empty_url: str) -> None:
    """Replicas starting together both upgrade; the schema ends up migrated exactly once."""
    errors: list[BaseException] = []

    def worker() -> None:
        db = Database(empty_url)
        try:
            db.upgrade()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    engine = create_engine(empty_url)
    assert current_revision(engine) is not None
    engine.dispose()


def _article(feed_id: int | None, **kw: object) -> Article:
    base: dict[str, object] = {
        "identity": "id-" + str(kw.get("canonical_url", "x")),
        "url": "https://spacenews.com/a",
        "title": "Chang'e-7 passes review",
        "feed_id": feed_id,
    }
    base.update(kw)
    return Article(**base)  # type: ignore[arg-type]


def test_article_canonical_url_is_unique(db: Database) -> None:
    with db.session() as s:
        feed = Feed(url="https://spacenews.com/feed/", title="SpaceNews")
        s.add(feed)
        s.flush()
        s.add(_article(feed.id, identity="a", canonical_url="https://spacenews.com/a"))
    with pytest.raises(IntegrityError), db.session() as s:
        s.add(_article(None, identity="b", canonical_url="https://spacenews.com/a"))
    with pytest.raises(IntegrityError), db.session() as s:
        s.add(_article(None, identity="a", canonical_url="https://spacenews.com/other"))


def test_one_delivery_per_article_per_chat(db: Database) -> None:
    big_chat = -1001234567890123  # beyond 2^32: Telegram ids are 64-bit
    with db.session() as s:
        article = _article(None, identity="x", canonical_url="https://esa.int/x")
        s.add(article)
        s.flush()
        assert article.id is not None
        article_id = article.id
        s.add(Delivery(article_id=article_id, chat_id=big_chat))
    with pytest.raises(IntegrityError), db.session() as s:
        s.add(Delivery(article_id=article_id, chat_id=big_chat))
    with db.session() as s:  # a different kind (alert) to the same chat is allowed
        s.add(Delivery(article_id=article_id, chat_id=big_chat, kind="alert"))
    with db.session() as s:
        rows = s.exec(select(Delivery).where(Delivery.chat_id == big_chat)).all()
    assert sorted(r.kind for r in rows) == ["alert", "post"]


def test_subscription_unique_per_user_and_target(db: Database) -> None:
    with db.session() as s:
        s.add(Subscription(user_id=5_000_000_001, kind="mission", target="change-7"))
    with pytest.raises(IntegrityError), db.session() as s:
        s.add(Subscription(user_id=5_000_000_001, kind="mission", target="change-7"))


def test_timestamps_come_back_as_aware_utc(db: Database) -> None:
    paris = timezone(timedelta(hours=1))
    moment = datetime(2026, 5, 3, 10, 27, tzinfo=paris)
    with db.session() as s:
        s.add(_article(None, identity="t", canonical_url="https://x/t", published_at=moment))
    with db.session() as s:
        row = s.exec(select(Article).where(Article.identity == "t")).one()
    assert row.published_at.tzinfo is not None
    assert row.published_at == moment
    assert row.published_at.astimezone(UTC).hour == 9


def test_text_and_json_round_trip(db: Database) -> None:
    title = "嫦娥七号 — Chang’e-7 & “friends” 🚀"
    with db.session() as s:
        s.add(_article(None, identity="u", canonical_url="https://x/u", title=title))
        s.add(Channel(chat_ref="@orbitwire", chat_id=-1009999999999, settings={"quiet": [23, 7]}))
    with db.session() as s:
        assert s.exec(select(Article.title)).one() == title
        channel = s.exec(select(Channel)).one()
    assert channel.settings == {"quiet": [23, 7]}
    assert channel.chat_id == -1009999999999


async def test_run_does_not_block_the_event_loop(db: Database) -> None:
    """Database work runs on worker threads: the loop keeps serving other tasks meanwhile."""

    def slow_query(session: object) -> int:
        threading.Event().wait(0.2)
        return 1

    import asyncio

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    assert await db.run(slow_query) == 1
    task.cancel()
    assert ticks >= 5
