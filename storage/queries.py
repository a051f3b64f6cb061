"""Read queries behind the chat answers (mission cards, partners, lists, sources).

Every function takes a ``Session`` and returns plain frozen dataclasses, never ORM objects: the
answers are rendered after the session closed (in another thread), and plain rows cannot
lazy-load behind anyone's back. Each answer is a fixed handful of indexed statements, whatever
the store's size (see ``benchmarks/answers.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, text
from sqlmodel import Session, col

from storage.models import (
    Agency,
    Article,
    Country,
    Feed,
    Mission,
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


def _utc(value: Any) -> datetime:
    """A stored naive-UTC timestamp as an aware datetime.

    Raw ``text()`` rows skip the model's :class:`~storage.types.UTCDateTime` processing, and on
    SQLite they hand back ISO text; converting here costs a microsecond instead of a type
    lookup per column.
    """
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _brief(row: Any) -> ArticleBrief:
    return ArticleBrief(
        id=int(row.id),
        title=row.title or "",
        url=row.canonical_url or row.url or "",
        site=row.source_site or "",
        source=row.source_name or "",
        published_at=_utc(row.published_at),
    )


def reader(db: Session | Connection) -> Connection:
    """The connection to run raw statements on, from a session (``Database.run``) or directly
    a connection (a lighter read path: no ORM session, no identity map, no flush checks)."""
    if isinstance(db, Connection):
        return db
    if not db.in_transaction() and db.get_bind().dialect.name == "postgresql":
        # A read-only answer is one statement: autocommit skips the BEGIN and COMMIT round
        # trips psycopg would otherwise send around it (reset when the connection goes back).
        return db.connection(execution_options=_AUTOCOMMIT)
    return db.connection()


_AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}


_ARTICLE_COLS = (
    col(Article.id),
    col(Article.title),
    col(Article.url),
    col(Article.canonical_url),
    col(Article.source_site),
    col(Article.source_name),
    col(Article.published_at),
)

# ------------------------------------------------------------------ answer statements
# Written as ``text()`` once, at import. Why not the ORM/Core builders: building and compiling a
# joined select costs milliseconds of Python per answer, and each statement is a round trip
# (a context switch to the PostgreSQL backend, a chance to be descheduled on a busy machine).
# So each answer is ONE statement returning plain tuples: the parts of a card are concatenated
# with ``UNION ALL`` and told apart by the leading ``part`` column. The SQL is portable between
# SQLite and PostgreSQL (``:name`` binds are rewritten per dialect by SQLAlchemy, and the
# compiled form is cached after the first call).
#
# Row layout shared by every branch (22 columns):
#   0 part | 1 n (fact id or link count) | 2 mission slug | 3 mission name | 4 country code
#   5 country name | 6 flag | 7 agency abbrev | 8 agency name | 9 institution | 10 payload
#   11 role | 12 origin | 13 source url | 14 confidence | 15-21 article id, title, url,
#   canonical url, site, source name, published_at
_FACT, _COUNT, _LATEST_PART = 1, 2, 3
_FACT_SELECT = """SELECT 1 AS part, pf.id AS n, m.slug AS m_slug, m.name AS m_name,
 pf.country_code AS c_code, c.name AS c_name, c.flag AS c_flag, ag.abbrev AS ag_abbrev,
 ag.name AS ag_name, pf.institution AS institution, pf.payload AS payload, pf.role AS role,
 pf.origin AS origin, pf.source_url AS source_url, pf.confidence AS confidence, a.id AS a_id,
 a.title AS a_title, a.url AS a_url, a.canonical_url AS a_canonical, a.source_site AS a_site,
 a.source_name AS a_source, a.published_at AS a_published
