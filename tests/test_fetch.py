"""Fetcher and SSRF guard, against a real loopback HTTP server (tests/support/feedserver.py).

Most tests run the fetcher with ``allow_private=True`` because the server lives on 127.0.0.1;
guard tests use ``allow_private=False`` and, where a first hop must reach the test server,
``allow_hosts={"127.0.0.1"}`` (exempts that host only — not where it redirects to).
"""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import logging
import socket
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Callable, Iterator

import brotli  # type: ignore[import-untyped]
import httpx
import pytest
from aiohttp import web

from bot.ingest.fetch import (
    FEED_ACCEPT,
    PAGE_ACCEPT,
    Fetcher,
    FetchLimits,
    parse_max_age,
    parse_retry_after,
    redact_url,
)
from bot.ingest.netguard import (
    BlockedAddress,
    InvalidFeedURL,
    UnsupportedScheme,
    check_url,
    guarded_transport,
    is_public_address,
    parse_ip_literal,
    resolve_and_check,
)
from tests.support.feedserver import FeedServer, Reply, http_date

RSS = (
    b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Space</title>'
    b"<item><title>Launch</title><link>https://example.org/1</link></item></channel></rss>"
)
MiB = 1024 * 1024


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        yield srv


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    async with Fetcher(allow_private=True) as f:
        yield f


# ----------------------------------------------------------------------------- basics
async def test_ok_body_and_headers(server: FeedServer, fetcher: Fetcher) -> None:
    server.add_feed("/rss", RSS, etag='"v1"', last_modified="Mon, 01 Jan 2024 00:00:00 GMT")
    result = await fetcher.fetch(server.url("/rss"))
    assert result.ok
    assert result.status == 200
    assert result.body == RSS
    assert result.error is None
    assert result.error_kind is None
    assert result.content_type == "application/rss+xml; charset=utf-8"
    assert result.etag == '"v1"'
    assert result.last_modified == "Mon, 01 Jan 2024 00:00:00 GMT"
    assert result.final_url == result.url == server.url("/rss")
    assert result.permanent_redirect is None
    assert result.elapsed > 0
    seen = server.last_request("/rss").headers
    assert seen["User-Agent"].startswith("orbitwire/")
    assert "space-news Telegram bot" in seen["User-Agent"]
    assert seen["Accept"] == FEED_ACCEPT
    assert seen["Accept-Encoding"] == "gzip, deflate, br"
    assert "If-None-Match" not in seen
    assert "If-Modified-Since" not in seen


async def test_conditional_get_returns_304(server: FeedServer, fetcher: Fetcher) -> None:
    server.add_feed("/rss", RSS, etag='"v1"', last_modified="Mon, 01 Jan 2024 00:00:00 GMT")
    first = await fetcher.fetch(server.url("/rss"))
    second = await fetcher.fetch(
        server.url("/rss"), etag=first.etag, last_modified=first.last_modified
    )
    assert second.status == 304
    assert second.not_modified
    assert second.body is None
    assert second.error_kind is None
    assert second.etag == '"v1"'
    seen = server.last_request("/rss").headers
    assert seen["If-None-Match"] == '"v1"'
    assert seen["If-Modified-Since"] == "Mon, 01 Jan 2024 00:00:00 GMT"
    assert server.hits("/rss") == 2


async def test_validators_that_cannot_be_sent_make_an_unconditional_get(
    server: FeedServer, fetcher: Fetcher
) -> None:
    """A server once sent a non-ASCII ETag (we stored it): the next poll must still work."""
    server.add_feed("/rss", RSS, etag='"v1"')
    result = await fetcher.fetch(server.url("/rss"), etag='"café"', last_modified="Mo\r\nX: y")
    assert result.status == 200
    assert result.body is not None
    seen = server.last_request("/rss").headers
    assert "If-None-Match" not in seen
    assert "If-Modified-Since" not in seen
    assert "X" not in seen


async def test_keep_alive_connection_is_reused(server: FeedServer, fetcher: Fetcher) -> None:
    server.add_feed("/a", RSS)
    server.add_redirect("/r", "/a", status=302)
    server.add("/404", b"nope", status=404)
    for path in ("/a", "/r", "/404", "/a"):
        await fetcher.fetch(server.url(path))
    assert len({record.peer for record in server.requests}) == 1


