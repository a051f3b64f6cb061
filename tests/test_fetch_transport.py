"""The fetcher's own network layer: asyncio streams under httpcore, TLS, keep-alive, cookies.

:mod:`bot.ingest.netguard` runs httpcore on plain asyncio transports (not anyio) to keep the
per-request CPU low, so what anyio used to guarantee is tested here against real sockets: TLS
with certificate and host-name verification, a server closing an idle keep-alive connection,
bounded buffering of a fast body nobody reads, and cookies kept across requests and redirect
hops without ``httpx.AsyncClient``.

The TLS server uses a throw-away test CA (below, valid 2000–2100, EC P-256) that issued one
certificate for ``feeds.example`` and ``127.0.0.1``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpcore
import pytest
from aiohttp import web

from bot.ingest.fetch import Fetcher, FetchLimits
from bot.ingest.netguard import _READ_HIGH_WATER, GuardedNetworkBackend
from tests.support.feedserver import FeedServer

TEST_CA = """-----BEGIN CERTIFICATE-----
MIIBbDCCARKgAwIBAgICEAAwCgYIKoZIzj0EAwIwHDEaMBgGA1UEAwwRb3JiaXR3
aXJlIHRlc3QgQ0EwIBcNMDAwMTAxMDAwMDAwWhgPMjEwMDAxMDEwMDAwMDBaMBwx
GjAYBgNVBAMMEW9yYml0d2lyZSB0ZXN0IENBMFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAEzb1kvKjwN1lz/XMzdkk8/22QMIy5EZbK8XDo5Ai18f6Z8iFC905oBM0m
TAUc/Umz46oOq1WUt0/6pEOahbhlKaNCMEAwDwYDVR0TAQH/BAUwAwEB/zAOBgNV
HQ8BAf8EBAMCAQYwHQYDVR0OBBYEFIErOZ2XPdX7mekQeSDrEZvlNA4tMAoGCCqG
SM49BAMCA0gAMEUCIQCs1fo20Y1O1IyzBmrvGouCuZg3Xs93AQYYCQJU1lbzoQIg
XVkh0WON7SRtEiK57l6PURIKObKGQRzxzr06ev6H85w=
-----END CERTIFICATE-----
"""
SERVER_CERT = """-----BEGIN CERTIFICATE-----
MIIBvjCCAWOgAwIBAgICEAEwCgYIKoZIzj0EAwIwHDEaMBgGA1UEAwwRb3JiaXR3
aXJlIHRlc3QgQ0EwIBcNMDAwMTAxMDAwMDAwWhgPMjEwMDAxMDEwMDAwMDBaMBgx
FjAUBgNVBAMMDWZlZWRzLmV4YW1wbGUwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC
AAQmCHNqrroPW4TUzrM61plStruFhZ327sYDoXS9Wvn3ugZsYY+sosT5kn7WPut3
6iQbiA2fAGUQdwCWOaFXW7aKo4GWMIGTMB4GA1UdEQQXMBWCDWZlZWRzLmV4YW1w
bGWHBH8AAAEwDAYDVR0TAQH/BAIwADAOBgNVHQ8BAf8EBAMCB4AwEwYDVR0lBAww
CgYIKwYBBQUHAwEwHwYDVR0jBBgwFoAUgSs5nZc91fuZ6RB5IOsRm+U0Di0wHQYD
VR0OBBYEFGngE7cIZHLKbAazEORWu7Wgec2gMAoGCCqGSM49BAMCA0kAMEYCIQC8
TgFyuoqHQpWvNd4zG8SpslcanK5hJLum78MsdeDVaQIhALwFtvLHhfABAcKikEEh
eJdnEu3J1wamfmEK9eaWlDcW
-----END CERTIFICATE-----
"""
SERVER_KEY = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSx5TYst+7k5m/1an
O+Kb0zuQFcGrsuV81Z0iJP0hlQyhRANCAAQmCHNqrroPW4TUzrM61plStruFhZ32
7sYDoXS9Wvn3ugZsYY+sosT5kn7WPut36iQbiA2fAGUQdwCWOaFXW7aK
-----END PRIVATE KEY-----
"""
BIG = bytes(range(256)) * 8 * 1024  # 2 MiB, not compressible by accident of zeros
RSS = b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title></channel></rss>'


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        yield srv


def client_context() -> ssl.SSLContext:
    return ssl.create_default_context(cadata=TEST_CA)


