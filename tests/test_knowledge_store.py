"""Catalog seeding and article linking on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlmodel import Session, col

from bot.knowledge.catalog import Catalog
from bot.knowledge.linker import Linker
from storage.db import Database
from storage.knowledge import link_articles, relink_all, seed_catalog
from storage.models import (
    Agency,
    Article,
    ArticleCountry,
    ArticleMission,
    Country,
    Mission,
    PartnerFact,
)


def _count(session: Session, model: type, *where: object) -> int:
    return int(session.execute(select(func.count()).select_from(model).where(*where)).scalar_one())


def test_seed_is_idempotent(db: Database, catalog: Catalog) -> None:
    first = db.call(seed_catalog, catalog)
    second = db.call(seed_catalog, catalog)
    assert first.missions == second.missions == len(catalog.missions)
    with db.session() as s:
        assert _count(s, Country) == len(catalog.countries)
        assert _count(s, Agency) == len(catalog.agencies)
        assert _count(s, Mission) == len(catalog.missions)
        facts = _count(s, PartnerFact)
        assert facts == first.facts > 50
        lead = s.execute(select(Mission).where(col(Mission.slug) == "change-6")).scalar_one()
        assert lead.lead_agency_id is not None
    assert second.facts_removed == 0


def _add_articles(db: Database, texts: list[tuple[str, str]]) -> list[int]:
    def add(session: Session) -> list[int]:
        rows = [
            Article(identity=f"id-{i}", url=f"https://x/{i}", title=t, summary=s)
            for i, (t, s) in enumerate(texts)
        ]
        session.add_all(rows)
        session.flush()
        return [int(r.id) for r in rows if r.id is not None]

    return db.call(add)


def test_link_articles_writes_links_and_facts(
    db: Database, catalog: Catalog, linker: Linker
) -> None:
    db.call(seed_catalog, catalog)
    ids = _add_articles(
        db,
        [
            (
                "Chang'e-6 payloads announced",
                "A Swedish negative ion detector and a French radon detection device will fly "
                "on Chang'e-6. It will also host a Pakistani cubesat.",
            ),
            ("Hera and Zeus", "A Greek myth retold."),
        ],
    )
    report = db.call(link_articles, ids, linker, catalog)
    assert report.articles == 2
    assert report.facts == 3
    with db.session() as s:
        assert _count(s, ArticleMission, col(ArticleMission.article_id) == ids[0]) == 1
        assert _count(s, ArticleMission, col(ArticleMission.article_id) == ids[1]) == 0
        assert _count(s, ArticleCountry, col(ArticleCountry.article_id) == ids[0]) == 3
        codes = set(
            s.execute(
                select(PartnerFact.country_code).where(col(PartnerFact.origin) == "article")
            ).scalars()
        )
        assert codes == {"SE", "FR", "PK"}
        linked = s.execute(select(Article.linked_at).where(col(Article.id).in_(ids))).scalars()
        assert all(t is not None for t in linked)
    # relinking replaces, never duplicates
    again = relink_all(db, linker, catalog, batch=1)
    assert again.articles == 2
    with db.session() as s:
        assert _count(s, PartnerFact, col(PartnerFact.origin) == "article") == 3
        assert _count(s, ArticleMission) == 1


def test_article_text_leaves_out_a_summary_the_content_contains() -> None:
    from storage.knowledge import article_text

    content = "Chang'e-6 carried a Swedish detector.\n\nIt landed in June."
    assert article_text("T", "Chang'e-6 carried a Swedish detector. It landed…", content) == (
        "T.\n" + content
    )
    assert article_text("T", "A different excerpt.", content).count("Swedish") == 1
    assert article_text("T", "A different excerpt.", content).startswith("T.\nA different")
    assert article_text("T", "Summary only.", None) == "T.\nSummary only."


def test_fact_keys_keep_their_stored_format() -> None:
    """Fact keys are stored (unique): the worker-side prefix must give the very same digest."""
    import hashlib

    from storage.knowledge import fact_key

    expected = hashlib.sha256(
        "\x1f".join(["change-6", "SE", "sncs", "negativeiondetector", "42"]).encode()
    ).hexdigest()
    assert fact_key("change-6", "se", "SNCS", "Negative-ion  detector", 42) == expected
    catalog = hashlib.sha256("\x1f".join(["juice", "", "", "", "catalog"]).encode()).hexdigest()
    assert fact_key("juice", None, None, None, None) == catalog
