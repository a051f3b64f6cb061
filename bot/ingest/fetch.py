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
import time
import zlib
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
    """Fetches feeds through one shared ``httpx.AsyncClient`` (HTTP/1.1, keep-alive).

    Use as ``async with Fetcher() as fetcher: await fetcher.fetch(url)``, or call
    :meth:`aclose` yourself. Concurrency is bounded twice: ``max_connections`` fetches overall,
    and ``per_host`` at a time per host name (politeness: 50 feeds on one site must not hit it
    with 50 parallel requests). ``allow_hosts`` exempts listed hosts from the private-address
    rule, see :func:`bot.ingest.netguard.check_url`; it is meant for tests and deliberate
    operator choices, normal deployments leave it empty.
    """

    def __init__(
        self,
        *,
        allow_private: bool = False,
        limits: FetchLimits = DEFAULT_LIMITS,
        max_connections: int = 50,
        per_host: int = 2,
        allow_hosts: Collection[str] = (),
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
        pool = httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=15.0,
        )
        self._client = httpx.AsyncClient(
            transport=guarded_transport(
                allow_private=allow_private, allow_hosts=self.allow_hosts, limits=pool
            ),
            timeout=httpx.Timeout(
                connect=limits.connect_timeout,
                read=limits.read_timeout,
                write=limits.read_timeout,
                pool=limits.total_timeout,
            ),
            follow_redirects=False,
            trust_env=False,  # no proxies from the environment: they would bypass the guard
            headers={"User-Agent": limits.user_agent, "Accept-Encoding": ACCEPT_ENCODING},
        )

    async def aclose(self) -> None:
        await self._client.aclose()

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
        headers = {"Accept": accept}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        return await self._fetch(url, headers, etag=etag, last_modified=last_modified)

    async def fetch_page(self, url: str) -> FetchResult:
        """GET an HTML page (full-text extraction): same limits and guard, HTML Accept header."""
        return await self._fetch(url, {"Accept": PAGE_ACCEPT}, etag=None, last_modified=None)

    # ------------------------------------------------------------------ internals
    def _slot(self, host: str) -> _HostSlot:
        return _HostSlot(self, host)

    async def _fetch(
        self,
        url: str,
        headers: dict[str, str],
        *,
        etag: str | None,
        last_modified: str | None,
    ) -> FetchResult:
        loop = asyncio.get_running_loop()
        hop = _Hop(url=url, started=loop.time())

        def failure(kind: str, message: str) -> FetchResult:
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

    async def _walk(
        self,
        url: str,
        hop: _Hop,
        headers: dict[str, str],
        deadline: asyncio.Timeout,
        etag: str | None,
        last_modified: str | None,
    ) -> FetchResult:
        loop = asyncio.get_running_loop()
        last_status = 0
        for index in range(self.limits.max_redirects + 1):
            check_url(hop.url, allow_private=self.allow_private, allow_hosts=self.allow_hosts)
            request = self._client.build_request("GET", hop.url, headers=headers)
            async with self._slot(request.url.host):
                if index == 0:
                    # The clock starts once we have a slot: queueing is not the server's fault.
                    hop.started = loop.time()
                    deadline.reschedule(hop.started + self.limits.total_timeout)
                logger.debug("GET %s", redact_url(request.url))
                response = await self._client.send(request, stream=True)
                try:
                    status = response.status_code
                    location = response.headers.get("location")
                    if status not in REDIRECT_STATUSES or not location:
                        return await self._finish(url, hop, response, etag, last_modified)
                    last_status = status
                    target = str(response.url.join(location.strip()))
                    if hop.permanent_chain and status in PERMANENT_REDIRECTS:
                        hop.permanent = target
                    else:
                        hop.permanent_chain = False
                    logger.debug("%d → %s", status, redact_url(target))
                    await _drain(response)
                finally:
                    await response.aclose()
            hop.url = target
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
        etag: str | None,
        last_modified: str | None,
    ) -> FetchResult:
        headers = response.headers
        status = response.status_code
        result = FetchResult(
            url=url,
            final_url=str(response.url),
            status=status,
            content_type=headers.get("content-type"),
            etag=headers.get("etag"),
            last_modified=headers.get("last-modified"),
            retry_after=parse_retry_after(headers.get("retry-after")),
            max_age=parse_max_age(", ".join(headers.get_list("cache-control"))),
        )
        if status == 304:
            result.etag = result.etag or etag
            result.last_modified = result.last_modified or last_modified
        elif not 200 <= status < 300:
            reason = response.reason_phrase or httpx.codes.get_reason_phrase(status)
            result.error = f"HTTP {status} {reason}".strip()
            result.error_kind = "http"
            await _drain(response)
        else:
            result.body = await self._read_body(response)
        if status == 304 or result.body is not None:
            # Only a fetch that ended well may move the stored URL.
            result.permanent_redirect = hop.permanent
        loop = asyncio.get_running_loop()
        result.elapsed = loop.time() - hop.started
        logger.debug("%s → %d (%s)", redact_url(response.url), status, result.error or "ok")
        return result

    async def _read_body(self, response: httpx.Response) -> bytes:
        """Stream the raw body, decode it in bounded steps, stop as soon as it passes the cap."""
        cap = self.limits.max_bytes
        encodings = response.headers.get_list("content-encoding", split_commas=True)
        decoder = _make_decoder(encodings)
        declared = response.headers.get("content-length", "")
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

    def _release_user(self) -> None:
        users = self._fetcher._host_users[self._host] - 1
        if users:
            self._fetcher._host_users[self._host] = users
        else:
            del self._fetcher._host_users[self._host]
            del self._fetcher._hosts[self._host]


async def _drain(response: httpx.Response) -> None:
    """Read a small, declared-size body so the connection can go back to the pool."""
    declared = response.headers.get("content-length", "")
    if not declared.isdigit() or int(declared) > _DRAIN_LIMIT:
        return
    async for _ in response.aiter_raw():
        pass


def _describe(exc: BaseException) -> str:
    """Short, URL-free description of a transport error."""
    text = str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {text}" if text else name
