"""answer indexes: a covering (id, published_at) index on article

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-26 12:00:00

Why: the ``/mission`` card finds a mission's latest articles by reading its newest
``LATEST_WINDOW`` (200) links and sorting those articles by ``published_at`` (see
``storage.queries``). Each of the 200 probes of ``article`` by id fetched a wide heap row (title,
summary, tsvector) just to read one timestamp: ~3 ms on PostgreSQL for a popular mission
(EXPLAIN ANALYZE, 100k articles). With ``(id, published_at)`` the probes are index-only:
~0.4 ms. On SQLite the same index keeps the probes off the wide table pages.

Indexes only, named here and not in the models; ``storage.search.include_name`` hides them from
autogenerate (like the search indexes of 0002).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = [
    ("ix_article_id_published", "article", ["id", "published_at"]),
]


def upgrade() -> None:
    for name, table, columns in _INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
