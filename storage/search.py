"""Full-text search over articles: FTS5 on SQLite, ``tsvector`` on PostgreSQL.

The index objects come from migration 0002 (not from the models, because they are
dialect-specific); :func:`include_name` hides them from Alembic autogenerate.

Ranking is relevance blended with recency: ``score = relevance / (1 + age_days / HALF_LIFE)``.
Scoring every match of a common word ("moon") over 100k articles would blow the latency budget
(5 ms p99 on SQLite; 500 candidates already cost 3 ms, 200 cost 1.2 ms),
so each query takes the **newest** :data:`CANDIDATES` matches (a rowid/id-ordered index walk
that stops early), scores those, and pages through them. Old articles still surface for rare
terms; for common terms the newest relevant stories are what a reader wants anyway.

Users type web-search syntax on both backends (``"exact phrase"``, ``or``, ``-word``):
:func:`parse_query` turns it into terms once; SQLite gets a quoted FTS5 expression (never a
syntax error, whatever the user typed), PostgreSQL gets ``websearch_to_tsquery``.

Snippets are marked with ``\\x02``/``\\x03`` (not HTML) so callers can escape the text first
and then turn the markers into ``<b>…</b>`` (:func:`bot.answers.render.snippet_html`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from storage.queries import reader
from storage.types import UTCDateTime, utcnow

#: How many of the newest matches are ranked per query.
CANDIDATES = 200
#: Days after which recency halves an article's relevance.
HALF_LIFE_DAYS = 30.0
MARK_START, MARK_END = "\x02", "\x03"

#: Objects migrations 0002 and 0004 create outside the models (see :func:`include_name`).
SCHEMA_EXTRAS = frozenset(
    {
        "ix_article_id_published",
        "article_fts",
        "search_tsv",
        "ix_article_search_tsv",
        "ix_article_mission_mission_article",
        "ix_partner_fact_country_code",
        "ix_partner_fact_agency_id",
    }
)

#: English stop words dropped from queries. PostgreSQL's ``english`` config drops them itself;
#: FTS5 does not, so without this "when does tianwen 2 launch" would require "when" and "does".
STOPWORDS = frozenset(
    re.findall(
        r"\w+",
        """
        a about an and are as at be been but by can could did do does for from had has have how
        i if in into is it its me my of on or our so than that the their them then there these
        they this to was we were what when where which while who whom why will with would you
        your tell show find any some all news latest
        """,
    )
)

_TOKEN_RE = re.compile(r'(-?)"([^"]*)"?|(\S+)')
_WORD_RE = re.compile(r"\w+", re.UNICODE)
_UTC = UTCDateTime()


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic ``include_name`` hook: skip the search objects autogenerate cannot model."""
    if name is None:
        return True
    if type_ == "table" and name.startswith("article_fts"):
        return False  # the FTS5 table and its shadow tables (article_fts_data, …)
    return name not in SCHEMA_EXTRAS


@dataclass(frozen=True, slots=True)
class Term:
    """One query term: words (a phrase when several), negated, or an OR between neighbours."""

    words: tuple[str, ...]
    negated: bool = False
    is_or: bool = False


def parse_query(raw: str) -> list[Term]:
    """Web-search syntax → terms, stop words dropped (unless quoted), OR kept between terms."""
    terms: list[Term] = []
    for neg, phrase, bare in _TOKEN_RE.findall(raw):
        if bare and bare.lower() == "or":
            if terms and not terms[-1].is_or:
                terms.append(Term((), is_or=True))
            continue
        negated = bool(neg) or bare.startswith("-")
        source = phrase if not bare else bare.lstrip("-")
        words = tuple(w.lower() for w in _WORD_RE.findall(source))
        if not phrase and len(words) == 1 and words[0] in STOPWORDS:
            continue  # a quoted phrase or a hyphenated word keeps its small words
        if words:
            terms.append(Term(words, negated=negated))
    while terms and terms[-1].is_or:
        terms.pop()
    while terms and terms[0].is_or:
        terms.pop(0)
    return terms


