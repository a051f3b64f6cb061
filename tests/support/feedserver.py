"""A real loopback HTTP server that plays feed publishers (good, slow, huge, moved, broken).

Why a real server instead of ``httpx.MockTransport`` or respx: the fetcher's guarantees — the
total deadline against a dripping server, the decoded-size cap against a gzip bomb, the SSRF guard
on the address actually connected to, keep-alive and per-host limits — live in the socket and
transport layers that a mock transport skips. So tests talk real HTTP/1.1 over 127.0.0.1::

    with FeedServer() as server:
        server.add_feed("/rss", RSS_BYTES, etag='"v1"')
        server.add_sequence("/flaky", [Reply(500), Reply(500), Reply(200, b"<rss/>")])
        server.add_redirect("/old", "/rss", status=301)
        result = await fetcher.fetch(server.url("/rss"))
        assert server.hits("/rss") == 1
        assert server.last_request("/rss").headers.get("If-None-Match") is None

The server runs in **its own thread with its own event loop** (like
:mod:`tests.support.botapi`), so it serves sync tests, async tests on any loop, subprocesses
and benchmarks alike; a slow handler never blocks the code under test and vice versa. Routes are
a dict looked up by path from one catch-all aiohttp route, so registering 200 feeds for a
benchmark costs nothing. All ``add_*`` methods may be called while the server is running.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gzip
import os
import tempfile
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from types import TracebackType
from typing import Self

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

__all__ = [
    "FeedServer",
    "Handler",
    "Reply",
    "RequestRecord",
    "brotli_bomb",
    "gzip_bomb",
    "http_date",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

RSS_TYPE = "application/rss+xml; charset=utf-8"
BOMB_SIZE = 512 * 1024 * 1024


@dataclass(frozen=True)
class Reply:
    """One canned response. ``delay`` waits before answering (for concurrency tests)."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0

    @classmethod
    def redirect(cls, target: str, status: int = 302) -> Reply:
        return cls(status=status, headers={"Location": target})

    def response(self) -> web.Response:
        headers = CIMultiDict(self.headers)
        if self.body and "Content-Type" not in headers:
            headers["Content-Type"] = "application/octet-stream"
        return web.Response(status=self.status, body=self.body or None, headers=headers)


@dataclass(frozen=True)
class RequestRecord:
    """What the server saw: headers are case-insensitive (``rec.headers["if-none-match"]``)."""

    method: str
    path: str
    query: str
    headers: CIMultiDictProxy[str]
    at: float  # time.monotonic()
    peer: str = ""  # "ip:port" of the client socket: same value = keep-alive connection reused


def http_date(when: float | None = None) -> str:
    """An IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``) for ``when`` (epoch seconds)."""
    from datetime import UTC, datetime

    moment = datetime.fromtimestamp(time.time() if when is None else when, tz=UTC)
    return format_datetime(moment, usegmt=True)


# ----------------------------------------------------------------------------- bombs
def _cache_dir() -> Path:
    path = Path(tempfile.gettempdir()) / "orbitwire-test-cache"
    path.mkdir(exist_ok=True)
    return path


def _cached(name: str, build: Callable[[], bytes]) -> bytes:
    """Build once per machine (file in the temp dir), once per process (lru_cache on callers)."""
    path = _cache_dir() / name
    with contextlib.suppress(FileNotFoundError):
        return path.read_bytes()
    data = build()
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)  # atomic: parallel test processes never read half a file
    return data


@functools.lru_cache(maxsize=4)
def gzip_bomb(size: int = BOMB_SIZE) -> bytes:
    """``size`` zero bytes gzipped at level 9 (512 MiB → ~0.5 MB). Built in ~2.5 s, then cached."""

    def build() -> bytes:
        compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
        block = bytes(1024 * 1024)
        parts = []
        left = size
        while left > 0:
            parts.append(compressor.compress(block[: min(left, len(block))]))
            left -= len(block)
        parts.append(compressor.flush())
        return b"".join(parts)

    return _cached(f"gzip-bomb-{size}.gz", build)


