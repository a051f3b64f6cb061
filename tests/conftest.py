"""Shared fixtures: real databases on both backends, isolated per test.

SQLite: a fresh file per test, copied from a template migrated once per session.
PostgreSQL (``ORBITWIRE_TEST_DATABASE_URL``): one private schema per session (so parallel runs
on a shared server never collide), migrated once, every table truncated before each test.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.knowledge.catalog import Catalog, load_catalog
from bot.knowledge.linker import Linker
from storage.db import Database, upgrade_database
from storage.models import metadata

pytest_plugins = ["tests.support.fixtures"]

PG_ENV = "ORBITWIRE_TEST_DATABASE_URL"
BACKENDS = ("sqlite", "postgresql")


def _pg_base_url() -> str | None:
    return os.environ.get(PG_ENV) or None


def _with_search_path(url: str, schema: str) -> str:
    parsed = make_url(url)
    return parsed.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("db-template") / "template.db"
    engine = create_engine(f"sqlite:///{path}")
    upgrade_database(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_schema_url() -> Iterator[str]:
    """A migrated private schema on the test PostgreSQL server (skips when not configured)."""
    base = _pg_base_url()
    if base is None:
        pytest.skip(
            f"PostgreSQL tests need {PG_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"
        )
    schema = f"ow_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = _with_search_path(base, schema)
    engine = create_engine(url)
    upgrade_database(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def fresh_pg_schema() -> tuple[str, str]:
    """A new empty schema (not migrated): for migration tests. Returns (url, schema)."""
    base = _pg_base_url()
    if base is None:
        pytest.skip(f"PostgreSQL tests need {PG_ENV}")
    schema = f"ow_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    return _with_search_path(base, schema), schema


def drop_pg_schema(schema: str) -> None:
    base = _pg_base_url()
    assert base is not None
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def _truncate_pg(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty, migrated database on each backend."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "orbitwire.db"
        shutil.copy(template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("pg_schema_url")
    _truncate_pg(url)
    return url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """A :class:`Database` on each backend, empty and migrated."""
    database = Database(db_url)
    try:
        yield database
    finally:
        database.close()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No ORBITWIRE_* variables from the caller's shell leak into settings tests."""
    for key in list(os.environ):
        if key.startswith("ORBITWIRE_") and key != PG_ENV:
            monkeypatch.delenv(key, raising=False)
    return monkeypatch


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    """The bundled mission catalog (loaded once: it is read-only)."""
    return load_catalog()


@pytest.fixture(scope="session")
def linker(catalog: Catalog) -> Linker:
    """A linker over the bundled catalog (built once; linking keeps no state between texts
    beyond a one-entry cache)."""
    return Linker(catalog)


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, list[str]]], None]:
    """Map host names to addresses on the running loop's ``getaddrinfo`` (others: real DNS)."""

    def install(table: dict[str, list[str]]) -> None:
        loop = asyncio.get_running_loop()
        real = loop.getaddrinfo

        async def fake(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
            name = host.decode() if isinstance(host, bytes) else host
            if name in table:
                if not table[name]:
                    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
                out = []
                for ip in table[name]:
                    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
                    sockaddr = (ip, int(port), 0, 0) if ":" in ip else (ip, int(port))
                    out.append((family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
                return out
            return await real(host, port, *args, **kwargs)

        monkeypatch.setattr(loop, "getaddrinfo", fake)

    return install