def render_query(terms: list[Term]) -> str:
    """Terms back to canonical web-search text (what pagination buttons carry)."""
    out: list[str] = []
    for term in terms:
        if term.is_or:
            out.append("or")
            continue
        body = " ".join(term.words)
        if len(term.words) > 1:
            body = f'"{body}"'
        out.append(("-" if term.negated else "") + body)
    return " ".join(out)


def canonical_query(raw: str, max_bytes: int = 200) -> str:
    """The query as searched: parsed, re-rendered, cut at a term boundary to ``max_bytes``.

    Pagination re-runs the canonical text, so page 2 is always the same search as page 1 even
    when the user's original text was too long for a button.
    """
    terms = parse_query(raw)
    while terms and len(render_query(terms).encode()) > max_bytes:
        terms.pop()
        while terms and terms[-1].is_or:
            terms.pop()
    return render_query(terms)


def fts5_expression(terms: list[Term]) -> str:
    """An FTS5 MATCH expression; every term is a quoted string, so user text cannot inject."""

    def quoted(term: Term) -> str:
        return '"' + " ".join(term.words).replace('"', '""') + '"'

    positive: list[str] = []
    negative: list[str] = []
    pending_or = False
    for term in terms:
        if term.is_or:
            pending_or = True
            continue
        if term.negated:
            negative.append(quoted(term))
        elif pending_or and positive:
            positive[-1] = f"{positive[-1]} OR {quoted(term)}"
        else:
            positive.append(quoted(term))
        pending_or = False
    if not positive:
        return ""
    expr = " AND ".join(f"({p})" for p in positive)
    if negative:
        expr = f"({expr}) NOT ({' OR '.join(negative)})"
    return expr


@dataclass(frozen=True, slots=True)
class SearchHit:
    id: int
    title: str
    url: str
    site: str
    source: str
    published_at: datetime
    score: float
    snippet: str  # plain text with MARK_START/MARK_END around matches


@dataclass(frozen=True, slots=True)
class SearchPage:
    query: str
    hits: list[SearchHit]
    page: int
    has_next: bool
    total: int  # candidates found (capped at CANDIDATES)

    @property
    def capped(self) -> bool:
        return self.total >= CANDIDATES


def _as_dt(value: Any) -> datetime:
    result = _UTC.process_result_value(value, None)  # type: ignore[arg-type]
    assert result is not None
    return result


def _blend(relevance: float, published: datetime, now: datetime) -> float:
    age_days = max(0.0, (now - published).total_seconds() / 86400)
    return relevance / (1.0 + age_days / HALF_LIFE_DAYS)


