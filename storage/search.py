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
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from storage.types import UTCDateTime, utcnow

#: How many of the newest matches are ranked per query.
CANDIDATES = 200
#: Days after which recency halves an article's relevance.
HALF_LIFE_DAYS = 30.0
MARK_START, MARK_END = "\x02", "\x03"

#: Objects migration 0002 creates outside the models (see :func:`include_name`).
SCHEMA_EXTRAS = frozenset(
    {
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


_SQLITE_CANDIDATES = text(
    "SELECT f.rowid, -bm25(article_fts, 10.0, 4.0, 1.0), a.published_at "
    "FROM article_fts f JOIN article a ON a.id = f.rowid "
    "WHERE article_fts MATCH :q ORDER BY f.rowid DESC LIMIT :n"
)
_PG_CANDIDATES = text(
    "SELECT a.id, ts_rank(a.search_tsv, q.q), a.published_at "
    "FROM article a, websearch_to_tsquery('english', :q) AS q(q) "
    "WHERE a.search_tsv @@ q.q ORDER BY a.id DESC LIMIT :n"
)


def _candidates(session: Session, query: str) -> list[tuple[int, float, datetime]]:
    """(id, relevance, published_at) of the newest matches (see module docstring)."""
    terms = parse_query(query)
    if not terms:
        return []
    if session.get_bind().dialect.name == "sqlite":
        expr = fts5_expression(terms)
        if not expr:
            return []
        stmt, q = _SQLITE_CANDIDATES, expr
    else:
        if not any(not t.negated and not t.is_or for t in terms):
            return []
        stmt, q = _PG_CANDIDATES, render_query(terms)
    try:
        rows = session.connection().execute(stmt, {"q": q, "n": CANDIDATES}).all()
    except DBAPIError:  # a query the engine still refuses: no results, not a crash
        session.rollback()
        return []
    return [(int(r[0]), float(r[1] or 0.0), _as_dt(r[2])) for r in rows]


_SQLITE_DETAILS = (
    "SELECT a.id, a.title, coalesce(a.canonical_url, a.url), a.source_site, a.source_name, "
    "snippet(article_fts, 1, char(2), char(3), '…', 24), "
    "snippet(article_fts, 2, char(2), char(3), '…', 24) "
    "FROM article_fts f JOIN article a ON a.id = f.rowid "
    "WHERE article_fts MATCH :q AND f.rowid IN ({ids})"
)
_PG_DETAILS = (
    "SELECT a.id, a.title, coalesce(a.canonical_url, a.url), a.source_site, a.source_name, "
    "ts_headline('english', left(a.summary || ' ' || coalesce(a.content, ''), 4000), q.q, "
    "'StartSel=' || chr(2) || ', StopSel=' || chr(3) || "
    "', MaxWords=30, MinWords=12, ShortWord=2, MaxFragments=2, FragmentDelimiter=\" … \"'), "
    "NULL "
    "FROM article a, websearch_to_tsquery('english', :q) AS q(q) WHERE a.id IN ({ids})"
)


def _details(session: Session, query: str, ids: list[int]) -> dict[int, tuple[Any, ...]]:
    if not ids:
        return {}
    id_list = ",".join(str(int(i)) for i in ids)  # ints only: safe to inline
    terms = parse_query(query)
    if session.get_bind().dialect.name == "sqlite":
        stmt, q = text(_SQLITE_DETAILS.format(ids=id_list)), fts5_expression(terms)
    else:
        stmt, q = text(_PG_DETAILS.format(ids=id_list)), render_query(terms)
    rows = session.connection().execute(stmt, {"q": q}).all()
    return {int(r[0]): tuple(r) for r in rows}


def _pick_snippet(summary_snip: str | None, content_snip: str | None) -> str:
    """Prefer a fragment that actually shows a match; summary first."""
    for snip in (summary_snip, content_snip):
        if snip and MARK_START in snip:
            return snip
    return summary_snip or content_snip or ""


def search_articles(
    session: Session,
    query: str,
    *,
    page: int = 0,
    per_page: int = 5,
    now: datetime | None = None,
) -> SearchPage:
    """One page of hits for ``query`` (web-search syntax), best first."""
    now = now or utcnow()
    canonical = canonical_query(query)
    candidates = _candidates(session, canonical)
    ranked = sorted(candidates, key=lambda c: (_blend(c[1], c[2], now), c[2], c[0]), reverse=True)
    start = max(0, page) * per_page
    chosen = ranked[start : start + per_page]
    details = _details(session, canonical, [c[0] for c in chosen])
    hits = []
    for article_id, relevance, published in chosen:
        row = details.get(article_id)
        if row is None:
            continue
        hits.append(
            SearchHit(
                id=article_id,
                title=str(row[1] or ""),
                url=str(row[2] or ""),
                site=str(row[3] or ""),
                source=str(row[4] or ""),
                published_at=published,
                score=_blend(relevance, published, now),
                snippet=_pick_snippet(row[5], row[6]),
            )
        )
    return SearchPage(
        query=canonical,
        hits=hits,
        page=max(0, page),
        has_next=len(ranked) > start + per_page,
        total=len(ranked),
    )
