"""Alembic environment: bundled with the ``storage`` package, driven by :mod:`storage.db`.

``render_as_batch`` makes ALTER TABLE work on SQLite (copy-and-move), and is a no-op on
PostgreSQL, so one set of migration scripts serves both backends. ``include_name`` hides the
dialect-specific search objects of migration 0002 (FTS5 table, tsvector column, extra indexes)
from autogenerate, which cannot model them.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from storage import models
from storage.search import include_name

target_metadata = models.metadata
config = context.config


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        include_name=include_name,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(str(config.get_main_option("sqlalchemy.url")))
    with engine.connect() as conn:
        _run(conn)
        conn.commit()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
