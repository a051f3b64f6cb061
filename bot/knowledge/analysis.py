"""One article's knowledge, computed without the database: mentions and partner facts.

Why a separate, pure step: linking and partner extraction are the costliest part of ingesting
an article (tens of µs to link, more to extract), and they need nothing but the article's text
and the catalog. :class:`Analyser` is picklable, so ingestion runs it in the parser worker
processes next to the parse (both CPU cores work, the event loop's process only writes), and
:func:`storage.knowledge.write_links` stores the result. ``orbitwire relink`` and the admin
queue call the same :func:`analyse` in-process, so every path links alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from bot.knowledge.catalog import Catalog
from bot.knowledge.extract import extract_partners
from bot.knowledge.linker import Linker
from bot.knowledge.textnorm import fold_key

#: Extraction reads at most this much of an article (characters). Partner facts are stated in
#: the first paragraphs of a news story; 20,000 characters is ~3,000 words, far more than the
#: parser's summaries and most full-content posts, and it bounds the worst case of a 100 KB
#: content field (extraction is linear but ~20x costlier per character than linking). Linking
#: itself always reads the whole text.
EXTRACT_MAX_CHARS = 20_000


class Fact(NamedTuple):
    """A :class:`~bot.knowledge.extract.PartnerCandidate` as a plain tuple.

    Analyses cross the pipe from the parser workers by the thousand; a tuple unpickles in a
    fraction of the time of a (frozen, slotted) dataclass, on the event loop's process.
    """

    mission_slug: str
    country_code: str | None
    agency_abbrev: str | None
    institution: str | None
    payload: str | None
    role: str | None
    evidence: str
    confidence: float
    key_prefix: str  # fact_key_prefix(...): the store adds the article id and hashes it


def fact_key_prefix(
    mission: str, country: str | None, agency: str | None, payload: str | None
) -> str:
    """The normalized (mission, country, agency, payload) part of a fact's key.

    Computed where the fact is found (in the parser workers for ingestion): the folding is the
    costly part of the key, and the database writer, the critical path of a big pass, is then
    left with one hash per fact.
    """
    parts = (mission, (country or "").upper(), fold_key(agency or ""), fold_key(payload or ""))
    return "\x1f".join(parts) + "\x1f"


@dataclass(slots=True)
class Analysis:
    """Mention counts by catalog key (mission slug, agency abbrev, country code) and facts."""

    missions: dict[str, int] = field(default_factory=dict)
    agencies: dict[str, int] = field(default_factory=dict)
    countries: dict[str, int] = field(default_factory=dict)
    facts: list[Fact] = field(default_factory=list)

    def __reduce__(self) -> tuple[Any, ...]:
        # Plain tuples: a NamedTuple unpickles through a Python-level __new__ (~10 µs each),
        # a plain tuple in C; _restore rebuilds the Facts with the fast _make.
        facts = [tuple(f) for f in self.facts]
        return (_restore, (self.missions, self.agencies, self.countries, facts))


def _restore(
    missions: dict[str, int],
    agencies: dict[str, int],
    countries: dict[str, int],
    facts: list[tuple[Any, ...]],
) -> Analysis:
    make = Fact._make
    return Analysis(missions, agencies, countries, [make(f) for f in facts])


def article_text(title: str, summary: str, content: str | None) -> str:
    """What we link: title, summary and content as separate sentences.

    The summary is left out when the content already contains it: feeds that carry full
    content usually send an excerpt of it as the description (the parser also falls back to
    the flattened content). Linking it twice doubled the linking and extraction work and
    counted every mention of the excerpt twice.
    """
    summary = (summary or "").strip()
    content = (content or "").strip()
    if summary and content and _summary_in_content(summary, content):
        summary = ""
    parts = [p.strip() for p in (title, summary, content) if p and p.strip()]
    return ".\n".join(p.rstrip(".") for p in parts) + ("." if parts else "")


def _summary_in_content(summary: str, content: str) -> bool:
    """True when the (whitespace-collapsed, maybe "…"-capped) summary is a part of content."""
    core = " ".join(summary.split())
    core = core.removesuffix("…").removesuffix("...").rstrip()
    return bool(core) and core in " ".join(content.split())


def analyse(
    title: str, summary: str, content: str | None, linker: Linker, catalog: Catalog
) -> Analysis:
    """Link the article's text and, when it names a mission, extract partner facts."""
    text = article_text(title or "", summary or "", content)
    mentions = linker.link(text)
    result = Analysis(
        missions=dict(mentions.missions),
        agencies=dict(mentions.agencies),
        countries=dict(mentions.countries),
    )
    if mentions.missions:  # no mission, no fact: extraction is skipped before any tokenising
        result.facts = [
            Fact(
                c.mission_slug, c.country_code, c.agency_abbrev, c.institution, c.payload,
                c.role, c.evidence, c.confidence,
                fact_key_prefix(c.mission_slug, c.country_code, c.agency_abbrev, c.payload),
            )
            for c in extract_partners(text, catalog, linker, max_chars=EXTRACT_MAX_CHARS)
        ]  # fmt: skip
    return result


class Analyser:
    """``analyse`` bound to a catalog; picklable, builds its linker on first use.

    Sent once to each parser worker process: only the catalog crosses the pipe (the
    Aho-Corasick automaton is rebuilt in the worker, ~25 ms, rather than pickled).
    """

    def __init__(self, catalog: Catalog, linker: Linker | None = None) -> None:
        self.catalog = catalog
        self._linker = linker

    @property
    def linker(self) -> Linker:
        if self._linker is None:
            self._linker = Linker(self.catalog)
        return self._linker

    def warm(self) -> None:
        """Build the linker now (the worker does this before it reports ready)."""
        _ = self.linker

    def __call__(self, title: str, summary: str, content: str | None) -> Analysis:
        return analyse(title, summary, content, self.linker, self.catalog)

    def __getstate__(self) -> dict[str, Any]:
        return {"catalog": self.catalog}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.catalog = state["catalog"]
        self._linker = None