async def test_304_without_validators_keeps_the_sent_ones(
    server: FeedServer, fetcher: Fetcher
) -> None:
    server.add("/bare304", status=304)
    result = await fetcher.fetch(server.url("/bare304"), etag='"e"', last_modified="x")
    assert result.status == 304
    assert (result.etag, result.last_modified) == ('"e"', "x")


async def test_if_modified_since_alone(server: FeedServer, fetcher: Fetcher) -> None:
    server.add_feed("/rss", RSS, last_modified=time.time() - 3600)
    result = await fetcher.fetch(server.url("/rss"), last_modified=http_date())
    assert result.status == 304


async def test_html_page_is_still_returned(server: FeedServer, fetcher: Fetcher) -> None:
    page = b"<!doctype html><html><body>Not a feed</body></html>"
    server.add("/page", page, content_type="text/html; charset=utf-8")
    result = await fetcher.fetch(server.url("/page"))
    assert result.ok
    assert result.body == page
    assert result.content_type == "text/html; charset=utf-8"
    page_result = await fetcher.fetch_page(server.url("/page"))
    assert page_result.body == page
    assert server.last_request("/page").headers["Accept"] == PAGE_ACCEPT


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", lambda b: gzip.compress(b)),
        ("x-gzip", lambda b: gzip.compress(b)),
        ("deflate", lambda b: zlib.compress(b)),  # RFC: zlib-wrapped
        ("deflate", lambda b: zlib.compress(b, wbits=-15)),  # what some servers send: raw
        ("br", lambda b: brotli.compress(b)),
        ("identity", lambda b: b),
    ],
)
async def test_content_encodings_are_decoded(
    server: FeedServer, fetcher: Fetcher, encoding: str, encode: Callable[[bytes], bytes]
) -> None:
    body = RSS * 2000  # ~400 KB decoded: several decode steps
    server.add("/enc", encode(body), headers={"Content-Encoding": encoding})
    result = await fetcher.fetch(server.url("/enc"))
    assert result.ok, result.error
    assert result.body == body


async def test_stacked_encodings(server: FeedServer, fetcher: Fetcher) -> None:
    body = RSS * 100
    server.add(
        "/two", brotli.compress(gzip.compress(body)), headers={"Content-Encoding": "gzip, br"}
    )
    result = await fetcher.fetch(server.url("/two"))
    assert result.body == body


async def test_unknown_or_corrupt_encoding_is_an_error(
    server: FeedServer, fetcher: Fetcher
) -> None:
    server.add("/zstd", b"\x28\xb5\x2f\xfd" + b"x" * 50, headers={"Content-Encoding": "zstd"})
    server.add("/bad", b"definitely not gzip", headers={"Content-Encoding": "gzip"})
    unknown = await fetcher.fetch(server.url("/zstd"))
    corrupt = await fetcher.fetch(server.url("/bad"))
    assert unknown.error_kind == "network"
    assert "zstd" in (unknown.error or "")
    assert corrupt.error_kind == "network"
    assert "gzip" in (corrupt.error or "")
    assert unknown.body is None
    assert corrupt.body is None


# ----------------------------------------------------------------------------- size cap
async def test_gzip_bomb_is_cut_off_with_flat_memory(server: FeedServer) -> None:
    server.add_gzip_bomb("/bomb")  # ~0.5 MB on the wire, 512 MiB decoded
    async with Fetcher(allow_private=True) as fetcher:
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            result = await fetcher.fetch(server.url("/bomb"))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert result.error_kind == "too_large"
    assert result.body is None
    assert result.status is None
    # The cap is 15 MiB of decoded body; we hold at most that plus one 64 KiB step (the server
    # thread's own buffers are traced too). httpx's decoder would have handed over 64 MB+.
    print(f"gzip bomb peak traced memory: {peak / MiB:.1f} MiB")
    assert peak < 24 * MiB


