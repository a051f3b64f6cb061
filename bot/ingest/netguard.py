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
  the TCP stream was opened to.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
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
def check_url(url: str, *, allow_private: bool, allow_hosts: Collection[str] = ()) -> None:
    """Validate a feed URL before it is stored or queued (sync, no DNS).

    Raises :class:`UnsupportedScheme`, :class:`InvalidFeedURL` or :class:`BlockedAddress`.
    ``allow_hosts`` lists hosts (lower-case names or IP literals, as written in URLs) exempt from
    the private-address rule: for tests that run a server on 127.0.0.1 while still checking
    where it redirects to, and for an operator who deliberately trusts one internal host.
    Passing names here does not exempt anything they redirect to.
    """
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


def _lower(hosts: Collection[str]) -> frozenset[str]:
    return frozenset(_normalise_host(h) for h in hosts)


# ----------------------------------------------------------------------------- DNS
async def resolve_and_check(
    host: str, port: int, *, allow_private: bool, allow_hosts: Collection[str] = ()
) -> list[str]:
    """Resolve ``host`` and return its addresses, refusing it if *any* of them is non-public.

    Returns the addresses (strings, de-duplicated, resolver order) so the caller connects to
    exactly what was checked. ``socket.gaierror`` propagates (an unknown name is a network
    error, not a guard refusal).
    """
    allowed = _lower(allow_hosts)
    _check_host_literal(host, allow_private=allow_private, allow_hosts=allowed)
    name = _normalise_host(host)
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
try:  # httpcore's own check (poll/select on the socket); private, so guarded
    from httpcore._utils import is_socket_readable as _is_socket_readable
except ImportError:  # pragma: no cover - httpcore moved it

    def _is_socket_readable(sock: socket.socket | None) -> bool:
        if sock is None:
            return True
        import select

        try:
            readable, _w, _x = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)


class _FastReadableStream(httpcore.AsyncNetworkStream):
    """Delegates to the backend's stream, but answers ``is_readable`` from a cached socket.

    httpcore's connection pool asks every pooled connection ``has_expired()`` each time it
    assigns a request, which asks the stream ``get_extra_info("is_readable")``; anyio builds its
    whole extra-attribute table for that (a ``getpeername`` system call and several lambdas)
    only to fetch the raw socket. With one connection per feed host the pool holds tens of
    connections, and that lookup was the fetcher's largest CPU cost. The socket never changes
    for the life of a stream (TLS wraps the same socket), so it is looked up once.
    """

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._sock: socket.socket | None = None
        self._sock_known = False

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - signature imposed by httpcore
    ) -> httpcore.AsyncNetworkStream:
        tls = await self._inner.start_tls(ssl_context, server_hostname, timeout)
        return _FastReadableStream(tls)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            if not self._sock_known:
                self._sock = self._inner.get_extra_info("socket")
                self._sock_known = True
            return _is_socket_readable(self._sock)
        return self._inner.get_extra_info(info)


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """httpcore backend that connects only to addresses it has just checked.

    httpcore calls ``connect_tcp(host=<URL host>, port)`` for every new connection (pooled
    keep-alive connections are keyed by scheme/host/port, so they were all opened through here).
    We resolve once, refuse the whole host if any address is private, then open the TCP stream to
    the checked IP literal — the inner backend does no DNS of its own for a literal. Afterwards
    httpcore runs ``start_tls(server_hostname=<URL host>)`` on the stream, so certificate
    verification and SNI still use the hostname. As a last check, the peer address of the open
    socket is verified again.
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
        self._inner = inner if inner is not None else httpcore.AnyIOBackend()

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
                        stream = await self._inner.connect_tcp(
                            address,
                            port,
                            timeout=None,  # bounded by the asyncio.timeout above
                            local_address=local_address,
                            socket_options=socket_options,
                        )
                    except httpcore.ConnectError as exc:
                        last_error = exc
                        continue
                    if not trusted:
                        await self._verify_peer(stream, host)
                    return _FastReadableStream(stream)
                raise last_error or httpcore.ConnectError(f"could not connect to {host!r}")
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"connecting to {host!r} timed out") from exc

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
