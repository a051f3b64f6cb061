"""Turning what people type into catalog entities: missions, agencies, countries.

Exact lookups go through :func:`~bot.knowledge.textnorm.fold_key` (so "CHANG’E 7", "change-7"
and "CE-7" are one key); countries also answer to demonyms, ISO alpha-2/alpha-3 codes and the
catalog's alternative names ("pakistani", "PK", "UAE", "the PRC"). Everything else gets fuzzy
suggestions from rapidfuzz, which is what the "Did you mean" buttons show.

Built once per process from the immutable catalog; lookups are dictionary hits, and a fuzzy
pass over ~1,500 names costs well under a millisecond.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import pycountry
from rapidfuzz import fuzz, process

from bot.knowledge.catalog import AgencyInfo, Catalog, CountryInfo, MissionInfo
from bot.knowledge.textnorm import fold_key, normalize

Kind = Literal["mission", "agency", "country"]
ALL_KINDS: tuple[Kind, ...] = ("mission", "agency", "country")

#: Fuzzy score (0-100, rapidfuzz WRatio) a name needs to be offered as a suggestion.
SUGGEST_CUTOFF = 72.0
#: Distinct (query, kinds, limit) suggestion lists kept per process (least recently used go).
SUGGEST_CACHE = 4096

_LEADING = re.compile(r"^(?:the|a|an)\s+", re.I)
_TRAILING = re.compile(
    r"(?:\s+(?:mission|missions|probe|spacecraft|programme|program|space agency))+$", re.I
)
_POSSESSIVE = re.compile(r"(?:'s|’s)$", re.I)


@dataclass(frozen=True, slots=True)
class Entity:
    """A resolved mission (key = slug), agency (abbrev) or country (ISO alpha-2 code)."""

    kind: Kind
    key: str
    label: str


def clean_subject(text: str) -> str:
    """Strip what people wrap a name in: quotes, "the", "mission", a possessive, punctuation."""
    text = text.strip().strip("\"'“”‘’«»`").strip()
    text = text.rstrip("?!.,;: ").strip()
    text = _LEADING.sub("", text)
    text = _TRAILING.sub("", text)
    text = _POSSESSIVE.sub("", text)
    return text.strip()


class Resolver:
    """Exact and fuzzy name resolution over one catalog."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._agencies: dict[str, str] = {}
        for agency in catalog.agencies:
            for name in (agency.abbrev, agency.name, *agency.aliases):
                self._agencies.setdefault(fold_key(name), agency.abbrev)
        self._countries: dict[str, str] = {}
        for country in catalog.countries:
            names = (*country.names, *country.demonyms, *country.ambiguous, country.code)
            for name in names:
                self._countries.setdefault(fold_key(name), country.code)
        for record in pycountry.countries:
            self._countries.setdefault(fold_key(str(record.alpha_3)), str(record.alpha_2))
        # Fuzzy choices: (normalized text, entity); one list, filtered by kind per query.
        choices: list[tuple[str, Entity]] = []
        for name, slug in catalog.all_mission_names():
            mission = catalog.mission_by_slug(slug)
            label = mission.name if mission else name
            choices.append((normalize(name).text, Entity("mission", slug, label)))
        for agency in catalog.agencies:
            for name in (agency.abbrev, agency.name):
                choices.append((normalize(name).text, Entity("agency", agency.abbrev, name)))
        for country in catalog.countries:
            for name in (*country.names, *country.demonyms):
                choices.append((normalize(name).text, Entity("country", country.code, name)))
        # One list per kind, in the order above: a "Did you mean" for missions (the search
        # fallback) scores ~500 names instead of ~1,100, and ties keep the same order as one
        # combined list would (missions, then agencies, then countries).
        self._choices: dict[Kind, tuple[list[str], list[Entity]]] = {
            kind: (
                [text for text, entity in choices if entity.kind == kind],
                [entity for _text, entity in choices if entity.kind == kind],
            )
            for kind in ALL_KINDS
        }
        self._suggested: OrderedDict[tuple[str, frozenset[Kind], int], list[Entity]] = OrderedDict()

    # ------------------------------------------------------------------ exact
    def mission(self, text: str) -> MissionInfo | None:
        subject = clean_subject(text)
        return self.catalog.find_mission(subject) or self.catalog.find_mission(text)

    def agency(self, text: str) -> AgencyInfo | None:
        abbrev = self._agencies.get(fold_key(clean_subject(text)))
        return self.catalog.agency_by_abbrev(abbrev) if abbrev else None

    def country(self, text: str) -> CountryInfo | None:
        code = self._countries.get(fold_key(clean_subject(text)))
        return self.catalog.country(code) if code else None

    def entity(self, text: str, kinds: Iterable[Kind] = ALL_KINDS) -> Entity | None:
        """The first exact match, trying kinds in the given order."""
        for kind in kinds:
            if kind == "mission" and (m := self.mission(text)):
                return Entity("mission", m.slug, m.name)
            if kind == "agency" and (a := self.agency(text)):
                return Entity("agency", a.abbrev, a.abbrev)
            if kind == "country" and (c := self.country(text)):
                return Entity("country", c.code, c.name)
        return None

    # ------------------------------------------------------------------ fuzzy
    def suggest(
        self, text: str, kinds: Iterable[Kind] = ("mission",), limit: int = 4
    ) -> list[Entity]:
        """Best distinct fuzzy matches ("chnage 7" → Chang'e-7, Chang'e-4, …)."""
        query = normalize(clean_subject(text)).text
        if not query:
            return []
        key = (query, frozenset(kinds), limit)
        cached = self._suggested.get(key)
        if cached is None:
            cached = self._suggest(query, key[1], limit)
            self._suggested[key] = cached
            if len(self._suggested) > SUGGEST_CACHE:
                self._suggested.popitem(last=False)
        else:
            self._suggested.move_to_end(key)
        return list(cached)

    def _suggest(self, query: str, wanted: frozenset[Kind], limit: int) -> list[Entity]:
        """Suggestions for a normalized query: a pure function of the (immutable) catalog,
        which is why :meth:`suggest` may cache it — a WRatio pass costs about a millisecond
        per 500 names, the most expensive step of a search that found nothing."""
        matches: list[tuple[str, float, Entity]] = []
        for kind in ALL_KINDS:
            if kind not in wanted:
                continue
            texts, entities = self._choices[kind]
            found = process.extract(
                query, texts, scorer=fuzz.WRatio, limit=60, score_cutoff=SUGGEST_CUTOFF
            )
            matches += [(choice, score, entities[index]) for choice, score, index in found]
        # Same score: prefer names closest in length (and so in meaning) to the query.
        ranked = sorted(
            matches,
            key=lambda m: (-m[1], -fuzz.ratio(query, m[0]), abs(len(m[0]) - len(query))),
        )
        out: list[Entity] = []
        seen: set[tuple[str, str]] = set()
        for _text, _score, entity in ranked:
            if (entity.kind, entity.key) in seen:
                continue
            seen.add((entity.kind, entity.key))
            if entity.kind == "mission":
                mission = self.catalog.mission_by_slug(entity.key)
                entity = Entity("mission", entity.key, mission.name if mission else entity.label)
            elif entity.kind == "country":
                country = self.catalog.country(entity.key)
                entity = Entity("country", entity.key, country.name if country else entity.label)
            out.append(entity)
            if len(out) >= limit:
                break
        return out

    def mission_prefix(self, text: str, limit: int = 8) -> list[MissionInfo]:
        """Missions whose name or alias starts with ``text`` (inline mode's "chang")."""
        key = fold_key(text)
        if not key:
            return []
        found: list[MissionInfo] = []
        for name, slug in self.catalog.all_mission_names():
            if fold_key(name).startswith(key):
                mission = self.catalog.mission_by_slug(slug)
                if mission is not None and mission not in found:
                    found.append(mission)
        found.sort(key=lambda m: m.name)
        return found[:limit]