async def test_brotli_bomb_is_cut_off_with_flat_memory(server: FeedServer) -> None:
    server.add_brotli_bomb("/brbomb")  # < 1 KB on the wire, 512 MiB decoded
    limits = FetchLimits(max_bytes=2 * MiB)
    async with Fetcher(allow_private=True, limits=limits) as fetcher:
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            result = await fetcher.fetch(server.url("/brbomb"))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert result.error_kind == "too_large"
    print(f"brotli bomb peak traced memory: {peak / MiB:.1f} MiB")
    assert peak < 8 * MiB


async def test_declared_length_over_cap_is_refused_before_reading(server: FeedServer) -> None:
    server.add("/big", b"x" * (2 * MiB), content_type="application/rss+xml")
    async with Fetcher(allow_private=True, limits=FetchLimits(max_bytes=MiB)) as fetcher:
        result = await fetcher.fetch(server.url("/big"))
    assert result.error_kind == "too_large"
    assert "1048576" in (result.error or "")


async def test_chunked_body_over_cap(server: FeedServer) -> None:
    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            for _ in range(64):
                await response.write(b"y" * 65536)
        except ConnectionError:
            pass
        return response

    server.add_handler("/chunked", chunked)
    async with Fetcher(allow_private=True, limits=FetchLimits(max_bytes=MiB)) as fetcher:
        over = await fetcher.fetch(server.url("/chunked"))
    async with Fetcher(allow_private=True, limits=FetchLimits(max_bytes=4 * MiB)) as fetcher:
        exact = await fetcher.fetch(server.url("/chunked"))
    assert over.error_kind == "too_large"
    assert exact.ok
    assert exact.body is not None
    assert len(exact.body) == 4 * MiB


# ----------------------------------------------------------------------------- deadline
@pytest.mark.parametrize("interval", [0.25, 2.0])
async def test_slow_drip_is_cut_off_at_total_deadline(server: FeedServer, interval: float) -> None:
    # One byte per `interval` s: each read is far below read_timeout (15 s), so only the total
    # deadline can stop it.
    server.add_drip("/drip", interval=interval)
    async with Fetcher(allow_private=True, limits=FetchLimits(total_timeout=1.5)) as fetcher:
        started = time.monotonic()
        result = await fetcher.fetch(server.url("/drip"))
        elapsed = time.monotonic() - started
    assert result.error_kind == "timeout"
    assert "total deadline" in (result.error or "")
    assert result.status is None
    assert result.body is None
    assert 1.4 < elapsed < 3.0


async def test_slow_headers_time_out(server: FeedServer) -> None:
    server.add("/sleepy", RSS, delay=5)
    async with Fetcher(allow_private=True, limits=FetchLimits(total_timeout=0.5)) as fetcher:
        result = await fetcher.fetch(server.url("/sleepy"))
    assert result.error_kind == "timeout"


async def test_queueing_for_a_host_slot_is_not_counted_in_the_deadline(
    server: FeedServer,
) -> None:
    server.add("/slow", RSS, delay=0.6)
    limits = FetchLimits(total_timeout=1.0)
    async with Fetcher(allow_private=True, limits=limits, per_host=1) as fetcher:
        results = await asyncio.gather(*(fetcher.fetch(server.url("/slow")) for _ in range(3)))
    # Serialised by per_host=1: the last one waits 1.2 s in the queue, but every fetch gets its
    # full second once it holds a slot.
    assert [r.status for r in results] == [200, 200, 200]
    assert server.max_in_flight == 1


async def test_per_host_concurrency_bound(server: FeedServer) -> None:
    server.add("/feed", RSS, delay=0.2)
    async with Fetcher(allow_private=True, per_host=2) as fetcher:
        results = await asyncio.gather(*(fetcher.fetch(server.url("/feed")) for _ in range(8)))
    assert all(r.ok for r in results)
    assert server.max_in_flight == 2
    assert fetcher._hosts == {}  # per-host semaphores are dropped when idle


