"""Pure formatting of answers as Telegram HTML (no I/O; tested without a database).

Rules every function here keeps:

- any text from the store (titles, site names, payloads, snippets) goes through
  :func:`html.escape`; links are emitted only for ``http(s)`` URLs (anything else — a
  ``javascript:`` URL in a hostile feed — is shown as plain text, or not at all);
- an answer is built as a list of **lines that are each balanced HTML**, so
  :func:`split_lines` can cut a long answer between lines and every part stays valid — nothing
  is ever truncated in the middle of a tag or a character (limits count UTF-16 units).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from html import escape
from urllib.parse import urlsplit

from bot.htmltext import html_to_text
from bot.publish.textlimits import utf16_len, utf16_prefix
from storage.queries import (
    ArticleBrief,
    Contributions,
    MissionCard,
    MissionRow,
    PartnerRow,
    SourceRow,
)
from storage.search import MARK_END, MARK_START, SearchPage

MAX_MESSAGE = 4096
SNIPPET_CHARS = 280
MAX_CITATIONS_PER_PARTNER = 2
_MARKS = re.compile(f"([{MARK_START}{MARK_END}])")


# ------------------------------------------------------------------------- primitives
def is_http_url(url: str | None) -> bool:
    if not url:
        return False
    if not url.lstrip()[:8].lower().startswith(("http://", "https://")):
        return False  # cheap rejection before the (slower) full parse
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def link(url: str | None, label: str) -> str:
    """``<a>`` for http(s) URLs, escaped plain text otherwise."""
    if is_http_url(url):
        assert url is not None
        return f'<a href="{escape(url.strip(), quote=True)}">{escape(label)}</a>'
    return escape(label)


def host(url: str | None) -> str:
    """``www.leonarddavid.com/…`` → ``leonarddavid.com`` (a readable source name)."""
    if not url:
        return ""
    try:
        netloc = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return netloc.removeprefix("www.")


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def day(value: datetime | date | None) -> str:
    """ "12 Nov 2026": unambiguous for every reader, no locale needed (and no ``strftime``,
    which is locale-dependent and slow)."""
    if value is None:
        return ""
    return f"{value.day} {_MONTHS[value.month - 1]} {value.year}"


def one_line(text: str) -> str:
    return " ".join(text.split())


def snippet_html(snippet: str, limit: int = SNIPPET_CHARS) -> str:
    """Escape a marked snippet, then turn the ``\\x02…\\x03`` markers into ``<b>…</b>``.

    Escaping first means feed text can never open a tag; the markers are balanced here (an
    unclosed mark is closed at the end, stray closers are dropped), so the result is valid.
    """
    text = one_line(snippet.replace("\n", " "))
    if len(text) > limit:
        text = text[:limit].rstrip() + "…"
    # Escape whole runs between markers (not character by character): same output, a fraction
    # of the calls on a 280-character snippet.
    out: list[str] = []
    bold = False
    for index, chunk in enumerate(_MARKS.split(text)):
        if index % 2:  # a marker
            if chunk == MARK_START and not bold:
                out.append("<b>")
                bold = True
            elif chunk == MARK_END and bold:
                out.append("</b>")
                bold = False
        elif chunk:
            out.append(escape(chunk, quote=False))
    if bold:
        out.append("</b>")
    return "".join(out).replace("<b></b>", "")


def split_lines(lines: Sequence[str], limit: int = MAX_MESSAGE) -> list[str]:
    """Join balanced-HTML lines into messages of at most ``limit`` UTF-16 units each.

    Cuts only between lines; a blank line at a cut is dropped. A single line longer than the
    limit (not produced by this module, but possible for foreign input) is reduced to plain
    text and shortened, which keeps it valid HTML.
    """
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        if utf16_len(line) > limit:
            line = escape(utf16_prefix(html_to_text(line), limit - 1).rstrip()) + "…"
            while utf16_len(line) > limit:  # escaping grew it: shorten the plain text more
                line = escape(utf16_prefix(html_to_text(line), utf16_len(line) - 64)) + "…"
        extra = utf16_len(line) + (1 if current else 0)
        if current and size + extra > limit:
            parts.append("\n".join(current).strip("\n"))
            current, size = [], 0
            if not line.strip():
                continue
            extra = utf16_len(line)
        current.append(line)
        size += extra
    if current:
        parts.append("\n".join(current).strip("\n"))
    return [p for p in parts if p.strip()] or [""]


# ------------------------------------------------------------------------- missions
def _lead_line(m: MissionRow) -> str | None:
    if m.lead is None:
        return None
    flag = f"{m.lead.flag} " if m.lead.flag else ""
    return f"{flag}<b>{escape(m.lead.abbrev)}</b> — {escape(m.lead.name)}"


def _launch(m: MissionRow) -> str:
    if m.launch_date is not None:
        return day(m.launch_date)
    return m.launch_window or ""


def _payload_text(p: PartnerRow) -> str:
    bits = []
    if p.payload:
        bits.append(escape(one_line(p.payload)))
    who = p.institution or p.agency_name or ""
    if who:
        bits.append(escape(one_line(who)))
    if p.agency and p.agency not in who:
        bits.append(escape(p.agency))
    if not bits and p.role:
        bits.append(escape(p.role))
    return ", ".join(bits) if bits else "partner"


def _citation(p: PartnerRow) -> str:
    """Where a fact comes from: the catalog's source, or the article (site, date, link)."""
    if p.origin == "article" and p.article is not None:
        a = p.article
        label = a.site or host(a.url) or "article"
        return f"reported by {link(a.url, label)}, {day(a.published_at)}"
    if p.source_url:
        return f"source: {link(p.source_url, host(p.source_url) or 'link')}"
    return "source: orbitwire catalog"


