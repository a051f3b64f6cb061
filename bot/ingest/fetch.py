"""HTTP fetching of feeds (and, later, article pages) with hard limits.

Why so much code for a GET: a feed bot fetches URLs chosen by other people, on a schedule,
forever. Every one of them may be slow, huge, hostile or moved, and one bad feed must never stall
the poll loop, eat the bot's memory or reach into the private network. So, for every fetch:

* **One deadline for everything** (``FetchLimits.total_timeout``): httpx's per-phase timeouts
  reset on every byte, so a server dripping one byte per second would otherwise hold a slot for
  ever. ``asyncio.timeout`` around redirects *and* body cuts it off. Time spent queueing for a
  free slot is not counted: that is our congestion, not the server's fault.
* **A cap on the decoded body** (``max_bytes``): a 0.5 MB gzip body can inflate to 512 MB, and
  httpx's own decoders may return a 64 MB chunk from one small network read. We read the raw
  (still compressed) stream and decompress it ourselves in bounded steps (zlib ``max_length`` /
  brotli ``output_buffer_limit``), counting output as it is produced, so memory stays at about
  ``max_bytes`` whatever the compression ratio.
* **Redirects followed by hand**, so every hop is re-validated by the SSRF guard
  (:mod:`bot.ingest.netguard`, which also checks the address actually connected to), counted,
  and — for a permanent first hop — reported so the updater can move the stored URL.
* **Never raises** for network or HTTP trouble: the result says what went wrong
  (``error_kind``) and the updater decides about backoff.

Status convention: ``FetchResult.status`` is set only when a usable HTTP answer arrived, i.e.
for success, 304 and ``error_kind="http"``; for ``timeout``, ``too_large``, ``blocked``,
``network`` and ``scheme`` it is None (as documented on :class:`FetchResult`).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import re
import ssl
import time
import zlib
from collections import OrderedDict
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import UTC
from importlib import metadata
from typing import Any, Final, Protocol

import httpx

from bot.ingest.netguard import GuardError, check_url, guarded_transport
from bot.ingest.types import FetchResult
from bot.lifecycle import AsyncClosing

try:  # httpx[brotli] installs it; without it we simply do not advertise "br"
    import brotli  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - depends on the environment
    brotli = None

__all__ = [
    "DEFAULT_LIMITS",
    "FEED_ACCEPT",
    "PAGE_ACCEPT",
    "USER_AGENT",
    "FetchLimits",
    "Fetcher",
    "parse_max_age",
    "parse_retry_after",
    "redact_url",
]

logger = logging.getLogger(__name__)

try:
    __version__ = metadata.version("orbitwire")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    __version__ = "dev"

USER_AGENT: Final = (
    f"orbitwire/{__version__} (+https://github.com/orbitwire/orbitwire; space-news Telegram bot)"
)
FEED_ACCEPT: Final = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"
)
PAGE_ACCEPT: Final = "text/html, application/xhtml+xml;q=0.9, */*;q=0.8"
#: Only encodings we can decode with a bound on the output of each step.
ACCEPT_ENCODING: Final = "gzip, deflate, br" if brotli is not None else "gzip, deflate"

REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
PERMANENT_REDIRECTS: Final = frozenset({301, 308})
#: Largest piece a decoder may produce per step; also the granularity of the size check.
DECODE_CHUNK: Final = 64 * 1024
#: Small redirect/error bodies are read and dropped so the keep-alive connection can be reused;
#: anything bigger (or of unknown size) is cheaper to abandon with its connection.
_DRAIN_LIMIT: Final = 16 * 1024
_NO_BODY: Final = frozenset({204, 304})
#: Connection pools (one per host, see ``Fetcher._pool_for``) kept for hosts nobody is
#: fetching from right now, so a connection survives until the next request to its host in the
#: same pass (a redirect to the same site, several feeds of one publisher, a feed and then its
#: article pages). Across passes (15 minutes apart) nothing survives anyway.
IDLE_HOST_POOLS: Final = 32
KEEPALIVE_EXPIRY: Final = 15.0


@dataclass(frozen=True)
class FetchLimits:
    """Per-fetch limits (defaults follow Miniflux and NewsBlur).

    ``total_timeout`` covers the whole fetch, redirects and body included, so a dripping server
    is cut off; the per-phase ``connect``/``read`` timeouts only catch a silent one.
    """

    total_timeout: float = 30.0
    connect_timeout: float = 10.0
    read_timeout: float = 15.0
    max_bytes: int = 15 * 1024 * 1024  # cap on the DECODED body
    max_redirects: int = 10
    user_agent: str = USER_AGENT


DEFAULT_LIMITS: Final = FetchLimits()


# ----------------------------------------------------------------------------- header parsing
def _sendable(value: str) -> bool:
    """Whether a stored validator can go back in a header: printable ASCII only.

    Servers do send non-ASCII or broken ETags; sending one back would fail the request before
    it leaves (and would fail again at every poll). Without it the GET is unconditional: one
    full download, after which the server's next validator is stored.
    """
    return value.isascii() and value.isprintable()


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), ≥ 0."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # HTTP-dates are GMT by definition
        when = when.replace(tzinfo=UTC)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


_MAX_AGE_RE: Final = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)\"?", re.IGNORECASE)


def parse_max_age(value: str | None) -> float | None:
    """``max-age`` from a ``Cache-Control`` header, in seconds (``s-maxage`` is ignored)."""
    if not value:
        return None
    match = _MAX_AGE_RE.search(value)
    return float(int(match.group(1))) if match else None


def redact_url(url: str | httpx.URL) -> str:
    """A URL safe for logs: no credentials, no query string (feed tokens often live there)."""
    try:
        parsed = httpx.URL(url) if isinstance(url, str) else url
    except httpx.InvalidURL:
        return "<invalid url>"
    port = f":{parsed.port}" if parsed.port else ""
    query = "?…" if parsed.query else ""
    return f"{parsed.scheme}://{parsed.host}{port}{parsed.path}{query}"


# ----------------------------------------------------------------------------- decoders
class _DecodeError(Exception):
    """The body cannot be decoded (unknown encoding or corrupt data)."""


class _TooLarge(Exception):
    pass


class _Decoder(Protocol):
    def feed(self, data: bytes) -> Iterator[bytes]: ...

    def flush(self) -> Iterator[bytes]: ...


class _Identity:
    def feed(self, data: bytes) -> Iterator[bytes]:
        if data:
            yield data

    def flush(self) -> Iterator[bytes]:
        return iter(())


class _Zlib:
    """gzip / zlib / raw deflate, decompressed at most ``DECODE_CHUNK`` bytes per step.

    ``decompress(data, max_length)`` stops when the output reaches ``max_length`` and keeps the
    rest of the input in ``unconsumed_tail``; we loop until both the tail and the pending output
    are exhausted. For ``deflate`` we sniff the 2-byte zlib header because some servers send raw
    deflate despite RFC 9110 saying zlib-wrapped (httpx falls back the same way).
    """

    def __init__(self, encoding: str) -> None:
        self._encoding = encoding
        self._obj: Any = None
        self._pending = b""
        if encoding == "gzip":
            self._obj = zlib.decompressobj(wbits=47)  # gzip or zlib header, auto-detected

    def _start_deflate(self, data: bytes) -> bytes:
        data = self._pending + data
        if len(data) < 2:
            self._pending = data
            return b""
        self._pending = b""
        cmf, flg = data[0], data[1]
        wrapped = (cmf & 0x0F) == 8 and (cmf << 8 | flg) % 31 == 0
        self._obj = zlib.decompressobj(wbits=15 if wrapped else -15)
        return data

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._obj is None:
            data = self._start_deflate(data)
            if self._obj is None:
                return
        obj = self._obj
        buf = data
        while True:
            if obj.eof:
                return  # trailing garbage after the stream end is ignored, as httpx does
            try:
                out: bytes = obj.decompress(buf, DECODE_CHUNK)
            except zlib.error as exc:
                raise _DecodeError(f"corrupt {self._encoding} body: {exc}") from exc
            if out:
                yield out
            buf = obj.unconsumed_tail
            if not buf and len(out) < DECODE_CHUNK:
                return

    def flush(self) -> Iterator[bytes]:
        if self._obj is None:
            if not self._pending:
                return
            self._obj = zlib.decompressobj(wbits=-15)
            yield from self.feed(self._pending)
            return
        yield from self.feed(b"")


class _Brotli:
    """brotli with ``output_buffer_limit`` (brotli ≥ 1.1): each call returns a bounded piece.

    When the limit is hit, the decoder keeps the rest internally and must be called with empty
    input until ``can_accept_more_data()``; at the end we drain it until it returns nothing.
    """

    def __init__(self) -> None:
        assert brotli is not None
        self._obj: Any = brotli.Decompressor()

    def _process(self, data: bytes) -> bytes:
        try:
            out: bytes = self._obj.process(data, output_buffer_limit=DECODE_CHUNK)
        except brotli.error as exc:
            raise _DecodeError(f"corrupt br body: {exc}") from exc
        return out

    def feed(self, data: bytes) -> Iterator[bytes]:
        if not data or self._obj.is_finished():
            return
        out = self._process(data)
        if out:
            yield out
        while not self._obj.can_accept_more_data():
            out = self._process(b"")
            if out:
                yield out

    def flush(self) -> Iterator[bytes]:
        while not self._obj.is_finished():
            out = self._process(b"")
            if not out:
                return
            yield out


class _Chain:
    """Several Content-Encodings (``gzip, br`` means br(gzip(body))): undone last-first."""

    def __init__(self, decoders: list[_Decoder]) -> None:
        self._decoders = decoders

    def _through(self, chunks: Iterator[bytes], start: int) -> Iterator[bytes]:
        if start == len(self._decoders):
            yield from chunks
            return
        decoder = self._decoders[start]
        for chunk in chunks:
            yield from self._through(decoder.feed(chunk), start + 1)

    def feed(self, data: bytes) -> Iterator[bytes]:
        return self._through(iter((data,)), 0)

    def flush(self) -> Iterator[bytes]:
        for index, decoder in enumerate(self._decoders):
            yield from self._through(decoder.flush(), index + 1)


def _make_decoder(encodings: list[str]) -> _Decoder:
    decoders: list[_Decoder] = []
    for raw in reversed(encodings):
        encoding = raw.strip().lower()
        if encoding in ("", "identity"):
            continue
        if encoding in ("gzip", "x-gzip"):
            decoders.append(_Zlib("gzip"))
        elif encoding == "deflate":
            decoders.append(_Zlib("deflate"))
        elif encoding == "br" and brotli is not None:
            decoders.append(_Brotli())
        else:
            raise _DecodeError(f"unsupported Content-Encoding {encoding!r}")
    if not decoders:
        return _Identity()
    if len(decoders) == 1:
        return decoders[0]
    return _Chain(decoders)


# ----------------------------------------------------------------------------- fetcher
@dataclass
class _Hop:
    """Where the redirect walk stands (kept outside the try so errors can report it)."""

    url: str
    permanent: str | None = None
    permanent_chain: bool = True
    started: float = 0.0


class Fetcher(AsyncClosing):
    """Fetches feeds through one shared guarded ``httpx`` transport (HTTP/1.1, keep-alive).

    Use as ``async with Fetcher() as fetcher: await fetcher.fetch(url)``, or call
    :meth:`aclose` yourself. Concurrency is bounded twice: ``max_connections`` fetches overall,
    and ``per_host`` at a time per host name (politeness: 50 feeds on one site must not hit it
    with 50 parallel requests). ``allow_hosts`` exempts listed hosts from the private-address
    rule, see :func:`bot.ingest.netguard.check_url`; it is meant for tests and deliberate
    operator choices, normal deployments leave it empty. ``ssl_context`` replaces the default
    (system CAs, verification on), e.g. to trust a private or test CA.

    Requests go straight to the ``httpx.AsyncHTTPTransport`` instead of through an
    ``httpx.AsyncClient``: the client's per-request machinery (URL/header/cookie merging, auth
    and redirect generators, and above all parsing every response into a urllib cookie request)
    cost about as much CPU as the HTTP exchange itself for a 304, and the fetcher already does
    what it would have added — fixed headers, timeouts, manual redirects, no proxies. Cookies
    are still kept (one jar, per domain, as the client did), but only touched when a response
    sets one or the jar is not empty.
    """

    def __init__(
        self,
        *,
        allow_private: bool = False,
        limits: FetchLimits = DEFAULT_LIMITS,
        max_connections: int = 50,
        per_host: int = 2,
        allow_hosts: Collection[str] = (),
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if max_connections < 1 or per_host < 1:
            raise ValueError("max_connections and per_host must be at least 1")
        self.allow_private = allow_private
        self.allow_hosts = frozenset(h.lower() for h in allow_hosts)
        self.limits = limits
        self.per_host = per_host
        self._overall = asyncio.Semaphore(max_connections)
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._host_users: dict[str, int] = {}
        self._ssl_context = (
            ssl_context if ssl_context is not None else httpx.create_ssl_context(trust_env=False)
        )
        # One small connection pool per host (see _pool_for), most recently used last.
        self._pools: OrderedDict[str, httpx.AsyncHTTPTransport] = OrderedDict()
        self._cookies = httpx.Cookies()
        timeout = httpx.Timeout(
            connect=limits.connect_timeout,
            read=limits.read_timeout,
            write=limits.read_timeout,
            pool=limits.total_timeout,
        )
        self._extensions: dict[str, Any] = {"timeout": timeout.as_dict()}
        self._base_headers: tuple[tuple[str, str], ...] = (
            ("User-Agent", limits.user_agent),
            ("Accept-Encoding", ACCEPT_ENCODING),
            ("Connection", "keep-alive"),
        )

    async def aclose(self) -> None:
        pools = list(self._pools.values())
        self._pools.clear()
        for pool in pools:
            await pool.aclose()

    def _pool_for(self, host: str) -> httpx.AsyncHTTPTransport:
        """The connection pool of ``host`` (made on first use; the caller holds its slot).

        Why per host: httpcore's pool matches every queued request against every pooled
        connection on each request and each response close — quadratic in requests in flight
        × connections. One shared pool over hundreds of feed hosts spent more CPU on that scan
        than on the HTTP exchanges. A host's pool holds at most ``per_host`` connections (the
        host slot already bounds requests to it), so each scan is a handful of steps. Pools of
        hosts nobody is using are closed beyond :data:`IDLE_HOST_POOLS` (oldest first), which
        also bounds the keep-alive connections kept open.
        """
        pool = self._pools.get(host)
        if pool is None:
            # No proxy, never from the environment either: a proxy would do the DNS lookup and
            # the guard would only ever see the proxy's address.
            pool = self._pools[host] = guarded_transport(
                allow_private=self.allow_private,
                allow_hosts=self.allow_hosts,
                limits=httpx.Limits(
                    max_connections=self.per_host,
                    max_keepalive_connections=self.per_host,
                    keepalive_expiry=KEEPALIVE_EXPIRY,
                ),
                ssl_context=self._ssl_context,
            )
        else:
            self._pools.move_to_end(host)
        return pool

    async def _trim_pools(self) -> None:
        """Close the least recently used pools of idle hosts beyond :data:`IDLE_HOST_POOLS`."""
        excess = len(self._pools) - IDLE_HOST_POOLS
        if excess <= 0:
            return
        idle = [h for h in self._pools if h not in self._host_users][:excess]
        for host in idle:
            await self._pools.pop(host).aclose()

    # ------------------------------------------------------------------ public
    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str = FEED_ACCEPT,
    ) -> FetchResult:
        """GET a feed. Conditional when ``etag``/``last_modified`` (from the last result) given.

        On 304 the result carries the server's new validators, or the ones sent when the server
        omitted them, so the caller can always store ``result.etag``/``result.last_modified``.
        """
        headers = [*self._base_headers, ("Accept", accept)]
        if etag and _sendable(etag):
            headers.append(("If-None-Match", etag))
        if last_modified and _sendable(last_modified):
            headers.append(("If-Modified-Since", last_modified))
        return await self._fetch(url, headers, etag=etag, last_modified=last_modified)

    async def fetch_page(self, url: str) -> FetchResult:
        """GET an HTML page (full-text extraction): same limits and guard, HTML Accept header."""
        headers = [*self._base_headers, ("Accept", PAGE_ACCEPT)]
        return await self._fetch(url, headers, etag=None, last_modified=None)

    # ------------------------------------------------------------------ internals
    def _slot(self, host: str) -> _HostSlot:
        return _HostSlot(self, host)

    async def _fetch(
        self,
        url: str,
        headers: list[tuple[str, str]],
        *,
        etag: str | None,
        last_modified: str | None,
    ) -> FetchResult:
        loop = asyncio.get_running_loop()
        hop = _Hop(url=url, started=loop.time())

        def failure(kind: str, message: str) -> FetchResult:
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("fetch %s failed (%s): %s", redact_url(hop.url), kind, message)
            return FetchResult(
                url=url,
                final_url=hop.url,
                status=None,
                error=message,
                error_kind=kind,
                elapsed=loop.time() - hop.started,
            )

        deadline: asyncio.Timeout | None = None
        try:
            async with self._overall, asyncio.timeout(None) as deadline:
                return await self._walk(url, hop, headers, deadline, etag, last_modified)
        except TimeoutError:
            if deadline is not None and deadline.expired():
                total = self.limits.total_timeout
                return failure("timeout", f"gave up after {total:g} s (total deadline)")
            return failure("timeout", "timed out")
        except httpx.TimeoutException as exc:
            return failure("timeout", _describe(exc))
        except GuardError as exc:  # BlockedAddress, UnsupportedScheme, InvalidFeedURL
            return failure(exc.error_kind, str(exc))
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            return failure("scheme", f"refused: {exc}")
        except _TooLarge:
            return failure("too_large", f"body larger than {self.limits.max_bytes} bytes")
        except _DecodeError as exc:
            return failure("network", str(exc))
        except (httpx.HTTPError, OSError) as exc:
            return failure("network", _describe(exc))

    async def _send(
        self, url: httpx.URL, headers: list[tuple[str, str]]
    ) -> tuple[httpx.Response, dict[str, str]]:
        """One GET on the guarded transport, streamed (the caller closes the response).

        Also returns the response's header fields as a plain dict, made in one pass over the
        header list (keys lower-cased, repeated fields joined with ", " as ``Headers.get``
        does), instead of one scan of the list for every field looked up.
        """
        request = httpx.Request("GET", url, headers=headers, extensions=self._extensions)
        if self._cookies:
            self._cookies.set_cookie_header(request)
        response = await self._pool_for(url.host).handle_async_request(request)
        response.request = request  # what AsyncClient.send would set: response.url needs it
        fields = dict(response.headers.items())
        if "set-cookie" in fields:
            self._cookies.extract_cookies(response)
        return response, fields

    async def _walk(
        self,
        url: str,
        hop: _Hop,
        headers: list[tuple[str, str]],
        deadline: asyncio.Timeout,
        etag: str | None,
        last_modified: str | None,
    ) -> FetchResult:
        loop = asyncio.get_running_loop()
        debug = logger.isEnabledFor(logging.DEBUG)
        last_status = 0
        # Each hop's URL is parsed once: check_url returns the parsed URL, and a redirect target
        # is kept as the URL object URL.join produced (hop.url keeps its text for the result).
        next_url: str | httpx.URL = url
        for index in range(self.limits.max_redirects + 1):
            target = check_url(
                next_url, allow_private=self.allow_private, allow_hosts=self.allow_hosts
            )
            async with self._slot(target.host):
                if index == 0:
                    # The clock starts once we have a slot: queueing is not the server's fault.
                    hop.started = loop.time()
                    deadline.reschedule(hop.started + self.limits.total_timeout)
                if debug:
                    logger.debug("GET %s", redact_url(target))
                response, fields = await self._send(target, headers)
                try:
                    status = response.status_code
                    location = fields.get("location")
                    if status not in REDIRECT_STATUSES or not location:
                        return await self._finish(url, hop, response, fields, etag, last_modified)
                    last_status = status
                    next_url = target.join(location.strip())
                    next_text = str(next_url)
                    if hop.permanent_chain and status in PERMANENT_REDIRECTS:
                        hop.permanent = next_text
                    else:
                        hop.permanent_chain = False
                    if debug:
                        logger.debug("%d → %s", status, redact_url(next_url))
                    await _drain(response, fields)
                finally:
                    await response.aclose()
            hop.url = next_text
        return FetchResult(
            url=url,
            final_url=hop.url,
            status=last_status,
            error=f"too many redirects (more than {self.limits.max_redirects})",
            error_kind="http",
            elapsed=loop.time() - hop.started,
        )

    async def _finish(
        self,
        url: str,
        hop: _Hop,
        response: httpx.Response,
        fields: dict[str, str],
        etag: str | None,
        last_modified: str | None,
    ) -> FetchResult:
        status = response.status_code
        result = FetchResult(
            url=url,
            final_url=str(response.url),
            status=status,
            content_type=fields.get("content-type"),
            etag=fields.get("etag"),
            last_modified=fields.get("last-modified"),
            retry_after=parse_retry_after(fields.get("retry-after")),
            max_age=parse_max_age(fields.get("cache-control")),
        )
        if status == 304:
            result.etag = result.etag or etag
            result.last_modified = result.last_modified or last_modified
            await _drain(response, fields)  # no body by definition: reuse the connection
        elif not 200 <= status < 300:
            reason = response.reason_phrase or httpx.codes.get_reason_phrase(status)
            result.error = f"HTTP {status} {reason}".strip()
            result.error_kind = "http"
            await _drain(response, fields)
        else:
            result.body = await self._read_body(response, fields)
        if status == 304 or result.body is not None:
            # Only a fetch that ended well may move the stored URL.
            result.permanent_redirect = hop.permanent
        loop = asyncio.get_running_loop()
        result.elapsed = loop.time() - hop.started
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s → %d (%s)", redact_url(response.url), status, result.error or "ok")
        return result

    async def _read_body(self, response: httpx.Response, fields: dict[str, str]) -> bytes:
        """Stream the raw body, decode it in bounded steps, stop as soon as it passes the cap."""
        cap = self.limits.max_bytes
        decoder = _make_decoder(fields.get("content-encoding", "").split(","))
        declared = fields.get("content-length", "")
        if isinstance(decoder, _Identity) and declared.isdigit() and int(declared) > cap:
            raise _TooLarge
        body = bytearray()
        async for raw in response.aiter_raw():
            for chunk in decoder.feed(raw):
                if len(body) + len(chunk) > cap:
                    raise _TooLarge
                body += chunk
        for chunk in decoder.flush():
            if len(body) + len(chunk) > cap:
                raise _TooLarge
            body += chunk
        return bytes(body)


class _HostSlot:
    """Per-host semaphore, created on first use and dropped when nobody holds or waits for it."""

    def __init__(self, fetcher: Fetcher, host: str) -> None:
        self._fetcher = fetcher
        self._host = host.lower()

    async def __aenter__(self) -> None:
        fetcher = self._fetcher
        semaphore = fetcher._hosts.get(self._host)
        if semaphore is None:
            semaphore = fetcher._hosts[self._host] = asyncio.Semaphore(fetcher.per_host)
        fetcher._host_users[self._host] = fetcher._host_users.get(self._host, 0) + 1
        try:
            await semaphore.acquire()
        except BaseException:
            self._release_user()
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        self._fetcher._hosts[self._host].release()
        self._release_user()
        if self._host not in self._fetcher._host_users:
            await self._fetcher._trim_pools()

    def _release_user(self) -> None:
        users = self._fetcher._host_users[self._host] - 1
        if users:
            self._fetcher._host_users[self._host] = users
        else:
            del self._fetcher._host_users[self._host]
            del self._fetcher._hosts[self._host]


async def _drain(response: httpx.Response, fields: dict[str, str]) -> None:
    """Read a small, declared-size body so the connection can go back to the pool.

    httpcore only reuses a connection whose response was read to the end, even when there is
    nothing to read: a 304 or 204 has no body whatever Content-Length says (RFC 9110), and
    reading it just lets h11 see the end of the message.
    """
    if response.status_code not in _NO_BODY:
        declared = fields.get("content-length", "")
        if not declared.isdigit() or int(declared) > _DRAIN_LIMIT:
            return
    async for _ in response.aiter_raw():
        pass


def _describe(exc: BaseException) -> str:
    """Short, URL-free description of a transport error."""
    text = str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {text}" if text else name