# ----------------------------------------------------------------------------- redirects
async def test_redirect_loop_is_an_error(server: FeedServer) -> None:
    server.add_redirect("/loop-a", "/loop-b")
    server.add_redirect("/loop-b", "/loop-a")
    async with Fetcher(allow_private=True, limits=FetchLimits(max_redirects=5)) as fetcher:
        result = await fetcher.fetch(server.url("/loop-a"))
    assert result.error_kind == "http"
    assert "too many redirects" in (result.error or "")
    assert result.body is None
    assert result.permanent_redirect is None
    assert len(server.requests) <= 6


async def test_301_chain_records_permanent_redirect(server: FeedServer, fetcher: Fetcher) -> None:
    server.add_redirect_chain(["/a", "/b"], "/c", status=301)
    server.add_feed("/c", RSS)
    result = await fetcher.fetch(server.url("/a"))
    assert result.ok
    assert result.final_url == server.url("/c")
    # Every hop was permanent, so the stored URL can jump straight to the end of the chain.
    assert result.permanent_redirect == server.url("/c")


@pytest.mark.parametrize("status", [301, 308])
async def test_permanent_then_temporary(server: FeedServer, fetcher: Fetcher, status: int) -> None:
    server.add_redirect("/p", "/q", status=status)
    server.add_redirect("/q", "/r", status=302)
    server.add_feed("/r", RSS)
    result = await fetcher.fetch(server.url("/p"))
    assert result.final_url == server.url("/r")
    assert result.permanent_redirect == server.url("/q")


@pytest.mark.parametrize("status", [302, 303, 307])
async def test_temporary_redirect_is_not_recorded(
    server: FeedServer, fetcher: Fetcher, status: int
) -> None:
    server.add_redirect("/tmp", "/feed", status=status)
    server.add_redirect("/tmp2", "/feed", status=301)
    server.add_feed("/feed", RSS)
    result = await fetcher.fetch(server.url("/tmp"))
    assert result.ok
    assert result.final_url == server.url("/feed")
    assert result.permanent_redirect is None
    # a temporary first hop followed by a permanent one is not recorded either
    server.add_redirect("/tmp0", "/tmp2", status=status)
    again = await fetcher.fetch(server.url("/tmp0"))
    assert again.ok
    assert again.permanent_redirect is None


async def test_permanent_redirect_to_a_broken_url_is_not_recorded(
    server: FeedServer, fetcher: Fetcher
) -> None:
    server.add_redirect("/moved", "/gone", status=301)
    server.add("/gone", status=410)
    result = await fetcher.fetch(server.url("/moved"))
    assert result.status == 410
    assert result.error_kind == "http"
    assert result.permanent_redirect is None


async def test_relative_location(server: FeedServer, fetcher: Fetcher) -> None:
    server.add_redirect("/dir/old.xml", "new.xml?x=1", status=307)
    server.add_feed("/dir/new.xml", RSS)
    result = await fetcher.fetch(server.url("/dir/old.xml"))
    assert result.ok
    assert result.final_url == server.url("/dir/new.xml?x=1")
    assert server.last_request("/dir/new.xml").query == "x=1"


async def test_conditional_headers_follow_redirects(server: FeedServer, fetcher: Fetcher) -> None:
    server.add_redirect("/r", "/feed", status=302)
    server.add_feed("/feed", RSS, etag='"z"')
    result = await fetcher.fetch(server.url("/r"), etag='"z"')
    assert result.status == 304
    assert server.last_request("/feed").headers["If-None-Match"] == '"z"'


@pytest.mark.parametrize(
    "target", ["file:///etc/passwd", "ftp://example.org/feed", "gopher://example.org/1"]
)
async def test_redirect_to_other_scheme_is_refused(
    server: FeedServer, fetcher: Fetcher, target: str
) -> None:
    server.add_redirect("/esc", target)
    result = await fetcher.fetch(server.url("/esc"))
    assert result.error_kind == "scheme"
    assert result.final_url.split(":")[0] == target.split(":")[0]


# ----------------------------------------------------------------------------- HTTP status
@pytest.mark.parametrize(
    ("status", "text"), [(404, "HTTP 404 Not Found"), (410, "HTTP 410 Gone"), (500, "HTTP 500")]
)
async def test_error_statuses(server: FeedServer, fetcher: Fetcher, status: int, text: str) -> None:
    server.add("/err", b"oops", status=status)
    result = await fetcher.fetch(server.url("/err"))
    assert result.status == status
    assert result.error_kind == "http"
    assert result.body is None
    assert not result.ok
    assert (result.error or "").startswith(text)


