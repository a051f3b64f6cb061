"""Engine, sessions and migrations.

Decision: **synchronous SQLAlchemy sessions, run in worker threads** from asyncio code
(:meth:`Database.run`), instead of an async engine. Why:

- SQLite has no truly asynchronous driver: aiosqlite is itself a thread per connection, so an
  async engine would add a layer without removing the thread.
- The CLI, Alembic, the benchmarks and the bot then share one code path (plain functions taking a
  ``Session``), which keeps services pure and testable without an event loop.
- Bulk writes (``executemany`` / ``INSERT … ON CONFLICT``) are as fast through psycopg's sync
  API, and a bounded thread pool caps how many connections the bot holds.

The cost is a thread hop per call (tens of microseconds) — negligible next to a query.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

log = logging.getLogger(__name__)

T = TypeVar("T")

#: PostgreSQL advisory lock held while migrating, so replicas starting together do not run the
#: same migration twice: class "orwm", scoped to the schema (second key: its hash).
MIGRATION_LOCK_KEY = 0x6F72776D


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers run while the fetcher writes; foreign keys are off by default in SQLite."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def create_db_engine(url: str, *, pool_size: int = 5) -> Engine:
    """Create an engine with the settings each backend needs."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
        if database in ("", ":memory:"):
            kwargs["poolclass"] = StaticPool
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url, pool_pre_ping=True, pool_size=pool_size, max_overflow=pool_size, future=True
    )


class Database:
    """One engine plus a small thread pool for running session work off the event loop."""

    def __init__(self, url: str, *, workers: int = 4) -> None:
        self.url = url
        self.engine = create_db_engine(url, pool_size=workers)
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="orbitwire-db")
        self._closed = False

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``: the few queries that differ branch on this."""
        return self.engine.dialect.name

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run ``fn(session, *args, **kwargs)`` in a transaction (synchronously)."""
        with self.session() as session:
            return fn(session, *args, **kwargs)

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run ``fn(session, *args, **kwargs)`` in a worker thread; the event loop never blocks."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(self.call, fn, *args, **kwargs))

    def read_call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run ``fn(connection, …)`` for read-only answers: no ORM session, and autocommit on
        PostgreSQL (one statement needs no BEGIN/COMMIT round trips)."""
        with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            return fn(conn, *args, **kwargs)

    async def read(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """:meth:`read_call` in a worker thread (the chat answers' hot path)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, partial(self.read_call, fn, *args, **kwargs)
        )

    def ping(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:  # health checks report, they do not raise
            log.warning("database ping failed", exc_info=True)
            return False

    def upgrade(self, revision: str = "head") -> None:
        """Bring the schema to ``revision`` (idempotent; safe with replicas on PostgreSQL)."""
        upgrade_database(self.engine, revision)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._executor.shutdown(wait=True)
            self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def alembic_config(engine: Engine | None = None) -> AlembicConfig:
    """An Alembic config pointing at the migrations bundled inside the ``storage`` package."""
    script_location = str(resources.files("storage") / "migrations")
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", script_location)
    if engine is not None:
        url = engine.url.render_as_string(hide_password=False)
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # configparser escaping
    return cfg


_upgrade_lock = threading.Lock()


def upgrade_database(engine: Engine, revision: str = "head") -> None:
    """Run Alembic migrations on ``engine``.

    On PostgreSQL a session-level advisory lock serialises concurrent upgrades from replicas;
    the second process waits, then finds nothing left to do.
    """
    with _upgrade_lock, engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_lock(:k, hashtext(current_schema()))"),
                {"k": MIGRATION_LOCK_KEY},
            )
            connection.commit()
        try:
            cfg = alembic_config(engine)
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)
            connection.commit()
        finally:
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_unlock(:k, hashtext(current_schema()))"),
                    {"k": MIGRATION_LOCK_KEY},
                )
                connection.commit()


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at (None for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