def _report(p: PartnerRow) -> str:
    """An article citation without its lead-in: "site, date" linked (for "also reported by")."""
    if p.article is None:
        return _citation(p)
    label = p.article.site or host(p.article.url) or "article"
    return f"{link(p.article.url, label)}, {day(p.article.published_at)}"


def _partner_key(p: PartnerRow) -> str:
    return p.country_code or f"agency:{p.agency or p.institution or ''}"


def partner_lines(partners: Iterable[PartnerRow], lead_country: str | None) -> list[str]:
    """One line per partner country: catalog payloads with their source, then article reports.

    Groups by country so a contribution reported by three sites reads as one partner with
    citations, not as three partners; the lead agency's own country is never a partner.
    """
    groups: dict[str, list[PartnerRow]] = {}
    for p in partners:
        if lead_country and p.country_code == lead_country:
            continue
        groups.setdefault(_partner_key(p), []).append(p)
    lines: list[str] = []
    ordered = sorted(
        groups.values(),
        key=lambda g: (all(p.origin != "catalog" for p in g), g[0].country_name.lower()),
    )
    for group in ordered:
        catalog = [p for p in group if p.origin == "catalog"]
        reports = sorted(
            (p for p in group if p.origin != "catalog"),
            key=lambda p: p.article.published_at if p.article else datetime.min,
            reverse=True,
        )
        head = group[0]
        flag = f"{head.flag} " if head.flag else ""
        name = escape(head.country_name or head.agency or "International")
        main = catalog or reports[:1]
        for fact in main:
            lines.append(f"{flag}<b>{name}</b> — {_payload_text(fact)} · {_citation(fact)}")
        extra = [p for p in reports if p not in main][:MAX_CITATIONS_PER_PARTNER]
        if extra:
            lines.append("    also reported by " + "; ".join(_report(p) for p in extra))
    return lines


def article_line(a: ArticleBrief, *, bullet: str = "•") -> str:
    site = escape(a.site or a.source or host(a.url))
    meta = ", ".join(x for x in (site, day(a.published_at)) if x)
    title = one_line(a.title) or "(untitled)"
    return f"{bullet} {link(a.url, title)}" + (f" — {meta}" if meta else "")


def mission_card_lines(card: MissionCard) -> list[str]:
    """The ``/mission`` card: identity, target, launch/status, description, partners, news."""
    m = card.mission
    # A short upper-case alias is the abbreviation people use ("CE-7"); show it with the name.
    aliases = [a for a in m.aliases if a.isascii() and len(a) <= 8 and a.upper() == a][:1]
    title = f"🛰 <b>{escape(m.name)}</b>" + (f" ({escape(aliases[0])})" if aliases else "")
    lines = [title]
    if lead := _lead_line(m):
        lines.append(lead)
    facts = []
    if m.target:
        facts.append(f"🎯 {escape(m.target)}")
    if m.type:
        facts.append(escape(m.type))
    if facts:
        lines.append(" · ".join(facts))
    timing = []
    if launch := _launch(m):
        timing.append(f"🚀 {escape(launch)}")
    if m.status:
        timing.append(f"status: {escape(m.status)}")
    if timing:
        lines.append(" · ".join(timing))
    if m.description:
        lines += ["", f"<i>{escape(one_line(m.description))}</i>"]
    partners = partner_lines(card.partners, m.lead.country_code if m.lead else None)
    lines += ["", "<b>International partners</b>"]
    lines += partners or ["none known"]
    lines += ["", f"<b>Latest news</b> ({card.article_count} linked)"]
    lines += [article_line(a) for a in card.latest] or ["no linked articles yet"]
    if is_http_url(m.wikipedia):
        lines += ["", link(m.wikipedia, "More on Wikipedia")]
    return lines


