"""A tiny loopback HTTP server that plays the demo's feed publishers.

Why a real server: ``orbitwire demo`` should exercise the same fetcher, parser worker and
updater the bot runs in production — HTTP, headers, content types and all — instead of a shortcut
that skips them. Why ``http.server`` in a thread: it is in the standard library, starts in
milliseconds, and runs beside the demo's own event loop without sharing it.

The server binds 127.0.0.1 only, on an ephemeral port, and serves the files of
``config/samples/`` whose names it was given, nothing else (no directory listing, no paths).
Dates are written at serve time: ``{{NOW-2h}}`` / ``{{NOW-1h30m}}`` / ``{{NOW-1d}}`` become that
long before now (RFC 822 in ``.rss``, RFC 3339 in ``.atom``), so the sample stories always fall
inside the publisher's backlog window, whenever the demo runs.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = ["CONTENT_TYPES", "SampleFeedServer", "expand_dates"]

LOOPBACK = "127.0.0.1"
CONTENT_TYPES = {
    ".rss": "application/rss+xml; charset=utf-8",
    ".atom": "application/atom+xml; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
}
_PLACEHOLDER = re.compile(r"\{\{NOW(?:-((?:\d+[dhm])+))?\}\}")
_PART = re.compile(r"(\d+)([dhm])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def _offset(spec: str | None) -> timedelta:
    """``"1h30m"`` → 1 h 30 min; ``None`` (a bare ``{{NOW}}``) → zero."""
    if not spec:
        return timedelta()
    return sum(
        (timedelta(**{_UNITS[unit]: int(n)}) for n, unit in _PART.findall(spec)), timedelta()
    )


def expand_dates(text: str, now: datetime, *, atom: bool) -> str:
    """Replace every ``{{NOW-…}}`` placeholder with a date relative to ``now``."""

    def one(match: re.Match[str]) -> str:
        moment = (now - _offset(match.group(1))).astimezone(UTC).replace(microsecond=0)
        return (
            moment.isoformat().replace("+00:00", "Z")
            if atom
            else format_datetime(moment, usegmt=True)
        )

    return _PLACEHOLDER.sub(one, text)


class SampleFeedServer:
    """Serves ``files`` (names in ``root``) at ``http://127.0.0.1:PORT/NAME``; use ``with``.

    ``clock`` returns "now" for the date placeholders (the demo passes its own clock, so the
    dates in the feeds and the publisher's "now" agree). ``hits`` counts requests per path, so
    callers can show that the feeds were really fetched.
    """

    def __init__(
        self,
        root: Path,
        files: list[str],
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.root = root
        self.files = {f"/{name}": root / name for name in files}
        self.clock = clock or (lambda: datetime.now(UTC))
        self.hits: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Self:
        if self._server is not None:
            return self
        owner = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "orbitwire-demo"
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                owner._serve(self, body=True)

            def do_HEAD(self) -> None:
                owner._serve(self, body=False)

            def log_message(self, format: str, *args: object) -> None:
                """Silent: the demo prints its own account of what was fetched."""

        server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="demo-feeds", kwargs={"poll_interval": 0.05}
        )
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None

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
        if self._server is None:
            raise RuntimeError("the sample feed server is not running")
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

    # ------------------------------------------------------------------ serving
    def _serve(self, request: BaseHTTPRequestHandler, *, body: bool) -> None:
        path = request.path.split("?", 1)[0]
        file = self.files.get(path)
        with self._lock:
            self.hits[path] = self.hits.get(path, 0) + 1
        if file is None:
            payload = b"not found\n"
            request.send_response(404)
            request.send_header("Content-Type", "text/plain; charset=utf-8")
        else:
            text = expand_dates(
                file.read_text(encoding="utf-8"), self.clock(), atom=file.suffix == ".atom"
            )
            payload = text.encode("utf-8")
            request.send_response(200)
            request.send_header(
                "Content-Type", CONTENT_TYPES.get(file.suffix, "application/octet-stream")
            )
            request.send_header("Cache-Control", "no-cache")
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        if body:
            request.wfile.write(payload)
