"""Knowledge tables: seed the catalog, link articles, store partner facts.

Bulk by design: :func:`link_articles` runs inside ingestion for every new article, so one batch
is a fixed handful of statements (select articles, delete old links, three multi-row inserts,
one fact insert with ``ON CONFLICT DO NOTHING``, one ``UPDATE … linked_at``), whatever its size.

Catalog policy (:func:`seed_catalog`, run at every start, idempotent):
- countries, agencies and missions are upserted by natural key (code, abbrev, slug), so
  catalog edits update rows in place and ids stay stable;
- catalog partner facts are upserted by ``fact_key``; catalog facts whose key is no longer
  produced (a partner row was edited or removed) are deleted — only ``origin="catalog"``;
- missions and agencies that disappear from the catalog are **kept**: articles, facts and user
  subscriptions point at them, and admin-added rows (``origin="admin"``) look the same. They
  simply stop being linked, because the linker is built from the catalog.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from bot.knowledge.analysis import (
    EXTRACT_MAX_CHARS,
    Analysis,
    analyse,
    article_text,
    fact_key_prefix,
)
from bot.knowledge.catalog import Catalog
from bot.knowledge.linker import Linker
from storage.db import Database
from storage.models import (
    Agency,
    Article,
    ArticleAgency,
    ArticleCountry,
    ArticleMission,
    Country,
    Mission,
    PartnerFact,
)
from storage.types import utcnow

__all__ = [
    "EXTRACT_MAX_CHARS",
    "CatalogIds",
    "LinkReport",
    "SeedCounts",
    "article_text",
    "catalog_ids",
    "fact_key",
    "link_articles",
    "relink_all",
    "seed_catalog",
    "write_links",
]


@dataclass(slots=True)
class SeedCounts:
    countries: int = 0
    agencies: int = 0
    missions: int = 0
    facts: int = 0
    facts_removed: int = 0


@dataclass(slots=True)
class LinkReport:
    articles: int = 0
    mission_links: int = 0
    agency_links: int = 0
    country_links: int = 0
    facts: int = 0
    seconds: float = 0.0

    def add(self, other: LinkReport) -> None:
        self.articles += other.articles
        self.mission_links += other.mission_links
        self.agency_links += other.agency_links
        self.country_links += other.country_links
        self.facts += other.facts


def fact_key(
    mission: str, country: str | None, agency: str | None, payload: str | None,
    article_id: int | None,
) -> str:  # fmt: skip
    """sha256 of the normalized (mission, country, agency, payload, article or 'catalog')."""
    prefix = fact_key_prefix(mission, country, agency, payload)
    return keyed(prefix, "catalog" if article_id is None else str(article_id))


def keyed(prefix: str, article: str) -> str:
    """The fact key from its :func:`fact_key_prefix` and the article id (or "catalog")."""
    return hashlib.sha256((prefix + article).encode()).hexdigest()


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


def _upsert(session: Session, model: Any, rows: Sequence[dict[str, Any]], keys: list[str]) -> None:
    """INSERT … ON CONFLICT (keys) DO UPDATE on both dialects (one statement per chunk)."""
    if not rows:
        return
    table = _table(model)
    dialect = session.get_bind().dialect.name
    mod: Any = postgresql if dialect == "postgresql" else sqlite
    for chunk in _chunks(rows, 500):
        stmt = mod.insert(table).values(list(chunk))
        updates = {c: stmt.excluded[c] for c in chunk[0] if c not in keys}
        session.execute(stmt.on_conflict_do_update(index_elements=keys, set_=updates))


_PLACEHOLDER = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def _insert_rows(
    conn: Any,
    table: Table,
    columns: tuple[str, ...],
    rows: list[tuple[Any, ...]],
    *,
    ignore_conflicts: bool = False,
) -> int:
    """``INSERT`` (``… ON CONFLICT DO NOTHING`` with ``ignore_conflicts``) of positional rows
    with the driver's own executemany; returns the rows inserted.

    SQLAlchemy's executemany builds and processes one parameter dict per row (~10 µs a row, as
    much as the linking itself); the driver takes the tuples as they are. Columns whose type
    converts values (the UTC timestamps) get the type's own bind processor applied first, so
    what is stored is exactly what the ORM would store.
    """
    if not rows:
        return 0
    mark = _PLACEHOLDER.get(conn.dialect.paramstyle)
    if mark is None:  # pragma: no cover - only the two supported drivers are used
        raise RuntimeError(f"unsupported DB-API paramstyle {conn.dialect.paramstyle!r}")
    processors = [table.c[name].type.bind_processor(conn.dialect) for name in columns]
    if any(processors):
        rows = [
            tuple(p(v) if p is not None else v for p, v in zip(processors, row, strict=True))
            for row in rows
        ]
    # table and column names come from our own models, never from input
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "  # noqa: S608
        f"VALUES ({', '.join([mark] * len(columns))})"
        + (" ON CONFLICT DO NOTHING" if ignore_conflicts else "")
    )
    result = conn.exec_driver_sql(sql, rows)
    count = result.rowcount
    return int(count) if isinstance(count, int) and count >= 0 else len(rows)


_FACT_COLUMNS = (
    "fact_key", "mission_id", "country_code", "agency_id", "institution", "payload", "role",
    "evidence", "article_id", "source_url", "confidence", "origin", "created_at",
)  # fmt: skip


def _chunks(rows: Sequence[dict[str, Any]], size: int) -> Iterable[Sequence[dict[str, Any]]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def seed_catalog(session: Session, catalog: Catalog) -> SeedCounts:
    """Upsert countries, agencies, missions and catalog partner facts (idempotent)."""
    counts = SeedCounts()
    _upsert(
        session,
        Country,
        [{"code": c.code, "name": c.name, "flag": c.flag} for c in catalog.countries],
        ["code"],
    )
    counts.countries = len(catalog.countries)
    agency_rows = [
        {
            "abbrev": a.abbrev, "name": a.name, "kind": a.kind, "country_code": a.country_code,
            "multinational": a.multinational, "members": list(a.members),
            "aliases": list(a.aliases), "homepage": a.homepage,
        }
        for a in catalog.agencies
    ]  # fmt: skip
    _upsert(session, Agency, agency_rows, ["abbrev"])
    counts.agencies = len(agency_rows)
    agency_ids = _agency_ids(session)
    mission_rows = [
        {
            "slug": m.slug, "name": m.name, "aliases": list(m.aliases),
            "ambiguous_aliases": list(m.ambiguous_aliases), "program": m.program,
            "lead_agency_id": agency_ids.get(m.lead_agency or ""),
            "countries": list(m.countries), "target": m.target, "type": m.type,
            "status": m.status, "launch_date": _date(m.launch_date),
            "launch_window": m.launch_window, "description": m.description,
            "wikipedia": m.wikipedia, "origin": "catalog",
        }
        for m in catalog.missions
    ]  # fmt: skip
    _upsert(session, Mission, mission_rows, ["slug"])
    counts.missions = len(mission_rows)
    mission_ids = _mission_ids(session)
    fact_rows: dict[str, dict[str, Any]] = {}
    for m in catalog.missions:
        for p in m.partners:
            key = fact_key(m.slug, p.country_code, p.agency_abbrev, p.payload, None)
            fact_rows[key] = {
                "fact_key": key, "mission_id": mission_ids[m.slug],
                "country_code": p.country_code, "agency_id": agency_ids.get(p.agency_abbrev or ""),
                "institution": p.institution, "payload": p.payload, "role": p.role,
                "evidence": None, "article_id": None, "source_url": p.source,
                "confidence": 1.0, "origin": "catalog",
            }  # fmt: skip
    _upsert(session, PartnerFact, list(fact_rows.values()), ["fact_key"])
    counts.facts = len(fact_rows)
    stale = session.execute(
        select(col(PartnerFact.fact_key)).where(col(PartnerFact.origin) == "catalog")
    ).scalars()
    removed = [k for k in stale if k not in fact_rows]
    if removed:
        session.execute(delete(PartnerFact).where(col(PartnerFact.fact_key).in_(removed)))
    counts.facts_removed = len(removed)
    return counts


def _date(value: str | None) -> Any:
    from datetime import date

    return date.fromisoformat(value) if value else None


def _agency_ids(session: Session) -> dict[str, int]:
    rows = session.execute(select(col(Agency.abbrev), col(Agency.id))).all()
    return {abbrev: int(id_) for abbrev, id_ in rows}


def _mission_ids(session: Session) -> dict[str, int]:
    rows = session.execute(select(col(Mission.slug), col(Mission.id))).all()
    return {slug: int(id_) for slug, id_ in rows}


@dataclass(frozen=True, slots=True)
class CatalogIds:
    """Database ids of the catalog's missions and agencies, and its country codes."""

    missions: dict[str, int]
    agencies: dict[str, int]
    countries: frozenset[str]


