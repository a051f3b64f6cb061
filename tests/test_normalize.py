"""Canonical URLs, identities and content hashes: these values are stored, so pin them."""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bot.ingest import normalize
from bot.ingest.normalize import (
    assign_identities,
    canonical_url,
    clean_text,
    clean_text_pair,
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


# -- stored values: pinned digests and the canonical-URL fast path ----------------------------


def test_identity_and_content_digests_are_pinned() -> None:
    """Digests computed before the hashing was optimised: they are stored, never change them."""
    assert (
        entry_identity(FEED, entry(guid=" abc "))
        == "2f52f5543e1e7018ed91e28f32912b4e8e058487b8a6e5ca5d777f3d01cdfb46"
    )
    assert (
        entry_identity("https://Ünï.example/f?utm_source=x", entry(guid="über-ñ-42"))
        == "0e6e789741a2a110f9800562091d42cd61e2e23ee0cbac986472400bf8e6c600"
    )
    assert (
        entry_identity(FEED, entry(link="https://S.example/a?utm_source=rss&b=%7e"))
        == "7a765496383f6428b6a12ff12683f4ee81fbd7b3f9dc1d03ef01183cb826e6ff"
    )
    assert (
        entry_identity(FEED, entry())
        == "fe969b7aa9a852ead2d2050cb517d6a0c29b3dc051b2f423608f0e4aed32f9f5"
    )
    no_feed = entry(title="Ünïcode  title\u0301", summary=" a\n b ", published=None)
    assert (
        entry_identity("", no_feed)
        == "39049340ba8ea6fb4e00fc8be2c35075950dbb58611a8d03c3e5e06dab77acfe"
    )
    assert (
        content_hash(entry(content="Full text.\n\nSecond para — “quoted”."))
        == "2889453765eae9b1fae3c161123a15d3080c59103c1bffaa75d0fad0724008d4"
    )
    assert (
        content_hash(entry(title="", summary="", content=None))
        == "46a1a37d036de634363bb969baf1b21ef3a85d251f84a5fd5352c0f94b4d7bb2"
    )
    assert (
        content_hash(entry(title="x\ud800y", summary="e\u0301", content="😀"))
        == "577b3f702cc29515217e7faef1b482f49e200908f6b1ed9e7c970ab39f10c2fa"
    )
    entries = [
        entry(guid="g", title="One"),
        entry(guid="g", title="Two"),
        entry(guid="h", link="https://s.example/1"),
        entry(guid="h", link="https://s.example/2"),
        entry(guid="u", link="https://s.example/3"),
    ]
    assert [i for i, _ in assign_identities(FEED, entries)] == [
        "883afad01d11e46e820f322b5142e41483e843106a98f79462afc3c1c3563664",
        "dd5b049e8c19e3628abb47e87eda09182c14864c2cc43923322631b32415484b",
        "5529645addfd902875772e5256052f9db7646696e35e6d19e831d1e0fdda8a44",
        "3d312a0e85f82050993768a3f402dd1e86290979ca4e8354209ea41888e918c8",
        "07d046bc4b2683c5e0c241d1c03b2ab1ba5e746fb8705630b1311bafb4cdc283",
    ]


def _fuzzed_urls(n: int) -> list[str]:
    """URLs near the fast path's edges: odd characters, ports, cases, escapes, fragments."""
    rng = random.Random(20231106)
    safe = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.~/:@!$&'()*+,;=-"
    odd = '%[] \t\n\x00\x7f"<>\\^`{|}éЖ\u3000?#'
    hosts = ["site3.example", "www.bbc.co.uk", "a.substack.com", "127.0.0.1", "Host.Example"]
    hosts += ["a..b", "a.b.", ".a", "-", "bücher.example", "h:80", "h:443", "h:8080", "u@h"]
    hosts += ["[::1]", "h:", "x"]
    params = ["utm_source=rss", "UTM_x=1", "fbclid=z", "ref", "REF=2", "a=1", "b=", "", "=x"]
    params += ["c=d=e", "wt.mc_id=1", "pk_x=1", "x?y=1", "spm", "%75tm_source=1", "a=%7e"]

    def near(k: int) -> str:
        return "".join(
            rng.choice(safe) if rng.random() > 0.04 else rng.choice(odd) for _ in range(k)
        )

    urls = []
    for _ in range(n):
        scheme = rng.choice(["http", "https", "https", "HTTP", "ftp"])
        path = near(rng.randint(0, 16))
        if path and rng.random() < 0.9:
            path = "/" + path
        query = ""
        if rng.random() < 0.7:
            query = "?" + "&".join(rng.choice(params) for _ in range(rng.randint(0, 4)))
        frag = "#" + near(rng.randint(0, 5)) if rng.random() < 0.3 else ""
        urls.append(f"{scheme}://{rng.choice(hosts)}{path}{query}{frag}")
    return urls


def test_canonical_url_fast_path_matches_the_general_implementation() -> None:
    urls = _fuzzed_urls(4000)
    urls += [
        "https://s.example",
        "https://s.example?",
        "https://s.example/?&&",
        "https://s.example#x",
        "https://s.example/a?utm_source=1#f?g",
        "https://s.example/a?b=1?c=2&UTM_Medium=x",
        "https://s.example/a?Ref=1&_ga=2&x=3",
    ]
    fast = 0
    for url in urls:
        stripped = url.strip()
        fast += normalize._SIMPLE_URL_RE.fullmatch(stripped) is not None
        assert canonical_url(url) == normalize._canonical_url_general(stripped), url
    assert fast > 500  # the corpus does exercise the fast path


def test_site_of_fast_path_matches_urlsplit() -> None:
    for url in _fuzzed_urls(4000):
        try:
            host = urlsplit(url.strip()).hostname or ""
        except ValueError:
            assert site_of(url) == ""
            continue
        assert site_of(url) == normalize._site_of_host(host), url


# -- fast paths of the text helpers: same results as the straightforward passes ---------------


def _reference_clean_text(s: str, max_len: int, *, keep_paragraphs: bool = False) -> str:
    """clean_text as first written (regex passes), to pin the optimised version against."""
    if not s or max_len <= 0:
        return ""
    if len(s) > max_len * 4 + 1024:
        s = s[: max_len * 4 + 1024]
    s = re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]", "", s)
    s = unicodedata.normalize("NFC", s)
    if keep_paragraphs:
        s = s.replace("\r\n", "\n").replace("\r", "\n")
        s = re.sub(r"[^\S\n]+", " ", s)
        s = "\n".join(line.strip() for line in s.split("\n"))
        s = re.sub(r"\n\s*\n\s*", "\n\n", s).strip()
    else:
        s = re.sub(r"\s+", " ", s).strip()
    return normalize._cap(s, max_len)