def mission_partners_lines(m: MissionRow, partners: Sequence[PartnerRow]) -> list[str]:
    lines = [f"🤝 <b>Partners of {escape(m.name)}</b>"]
    if lead := _lead_line(m):
        lines.append(f"led by {lead}")
    lines.append("")
    lines += partner_lines(partners, m.lead.country_code if m.lead else None) or [
        "No international partners known yet."
    ]
    return lines


def contributions_lines(title: str, contributions: Contributions) -> list[str]:
    """For a country or agency: each mission it contributes to and what, with sources."""
    lines = [f"🤝 <b>{title}</b>"]
    if contributions.leads:
        lines += ["", "<b>Leads</b>"]
        lines += [
            f"• {escape(m.name)}" + (f" — {escape(m.target)}" if m.target else "")
            for m in contributions.leads
        ]
    by_mission: dict[str, list[PartnerRow]] = {}
    for fact in contributions.facts:
        by_mission.setdefault(fact.mission_slug, []).append(fact)
    if by_mission:
        lines += ["", "<b>Contributes to</b>"]
    for facts in sorted(by_mission.values(), key=lambda fs: fs[0].mission_name.lower()):
        catalog = [f for f in facts if f.origin == "catalog"]
        reports = [f for f in facts if f.origin != "catalog"]
        main = catalog or reports[:1]
        for fact in main:
            lines.append(
                f"• <b>{escape(fact.mission_name)}</b> — {_payload_text(fact)} · {_citation(fact)}"
            )
        extra = [f for f in reports if f not in main][:MAX_CITATIONS_PER_PARTNER]
        if extra:
            lines.append("    also " + "; ".join(_citation(f) for f in extra))
    if not by_mission and not contributions.leads:
        lines += ["", "No contributions to missions in my catalog or the news yet."]
    return lines


def mission_list_line(m: MissionRow) -> str:
    flag = f"{m.lead.flag} " if m.lead and m.lead.flag else ""
    bits = [b for b in (m.target, _launch(m), m.status) if b]
    tail = (" — " + escape(" · ".join(bits))) if bits else ""
    return f"{flag}<b>{escape(m.name)}</b>{tail}"


def missions_lines(title: str, missions: Sequence[MissionRow]) -> list[str]:
    lines = [f"🛰 <b>{title}</b> ({len(missions)})", ""]
    return lines + [mission_list_line(m) for m in missions]


# ------------------------------------------------------------------------- news
def latest_lines(articles: Sequence[ArticleBrief]) -> list[str]:
    if not articles:
        return ["No articles yet — feeds are fetched every few minutes."]
    lines = [f"📰 <b>Latest {len(articles)} articles</b>", ""]
    return lines + [article_line(a) for a in articles]


def search_lines(page: SearchPage, per_page: int) -> list[str]:
    query = escape(page.query)
    if not page.hits:
        if page.page > 0:
            return [f"🔎 No more results for <b>{query}</b>."]
        return [
            f"🔎 Nothing found for <b>{query}</b>.",
            "Try fewer or different words, a mission name, or /missions.",
        ]
    pages = max(1, -(-page.total // per_page))
    found = f"{page.total}{'+' if page.capped else ''} found"
    lines = [f"🔎 <b>{query}</b> — {found}, page {page.page + 1}/{pages}", ""]
    for n, hit in enumerate(page.hits, start=page.page * per_page + 1):
        brief = ArticleBrief(hit.id, hit.title, hit.url, hit.site, hit.source, hit.published_at)
        lines.append(article_line(brief, bullet=f"{n}."))
        if hit.snippet.strip():
            lines.append(f"    {snippet_html(hit.snippet)}")
    return lines


def sources_lines(rows: Sequence[SourceRow]) -> list[str]:
    if not rows:
        return ["No sources configured yet."]
    lines = [f"📡 <b>Sources</b> ({len(rows)} feeds)", ""]
    for r in rows:
        target = r.homepage if is_http_url(r.homepage) else r.url
        tail = f" — {r.articles} articles"
        if r.last_success_at:
            tail += f", last fetched {day(r.last_success_at)}"
        lines.append(f"• {link(target, one_line(r.title))}{tail}")
    return lines