async def test_retry_after_seconds(server: FeedServer, fetcher: Fetcher) -> None:
    server.add("/busy", status=429, headers={"Retry-After": "120"})
    result = await fetcher.fetch(server.url("/busy"))
    assert result.status == 429
    assert result.error_kind == "http"
    assert result.retry_after == 120


async def test_retry_after_http_date(server: FeedServer, fetcher: Fetcher) -> None:
    server.add("/maint", status=503, headers={"Retry-After": http_date(time.time() + 300)})
    server.add("/past", status=503, headers={"Retry-After": http_date(time.time() - 300)})
    result = await fetcher.fetch(server.url("/maint"))
    past = await fetcher.fetch(server.url("/past"))
    assert result.retry_after is not None
    assert 290 <= result.retry_after <= 301
    assert past.retry_after == 0


async def test_cache_control_max_age(server: FeedServer, fetcher: Fetcher) -> None:
    server.add("/cached", RSS, headers={"Cache-Control": "public, max-age=600"})
    result = await fetcher.fetch(server.url("/cached"))
    assert result.ok
    assert result.max_age == 600


async def test_sequence_500_500_200(server: FeedServer, fetcher: Fetcher) -> None:
    server.add_sequence("/flaky", [500, Reply(503, headers={"Retry-After": "5"}), RSS])
    results = [await fetcher.fetch(server.url("/flaky")) for _ in range(4)]
    assert [r.status for r in results] == [500, 503, 200, 200]
    assert results[1].retry_after == 5


def test_header_parsers() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after("0") == 0
    assert parse_retry_after(" 42 ") == 42
    assert parse_retry_after(http_date(now + 60), now=now) == pytest.approx(60)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-5") is None
    assert parse_retry_after(None) is None
    assert parse_max_age("no-cache, max-age=0") == 0
    assert parse_max_age("s-maxage=10, max-age=20") == 20
    assert parse_max_age('max-age="30"') == 30
    assert parse_max_age("no-store") is None


# ----------------------------------------------------------------------------- network errors
async def test_connection_refused_is_network_error(fetcher: Fetcher) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = await fetcher.fetch(f"http://127.0.0.1:{port}/feed")
    assert result.error_kind == "network"
    assert result.status is None


async def test_dns_failure_is_network_error(fake_dns: Callable[..., None]) -> None:
    fake_dns({"no-such-feed.example": []})
    async with Fetcher() as fetcher:
        result = await fetcher.fetch("http://no-such-feed.example/rss")
    assert result.error_kind == "network"
    assert "DNS" in (result.error or "")


async def test_secrets_are_not_logged(
    server: FeedServer, fetcher: Fetcher, caplog: pytest.LogCaptureFixture
) -> None:
    server.add_redirect("/r", "/feed?api_key=SECRET2")
    server.add_feed("/feed", RSS)
    with caplog.at_level(logging.DEBUG, logger="bot.ingest"):
        await fetcher.fetch(server.url("/r?token=SECRET1"))
        refused = await fetcher.fetch("https://user:SECRET3@example.org/feed")
    assert refused.error_kind == "blocked"
    assert "SECRET3" not in (refused.error or "")
    assert caplog.records
    assert "SECRET" not in caplog.text
    assert redact_url("https://u:p@h.example:8443/a/b?k=v") == "https://h.example:8443/a/b?…"


