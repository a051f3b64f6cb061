"""full-text search and answer indexes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 10:00:00

Search lives outside the SQLModel models on purpose: its objects are dialect-specific, so they
are written by hand here and hidden from autogenerate by ``storage.search.include_name``.

- SQLite: an FTS5 *external-content* table over ``article(title, summary, content)`` (the text
  is stored once, in ``article``) kept in sync by triggers. The update trigger fires only when
  the indexed columns change, so ``linked_at``/``update_count`` bumps cost nothing.
- PostgreSQL: a stored generated ``tsvector`` column (title weighted A, summary B, content C)
  with a GIN index. Stored, so ranking reads it instead of re-parsing text per row.
- Both: indexes the answer queries need (latest articles of a mission, partner facts by country
  and agency).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SQLITE_UP = [
    """CREATE VIRTUAL TABLE article_fts USING fts5(
        title, summary, content,
        content='article', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2'
    )""",
    """CREATE TRIGGER article_fts_ai AFTER INSERT ON article BEGIN
        INSERT INTO article_fts(rowid, title, summary, content)
        VALUES (new.id, new.title, new.summary, coalesce(new.content, ''));
    END""",
    """CREATE TRIGGER article_fts_ad AFTER DELETE ON article BEGIN
        INSERT INTO article_fts(article_fts, rowid, title, summary, content)
        VALUES ('delete', old.id, old.title, old.summary, coalesce(old.content, ''));
    END""",
    """CREATE TRIGGER article_fts_au AFTER UPDATE OF title, summary, content ON article BEGIN
        INSERT INTO article_fts(article_fts, rowid, title, summary, content)
        VALUES ('delete', old.id, old.title, old.summary, coalesce(old.content, ''));
        INSERT INTO article_fts(rowid, title, summary, content)
        VALUES (new.id, new.title, new.summary, coalesce(new.content, ''));
    END""",
    # Index whatever is already stored.
    "INSERT INTO article_fts(article_fts) VALUES ('rebuild')",
]

_SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS article_fts_au",
    "DROP TRIGGER IF EXISTS article_fts_ad",
    "DROP TRIGGER IF EXISTS article_fts_ai",
    "DROP TABLE IF EXISTS article_fts",
]

_PG_UP = [
    """ALTER TABLE article ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A')
        || setweight(to_tsvector('english'::regconfig, coalesce(summary, '')), 'B')
        || setweight(to_tsvector('english'::regconfig, coalesce(content, '')), 'C')
    ) STORED""",
    "CREATE INDEX ix_article_search_tsv ON article USING gin (search_tsv)",
]

_PG_DOWN = [
    "DROP INDEX IF EXISTS ix_article_search_tsv",
    "ALTER TABLE article DROP COLUMN IF EXISTS search_tsv",
]

_INDEXES = [
    ("ix_article_mission_mission_article", "article_mission", ["mission_id", "article_id"]),
    ("ix_partner_fact_country_code", "partner_fact", ["country_code"]),
    ("ix_partner_fact_agency_id", "partner_fact", ["agency_id"]),
]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in _SQLITE_UP if dialect == "sqlite" else _PG_UP:
        op.execute(statement)
    for name, table, columns in _INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name, table, _columns in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
    for statement in _SQLITE_DOWN if dialect == "sqlite" else _PG_DOWN:
        op.execute(statement)
