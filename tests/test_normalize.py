"""Canonical URLs, identities and content hashes: these values are stored, so pin them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.ingest.normalize import (
    assign_identities,
    canonical_url,
    clean_text,
    content_hash,
    entry_identity,
    site_of,
)
from bot.ingest.parse import parse_feed
from bot.ingest.types import ParsedEntry

FEED = "https://lazy.example/feed.xml"


def entry(**kw: object) -> ParsedEntry:
    base: dict[str, object] = {
        "guid": None,
        "link": None,
        "title": "Crew Dragon docks with the station",
        "summary": "Docking at 10:02 UTC.",
        "summary_html": None,
        "content": None,
        "author": None,
        "published": datetime(2023, 11, 6, 10, 2, tzinfo=UTC),
        "updated": None,
        "image_url": None,
    }
    base.update(kw)
    return ParsedEntry(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # tracking parameters out, others kept in their original order
        (
            "https://spacenews.example/a?utm_source=rss&b=2&utm_medium=x&a=1",
            "https://spacenews.example/a?b=2&a=1",
        ),
        ("https://s.example/a?fbclid=XYZ&gclid=1&mc_cid=2&mc_eid=3", "https://s.example/a"),
        (
            "https://s.example/a?igshid=1&ref=rss&ref_src=tw&cmpid=9&id=7",
            "https://s.example/a?id=7",
        ),
        ("https://s.example/a?_hsenc=1&_hsmi=2&ocid=3&yclid=4&spm=5", "https://s.example/a"),
        ("https://s.example/a?UTM_Source=x", "https://s.example/a"),
        # fragment, empty query, case of scheme/host (not path), default ports
        ("HTTPS://SpaceNews.Example/Path/To?#frag", "https://spacenews.example/Path/To"),
        ("http://s.example:80/x", "http://s.example/x"),
        ("https://s.example:443/x", "https://s.example/x"),
        ("https://s.example:8443/x", "https://s.example:8443/x"),
        ("https://s.example", "https://s.example/"),
        # http and https stay distinct, // in paths kept
        ("http://s.example/a//b", "http://s.example/a//b"),
        # percent-encoding: unreserved decoded, others upper-cased, raw non-ASCII escaped
        ("https://s.example/%7euser/%2fx", "https://s.example/~user/%2Fx"),
        (
            "https://s.example/ракета?q=луна",
            "https://s.example/%D1%80%D0%B0%D0%BA%D0%B5%D1%82%D0%B0?q=%D0%BB%D1%83%D0%BD%D0%B0",
        ),
        ("https://s.example/a b", "https://s.example/a%20b"),
        # IDNA host
        (
            "https://Космос.пример/новости",
            "https://xn--j1aefbnc.xn--e1afmkfd/%D0%BD%D0%BE%D0%B2%D0%BE%D1%81%D1%82%D0%B8",
        ),
        ("https://bücher.example/", "https://xn--bcher-kva.example/"),
        # not absolute / garbage: returned stripped, never raises
        ("  /relative/path ", "/relative/path"),
        ("http://[::1/", "http://[::1/"),
    ],
)
def test_canonical_url_table(raw: str, expected: str) -> None:
    assert canonical_url(raw) == expected


def test_canonical_url_is_idempotent() -> None:
    for url in ("HTTPS://A.example:443/%7ex?utm_source=1&b=2#f", "https://bücher.example/a b"):
        once = canonical_url(url)
        assert canonical_url(once) == once


@pytest.mark.parametrize(
    ("url", "site"),
    [
        ("https://www.spacenews.com/article/x", "spacenews.com"),
        ("https://spacenews.com", "spacenews.com"),
        ("https://blogs.nasa.gov/artemis/", "nasa.gov"),
        ("https://www.bbc.co.uk/news/science", "bbc.co.uk"),
        ("https://someone.substack.com/p/1", "someone.substack.com"),
        ("http://127.0.0.1:8080/feed", "127.0.0.1"),
        ("not a url", ""),
    ],
)
def test_site_of(url: str, site: str) -> None:
    assert site_of(url) == site


def test_clean_text() -> None:
    assert clean_text("  a\x00b \t\n c\x07 ", 100) == "ab c"
    assert clean_text("e\u0301", 10) == "é"  # NFC
    capped = clean_text("Starship flies again after long pause", 20)
    assert capped == "Starship flies…"
    assert len(capped) <= 20
    assert clean_text("x" * 50, 10) == "x" * 9 + "…"
    assert clean_text("p1\n\n\n p2 \n p3", 100, keep_paragraphs=True) == "p1\n\np2\np3"
    assert clean_text(None, 10) == ""


def test_identity_prefers_guid_scoped_to_feed() -> None:
    e = entry(guid="42", link="https://s.example/a")
    assert entry_identity(FEED, e) == entry_identity(FEED, replace(e, link="https://s.example/b"))
    # the same guid in another feed is another item
    assert entry_identity(FEED, e) != entry_identity("https://other.example/feed", e)


def test_identity_falls_back_to_canonical_link_then_content() -> None:
    a = entry(link="https://s.example/a?utm_source=rss")
    b = entry(link="https://S.example/a#comments", title="Edited title")
    assert entry_identity(FEED, a) == entry_identity(FEED, b)
    c = entry()
    assert entry_identity(FEED, c) == entry_identity(FEED, entry())
    assert entry_identity(FEED, c) != entry_identity(FEED, entry(title="Another"))


def test_identity_is_stable_hex() -> None:
    ident = entry_identity(FEED, entry(guid="abc"))
    assert len(ident) == 64
    assert int(ident, 16) >= 0
    assert ident == entry_identity(FEED, entry(guid="abc"))


def test_same_guid_feed_yields_distinct_identities() -> None:
    body = (Path(__file__).parent / "data" / "feeds" / "same_guid.xml").read_bytes()
    feed = parse_feed(body, url=FEED)
    assigned = assign_identities(FEED, feed.entries)
    # four items, the last an exact duplicate of the first (same guid, same link): dropped
    assert [e.link for _, e in assigned] == [
        "https://lazy.example/a",
        "https://lazy.example/b",
        "https://lazy.example/c",
    ]
    ids = [i for i, _ in assigned]
    assert len(set(ids)) == 3
    # stable across fetches
    assert [i for i, _ in assign_identities(FEED, feed.entries)] == ids


def test_assign_identities_unique_guids_match_entry_identity() -> None:
    entries = [entry(guid="1", link="https://s.example/1"), entry(guid="2")]
    assert [i for i, _ in assign_identities(FEED, entries)] == [
        entry_identity(FEED, e) for e in entries
    ]


def test_shared_guid_same_canonical_link_is_a_duplicate() -> None:
    entries = [
        entry(guid="g", link="https://s.example/", title="One"),
        entry(guid="g", link="https://s.example/?utm_source=x", title="Two"),
    ]
    assert [e.title for _, e in assign_identities(FEED, entries)] == ["One"]


def test_shared_guid_without_links_falls_back_to_content() -> None:
    entries = [entry(guid="g", title="One"), entry(guid="g", title="Two")]
    assigned = assign_identities(FEED, entries)
    assert len({i for i, _ in assigned}) == 2


def test_content_hash_changes_on_edit_only() -> None:
    e = entry(content="Full text.")
    assert content_hash(e) == content_hash(
        replace(e, title="  Crew Dragon docks with the  station ")
    )
    assert content_hash(e) != content_hash(replace(e, summary="Docking at 10:05 UTC."))
    assert content_hash(e) != content_hash(replace(e, content="Full text, updated."))
    # identity does not change when the content is edited
    g = entry(guid="x")
    assert entry_identity(FEED, g) == entry_identity(FEED, replace(g, summary="edited"))