def catalog_ids(session: Session, catalog: Catalog) -> CatalogIds:
    """The ids links are written with; looked up once per session (transaction), not per feed.

    Catalog rows are upserted by natural key and never deleted, so ids are stable while the
    session lasts; caching them in ``session.info`` saves two queries per stored feed.
    """
    cached = session.info.get("orbitwire.catalog_ids")
    if isinstance(cached, CatalogIds):
        return cached
    ids = CatalogIds(
        missions=_mission_ids(session),
        agencies=_agency_ids(session),
        countries=frozenset(c.code for c in catalog.countries),
    )
    session.info["orbitwire.catalog_ids"] = ids
    return ids


def link_articles(
    session: Session, article_ids: Sequence[int], linker: Linker, catalog: Catalog
) -> LinkReport:
    """(Re)link stored articles: read their text, :func:`analyse` it, :func:`write_links`."""
    ids = list(dict.fromkeys(article_ids))
    if not ids:
        return LinkReport()
    articles = _table(Article)
    rows = (
        session.connection()
        .execute(
            select(articles.c.id, articles.c.title, articles.c.summary, articles.c.content).where(
                articles.c.id.in_(ids)
            )
        )
        .all()
    )
    analyses = {
        int(article_id): analyse(title or "", summary or "", content, linker, catalog)
        for article_id, title, summary, content in rows
    }
    return write_links(session, analyses, catalog_ids(session, catalog))


