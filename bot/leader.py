"""Scheduler leadership: several ``orbitwire run`` processes, one runs the jobs.

Any replica answers chat updates, but fetching, curating and sending must happen once: two
senders would each pace at 29 msg/s and together break Telegram's limit, and two curators could
race for the same story. The leader is whoever holds a lock:

- **PostgreSQL**: a session-level advisory lock (``pg_try_advisory_lock``) on a dedicated
  connection. If the leader dies, its connection closes, the lock is released, and the next
  replica's periodic :meth:`Leadership.refresh` takes over — failover within one job tick.
- **SQLite**: an exclusive ``flock`` on a file next to the database, the equivalent for
  processes sharing one file on one machine (the kernel drops it when the process dies).

Safety does not rest on the lock alone: outbox claims are atomic and unique constraints forbid a
second delivery of a story to a chat, so even a split-brain moment cannot post twice.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from pathlib import Path
from typing import IO, Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from storage.db import Database

log = logging.getLogger(__name__)

#: Advisory lock class "orwl"; the second key is the schema's hash, so deployments sharing one
#: PostgreSQL database in different schemas (or test runs) never block each other.
LEADER_KEY = 0x6F72776C
_TRY = "SELECT pg_try_advisory_lock(:k, hashtext(current_schema()))"
_UNLOCK = "SELECT pg_advisory_unlock(:k, hashtext(current_schema()))"


class Leadership:
    """Tracks whether this process is the scheduler leader; call :meth:`refresh` each tick."""

    def __init__(self, db: Database, *, key: int = LEADER_KEY) -> None:
        self.db = db
        self.key = key
        self._conn: Any = None
        self._file: IO[str] | None = None
        self._leader = False
        self._lock = threading.Lock()
        self.term = 0  # increments each time this process becomes leader

    @property
    def is_leader(self) -> bool:
        return self._leader

    def refresh(self) -> bool:
        """Keep or try to take the lead; returns whether this process leads now."""
        with self._lock:
            was = self._leader
            self._leader = self._refresh_pg() if self.db.is_postgres else self._refresh_file()
            if self._leader and not was:
                self.term += 1
            if self._leader != was:
                log.info("scheduler leadership %s", "acquired" if self._leader else "lost")
            return self._leader

    def release(self) -> None:
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.execute(text(_UNLOCK), {"k": self.key})
                    self._conn.close()
                except Exception:  # closing a broken connection: the lock is gone anyway
                    log.debug("leader connection close failed", exc_info=True)
                self._conn = None
            if self._file is not None:
                fcntl.flock(self._file, fcntl.LOCK_UN)
                self._file.close()
                self._file = None
            self._leader = False

    # ------------------------------------------------------------------ PostgreSQL
    def _refresh_pg(self) -> bool:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))
                return True
            except Exception:
                log.warning("leader connection lost; leadership dropped", exc_info=True)
                try:
                    self._conn.invalidate()
                except Exception:  # pragma: no cover - best effort
                    log.debug("invalidate failed", exc_info=True)
                self._conn = None
        try:
            conn = self.db.engine.connect()
            got = bool(conn.execute(text(_TRY), {"k": self.key}).scalar())
            conn.commit()
        except Exception:
            log.warning("could not ask for leadership", exc_info=True)
            return False
        if got:
            self._conn = conn
            return True
        conn.close()
        return False

    # ------------------------------------------------------------------ SQLite
    def _lock_path(self) -> Path:
        database = make_url(self.db.url).database or ""
        if not database or database == ":memory:":
            return Path(f"/tmp/orbitwire-memory-{os.getpid()}.leader")  # noqa: S108 - per process
        return Path(database).expanduser().with_suffix(".leader")

    def _refresh_file(self) -> bool:
        if self._file is not None:
            return True
        handle = self._lock_path().open("a", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._file = handle
        return True