FROM partner_fact pf
JOIN mission m ON m.id = pf.mission_id
LEFT JOIN country c ON c.code = pf.country_code
LEFT JOIN agency ag ON ag.id = pf.agency_id
LEFT JOIN article a ON a.id = pf.article_id
WHERE {where}"""


def _facts_sql(where: str) -> str:
    """Catalog facts, then the newest :data:`ARTICLE_FACTS` article facts, matching ``where``."""
    catalog = _FACT_SELECT.format(where=f"({where}) AND pf.origin = 'catalog'")
    reports = _FACT_SELECT.format(where=f"({where}) AND pf.origin <> 'catalog'")
    return (
        f"SELECT * FROM ({catalog}\n ORDER BY pf.id) AS catalog\nUNION ALL\n"  # noqa: S608
        f"SELECT * FROM ({reports}\n ORDER BY pf.id DESC LIMIT {ARTICLE_FACTS}) AS reports"
    )


def _nulls(n: int) -> str:
    """``NULL, NULL, …``: padding so every ``UNION ALL`` branch has the same 22 columns."""
    return ", ".join(["NULL"] * n)


_COUNT_SQL = f"SELECT {_COUNT}, count(*), {_nulls(20)} FROM article_mission WHERE mission_id = :key"  # noqa: S608 - constants only
#: Constants only in these f-strings; every value is a bound parameter.
# The newest LATEST_WINDOW links, their top ``:latest`` by publication date picked on
# ``ix_article_id_published`` alone (index-only on PostgreSQL: migration 0004), and only those
# few rows then read from the wide ``article`` table.
_LATEST_ROWS = (
    "SELECT a.id, a.title, a.url, a.canonical_url, a.source_site, a.source_name, "  # noqa: S608
    "a.published_at FROM (SELECT x.id, x.published_at FROM article x WHERE x.id IN "
    "(SELECT article_id FROM article_mission WHERE mission_id = :key "
    f"ORDER BY article_id DESC LIMIT {LATEST_WINDOW}) "
    "ORDER BY x.published_at DESC, x.id DESC LIMIT :latest) AS t "
    "JOIN article a ON a.id = t.id ORDER BY t.published_at DESC, t.id DESC"
)
_LATEST_SQL = f"SELECT {_LATEST_PART}, {_nulls(14)}, l.* FROM ({_LATEST_ROWS}) AS l"  # noqa: S608
_MISSION_FACTS_SQL = _facts_sql("pf.mission_id = :key")
#: The whole ``/mission`` card in one statement: facts, link count, latest articles.


#: The whole ``/mission`` card in one statement: facts, link count, latest articles.
_CARD = text(f"{_MISSION_FACTS_SQL}\nUNION ALL\n{_COUNT_SQL}\nUNION ALL\n{_LATEST_SQL}")
_CARD_NO_LATEST = text(f"{_MISSION_FACTS_SQL}\nUNION ALL\n{_COUNT_SQL}")
_FACTS_OF_MISSION = text(_MISSION_FACTS_SQL)
_FACTS_OF_COUNTRY = text(_facts_sql("pf.country_code = :key"))
_FACTS_OF_AGENCY = text(_facts_sql("pf.agency_id = (SELECT id FROM agency WHERE abbrev = :key)"))
_LATEST_OF_MISSION = text(_LATEST_ROWS)
_LATEST = (
    select(*_ARTICLE_COLS)
    .order_by(col(Article.published_at).desc(), col(Article.id).desc())
    .limit(bindparam("limit"))
)


def _article_at(r: Sequence[Any], i: int) -> ArticleBrief:
    """The article in columns ``i``..``i+6`` (id, title, url, canonical, site, source, date)."""
    return ArticleBrief(
        id=int(r[i]),
        title=r[i + 1] or "",
        url=r[i + 3] or r[i + 2] or "",
        site=r[i + 4] or "",
        source=r[i + 5] or "",
        published_at=_utc(r[i + 6]),
    )


def _partner(r: Sequence[Any]) -> PartnerRow:
    return PartnerRow(
        mission_slug=r[2],
        mission_name=r[3],
        country_code=r[4],
        country_name=r[5] or (r[4] or ""),
        flag=r[6] or "",
        agency=r[7],
        agency_name=r[8],
        institution=r[9],
        payload=r[10],
        role=r[11],
        origin=r[12],
        source_url=r[13],
        article=_article_at(r, 15) if r[15] is not None else None,
        confidence=float(r[14] or 0.0),
    )


def _partner_rows(db: Session | Connection, stmt: Any, key: Any) -> list[PartnerRow]:
    return [_partner(r) for r in reader(db).execute(stmt, {"key": key})]


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


def latest_for_mission(
    db: Session | Connection, mission_id: int, limit: int = 3
) -> list[ArticleBrief]:
    """The newest ``limit`` articles linked to a mission (see :data:`LATEST_WINDOW`)."""
    rows = reader(db).execute(_LATEST_OF_MISSION, {"key": mission_id, "latest": limit})
    return [_article_at(r, 0) for r in rows]


def mission_card(session: Session, slug: str, latest: int = 3) -> MissionCard | None:
    """Everything the ``/mission`` card shows."""
    mission = mission_by_slug(session, slug)
    if mission is None:
        return None
    return card_for(session, mission, latest)


def card_for(db: Session | Connection, mission: MissionRow, latest: int = 3) -> MissionCard:
    """The card of an already-loaded mission, in one statement (see ``_CARD``)."""
    if latest > 0:
        rows = reader(db).execute(_CARD, {"key": mission.id, "latest": latest})
    else:
        rows = reader(db).execute(_CARD_NO_LATEST, {"key": mission.id})
    partners: list[PartnerRow] = []
    articles: list[ArticleBrief] = []
    count = 0
    for r in rows:
        part = r[0]
        if part == _FACT:
            partners.append(_partner(r))
        elif part == _COUNT:
            count = int(r[1])
        else:
            articles.append(_article_at(r, 15))
    return MissionCard(mission=mission, partners=partners, latest=articles, article_count=count)


def mission_partners(db: Session | Connection, mission_id: int) -> list[PartnerRow]:
    """Partner facts of one mission (what ``/partners MISSION`` shows; no articles, no count)."""
    return _partner_rows(db, _FACTS_OF_MISSION, mission_id)


def country_contributions(db: Session | Connection, code: str) -> Contributions:
    return Contributions(facts=_partner_rows(db, _FACTS_OF_COUNTRY, code))


def agency_contributions(db: Session | Connection, abbrev: str) -> Contributions:
    """Facts naming the agency (the missions it leads come from :class:`Reference`)."""
    return Contributions(facts=_partner_rows(db, _FACTS_OF_AGENCY, abbrev))


def all_missions(session: Session) -> list[MissionRow]:
    """Every mission (catalog and admin-added), by name; the list is small (hundreds)."""
    agencies = _agencies(session)
    missions = session.execute(select(Mission)).scalars()
    return sorted((_mission_row(m, agencies) for m in missions), key=lambda m: m.name.lower())


def latest_articles(db: Session | Connection, limit: int = 10) -> list[ArticleBrief]:
    return [_brief(r) for r in reader(db).execute(_LATEST, {"limit": limit})]


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