def write_links(
    session: Session,
    analyses: Mapping[int, Analysis],
    ids: CatalogIds,
    *,
    fresh: Collection[int] = (),
) -> LinkReport:
    """Replace the mention rows and article facts of ``analyses``' articles; set linked_at.

    Writes go through the Core connection (no ORM unit of work, no ORM-enabled bulk path):
    one ``DELETE … WHERE article_id IN`` per table for the articles that may have links
    already (``fresh`` ones were inserted in this transaction and cannot), one driver
    executemany per table (see :func:`_insert_rows`), one ``UPDATE``. Keys the store does not
    know (a mission added to the catalog file but not seeded yet) are skipped.
    """
    report = LinkReport()
    if not analyses:
        return report
    conn = session.connection()
    mission_ids, agency_ids, country_codes = ids.missions, ids.agencies, ids.countries
    am: list[tuple[int, int, int]] = []
    ag: list[tuple[int, int, int]] = []
    ac: list[tuple[int, str, int]] = []
    facts: dict[str, tuple[Any, ...]] = {}
    now = utcnow()
    for article_id, found in analyses.items():
        for s, n in found.missions.items():
            if s in mission_ids:
                am.append((article_id, mission_ids[s], n))
        for a, n in found.agencies.items():
            if a in agency_ids:
                ag.append((article_id, agency_ids[a], n))
        for c, n in found.countries.items():
            if c in country_codes:
                ac.append((article_id, c, n))
        for cand in found.facts:
            if cand.mission_slug not in mission_ids:
                continue
            key = keyed(cand.key_prefix, str(article_id))
            facts[key] = (
                key, mission_ids[cand.mission_slug], cand.country_code,
                agency_ids.get(cand.agency_abbrev or ""),
                (cand.institution or None) and cand.institution[:255],
                (cand.payload or None) and cand.payload[:512], cand.role, cand.evidence,
                article_id, None, cand.confidence, "article", now,
            )  # fmt: skip
    found_ids = list(analyses)
    fresh_ids = set(fresh)
    stale = [i for i in found_ids if i not in fresh_ids]
    if stale:
        for model in (ArticleMission, ArticleAgency, ArticleCountry):
            table = _table(model)
            conn.execute(delete(table).where(table.c.article_id.in_(stale)))
        pf = _table(PartnerFact)
        conn.execute(delete(pf).where(pf.c.article_id.in_(stale), pf.c.origin == "article"))
    _insert_rows(conn, _table(ArticleMission), ("article_id", "mission_id", "mentions"), am)
    _insert_rows(conn, _table(ArticleAgency), ("article_id", "agency_id", "mentions"), ag)
    _insert_rows(conn, _table(ArticleCountry), ("article_id", "country_code", "mentions"), ac)
    report.facts = _insert_rows(
        conn, _table(PartnerFact), _FACT_COLUMNS, list(facts.values()), ignore_conflicts=True
    )
    articles = _table(Article)
    conn.execute(update(articles).where(articles.c.id.in_(found_ids)).values(linked_at=now))
    report.articles = len(found_ids)
    report.mission_links, report.agency_links, report.country_links = len(am), len(ag), len(ac)
    return report


def relink_all(db: Database, linker: Linker, catalog: Catalog, batch: int = 1000) -> LinkReport:
    """Relink every stored article (``orbitwire relink``), one transaction per batch."""
    total = LinkReport()
    started = time.perf_counter()
    last_id = 0
    while True:
        ids: list[int] = db.call(_next_ids, last_id, batch)
        if not ids:
            break
        total.add(db.call(link_articles, ids, linker, catalog))
        last_id = ids[-1]
    total.seconds = time.perf_counter() - started
    return total


def _next_ids(session: Session, after: int, limit: int) -> list[int]:
    stmt = (
        select(col(Article.id))
        .where(col(Article.id) > after)
        .order_by(col(Article.id))
        .limit(limit)
    )
    return [int(i) for i in session.execute(stmt).scalars()]