# ----------------------------------------------------------------------------- guard: fetch
async def test_guard_blocks_loopback_literal(server: FeedServer) -> None:
    server.add_feed("/feed", RSS)
    async with Fetcher(allow_private=False) as fetcher:
        result = await fetcher.fetch(server.url("/feed"))
    assert result.error_kind == "blocked"
    assert result.error == (
        "refused: feed host '127.0.0.1' resolves to 127.0.0.1, a loopback/private address"
    )
    assert server.hits("/feed") == 0


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "LOCALHOST.",
        "feeds.localhost",
        "2130706433",
        "0x7f000001",
        "0177.0.0.1",
        "127.1",
        "0",
        "0.0.0.0",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "169.254.169.254",
        "10.0.0.1",
        "[fd00::1]",
    ],
)
async def test_guard_blocks_local_forms(server: FeedServer, host: str) -> None:
    server.add_feed("/feed", RSS)
    async with Fetcher(allow_private=False) as fetcher:
        result = await fetcher.fetch(f"http://{host}:{server.port}/feed")
    if host == "0177.0.0.1":  # httpx itself rejects leading-zero dotted quads as malformed
        assert result.error_kind in ("blocked", "scheme"), result.error
    else:
        assert result.error_kind == "blocked", result.error
    assert server.hits("/feed") == 0


async def test_guard_blocks_name_resolving_to_loopback(
    server: FeedServer, fake_dns: Callable[..., None]
) -> None:
    server.add_feed("/feed", RSS)
    fake_dns({"feeds.example.com": ["127.0.0.1"], "mixed.example.com": ["8.8.8.8", "10.1.2.3"]})
    async with Fetcher(allow_private=False) as fetcher:
        result = await fetcher.fetch(f"http://feeds.example.com:{server.port}/feed")
        mixed = await fetcher.fetch(f"http://mixed.example.com:{server.port}/feed")
    assert result.error_kind == "blocked"
    assert "'feeds.example.com' resolves to 127.0.0.1" in (result.error or "")
    assert mixed.error_kind == "blocked"
    assert "10.1.2.3" in (mixed.error or "")
    assert server.hits("/feed") == 0


async def test_redirect_to_metadata_endpoint_is_blocked(server: FeedServer) -> None:
    server.add_redirect("/feed", "http://169.254.169.254/latest/meta-data")
    async with Fetcher(allow_private=False, allow_hosts={"127.0.0.1"}) as fetcher:
        result = await fetcher.fetch(server.url("/feed"))
    assert server.hits("/feed") == 1  # the first hop was allowed...
    assert result.error_kind == "blocked"  # ...its target was not
    assert "169.254.169.254" in (result.error or "")
    assert result.final_url == "http://169.254.169.254/latest/meta-data"


async def test_redirect_to_rebinding_name_is_blocked_at_connect(
    server: FeedServer, fake_dns: Callable[..., None]
) -> None:
    # check_url() cannot know where a *name* points; the transport resolves and refuses it.
    fake_dns({"rebind.example.net": ["127.0.0.1"]})
    server.add_redirect("/feed", f"http://rebind.example.net:{server.port}/secret")
    server.add("/secret", b"internal")
    async with Fetcher(allow_private=False, allow_hosts={"127.0.0.1"}) as fetcher:
        allowed = await fetcher.fetch(server.url("/secret"))
        result = await fetcher.fetch(server.url("/feed"))
    assert allowed.ok  # allow_hosts really exempts 127.0.0.1...
    assert result.error_kind == "blocked"  # ...but not a name that resolves to it
    assert server.hits("/secret") == 1


async def test_transport_checks_the_connected_address(
    server: FeedServer, fake_dns: Callable[..., None]
) -> None:
    """Without the fetcher's per-hop URL check, the transport alone still refuses."""
    server.add("/x", b"internal")
    fake_dns({"public-looking.example": ["127.0.0.1"], "ok.example": ["127.0.0.1"]})
    transport = guarded_transport(allow_private=False, allow_hosts={"ok.example"})
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(BlockedAddress):
            await client.get(f"http://public-looking.example:{server.port}/x")
        response = await client.get(f"http://ok.example:{server.port}/x")
    assert response.content == b"internal"
    assert server.hits("/x") == 1


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.org/feed.xml", "gopher://example.org/1"]
)
async def test_non_http_schemes(url: str) -> None:
    async with Fetcher() as fetcher:
        result = await fetcher.fetch(url)
    assert result.error_kind == "scheme"
    assert result.status is None


