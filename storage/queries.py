"""Read queries behind the chat answers (mission cards, partners, lists, sources).

Every function takes a ``Session`` and returns plain frozen dataclasses, never ORM objects: the
answers are rendered after the session closed (in another thread), and plain rows cannot
lazy-load behind anyone's back. Each answer is a fixed handful of indexed statements, whatever
the store's size (see ``benchmarks/answers.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from storage.models import (
    Agency,
    Article,
    ArticleMission,
    Country,
    Feed,
    Mission,
    PartnerFact,
)

#: Article-extracted facts read per answer (newest first): a popular mission collects hundreds,
#: the card cites at most two per country, so reading them all would only cost time.
ARTICLE_FACTS = 80
#: How many of a mission's newest-linked articles are read to find its latest ones. Link ids
#: grow with ingestion, so the newest publications are among the newest links; reading a window
#: keeps "latest of a mission with 20k articles" an index walk instead of a sort.
LATEST_WINDOW = 200


@dataclass(frozen=True, slots=True)
class AgencyRef:
    abbrev: str
    name: str
    country_code: str | None
    flag: str


@dataclass(frozen=True, slots=True)
class MissionRow:
    id: int
    slug: str
    name: str
    aliases: tuple[str, ...]
    program: str | None
    lead: AgencyRef | None
    countries: tuple[str, ...]
    target: str | None
    type: str | None
    status: str | None
    launch_date: date | None
    launch_window: str | None
    description: str
    wikipedia: str | None


@dataclass(frozen=True, slots=True)
class ArticleBrief:
    id: int
    title: str
    url: str
    site: str
    source: str
    published_at: datetime


@dataclass(frozen=True, slots=True)
class PartnerRow:
    """One partner fact with everything needed to cite it."""

    mission_slug: str
    mission_name: str
    country_code: str | None
    country_name: str
    flag: str
    agency: str | None  # abbreviation
    agency_name: str | None
    institution: str | None
    payload: str | None
    role: str | None
    origin: str  # catalog | article
    source_url: str | None
    article: ArticleBrief | None
    confidence: float


@dataclass(frozen=True, slots=True)
class MissionCard:
    mission: MissionRow
    partners: list[PartnerRow]
    latest: list[ArticleBrief]
    article_count: int


@dataclass(frozen=True, slots=True)
class Contributions:
    """What a country or agency does: partner facts, plus missions it leads (agencies)."""

    facts: list[PartnerRow]
    leads: list[MissionRow] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SourceRow:
    title: str
    url: str
    homepage: str | None
    articles: int
    last_success_at: datetime | None
    enabled: bool


def _agencies(session: Session) -> dict[int, AgencyRef]:
    flags = dict(session.execute(select(col(Country.code), col(Country.flag))).all())
    rows = session.execute(
        select(col(Agency.id), col(Agency.abbrev), col(Agency.name), col(Agency.country_code))
    ).all()
    return {
        int(r[0]): AgencyRef(r[1], r[2], r[3], str(flags.get(r[3], "")) if r[3] else "")
        for r in rows
    }


def _mission_row(m: Mission, agencies: dict[int, AgencyRef]) -> MissionRow:
    assert m.id is not None
    return MissionRow(
        id=m.id,
        slug=m.slug,
        name=m.name,
        aliases=tuple(m.aliases or ()),
        program=m.program,
        lead=agencies.get(m.lead_agency_id) if m.lead_agency_id is not None else None,
        countries=tuple(m.countries or ()),
        target=m.target,
        type=m.type,
        status=m.status,
        launch_date=m.launch_date,
        launch_window=m.launch_window,
        description=m.description or "",
        wikipedia=m.wikipedia,
    )


def _brief(row: Any) -> ArticleBrief:
    return ArticleBrief(
        id=int(row.id),
        title=row.title or "",
        url=row.canonical_url or row.url or "",
        site=row.source_site or "",
        source=row.source_name or "",
        published_at=row.published_at,
    )


_ARTICLE_COLS = (
    col(Article.id),
    col(Article.title),
    col(Article.url),
    col(Article.canonical_url),
    col(Article.source_site),
    col(Article.source_name),
    col(Article.published_at),
)


def _partner_statements(where: Any) -> tuple[Any, Any]:
    """(catalog facts, newest article facts) matching ``where``, joined with their mission,
    country, agency and article.

    Built once at import: SQLAlchemy then reuses the compiled SQL, and an answer costs the
    queries themselves (tens of microseconds) instead of milliseconds of statement building.
    """
    article = aliased(Article)
    stmt = (
        select(
            col(Mission.slug),
            col(Mission.name),
            col(PartnerFact.country_code),
            col(Country.name),
            col(Country.flag),
            col(Agency.abbrev),
            col(Agency.name),
            col(PartnerFact.institution),
            col(PartnerFact.payload),
            col(PartnerFact.role),
            col(PartnerFact.origin),
            col(PartnerFact.source_url),
            col(PartnerFact.confidence),
            col(article.id),
            col(article.title),
            col(article.url),
            col(article.canonical_url),
            col(article.source_site),
            col(article.source_name),
            col(article.published_at),
        )
        .join(Mission, col(Mission.id) == col(PartnerFact.mission_id))
        .outerjoin(Country, col(Country.code) == col(PartnerFact.country_code))
        .outerjoin(Agency, col(Agency.id) == col(PartnerFact.agency_id))
        .outerjoin(article, col(article.id) == col(PartnerFact.article_id))
        .where(where)
    )
    catalog = stmt.where(col(PartnerFact.origin) == "catalog")
    reports = (
        stmt.where(col(PartnerFact.origin) != "catalog")
        .order_by(col(PartnerFact.id).desc())
        .limit(ARTICLE_FACTS)
    )
    return catalog, reports


_FACTS_OF_MISSION = _partner_statements(col(PartnerFact.mission_id) == bindparam("key"))
_FACTS_OF_COUNTRY = _partner_statements(col(PartnerFact.country_code) == bindparam("key"))
_FACTS_OF_AGENCY = _partner_statements(col(Agency.abbrev) == bindparam("key"))
_LINK_COUNT = select(func.count()).where(col(ArticleMission.mission_id) == bindparam("mission"))
_LATEST_OF_MISSION = (
    select(*_ARTICLE_COLS)
    .where(
        col(Article.id).in_(
            select(col(ArticleMission.article_id))
            .where(col(ArticleMission.mission_id) == bindparam("mission"))
            .order_by(col(ArticleMission.article_id).desc())
            .limit(LATEST_WINDOW)
            .scalar_subquery()
        )
    )
    .order_by(col(Article.published_at).desc(), col(Article.id).desc())
    .limit(bindparam("limit"))
)
_LATEST = (
    select(*_ARTICLE_COLS)
    .order_by(col(Article.published_at).desc(), col(Article.id).desc())
    .limit(bindparam("limit"))
)


def _partner_rows(session: Session, statements: tuple[Any, Any], key: Any) -> list[PartnerRow]:
    conn = session.connection()
    found = [*conn.execute(statements[0], {"key": key}), *conn.execute(statements[1], {"key": key})]
    rows = []
    for r in found:
        brief = None
        if r[13] is not None:
            brief = ArticleBrief(
                id=int(r[13]),
                title=r[14] or "",
                url=r[16] or r[15] or "",
                site=r[17] or "",
                source=r[18] or "",
                published_at=r[19],
            )
        rows.append(
            PartnerRow(
                mission_slug=r[0],
                mission_name=r[1],
                country_code=r[2],
                country_name=r[3] or (r[2] or ""),
                flag=r[4] or "",
                agency=r[5],
                agency_name=r[6],
                institution=r[7],
                payload=r[8],
                role=r[9],
                origin=r[10],
                source_url=r[11],
                article=brief,
                confidence=float(r[12] or 0.0),
            )
        )
    return rows


@dataclass(frozen=True, slots=True)
class Reference:
    """The small, slowly changing tables (missions with their lead agency), read in one go.

    The answers service keeps one snapshot for a minute (see ``Answers``): mission lookups
    then cost nothing per request, and a mission an admin adds shows up within that minute
    on every replica, because each replica re-reads the shared database.
    """

    missions: dict[str, MissionRow]

    def sorted_missions(self) -> list[MissionRow]:
        return sorted(self.missions.values(), key=lambda m: m.name.lower())


def reference(session: Session) -> Reference:
    agencies = _agencies(session)
    missions = session.execute(select(Mission)).scalars()
    rows = [_mission_row(m, agencies) for m in missions]
    return Reference(missions={m.slug: m for m in rows})


def mission_by_slug(session: Session, slug: str) -> MissionRow | None:
    mission = session.execute(select(Mission).where(col(Mission.slug) == slug)).scalar()
    if mission is None:
        return None
    return _mission_row(mission, _agencies(session))


def latest_for_mission(session: Session, mission_id: int, limit: int = 3) -> list[ArticleBrief]:
    """The newest ``limit`` articles linked to a mission (see :data:`LATEST_WINDOW`)."""
    params = {"mission": mission_id, "limit": limit}
    return [_brief(r) for r in session.connection().execute(_LATEST_OF_MISSION, params)]


def mission_card(session: Session, slug: str, latest: int = 3) -> MissionCard | None:
    """Everything the ``/mission`` card shows."""
    mission = mission_by_slug(session, slug)
    if mission is None:
        return None
    return card_for(session, mission, latest)


def card_for(session: Session, mission: MissionRow, latest: int = 3) -> MissionCard:
    """The card of an already-loaded mission: four indexed statements."""
    count = session.connection().execute(_LINK_COUNT, {"mission": mission.id}).scalar_one()
    return MissionCard(
        mission=mission,
        partners=_partner_rows(session, _FACTS_OF_MISSION, mission.id),
        latest=latest_for_mission(session, mission.id, latest) if latest > 0 else [],
        article_count=int(count),
    )


def country_contributions(session: Session, code: str) -> Contributions:
    return Contributions(facts=_partner_rows(session, _FACTS_OF_COUNTRY, code))


def agency_contributions(session: Session, abbrev: str) -> Contributions:
    """Facts naming the agency (the missions it leads come from :class:`Reference`)."""
    return Contributions(facts=_partner_rows(session, _FACTS_OF_AGENCY, abbrev))


def all_missions(session: Session) -> list[MissionRow]:
    """Every mission (catalog and admin-added), by name; the list is small (hundreds)."""
    agencies = _agencies(session)
    missions = session.execute(select(Mission)).scalars()
    return sorted((_mission_row(m, agencies) for m in missions), key=lambda m: m.name.lower())


def latest_articles(session: Session, limit: int = 10) -> list[ArticleBrief]:
    return [_brief(r) for r in session.connection().execute(_LATEST, {"limit": limit})]


def sources(session: Session) -> list[SourceRow]:
    """Enabled feeds with their article counts, most productive first."""
    counts = dict(
        session.execute(
            select(col(Article.feed_id), func.count(col(Article.id))).group_by(col(Article.feed_id))
        ).all()
    )
    rows = [
        SourceRow(
            title=f.title or f.url,
            url=f.url,
            homepage=f.homepage,
            articles=int(counts.get(f.id, 0)),
            last_success_at=f.last_success_at,
            enabled=f.enabled,
        )
        for f in session.execute(select(Feed).where(col(Feed.enabled))).scalars()
    ]
    rows.sort(key=lambda r: (-r.articles, r.title.lower()))
    return rows
