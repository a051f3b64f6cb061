"""The whole ingestion pipeline against feeds served from loopback, on both databases."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from bot.ingest.fetch import Fetcher, FetchLimits
from bot.ingest.fulltext import Extracted, extract_article
from bot.ingest.parse import parse_feed
from bot.ingest.policy import PollPolicy
from bot.ingest.pool import ParserPool
from bot.ingest.types import ParsedFeed
from bot.ingest.updater import Updater, UpdaterConfig
from bot.knowledge.service import Knowledge
from storage.articles import count_articles
from storage.db import Database
from storage.feeds import add_feed
from storage.models import Article, ArticleMission, Event, Feed, Mission, PartnerFact
from tests.support.feedgen import feed_of, item, rss
from tests.support.feedserver import FeedServer, Reply


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        yield srv


@pytest.fixture
async def pool() -> AsyncIterator[ParserPool]:
    async with ParserPool(max_workers=1) as parser_pool:
        yield parser_pool


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    async with Fetcher(allow_private=True, limits=FetchLimits(total_timeout=3.0)) as f:
        yield f


CONFIG = UpdaterConfig(
    policy=PollPolicy(interval=timedelta(minutes=15)), backfill=100, max_new_per_fetch=100
)


def make_updater(db: Database, fetcher: Fetcher, pool: ParserPool, **kw: object) -> Updater:
    config = dataclasses.replace(CONFIG, **kw)  # type: ignore[arg-type]
    return Updater(db, fetcher, pool, config)


def feed_row(db: Database, feed_id: int) -> Feed:
    with db.session() as s:
        feed = s.get(Feed, feed_id)
        assert feed is not None
        return feed


def add(db: Database, url: str) -> int:
    feed = db.call(add_feed, url)
    assert feed.id is not None
    return feed.id


async def test_second_pass_stores_nothing_new(
    db: Database, server: FeedServer, fetcher: Fetcher, pool: ParserPool
) -> None:
    server.add_feed("/etag.xml", feed_of(30, site="a.example"), etag='"v1"')
    server.add("/plain.xml", feed_of(20, site="b.example"), content_type="application/rss+xml")
    add(db, server.url("/etag.xml"))
    add(db, server.url("/plain.xml"))
    updater = make_updater(db, fetcher, pool)

    first = await updater.run_pass(include_all=True)
    assert first.new == 50
    assert db.call(count_articles) == 50

    second = await updater.run_pass(include_all=True)
    assert second.new == 0
    assert second.updated == 0
    assert db.call(count_articles) == 50
    results = {o.url.rsplit("/", 1)[-1]: o.result for o in second.outcomes}
    assert results == {"etag.xml": "not_modified", "plain.xml": "ok"}
    assert server.last_request("/etag.xml").headers["if-none-match"] == '"v1"'


async def test_a_304_is_recorded_and_rescheduled(
    db: Database, server: FeedServer, fetcher: Fetcher, pool: ParserPool
) -> None:
    server.add_feed("/etag.xml", feed_of(3, site="a.example"), etag='"v1"')
    feed_id = add(db, server.url("/etag.xml"))
    updater = make_updater(db, fetcher, pool)
    await updater.run_pass(include_all=True)
    with db.session() as s:  # as if the last poll had failed: a 304 must clear that
        feed = s.get(Feed, feed_id)
        assert feed is not None
        feed.error_count, feed.last_error, feed.last_status = 2, "HTTP 503", 503
        feed.next_check_at = None
        s.add(feed)
    before = datetime.now(UTC)
    report = await updater.run_pass(include_all=True)
    assert [o.result for o in report.outcomes] == ["not_modified"]
    feed = feed_row(db, feed_id)
    assert (feed.last_status, feed.error_count, feed.last_error) == (304, 0, None)
    assert feed.etag == '"v1"'  # validators kept for the next poll
    assert feed.last_success_at is not None
    assert feed.last_success_at >= before - timedelta(seconds=1)
    assert feed.next_check_at is not None
    assert timedelta(minutes=10) < feed.next_check_at - before <= timedelta(minutes=20)


async def test_a_broken_feed_never_stops_the_others(
    db: Database, server: FeedServer, fetcher: Fetcher, pool: ParserPool
) -> None:
    server.add(
        "/page.html",
        b"<html><body><h1>Just a moment...</h1></body></html>",
        content_type="text/html",
    )
    server.add("/gone.xml", status=410)
    server.add("/boom.xml", status=500)
    server.add_gzip_bomb("/bomb.xml")
    server.add_drip("/drip.xml", interval=1.0)
    server.add("/good.xml", feed_of(5, site="good.example"))
    for path in ("/page.html", "/gone.xml", "/boom.xml", "/bomb.xml", "/drip.xml", "/good.xml"):
        add(db, server.url(path))
    report = await make_updater(db, fetcher, pool).run_pass(include_all=True)
    by_path = {o.url.rsplit("/", 1)[-1]: o for o in report.outcomes}
    assert by_path["good.xml"].new == 5
    assert by_path["page.html"].result == "error"
    assert "not a usable feed" in (by_path["page.html"].error or "")
    assert by_path["gone.xml"].result == "disabled"
    assert by_path["boom.xml"].result == "error"
    assert by_path["bomb.xml"].result == "error"
    assert by_path["drip.xml"].result == "error"
    assert db.call(count_articles) == 5


async def test_gone_feed_is_disabled_and_admins_get_an_event(
    db: Database, server: FeedServer, fetcher: Fetcher, pool: ParserPool
) -> None:
    server.add("/gone.xml", status=410)
    feed_id = add(db, server.url("/gone.xml"))
    await make_updater(db, fetcher, pool).run_pass(include_all=True)
    feed = feed_row(db, feed_id)
    assert not feed.enabled
    assert "410" in (feed.disabled_reason or "")
    with db.session() as s:
        events = s.exec(select(Event).where(Event.kind == "feed_disabled")).all()
    assert len(events) == 1
    assert events[0].notified_at is None  # waiting for the notifier
    again = await make_updater(db, fetcher, pool).run_pass(include_all=True)
    assert again.outcomes == []  # disabled feeds are not fetched


async def test_errors_back_off_and_recover(
    db: Database, server: FeedServer, fetcher: Fetcher, pool: ParserPool
) -> None:
    server.add_sequence("/flaky.xml", [500, 503, Reply(body=feed_of(3))])
    feed_id = add(db, server.url("/flaky.xml"))
    updater = make_updater(db, fetcher, pool)
    delays = []
    for _ in range(2):
        before = datetime.now(UTC)
        await updater.run_pass(include_all=True)
        feed = feed_row(db, feed_id)
        assert feed.next_check_at is not None
        delays.append(feed.next_check_at - before)
    assert feed_row(db, feed_id).error_count == 2
    assert delays[1] > delays[0]  # exponential backoff
    assert delays[1] <= timedelta(days=1)
    await updater.run_pass(include_all=True)
    feed = feed_row(db, feed_id)
    assert feed.error_count == 0
    assert feed.last_error is None
    assert db.call(count_articles) == 3


async def test_retry_after_and_cache_control_are_honoured(
    db: Database, server: FeedServer, fetcher: Fetcher, pool: ParserPool
) -> None:
    server.add("/busy.xml", status=429, headers={"Retry-After": "7200"})
    server.add(
        "/cached.xml",
        feed_of(2),
        headers={"Cache-Control": "max-age=3600"},
        content_type="application/rss+xml",
    )
    busy = add(db, server.url("/busy.xml"))
    cached = add(db, server.url("/cached.xml"))
    now = datetime.now(UTC)
    await make_updater(db, fetcher, pool).run_pass(include_all=True)
    busy_next = feed_row(db, busy).next_check_at
    cached_next = feed_row(db, cached).next_check_at
    assert busy_next is not None
    assert busy_next >= now + timedelta(hours=2) - timedelta(seconds=5)
    assert cached_next is not None
    assert cached_next >= now + timedelta(minutes=54)
    # the schedule lives in the database: a fresh updater (a restart) sees nothing due
    assert (await make_updater(db, fetcher, pool).run_pass()).outcomes == []


async def test_edited_items_update_and_churning_ids_cannot_flood(
    db: Database, server: FeedServer, fetcher: Fetcher, pool: ParserPool
) -> None:
    base = [item(i, site="edit.example") for i in range(5)]
    edited = [*base[:4], item(4, site="edit.example", title="Correction: JUICE flyby moved")]
    churn = [
        [item(i, site="churn.example", guid=f"run{r}-{i}", link=None) for i in range(60)]
        for r in range(3)
    ]
    server.add_sequence("/edit.xml", [rss(base), rss(edited)])
    server.add_sequence("/churn.xml", [rss(c) for c in churn])
    add(db, server.url("/edit.xml"))
    add(db, server.url("/churn.xml"))
    updater = make_updater(db, fetcher, pool, backfill=10, max_new_per_fetch=25)
    first = await updater.run_pass(include_all=True)
    by_path = {o.url.rsplit("/", 1)[-1]: o for o in first.outcomes}
    assert by_path["edit.xml"].new == 5
    assert by_path["churn.xml"].new == 10  # first fetch: only the newest `backfill`
    second = await updater.run_pass(include_all=True)
    by_path = {o.url.rsplit("/", 1)[-1]: o for o in second.outcomes}
    assert by_path["edit.xml"].new == 0
    assert by_path["edit.xml"].updated == 1
    assert by_path["churn.xml"].new == 25  # capped, although all 60 ids are "new"
    with db.session() as s:
        titles = set(s.exec(select(Article.title)).all())
    assert "Correction: JUICE flyby moved" in titles


async def test_items_sharing_one_guid_stay_distinct(
    db: Database, server: FeedServer, fetcher: Fetcher, pool: ParserPool
) -> None:
    items = [item(i, site="same.example", guid="same-guid-for-all") for i in range(4)]
    server.add("/same.xml", rss(items))
    add(db, server.url("/same.xml"))
    report = await make_updater(db, fetcher, pool).run_pass(include_all=True)
    assert report.new == 4


async def test_permanent_redirect_moves_the_feed_after_confirmations(
    db: Database, server: FeedServer, fetcher: Fetcher, pool: ParserPool
) -> None:
    server.add("/new.xml", feed_of(2))
    server.add_redirect("/old.xml", "/new.xml", status=301)
    server.add_redirect("/temp.xml", "/new.xml", status=302)
    moved = add(db, server.url("/old.xml"))
    temp = add(db, server.url("/temp.xml"))
    updater = make_updater(db, fetcher, pool)
    for _ in range(2):
        await updater.run_pass(include_all=True)
        assert feed_row(db, moved).url == server.url("/old.xml")
    await updater.run_pass(include_all=True)
    assert feed_row(db, moved).url == server.url("/new.xml")
    assert feed_row(db, temp).url == server.url("/temp.xml")  # 302 never moves a feed


async def test_feed_metadata_and_article_fields(
    db: Database, server: FeedServer, fetcher: Fetcher, pool: ParserPool
) -> None:
    story = item(
        1,
        site="spacenews.example",
        image="https://spacenews.example/img.jpg",
        title="AT&T-sized news: Chang'e-7 & “friends”",
    )
    server.add("/feed.xml", rss([story], title="SpaceNews Example"))
    feed_id = add(db, server.url("/feed.xml"))
    await make_updater(db, fetcher, pool).run_pass(include_all=True)
    assert feed_row(db, feed_id).title == "SpaceNews Example"
    with db.session() as s:
        article = s.exec(select(Article)).one()
    assert article.title == "AT&T-sized news: Chang'e-7 & “friends”"
    assert article.canonical_url == "https://spacenews.example/00001/story"
    assert article.url.endswith("utm_source=rss")
    assert article.source_site == "spacenews.example"
    assert article.image_url == "https://spacenews.example/img.jpg"
    assert article.published_at == story.published


ARTICLE_PAGE = """<!doctype html><html><head><title>Hera reaches Didymos</title>
<meta property="og:image" content="https://img.example/hera.jpg"></head><body>
<nav>Home · News · Subscribe</nav>
<article><h1>Hera reaches Didymos</h1>
<p>ESA's Hera spacecraft has arrived at the binary asteroid Didymos after a two-year cruise,
to survey the crater left by NASA's DART impact in 2022.</p>
<p>The spacecraft carries two CubeSats, Milani and Juventas, which will be released in the
coming weeks to study the moonlet Dimorphos up close with radar and spectral cameras.</p>
<p>Mission scientists expect the first close-range images of the impact site within a month,
and a full mass estimate of Dimorphos before the end of the year.</p>
</article><footer>© Example News. All rights reserved.</footer></body></html>"""


async def test_full_text_feeds_get_the_article_body(
    db: Database, server: FeedServer, fetcher: Fetcher, pool: ParserPool
) -> None:
    page_url = server.url("/2026/hera.html")
    broken_url = server.url("/2026/broken.html")
    items = [
        item(1, site="esa.example", link=page_url, summary="Hera arrives."),
        item(2, site="esa.example", link=broken_url, summary="Short excerpt kept."),
    ]
    server.add("/hera.xml", rss(items))
    server.add("/2026/hera.html", ARTICLE_PAGE.encode(), content_type="text/html")
    server.add("/2026/broken.html", status=500)
    with db.session() as s:
        s.add(Feed(url=server.url("/hera.xml"), title="ESA", full_text=True))
    await make_updater(db, fetcher, pool).run_pass(include_all=True)
    with db.session() as s:
        by_summary = {a.summary: a for a in s.exec(select(Article)).all()}
    full = by_summary["Hera arrives."]
    assert full.content is not None
    assert "Milani and Juventas" in full.content
    assert "All rights reserved" not in full.content  # boilerplate left out
    assert full.image_url == "https://img.example/hera.jpg"
    kept = by_summary["Short excerpt kept."]
    # the page failed (HTTP 500): the feed's own excerpt is what the article keeps
    assert (kept.content or kept.summary) == "Short excerpt kept."


# ------------------------------------------------------------------ linking as articles are stored
CHANGE6 = (
    "A Swedish negative ion detector and a French radon detection device will fly on "
    "Chang'e-6. It will also host a Pakistani cubesat."
)


def _links(db: Database) -> dict[str, tuple[set[str], set[str]]]:
    """title → (linked mission slugs, partner countries from article facts)."""
    with db.session() as s:
        rows = s.exec(
            select(Article.id, Article.title, Article.linked_at)  # type: ignore[call-overload]
        ).all()
        out: dict[str, tuple[set[str], set[str]]] = {}
        for article_id, title, linked_at in rows:
            assert linked_at is not None, f"{title!r} was stored without being linked"
            slugs = set(
                s.exec(
                    select(Mission.slug)
                    .join(ArticleMission, col(ArticleMission.mission_id) == col(Mission.id))
                    .where(ArticleMission.article_id == article_id)
                ).all()
            )
            countries = {
                f.country_code or ""
                for f in s.exec(select(PartnerFact).where(PartnerFact.article_id == article_id))
            }
            out[title] = (slugs, countries)
        return out


@pytest.fixture
def knowledge(db: Database) -> Knowledge:
    k = Knowledge()
    k.seed(db)
    return k


async def test_new_and_edited_articles_are_linked_in_the_same_pass(
    db: Database, server: FeedServer, fetcher: Fetcher, knowledge: Knowledge
) -> None:
    story = item(1, site="cnsa.example", title="Chang'e-6 payloads announced", summary=CHANGE6)
    edited = item(
        1,
        site="cnsa.example",
        title="Chang'e-6 payloads announced",
        summary="Tianwen-2 will carry an Italian camera.",
    )
    server.add_sequence("/cnsa.xml", [rss([story]), rss([edited])])
    add(db, server.url("/cnsa.xml"))
    async with ParserPool(max_workers=1, analyser=knowledge.analyser) as pool:
        updater = Updater(db, fetcher, pool, CONFIG, linking=knowledge)
        first = await updater.run_pass(include_all=True)
        assert first.new == 1
        assert first.links.articles == 1
        assert first.links.facts >= 2
        slugs, countries = _links(db)["Chang'e-6 payloads announced"]
        assert "change-6" in slugs
        assert {"SE", "FR", "PK"} <= countries

        second = await updater.run_pass(include_all=True)
    assert second.updated == 1
    slugs, countries = _links(db)["Chang'e-6 payloads announced"]
    # the edit replaced the links and facts: nothing of the old text is left behind
    assert "tianwen-2" in slugs
    assert "IT" in countries
    assert not {"SE", "FR", "PK"} & countries


async def test_documents_not_prepared_in_a_worker_are_linked_in_process(
    db: Database, server: FeedServer, fetcher: Fetcher, knowledge: Knowledge
) -> None:
    """A parser without the prepare step (or without an analyser) still gets linked."""
    server.add("/plain.xml", rss([item(2, site="x.example", summary=CHANGE6)]))
    add(db, server.url("/plain.xml"))

    class InProcessParser:
        async def parse(
            self,
            body: bytes,
            *,
            url: str,
            content_type: str | None,
            max_entries: int,
            feed_url: str | None = None,
            analyse_limit: int | None = None,
        ) -> ParsedFeed:
            return parse_feed(body, url=url, content_type=content_type, max_entries=max_entries)

        async def extract_page(self, body: bytes, url: str) -> Extracted | None:
            return extract_article(body, url)

    report = await Updater(db, fetcher, InProcessParser(), CONFIG, linking=knowledge).run_pass(
        include_all=True
    )
    assert report.new == 1
    [(slugs, countries)] = _links(db).values()
    assert "change-6" in slugs
    assert {"SE", "FR", "PK"} <= countries


async def test_full_text_articles_are_linked_from_the_page_text(
    db: Database, server: FeedServer, fetcher: Fetcher, knowledge: Knowledge
) -> None:
    page_url = server.url("/2026/hera.html")
    server.add("/hera.xml", rss([item(1, site="esa.example", link=page_url, summary="Update.")]))
    server.add("/2026/hera.html", ARTICLE_PAGE.encode(), content_type="text/html")
    with db.session() as s:
        s.add(Feed(url=server.url("/hera.xml"), title="ESA", full_text=True))
    async with ParserPool(max_workers=1, analyser=knowledge.analyser) as pool:
        await Updater(db, fetcher, pool, CONFIG, linking=knowledge).run_pass(include_all=True)
    [(slugs, _countries)] = _links(db).values()
    # "Hera", "Didymos" and DART are only in the page, not in the feed's excerpt
    assert "hera" in slugs


async def test_entries_beyond_the_analysed_ones_are_still_linked(
    db: Database, server: FeedServer, fetcher: Fetcher, knowledge: Knowledge
) -> None:
    """The worker analyses only the newest entries the store may keep; older ones stored
    later (the backfill left them out the first time) are analysed by the store itself."""
    server.add("/six.xml", rss([item(i, site="six.example") for i in range(6)]))
    add(db, server.url("/six.xml"))
    config = dataclasses.replace(CONFIG, backfill=3, max_new_per_fetch=3)
    async with ParserPool(max_workers=1, analyser=knowledge.analyser) as pool:
        updater = Updater(db, fetcher, pool, config, linking=knowledge)
        first = await updater.run_pass(include_all=True)
        second = await updater.run_pass(include_all=True)
    assert (first.new, second.new) == (3, 3)
    assert second.links.articles == 3
    links = _links(db)  # asserts every stored article was linked
    assert len(links) == 6
    # every synthetic story names its mission in the title (Hera/Psyche/SLIM need context)
    assert sum(bool(slugs) for slugs, _c in links.values()) >= 4