def _texts(n: int, seed: int) -> list[str]:
    """Short texts mixing words with every kind of whitespace, controls and combining marks."""
    rng = random.Random(seed)
    words = ["w", "word", "Ab", "é", "—", "e\u0301", "\u0301", "x\x07y", "\ufffe"]
    seps = [" "] * 12 + ["\n"] * 3 + ["\n\n", "\n\n\n", "\xa0", " \xa0", "  ", " \n", "\n "]
    seps += ["\n \n", "\t", "\r\n", "\r", "\u3000", "\u2028", "\x85", "\x0b", "\x00", "\x1c"]
    out = []
    for _ in range(n):
        parts = [rng.choice(["", "", " ", "\n", "\xa0", "\t"])]
        for _ in range(rng.randint(0, 12)):
            parts.append(rng.choice(words[:5]) if rng.random() < 0.9 else rng.choice(words))
            parts.append(rng.choice(seps[:15]) if rng.random() < 0.85 else rng.choice(seps))
        out.append("".join(parts))
    return out


def test_clean_text_matches_the_regex_passes() -> None:
    for i, s in enumerate(_texts(3000, 1)):
        max_len = (1, 5, 20, 4000)[i % 4]
        assert clean_text(s, max_len) == _reference_clean_text(s, max_len), repr(s)
        assert clean_text(s, max_len, keep_paragraphs=True) == _reference_clean_text(
            s, max_len, keep_paragraphs=True
        ), repr(s)


def test_clean_text_pair_is_both_clean_texts() -> None:
    tidy = 0
    for i, s in enumerate(_texts(3000, 2)):
        short, long = (1, 5, 20, 4000)[i % 4], (3, 30, 100_000)[i % 3]
        assert clean_text_pair(s, short, long) == (
            clean_text(s, short),
            clean_text(s, long, keep_paragraphs=True),
        ), repr(s)
        tidy += normalize._tidy_forms(s) is not None if s else 0
    assert tidy > 300  # the corpus does exercise the shortcut
    assert clean_text_pair(None, 10, 10) == ("", "")
    assert clean_text_pair("a " * 3000, 10, 100) == (
        clean_text("a " * 3000, 10),
        clean_text("a " * 3000, 100, keep_paragraphs=True),
    )


def test_untidy_chars_are_the_controls_and_all_whitespace_but_space_and_newline() -> None:
    bmp = [chr(c) for c in range(0x10000)]
    expected = {
        ch
        for ch in bmp
        if normalize._CONTROL_RE.fullmatch(ch) or (ch.isspace() and ch not in " \n")
    }
    assert {ch for ch in bmp if normalize._UNTIDY_CHAR_RE.fullmatch(ch)} == expected
    astral = "".join(map(chr, range(0x10000, 0x110000)))
    assert normalize._UNTIDY_CHAR_RE.search(astral) is None
    assert not any(chr(c).isspace() for c in range(0x10000, 0x110000))


def test_norm_is_nfc_split_join() -> None:
    for s in _texts(3000, 3):
        assert normalize._norm(s) == " ".join(unicodedata.normalize("NFC", s).split()), repr(s)