# One statement per search: the newest CANDIDATES matches (``c``), their blended score and the
# candidate count (``r``, a window count), the requested page (``p``), and titles and snippets
# for that page only. Why one: scoring 200 candidates in SQL instead of Python avoids building
# 200 datetimes and tuples per query, and a single round trip leaves fewer chances to be
# descheduled on a busy machine. The blend is the same formula as :func:`_blend`.
_SQLITE_SEARCH = text(
    "WITH c AS (SELECT f.rowid AS id, -bm25(article_fts, 10.0, 4.0, 1.0) AS rel "
    " FROM article_fts f WHERE article_fts MATCH :q ORDER BY f.rowid DESC LIMIT :n), "
    "r AS (SELECT c.id AS id, a.published_at AS published_at, count(*) OVER () AS total, "
    " c.rel / (1.0 + max(0.0, julianday(:now) - julianday(a.published_at)) / :half) AS score "
    " FROM c JOIN article a ON a.id = c.id), "
    "p AS (SELECT * FROM r ORDER BY score DESC, published_at DESC, id DESC "
    " LIMIT :limit OFFSET :offset) "
    "SELECT p.id, p.score, p.published_at, p.total, a.title, coalesce(a.canonical_url, a.url), "
    " a.source_site, a.source_name, "
    " snippet(article_fts, 1, char(2), char(3), '…', 24), "
    " snippet(article_fts, 2, char(2), char(3), '…', 24) "
    "FROM p JOIN article a ON a.id = p.id JOIN article_fts f ON f.rowid = p.id "
    "WHERE article_fts MATCH :q ORDER BY p.score DESC, p.published_at DESC, p.id DESC"
)
# ts_rank is computed in ``r`` (after the LIMIT), so a bitmap plan over a common word never
# ranks thousands of rows; ts_headline (the costly part) runs for the page's rows only.
_PG_SEARCH = text(
    "WITH c AS (SELECT a.id, a.published_at, a.search_tsv FROM article a "
    " WHERE a.search_tsv @@ websearch_to_tsquery('english', :q) ORDER BY a.id DESC LIMIT :n), "
    "r AS (SELECT c.id, c.published_at, count(*) OVER () AS total, "
    " ts_rank(c.search_tsv, websearch_to_tsquery('english', :q)) / (1.0 + greatest(0.0, "
    " extract(epoch FROM (CAST(:now AS timestamp) - c.published_at))::float8 / 86400.0) "
    " / CAST(:half AS float8)) AS score FROM c), "
    "p AS (SELECT * FROM r ORDER BY score DESC, published_at DESC, id DESC "
    " LIMIT :limit OFFSET :offset) "
    "SELECT p.id, p.score, p.published_at, p.total, a.title, coalesce(a.canonical_url, a.url), "
    " a.source_site, a.source_name, "
    " ts_headline('english', left(a.summary || ' ' || coalesce(a.content, ''), 4000), "
    " websearch_to_tsquery('english', :q), 'StartSel=' || chr(2) || ', StopSel=' || chr(3) || "
    " ', MaxWords=30, MinWords=12, ShortWord=2, MaxFragments=2, FragmentDelimiter=\" … \"'), "
    " NULL "
    "FROM p JOIN article a ON a.id = p.id ORDER BY p.score DESC, p.published_at DESC, p.id DESC"
)


def _pick_snippet(summary_snip: str | None, content_snip: str | None) -> str:
    """Prefer a fragment that actually shows a match; summary first."""
    for snip in (summary_snip, content_snip):
        if snip and MARK_START in snip:
            return snip
    return summary_snip or content_snip or ""


def search_articles(
    db: Session | Connection,
    query: str,
    *,
    page: int = 0,
    per_page: int = 5,
    now: datetime | None = None,
) -> SearchPage:
    """One page of hits for ``query`` (web-search syntax), best first, in one statement."""
    now = now or utcnow()
    page = max(0, page)
    canonical = canonical_query(query)
    terms = parse_query(canonical)
    conn = reader(db)
    if conn.dialect.name == "sqlite":
        stmt, q = _SQLITE_SEARCH, fts5_expression(terms)
        now_param: Any = now.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
    else:
        stmt = _PG_SEARCH
        q = render_query(terms) if any(not t.negated and not t.is_or for t in terms) else ""
        now_param = now.astimezone(UTC).replace(tzinfo=None)
    rows: list[Any] = []
    if q:
        params = {
            "q": q,
            "n": CANDIDATES,
            "now": now_param,
            "half": HALF_LIFE_DAYS,
            "limit": per_page,
            "offset": page * per_page,
        }
        try:
            rows = list(conn.execute(stmt, params))
        except DBAPIError:  # a query the engine still refuses: no results, not a crash
            if isinstance(db, Session):
                db.rollback()
            else:
                conn.rollback()
    hits = [
        SearchHit(
            id=int(r[0]),
            title=str(r[4] or ""),
            url=str(r[5] or ""),
            site=str(r[6] or ""),
            source=str(r[7] or ""),
            published_at=_as_dt(r[2]),
            score=float(r[1] or 0.0),
            snippet=_pick_snippet(r[8], r[9]),
        )
        for r in rows
    ]
    total = int(rows[0][3]) if rows else 0
    return SearchPage(
        query=canonical,
        hits=hits,
        page=page,
        has_next=total > (page + 1) * per_page,
        total=total,
    )