class TLSServer:
    """aiohttp over TLS on 127.0.0.1, in the test's own loop; records each request's peer."""

    def __init__(self, port: int, peers: list[str]) -> None:
        self.port = port
        self.peers = peers

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"https://{host}:{self.port}{path}"


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[TLSServer]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text(SERVER_CERT)
    key.write_text(SERVER_KEY)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    peers: list[str] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        transport = request.transport
        peer = transport.get_extra_info("peername") if transport else None
        peers.append(f"{peer[0]}:{peer[1]}" if peer else "?")
        if request.path == "/big":
            return web.Response(body=BIG, content_type="application/octet-stream")
        if request.headers.get("If-None-Match") == '"v1"':
            return web.Response(status=304, headers={"ETag": '"v1"'})
        return web.Response(body=RSS, content_type="application/rss+xml", headers={"ETag": '"v1"'})

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)
    await site.start()
    try:
        yield TLSServer(int(runner.addresses[0][1]), peers)
    finally:
        await runner.cleanup()


# ----------------------------------------------------------------------------- TLS
async def test_tls_fetch_verifies_and_reuses_the_connection(tls_server: TLSServer) -> None:
    async with Fetcher(allow_private=True, ssl_context=client_context()) as fetcher:
        first = await fetcher.fetch(tls_server.url("/rss"))
        again = await fetcher.fetch(tls_server.url("/rss"), etag=first.etag)
        big = await fetcher.fetch(tls_server.url("/big"))
    assert (first.status, first.body) == (200, RSS)
    assert again.status == 304
    assert big.body == BIG
    assert len(set(tls_server.peers)) == 1  # one TLS connection for all three


async def test_tls_checks_the_host_name_not_the_address(
    tls_server: TLSServer, fake_dns: Callable[..., None]
) -> None:
    fake_dns({"feeds.example": ["127.0.0.1"], "other.example": ["127.0.0.1"]})
    async with Fetcher(allow_private=True, ssl_context=client_context()) as fetcher:
        named = await fetcher.fetch(tls_server.url("/rss", host="feeds.example"))
        wrong = await fetcher.fetch(tls_server.url("/rss", host="other.example"))
    assert named.body == RSS
    assert wrong.error_kind == "network"
    assert "certificate" in (wrong.error or "").lower()
    assert len(tls_server.peers) == 1  # the mismatched host never got a request


async def test_tls_untrusted_certificate_is_a_network_error(tls_server: TLSServer) -> None:
    async with Fetcher(allow_private=True) as fetcher:  # system CAs: the test CA is unknown
        result = await fetcher.fetch(tls_server.url("/rss"))
    assert result.error_kind == "network"
    assert "certificate verify failed" in (result.error or "")
    assert tls_server.peers == []


async def test_tls_body_cap(tls_server: TLSServer) -> None:
    limits = FetchLimits(max_bytes=512 * 1024)
    async with Fetcher(allow_private=True, limits=limits, ssl_context=client_context()) as f:
        result = await f.fetch(tls_server.url("/big"))
        after = await f.fetch(tls_server.url("/rss"))  # the abandoned connection is not reused
    assert result.error_kind == "too_large"
    assert after.body == RSS


# ----------------------------------------------------------------------------- keep-alive
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def raw_server(handle: Handler | None = None) -> AsyncIterator[int]:
    """A bare TCP server on 127.0.0.1 in the test's loop (yields the port).

    ``handle=None`` accepts and then neither reads nor writes. Every connection is torn down
    on exit, so no socket outlives the test's event loop.
    """
    writers: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        if handle is not None:
            with contextlib.suppress(ConnectionError):
                await handle(reader, writer)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        for writer in writers:
            writer.transport.abort()
        await server.wait_closed()
        await asyncio.sleep(0.01)  # aborted transports close their sockets on the next turn


async def test_idle_connection_closed_by_the_server_is_not_reused() -> None:
    """The server answers with keep-alive, then hangs up: the next fetch opens a new connection.

    Without the EOF showing up in ``is_readable``, httpcore would send the second request on
    the dead connection and fail with "Server disconnected".
    """
    connections = 0
    hung_up = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
            b"Content-Length: %d\r\nConnection: keep-alive\r\n\r\n%s" % (len(RSS), RSS)
        )
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()
        await writer.wait_closed()
        hung_up.set()

    async with raw_server(serve) as port, Fetcher(allow_private=True) as fetcher:
        first = await fetcher.fetch(f"http://127.0.0.1:{port}/a")
        await asyncio.wait_for(hung_up.wait(), 5)
        await asyncio.sleep(0.05)  # a few loop turns: the FIN reaches the client's protocol
        second = await fetcher.fetch(f"http://127.0.0.1:{port}/b")
    assert first.body == RSS
    assert second.body == RSS, second.error
    assert connections == 2