@functools.lru_cache(maxsize=4)
def brotli_bomb(size: int = BOMB_SIZE) -> bytes:
    """``size`` zero bytes in brotli (512 MiB → under 1 KB): the worst ratio of all."""
    import brotli  # type: ignore[import-untyped]

    def build() -> bytes:
        compressor = brotli.Compressor(quality=5)
        block = bytes(1024 * 1024)
        parts = []
        left = size
        while left > 0:
            parts.append(compressor.process(block[: min(left, len(block))]))
            left -= len(block)
        parts.append(compressor.finish())
        return b"".join(parts)

    return _cached(f"brotli-bomb-{size}.br", build)


# ----------------------------------------------------------------------------- server
class FeedServer:
    """Loopback HTTP/1.1 server with programmable routes and a request log (thread-safe)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._routes: dict[str, Handler] = {}
        self._log: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.in_flight = 0
        self.max_in_flight = 0  # highest number of requests being served at once

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Self:
        if self._thread is not None:
            return self
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="feedserver", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._setup(), loop).result(timeout=10)
        return self

    async def _setup(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        # handler_cancellation: a client that gives up (deadline test) cancels the drip handler;
        # a short shutdown_timeout keeps stop() fast even with such handlers still running.
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, backlog=1024)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if self._runner is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self._loop = self._thread = self._runner = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ addressing
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        """Absolute URL for ``path`` (which may carry a query string)."""
        return f"{self.base_url}{path if path.startswith('/') else '/' + path}"

    # ------------------------------------------------------------------ request log
    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._log)

    def requests_for(self, path: str) -> list[RequestRecord]:
        with self._lock:
            return [r for r in self._log if r.path == path]

    def hits(self, path: str) -> int:
        return len(self.requests_for(path))

    def last_request(self, path: str) -> RequestRecord:
        found = self.requests_for(path)
        if not found:
            raise AssertionError(f"no request for {path!r}")
        return found[-1]

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()
            self.max_in_flight = self.in_flight

    def reset(self) -> None:
        """Forget routes and log (for a server shared across tests)."""
        self._routes.clear()
        self.clear_log()

    # ------------------------------------------------------------------ routes
    def add_handler(self, path: str, handler: Handler) -> None:
        """Serve ``path`` with any aiohttp handler (runs on the server's loop)."""
        self._routes[path] = handler

    def remove(self, path: str) -> None:
        self._routes.pop(path, None)

    def add(
        self,
        path: str,
        body: bytes = b"",
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        content_type: str | None = None,
        delay: float = 0.0,
    ) -> None:
        """Static response: same bytes, status and headers on every hit."""
        merged = dict(headers or {})
        if content_type:
            merged["Content-Type"] = content_type
        reply = Reply(status=status, body=body, headers=merged, delay=delay)
        self.add_handler(path, _static(reply))

    def add_sequence(
        self, path: str, replies: Sequence[Reply | int | bytes], *, repeat_last: bool = True
    ) -> None:
        """Answer hit *n* with ``replies[n]`` (an int is a bare status, bytes a 200 body).

        After the list is used up the last reply repeats (or 404 with ``repeat_last=False``).
        """
        items = [_as_reply(r) for r in replies]
        if not items:
            raise ValueError("add_sequence needs at least one reply")
        counter = iter(range(1 << 62))
        lock = threading.Lock()

        async def handler(request: web.Request) -> web.StreamResponse:
            with lock:
                index = next(counter)
            if index >= len(items):
                if not repeat_last:
                    return web.Response(status=404)
                index = len(items) - 1
            reply = items[index]
            if reply.delay:
                await asyncio.sleep(reply.delay)
            return reply.response()

        self.add_handler(path, handler)

    def add_feed(
        self,
        path: str,
        body: bytes,
        *,
        etag: str | None = None,
        last_modified: str | float | None = None,
        content_type: str = RSS_TYPE,
        headers: Mapping[str, str] | None = None,
        gzip_body: bool = False,
    ) -> None:
        """A feed with validators: 304 when If-None-Match / If-Modified-Since match (RFC 9110).

        ``last_modified`` may be an HTTP-date or epoch seconds. If-None-Match wins over
        If-Modified-Since when both are sent, as the RFC says. ``gzip_body`` serves it gzipped.
        """
        if isinstance(last_modified, int | float):
            last_modified = http_date(last_modified)
        base = dict(headers or {})
        base["Content-Type"] = content_type
        if etag:
            base["ETag"] = etag
        if last_modified:
            base["Last-Modified"] = last_modified
        payload = gzip.compress(body, 6) if gzip_body else body
        if gzip_body:
            base["Content-Encoding"] = "gzip"
        validators = {k: v for k, v in base.items() if k in ("ETag", "Last-Modified")}
        lm = last_modified

        async def handler(request: web.Request) -> web.StreamResponse:
            if _not_modified(request, etag, lm):
                return web.Response(status=304, headers=validators)
            return web.Response(status=200, body=payload, headers=base)

        self.add_handler(path, handler)

    def add_redirect(self, path: str, target: str, *, status: int = 302) -> None:
        """Redirect ``path`` to ``target`` (a path → relative Location, or an absolute URL)."""
        self.add(path, status=status, headers={"Location": target})

    def add_redirect_chain(self, paths: Iterable[str], final: str, *, status: int = 301) -> None:
        """``paths[0] → paths[1] → … → final``, every hop with ``status``."""
        hops = list(paths)
        for here, there in zip(hops, [*hops[1:], final], strict=True):
            self.add_redirect(here, there, status=status)

    def add_drip(
        self,
        path: str,
        body: bytes = b'<?xml version="1.0"?><rss version="2.0"><channel></channel></rss>',
        *,
        interval: float = 2.0,
        chunk_size: int = 1,
        headers: Mapping[str, str] | None = None,
        declare_length: bool = True,
    ) -> None:
        """Send ``chunk_size`` bytes every ``interval`` seconds: slow-loris for the deadline."""
        merged = CIMultiDict(headers or {})
        merged.setdefault("Content-Type", RSS_TYPE)

        async def handler(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(status=200, headers=merged)
            if declare_length:
                response.content_length = len(body)
            await response.prepare(request)
            with contextlib.suppress(ConnectionError):
                for start in range(0, len(body), chunk_size):
                    await response.write(body[start : start + chunk_size])
                    await asyncio.sleep(interval)
                await response.write_eof()
            return response

        self.add_handler(path, handler)

    def add_gzip_bomb(self, path: str, size: int = BOMB_SIZE, *, declare: bool = True) -> None:
        """``size`` decoded bytes of zeros behind ``Content-Encoding: gzip`` (~size/1000 sent)."""
        self.add(
            path,
            gzip_bomb(size),
            headers={"Content-Encoding": "gzip"} if declare else {},
            content_type=RSS_TYPE,
        )

    def add_brotli_bomb(self, path: str, size: int = BOMB_SIZE) -> None:
        self.add(path, brotli_bomb(size), headers={"Content-Encoding": "br"}, content_type=RSS_TYPE)

    # ------------------------------------------------------------------ dispatch
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        record = RequestRecord(
            method=request.method,
            path=request.path,
            query=request.query_string,
            headers=CIMultiDictProxy(CIMultiDict(request.headers)),
            at=time.monotonic(),
            peer=_peer(request),
        )
        with self._lock:
            self._log.append(record)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            handler = self._routes.get(request.path)
            if handler is None:
                return web.Response(status=404, text="no such route")
            return await handler(request)
        finally:
            with self._lock:
                self.in_flight -= 1


def _peer(request: web.Request) -> str:
    transport = request.transport
    info = transport.get_extra_info("peername") if transport is not None else None
    return f"{info[0]}:{info[1]}" if info else ""


def _as_reply(item: Reply | int | bytes) -> Reply:
    if isinstance(item, Reply):
        return item
    if isinstance(item, int):
        return Reply(status=item)
    return Reply(status=200, body=item, headers={"Content-Type": RSS_TYPE})


def _static(reply: Reply) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        if reply.delay:
            await asyncio.sleep(reply.delay)
        return reply.response()

    return handler


def _etag_matches(header: str, etag: str) -> bool:
    """Weak comparison, as RFC 9110 requires for If-None-Match."""
    if header.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in header.split(","))


def _not_modified(request: web.Request, etag: str | None, last_modified: str | None) -> bool:
    inm = request.headers.get("If-None-Match")
    if inm is not None:
        return etag is not None and _etag_matches(inm, etag)
    ims = request.headers.get("If-Modified-Since")
    if ims is None or last_modified is None:
        return False
    try:
        return parsedate_to_datetime(last_modified) <= parsedate_to_datetime(ims)
    except (TypeError, ValueError):
        return False