# ----------------------------------------------------------------------------- guard: units
@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("1.1.1.1", True),
        ("2001:4860:4860::8888", True),
        ("2606:4700:4700::1111", True),
        ("2002:0808:0808::1", True),  # 6to4 embedding 8.8.8.8
        ("127.0.0.1", False),
        ("127.255.255.254", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("172.31.255.255", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),  # CGNAT
        ("100.127.255.255", False),
        ("0.0.0.0", False),
        ("0.1.2.3", False),
        ("255.255.255.255", False),
        ("224.0.0.251", False),
        ("239.255.255.250", False),
        ("240.0.0.1", False),
        ("192.0.0.8", False),
        ("192.0.0.9", False),
        ("192.0.2.1", False),
        ("198.51.100.7", False),
        ("203.0.113.9", False),
        ("198.18.0.1", False),
        ("198.19.255.255", False),
        ("::", False),
        ("::1", False),
        ("fe80::1", False),
        ("fe80::1%1", False),
        ("fc00::1", False),
        ("fd12:3456::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:8.8.8.8", False),  # mapped is refused even when the embedded v4 is public
        ("::127.0.0.1", False),  # deprecated IPv4-compatible
        ("64:ff9b::7f00:1", False),  # NAT64 → 127.0.0.1
        ("64:ff9b::808:808", False),  # NAT64 → 8.8.8.8: still refused (gateway decides)
        ("64:ff9b:1::a00:1", False),
        ("2002:7f00:0001::1", False),  # 6to4 embedding 127.0.0.1
        ("2002:c0a8:0101::1", False),  # 6to4 embedding 192.168.1.1
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo
        ("2001:db8::1", False),
        ("3fff::1", False),
        ("100::1", False),
        ("fec0::1", False),
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0X7F.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("192.168.257", "192.168.1.1"),
        ("1.2.3.4", "1.2.3.4"),
        ("[::1]", "::1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("example.com", None),
        ("256.1.1.1", None),
        ("1.2.3.4.5", None),
        ("08.1.1.1", None),
        ("4294967296", None),
        ("1e3", None),
    ],
)
def test_parse_ip_literal(text: str, expected: str | None) -> None:
    parsed = parse_ip_literal(text)
    assert (str(parsed) if parsed is not None else None) == expected


def test_check_url() -> None:
    check_url("https://www.nasa.gov/rss/dyn/breaking_news.rss", allow_private=False)
    check_url("http://8.8.8.8:8080/feed", allow_private=False)
    check_url("http://127.0.0.1:8080/feed", allow_private=True)
    check_url("http://127.0.0.1:8080/feed", allow_private=False, allow_hosts={"127.0.0.1"})
    for scheme_url in ("file:///etc/passwd", "ftp://h/f", "gopher://h/1", "javascript:alert(1)"):
        with pytest.raises(UnsupportedScheme):
            check_url(scheme_url, allow_private=False)
    with pytest.raises(InvalidFeedURL, match="credentials") as creds:
        check_url("https://bob:hunter2@example.org/feed", allow_private=False)
    assert "hunter2" not in str(creds.value)
    with pytest.raises(InvalidFeedURL, match="port 25"):
        check_url("http://example.org:25/feed", allow_private=False)
    with pytest.raises(InvalidFeedURL):
        check_url("http:///feed", allow_private=False)
    for blocked in ("http://localhost/x", "http://2130706433/", "http://[::1]/", "http://10.1/"):
        with pytest.raises(BlockedAddress):
            check_url(blocked, allow_private=False)
    assert issubclass(BlockedAddress, ValueError)


async def test_resolve_and_check(fake_dns: Callable[..., None]) -> None:
    fake_dns(
        {
            "public.example": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
            "private.example": ["192.168.0.10"],
        }
    )
    assert await resolve_and_check("public.example", 443, allow_private=False) == [
        "93.184.215.14",
        "2606:2800:21f:cb07:6820:80da:af6b:8b2c",
    ]
    with pytest.raises(BlockedAddress) as info:
        await resolve_and_check("private.example", 443, allow_private=False)
    assert info.value.ip == "192.168.0.10"
    assert await resolve_and_check("private.example", 443, allow_private=True) == ["192.168.0.10"]
    with pytest.raises(BlockedAddress):
        await resolve_and_check("localhost", 80, allow_private=False)  # refused before DNS