async def test_stream_reports_server_eof_and_addresses(server: FeedServer) -> None:
    backend = GuardedNetworkBackend(allow_private=True)
    stream = await backend.connect_tcp("127.0.0.1", server.port, timeout=5)
    try:
        assert stream.get_extra_info("server_addr") == ("127.0.0.1", server.port)
        assert stream.get_extra_info("client_addr")[0] == "127.0.0.1"
        assert stream.get_extra_info("ssl_object") is None
        assert stream.get_extra_info("is_readable") is False
        await stream.write(b"GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := await stream.read(65536, timeout=5):
            data += chunk
        assert data.startswith(b"HTTP/1.1 404")
        assert stream.get_extra_info("is_readable") is True  # EOF seen
        assert await stream.read(10) == b""
    finally:
        await stream.aclose()


async def test_read_timeout_is_an_httpcore_timeout() -> None:
    backend = GuardedNetworkBackend(allow_private=True)
    async with raw_server() as port:
        stream = await backend.connect_tcp("127.0.0.1", port, timeout=5)
        with pytest.raises(httpcore.ReadTimeout):
            await stream.read(100, timeout=0.05)
        await stream.aclose()


async def test_write_to_a_server_that_does_not_read_times_out() -> None:
    """Flow control on the way out: the write waits for the buffer to drain, within a limit."""
    backend = GuardedNetworkBackend(allow_private=True)
    async with raw_server() as port:
        stream = await backend.connect_tcp("127.0.0.1", port, timeout=5)
        with pytest.raises(httpcore.WriteTimeout):
            await stream.write(bytes(64 * 1024 * 1024), timeout=0.2)
        await stream.aclose()


async def test_unread_data_is_buffered_only_up_to_the_high_water_mark() -> None:
    """A fast server and a slow reader: the transport stops reading, nothing is lost."""
    size = 16 * 1024 * 1024

    async def blast(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        block = bytes(1024 * 1024)
        for _ in range(size // len(block)):
            writer.write(block)
            await writer.drain()
        writer.close()

    backend = GuardedNetworkBackend(allow_private=True)
    async with raw_server(blast) as port:
        stream = await backend.connect_tcp("127.0.0.1", port, timeout=5)
        protocol = stream._protocol  # type: ignore[attr-defined]
        for _ in range(500):  # the server pushes; nobody reads
            if protocol.reading_paused:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # and a little longer: still nothing more is taken in
        assert protocol.reading_paused
        assert protocol.buffered < 2 * _READ_HIGH_WATER
        total = 0
        while chunk := await stream.read(65536, timeout=5):
            assert len(chunk) <= 65536
            total += len(chunk)
        assert total == size
        await stream.aclose()


async def test_connect_refused_is_a_connect_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    backend = GuardedNetworkBackend(allow_private=True)
    with pytest.raises(httpcore.ConnectError):
        await backend.connect_tcp("127.0.0.1", port, timeout=5)


# ----------------------------------------------------------------------------- cookies
async def test_cookies_are_kept_across_hops_and_requests(server: FeedServer) -> None:
    """As with httpx.AsyncClient: a cookie set by a host goes back to that host."""

    async def login(request: web.Request) -> web.StreamResponse:
        response = web.Response(status=302, headers={"Location": "/feed"})
        response.set_cookie("session", "s3", path="/")
        return response

    async def feed(request: web.Request) -> web.StreamResponse:
        if request.cookies.get("session") != "s3":
            return web.Response(status=403, text="no cookie")
        return web.Response(body=RSS, content_type="application/rss+xml")

    server.add_handler("/login", login)
    server.add_handler("/feed", feed)
    async with Fetcher(allow_private=True) as fetcher:
        via_redirect = await fetcher.fetch(server.url("/login"))
        direct = await fetcher.fetch(server.url("/feed"))
    assert via_redirect.body == RSS, via_redirect.error
    assert direct.body == RSS, direct.error


async def test_another_httpcore_backend_can_be_plugged_in(server: FeedServer) -> None:
    """``inner`` swaps the asyncio streams for e.g. anyio's, under the same checks."""
    backend = GuardedNetworkBackend(allow_private=True, inner=httpcore.AnyIOBackend())
    async with httpcore.AsyncConnectionPool(network_backend=backend) as pool:
        response = await pool.request("GET", server.url("/nothing"))
    assert response.status == 404
