"""SSRF guard: keep feed fetches away from loopback, private and other non-public addresses.

Why this exists: feed URLs come from admins *and* from whatever a feed redirects to. Without a
guard, ``http://169.254.169.254/latest/meta-data`` (cloud credentials), ``http://localhost:5432``
or a router's admin page on ``192.168.0.1`` are one ``/add`` (or one 302) away. Like Miniflux we
block private networks by default and check the address that is *actually connected to*, so that
neither a redirect nor DNS rebinding (a name that resolves to a public address for the check and
to 127.0.0.1 for the connection) gets around it.

Three layers, from cheap to exact:

* :func:`check_url` — sync, no DNS: scheme, credentials, port, host present, ``localhost`` and
  literal IP addresses (including the odd ``2130706433`` / ``0x7f000001`` / ``127.1`` forms that
  ``inet_aton`` and most resolvers accept). Used by the CLI/chat before queuing a feed, and by the
  fetcher on every redirect hop.
* :func:`resolve_and_check` — resolves a host and refuses it if *any* address is non-public
  (a name with one public and one private address is still a foot in the door).
* :class:`GuardedNetworkBackend` / :func:`guarded_transport` — an ``httpcore`` network backend
  that resolves, checks, and then connects to the checked IP itself, so there is no second DNS
  lookup an attacker could answer differently. TLS still verifies against the *hostname*:
  httpcore passes ``server_hostname=<origin host>`` to ``start_tls`` independently of the address
  the TCP stream was opened to. The streams are plain asyncio transports rather than anyio ones,
  because the fetcher's CPU per request is dominated by this layer (see :class:`_AsyncioStream`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
from collections import deque
from collections.abc import Collection, Iterable
from typing import Any, Final

import httpcore
import httpx

__all__ = [
    "BAD_PORTS",
    "BlockedAddress",
    "GuardError",
    "GuardedNetworkBackend",
    "InvalidFeedURL",
    "UnsupportedScheme",
    "check_url",
    "guarded_transport",
    "is_public_address",
    "parse_ip_literal",
    "resolve_and_check",
]

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES: Final = frozenset({"http", "https"})

#: Ports browsers refuse to fetch from (WHATWG Fetch "bad port" list): talking HTTP to an SMTP,
#: IRC or NFS server is how request smuggling into other protocols starts. Feeds never live there.
BAD_PORTS: Final = frozenset(
    {
        1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95,
        101, 102, 103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161,
        179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563,
        587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060,
        5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
    }
)  # fmt: skip

#: Names that mean "this machine" without asking DNS (RFC 6761 and common /etc/hosts aliases).
_LOCAL_NAMES: Final = frozenset(
    {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", "localhost6"}
)

# Explicit lists on top of the ``ipaddress`` properties: the stdlib's notion of "global" has
# changed between patch releases (3.11.x, 3.12.x), and a security check must not depend on that.
_BLOCKED_V4: Final = tuple(
    ipaddress.IPv4Network(net)
    for net in (
        "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches localhost on Linux
        "10.0.0.0/8",
        "100.64.0.0/10",  # CGNAT (RFC 6598): the ISP's side of the NAT, still not the Internet
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, incl. 169.254.169.254 cloud metadata
        "172.16.0.0/12",
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # TEST-NET-1
        "192.88.99.0/24",  # deprecated 6to4 relay anycast
        "192.168.0.0/16",
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # TEST-NET-2
        "203.0.113.0/24",  # TEST-NET-3
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, incl. 255.255.255.255 broadcast
    )
)
_BLOCKED_V6: Final = tuple(
    ipaddress.IPv6Network(net)
    for net in (
        "::/128",  # unspecified
        "::1/128",  # loopback
        "::/96",  # deprecated IPv4-compatible addresses
        "::ffff:0:0/96",  # IPv4-mapped: the kernel would connect to the embedded IPv4
        "64:ff9b::/96",  # NAT64 well-known prefix: reaches arbitrary IPv4 through the gateway
        "64:ff9b:1::/48",  # NAT64 local-use prefix
        "100::/64",  # discard-only
        "2001::/23",  # IETF protocol assignments: Teredo 2001::/32, benchmarking, ORCHID...
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation (RFC 9637)
        "5f00::/16",  # SRv6 SIDs
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # deprecated site-local
        "ff00::/8",  # multicast
    )
)
# Everything public in IPv6 today lives in 2000::/3 (global unicast); the rest is unassigned,
# special-purpose or local, so anything outside it is refused without further thought.
_GLOBAL_UNICAST_V6: Final = ipaddress.IPv6Network("2000::/3")
_SIXTOFOUR: Final = ipaddress.IPv6Network("2002::/16")


class GuardError(ValueError):
    """A URL or address refused by the guard; ``str(err)`` is safe to show to an admin.

    ``error_kind`` is the :class:`~bot.ingest.types.FetchResult` kind the fetcher reports.
    """

    error_kind: str = "blocked"


class BlockedAddress(GuardError):
    """The host is, or resolves to, an address that is not on the public Internet."""

    def __init__(self, host: str, ip: IPAddress | str) -> None:
        self.host = host
        self.ip = str(ip)
        super().__init__(
            f"refused: feed host {host!r} resolves to {self.ip}, a loopback/private address"
        )


class UnsupportedScheme(GuardError):
    """Only http and https are fetched (no file://, ftp://, gopher://, data:...)."""

    error_kind = "scheme"

    def __init__(self, scheme: str) -> None:
        self.scheme = scheme
        super().__init__(
            f"refused: only http and https feed URLs are supported, not {scheme or 'none'!r}"
        )


class InvalidFeedURL(GuardError):
    """Malformed URL (kind ``scheme``), embedded credentials or a forbidden port (``blocked``)."""

    def __init__(self, message: str, *, error_kind: str = "blocked") -> None:
        super().__init__(message)
        self.error_kind = error_kind


# ----------------------------------------------------------------------------- addresses
def is_public_address(ip: IPAddress) -> bool:
    """True only for addresses on the public Internet (see the module docstring for why).

    IPv4-mapped IPv6 addresses are refused even when the embedded IPv4 is public: a feed has no
    reason to use that form, and it has been a classic way around naive checks. 6to4 addresses are
    judged by the IPv4 they embed; Teredo is refused outright (it tunnels to arbitrary IPv4).
    """
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:  # an interface-scoped address (fe80::1%eth0) is local by definition
            return False
        if ip.ipv4_mapped is not None:
            return False
        if ip.teredo is not None:
            return False
        if ip in _SIXTOFOUR:
            embedded = ip.sixtofour
            if embedded is None or not is_public_address(embedded):
                return False
        if ip not in _GLOBAL_UNICAST_V6 or any(ip in net for net in _BLOCKED_V6):
            return False
    elif any(ip in net for net in _BLOCKED_V4):
        return False
    flags = (
        ip.is_loopback,
        ip.is_private,
        ip.is_link_local,
        ip.is_multicast,
        ip.is_reserved,
        ip.is_unspecified,
    )
    return not any(flags) and ip.is_global


def parse_ip_literal(host: str) -> IPAddress | None:
    """Parse ``host`` as an IP address the way resolvers do, or return None for a name.

    Besides canonical IPv4/IPv6, accepts the ``inet_aton`` forms (``2130706433``,
    ``0x7f000001``, ``0177.0.0.1``, ``127.1``): glibc's ``getaddrinfo`` and curl treat those as
    addresses, so a guard that only knows dotted quads would wave ``http://2130706433/`` through.
    Implemented here rather than via ``socket.inet_aton`` because glibc's version also accepts
    trailing garbage after whitespace, and behaviour should not vary by platform.
    """
    text = host.strip().rstrip(".")
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers: list[int] = []
    for part in parts:
        value = _parse_aton_part(part)
        if value is None:
            return None
        numbers.append(value)
    # a.b.c.d / a.b.c (c is 16 bits) / a.b (b is 24 bits) / a (32 bits)
    *head, last = numbers
    if any(n > 0xFF for n in head) or last >= 1 << (8 * (4 - len(head))):
        return None
    value = 0
    for n in head:
        value = (value << 8) | n
    value = (value << (8 * (4 - len(head)))) | last
    return ipaddress.IPv4Address(value)


def _parse_aton_part(part: str) -> int | None:
    lowered = part.lower()
    try:
        if lowered.startswith("0x"):
            return int(lowered[2:], 16) if lowered[2:] else 0
        if len(lowered) > 1 and lowered.startswith("0"):
            return int(lowered[1:], 8)
        if lowered.isdigit() and lowered.isascii():
            return int(lowered, 10)
    except ValueError:
        return None
    return None


def _normalise_host(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host.rstrip(".")


def _check_host_literal(host: str, *, allow_private: bool, allow_hosts: Collection[str]) -> None:
    """Refuse ``localhost`` and non-public literal addresses without touching DNS."""
    name = _normalise_host(host)
    if not name:
        raise InvalidFeedURL("refused: feed URL has no host", error_kind="scheme")
    if allow_private or name in allow_hosts:
        return
    if name in _LOCAL_NAMES or name.endswith(".localhost"):
        raise BlockedAddress(host, ipaddress.IPv4Address("127.0.0.1"))
    literal = parse_ip_literal(name)
    if literal is not None and not is_public_address(literal):
        raise BlockedAddress(host, literal)


# ----------------------------------------------------------------------------- URLs
def check_url(
    url: str | httpx.URL, *, allow_private: bool, allow_hosts: Collection[str] = ()
) -> httpx.URL:
    """Validate a feed URL before it is stored, queued or fetched (sync, no DNS).

    Raises :class:`UnsupportedScheme`, :class:`InvalidFeedURL` or :class:`BlockedAddress`, and
    returns the parsed URL: the fetcher checks every redirect hop and then sends exactly that
    object, so each hop is parsed once (parsing is the costliest part of the check).
    ``allow_hosts`` lists hosts (lower-case names or IP literals, as written in URLs) exempt from
    the private-address rule: for tests that run a server on 127.0.0.1 while still checking
    where it redirects to, and for an operator who deliberately trusts one internal host.
    Passing names here does not exempt anything they redirect to.
    """
    if isinstance(url, httpx.URL):
        parsed = url
    else:
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise InvalidFeedURL(f"refused: not a valid URL ({exc})", error_kind="scheme") from None
    scheme = parsed.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise UnsupportedScheme(scheme)
    if parsed.userinfo:
        # Never echo the URL: the credentials are exactly what must not end up in a chat or log.
        raise InvalidFeedURL("refused: feed URLs must not contain credentials (user:pass@)")
    host = parsed.raw_host.decode("ascii", "replace")
    if not host:
        raise InvalidFeedURL("refused: feed URL has no host", error_kind="scheme")
    port = parsed.port
    if port is not None and (port in BAD_PORTS or not 0 < port < 65536):
        raise InvalidFeedURL(f"refused: port {port} is not allowed for feeds")
    _check_host_literal(host, allow_private=allow_private, allow_hosts=_lower(allow_hosts))
    return parsed


_NO_HOSTS: Final[frozenset[str]] = frozenset()


def _lower(hosts: Collection[str]) -> frozenset[str]:
    if not hosts:  # the production case, on every redirect hop and connection
        return _NO_HOSTS
    return frozenset(_normalise_host(h) for h in hosts)


# ----------------------------------------------------------------------------- DNS
async def resolve_and_check(
    host: str, port: int, *, allow_private: bool, allow_hosts: Collection[str] = ()
) -> list[str]:
    """Resolve ``host`` and return its addresses, refusing it if *any* of them is non-public.

    Returns the addresses (strings, de-duplicated, resolver order) so the caller connects to
    exactly what was checked. ``socket.gaierror`` propagates (an unknown name is a network
    error, not a guard refusal). An IP literal (in any form :func:`parse_ip_literal` accepts,
    which are the forms the resolver accepts) is answered without ``getaddrinfo``: asyncio runs
    every lookup in a worker thread, and that hand-off was a large share of connecting.
    """
    allowed = _lower(allow_hosts)
    _check_host_literal(host, allow_private=allow_private, allow_hosts=allowed)
    name = _normalise_host(host)
    literal = parse_ip_literal(name)
    if literal is not None:
        # _check_host_literal has already refused it unless it is public or exempt.
        return [str(literal)]
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(name, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    addresses: list[str] = []
    for family, _type, _proto, _canon, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        text = str(sockaddr[0])
        ip = ipaddress.ip_address(text)
        if not (allow_private or name in allowed or is_public_address(ip)):
            raise BlockedAddress(host, ip)
        if text not in addresses:
            addresses.append(text)
    if not addresses:
        raise socket.gaierror(socket.EAI_NONAME, f"no IPv4/IPv6 address for {host!r}")
    return addresses


# ----------------------------------------------------------------------------- transport
#: Raw bytes buffered per connection before the transport stops reading from the socket (the
#: kernel's receive window then throttles the server), so memory stays bounded whatever a server
#: sends and however slowly the body is consumed. Reading resumes below half of it.
_READ_HIGH_WATER: Final = 256 * 1024


class _StreamProtocol(asyncio.Protocol):
    """Buffers what an asyncio transport delivers until httpcore asks for it.

    The transport keeps reading (up to :data:`_READ_HIGH_WATER`), so a server closing an idle
    keep-alive connection shows up here as ``eof``/``lost`` without anyone polling the socket.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.eof = False
        self.lost = False
        self.error: BaseException | None = None
        self.reading_paused = False
        self.writing_paused = False
        self._waiter: asyncio.Future[bool] | None = None

    # -- asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.buffered += len(data)
        if self.buffered >= _READ_HIGH_WATER and not self.reading_paused:
            assert self.transport is not None
            self.reading_paused = True
            self.transport.pause_reading()
        self._wake(True)

    def eof_received(self) -> bool:
        self.eof = True
        self._wake(True)
        return False  # let the transport close itself: HTTP/1.1 has no use for a half-close

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.error = exc
        self._wake(True)

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        self._wake(True)

    # -- used by the stream
    def _wake(self, value: bool) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(value)

    async def wait(self, deadline: float | None) -> bool:
        """Wait for the next event (data, EOF, loss, writable); False once ``deadline`` passed.

        A timer handle instead of ``asyncio.timeout()``: this runs for every read that has to
        wait, and a bare ``call_at`` is the cheapest timeout asyncio has.
        """
        waiter: asyncio.Future[bool] = self.loop.create_future()
        self._waiter = waiter
        timer = None if deadline is None else self.loop.call_at(deadline, _expire, waiter)
        try:
            return await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    def take(self, max_bytes: int) -> bytes:
        chunk = self.chunks[0]
        if len(chunk) > max_bytes:
            self.chunks[0] = chunk[max_bytes:]
            chunk = chunk[:max_bytes]
        else:
            self.chunks.popleft()
        self.buffered -= len(chunk)
        if self.reading_paused and self.buffered < _READ_HIGH_WATER // 2:
            assert self.transport is not None
            self.reading_paused = False
            self.transport.resume_reading()
        return chunk


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


def _deadline(loop: asyncio.AbstractEventLoop, timeout: float | None) -> float | None:
    return None if timeout is None else loop.time() + timeout


class _AsyncioStream(httpcore.AsyncNetworkStream):
    """An httpcore network stream on a plain asyncio transport (TCP, or TLS via ``start_tls``).

    Why not httpcore's anyio backend: for a small exchange like a 304 it cost more CPU than the
    HTTP work — a task group and a spawned task per connect (happy eyeballs for an address that
    is already resolved), a cancel scope and a timer for every read and write — and its
    ``is_readable`` answer, which httpcore's pool asks of *every* idle connection on *every*
    request and response close, needs a ``poll()`` system call each time. Here that answer is
    three attribute reads: the protocol sees EOF or stray data as soon as the loop does.
    Semantics follow the anyio backend: same exceptions (``ReadTimeout``, ``ReadError``, ...),
    ``b""`` at end of stream, no TLS close-notify on close (like anyio with
    ``standard_compatible=False``, which httpcore uses).
    """

    def __init__(
        self,
        transport: asyncio.Transport,
        protocol: _StreamProtocol,
        peer: Any,
    ) -> None:
        self._transport = transport
        self._protocol = protocol
        self._peer = peer

    @classmethod
    async def connect(
        cls,
        address: str,
        port: int,
        local_address: str | None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None,
    ) -> _AsyncioStream:
        """Open a TCP connection to an IP literal (no DNS: asyncio parses literals itself)."""
        loop = asyncio.get_running_loop()
        protocol = _StreamProtocol(loop)
        try:
            transport, _ = await loop.create_connection(
                lambda: protocol,
                address,
                port,
                local_addr=(local_address, 0) if local_address else None,
            )
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        try:
            for option in socket_options or ():
                transport.get_extra_info("socket").setsockopt(*option)
        except OSError as exc:
            transport.abort()
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        return cls(transport, protocol, transport.get_extra_info("peername"))

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        protocol = self._protocol
        if not (protocol.chunks or protocol.eof or protocol.lost):
            deadline = _deadline(protocol.loop, timeout)
            while not (protocol.chunks or protocol.eof or protocol.lost):
                if not await protocol.wait(deadline):
                    raise httpcore.ReadTimeout("timed out reading from the server")
        if protocol.chunks:
            return protocol.take(max_bytes)
        if protocol.error is not None:
            raise httpcore.ReadError(str(protocol.error) or type(protocol.error).__name__)
        return b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        if not buffer:
            return
        protocol = self._protocol
        if protocol.lost or self._transport.is_closing():
            raise httpcore.WriteError("connection closed")
        self._transport.write(buffer)
        if protocol.writing_paused:  # the transport's buffer is full: wait for it to drain
            deadline = _deadline(protocol.loop, timeout)
            while protocol.writing_paused and not protocol.lost:
                if not await protocol.wait(deadline):
                    raise httpcore.WriteTimeout("timed out writing to the server")
            if protocol.lost:
                raise httpcore.WriteError(str(protocol.error or "connection closed"))

    async def aclose(self) -> None:
        # abort(), not close(): no TLS close-notify round trip, and no waiting to flush a
        # request that a peer is not reading; the socket is closed on the next loop turn.
        self._transport.abort()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - signature imposed by httpcore
    ) -> httpcore.AsyncNetworkStream:
        """TLS on the same socket; the certificate is verified against ``server_hostname``."""
        loop = self._protocol.loop
        try:
            async with asyncio.timeout(timeout):
                tls = await loop.start_tls(
                    self._transport, self._protocol, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError as exc:
            self._transport.abort()
            raise httpcore.ConnectTimeout("TLS handshake timed out") from exc
        except OSError as exc:  # ssl.SSLError (bad certificate...) is an OSError too
            self._transport.abort()
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        if tls is None:  # pragma: no cover - only when the loop is closing
            raise httpcore.ConnectError("TLS handshake failed")
        self._protocol.transport = tls
        return _AsyncioStream(tls, self._protocol, self._peer)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            protocol = self._protocol
            # Readable while idle means EOF or junk from the server: httpcore drops the
            # connection instead of reusing it.
            return bool(protocol.chunks) or protocol.eof or protocol.lost
        if info == "server_addr":
            return self._peer
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "socket":
            return self._transport.get_extra_info("socket")
        return None


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """httpcore backend that connects only to addresses it has just checked.

    httpcore calls ``connect_tcp(host=<URL host>, port)`` for every new connection (pooled
    keep-alive connections are keyed by scheme/host/port, so they were all opened through here).
    We resolve once, refuse the whole host if any address is private, then open the TCP stream to
    the checked IP literal — the stream does no DNS of its own for a literal. Afterwards
    httpcore runs ``start_tls(server_hostname=<URL host>)`` on the stream, so certificate
    verification and SNI still use the hostname. As a last check, the peer address of the open
    socket is verified again.

    Streams are :class:`_AsyncioStream` (asyncio transports, see there for why); ``inner`` swaps
    in another httpcore backend (e.g. ``httpcore.AnyIOBackend()``) under the same checks.
    """

    def __init__(
        self,
        *,
        allow_private: bool,
        allow_hosts: Collection[str] = (),
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.allow_private = allow_private
        self.allow_hosts = _lower(allow_hosts)
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - signature imposed by httpcore
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        trusted = self.allow_private or _normalise_host(host) in self.allow_hosts
        try:
            async with asyncio.timeout(timeout):
                try:
                    addresses = await resolve_and_check(
                        host, port, allow_private=self.allow_private, allow_hosts=self.allow_hosts
                    )
                except (socket.gaierror, UnicodeError) as exc:
                    raise httpcore.ConnectError(f"DNS lookup failed for {host!r}: {exc}") from exc
                last_error: Exception | None = None
                for address in addresses:
                    try:
                        stream = await self._open(address, port, local_address, socket_options)
                    except httpcore.ConnectError as exc:
                        last_error = exc
                        continue
                    if not trusted:
                        await self._verify_peer(stream, host)
                    return stream
                raise last_error or httpcore.ConnectError(f"could not connect to {host!r}")
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"connecting to {host!r} timed out") from exc

    async def _open(
        self,
        address: str,
        port: int,
        local_address: str | None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None,
    ) -> httpcore.AsyncNetworkStream:
        if self._inner is None:
            return await _AsyncioStream.connect(address, port, local_address, socket_options)
        return await self._inner.connect_tcp(
            address,
            port,
            timeout=None,  # bounded by the caller's asyncio.timeout
            local_address=local_address,
            socket_options=socket_options,
        )

    async def _verify_peer(self, stream: httpcore.AsyncNetworkStream, host: str) -> None:
        peer = stream.get_extra_info("server_addr")
        if not peer:
            return
        ip = ipaddress.ip_address(str(peer[0]))
        if not is_public_address(ip):
            await stream.aclose()
            raise BlockedAddress(host, ip)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - signature imposed by httpcore
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not used for feeds")

    async def sleep(self, seconds: float) -> None:
        if self._inner is None:
            await asyncio.sleep(seconds)
        else:
            await self._inner.sleep(seconds)


def guarded_transport(
    *,
    allow_private: bool,
    allow_hosts: Collection[str] = (),
    limits: httpx.Limits | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> httpx.AsyncHTTPTransport:
    """An HTTP/1.1 ``httpx`` transport whose every TCP connection goes through the guard.

    ``httpx.AsyncHTTPTransport`` has no ``network_backend`` parameter, so we build it normally
    (which also maps httpcore exceptions to httpx ones in ``handle_async_request``) and swap its
    ``_pool`` for an ``httpcore.AsyncConnectionPool`` with the same settings plus our backend.
    No proxy is configured on purpose: a proxy would do the DNS lookup and the guard would only
    ever see the proxy's address.
    """
    limits = limits if limits is not None else httpx.Limits()
    ctx = ssl_context if ssl_context is not None else httpx.create_ssl_context(trust_env=False)
    transport = httpx.AsyncHTTPTransport(verify=ctx, trust_env=False, limits=limits, http2=False)
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=ctx,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        http1=True,
        http2=False,
        network_backend=GuardedNetworkBackend(allow_private=allow_private, allow_hosts=allow_hosts),
    )
    return transport
