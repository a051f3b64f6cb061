"""The curated knowledge catalog as immutable Python objects.

Sources: ``config/missions.yaml``, ``config/agencies.yaml``, ``config/demonyms.yaml`` (curated
by us) plus every ISO 3166-1 country from :mod:`pycountry`. Everything is frozen so one loaded
catalog can be shared by threads (ingestion workers, the bot) without copies or locks.

Country display names prefer pycountry's ``common_name`` ("South Korea", "Iran") and a small
override table for the official-but-unreadable ones ("Russian Federation" → "Russia").
Flags are computed from the alpha-2 code (two regional-indicator symbols), so they never depend
on a data file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pycountry
import yaml

from bot.knowledge.textnorm import fold_key

#: Readable names for countries whose pycountry name is the long official form.
NAME_OVERRIDES: dict[str, str] = {
    "RU": "Russia",
    "TR": "Türkiye",
    "GB": "United Kingdom",
    "US": "United States",
    "CD": "DR Congo",
    "CG": "Republic of the Congo",
    "PS": "Palestine",
    "FM": "Micronesia",
    "BN": "Brunei",
    "VA": "Vatican City",
    "MK": "North Macedonia",
}

#: pycountry names that are ordinary English words; treated like demonyms.yaml ``ambiguous``.
EXTRA_AMBIGUOUS = frozenset({"Jersey", "Réunion", "Dominica", "Guernsey"})


def flag_emoji(code: str) -> str:
    """The flag emoji for an ISO alpha-2 code ("SE" → 🇸🇪): two regional indicator letters."""
    code = code.upper()
    if len(code) != 2 or not code.isascii() or not code.isalpha():
        return ""
    return "".join(chr(0x1F1E6 + ord(ch) - ord("A")) for ch in code)


@dataclass(frozen=True, slots=True)
class CountryInfo:
    """One ISO country with every word the linker should recognise for it."""

    code: str
    name: str
    flag: str
    demonyms: tuple[str, ...] = ()
    names: tuple[str, ...] = ()  # the display name, pycountry names and demonyms.yaml names
    ambiguous: tuple[str, ...] = ()  # words that need capitalisation and context


@dataclass(frozen=True, slots=True)
class AgencyInfo:
    abbrev: str
    name: str
    kind: str = "space agency"
    country_code: str | None = None
    multinational: bool = False
    members: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    homepage: str | None = None


@dataclass(frozen=True, slots=True)
class PartnerInfo:
    """A curated international contribution (never the lead agency's own country)."""

    country_code: str
    agency_abbrev: str | None = None
    institution: str | None = None
    payload: str | None = None
    role: str | None = None
    source: str | None = None


@dataclass(frozen=True, slots=True)
class MissionInfo:
    slug: str
    name: str
    aliases: tuple[str, ...] = ()
    ambiguous_aliases: tuple[str, ...] = ()
    program: str | None = None
    lead_agency: str | None = None
    agencies: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    target: str | None = None
    type: str | None = None
    status: str | None = None
    launch_date: str | None = None
    launch_window: str | None = None
    description: str = ""
    wikipedia: str | None = None
    partners: tuple[PartnerInfo, ...] = ()

    @property
    def all_names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


@dataclass(frozen=True)
class Catalog:
    """Lookups over the loaded catalog. Build with :func:`load_catalog`."""

    countries: tuple[CountryInfo, ...]
    agencies: tuple[AgencyInfo, ...]
    missions: tuple[MissionInfo, ...]
    _countries: dict[str, CountryInfo] = field(init=False, repr=False, compare=False)
    _agencies: dict[str, AgencyInfo] = field(init=False, repr=False, compare=False)
    _missions: dict[str, MissionInfo] = field(init=False, repr=False, compare=False)
    _mission_names: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "_countries", {c.code: c for c in self.countries})
        setattr_(self, "_agencies", {a.abbrev: a for a in self.agencies})
        setattr_(self, "_missions", {m.slug: m for m in self.missions})
        names: dict[str, str] = {}
        for mission in self.missions:
            for name in (mission.slug, *mission.all_names):
                names.setdefault(fold_key(name), mission.slug)
        setattr_(self, "_mission_names", names)

    def country(self, code: str) -> CountryInfo | None:
        return self._countries.get(code.upper())

    def agency_by_abbrev(self, abbrev: str) -> AgencyInfo | None:
        return self._agencies.get(abbrev)

    def mission_by_slug(self, slug: str) -> MissionInfo | None:
        return self._missions.get(slug)

    def find_mission(self, name: str) -> MissionInfo | None:
        """Exact lookup after normalization: "chang’e 7", "CE-7", "change-7" → Chang'e-7."""
        slug = self._mission_names.get(fold_key(name))
        return self._missions.get(slug) if slug else None

    def all_mission_names(self) -> list[tuple[str, str]]:
        """(name or alias, slug) pairs, for fuzzy search (rapidfuzz) over user queries."""
        return [(name, m.slug) for m in self.missions for name in m.all_names]

    def lead_countries(self, slug: str) -> frozenset[str]:
        """Countries whose payloads are *not* partner contributions: the lead agency's own."""
        mission = self._missions.get(slug)
        if mission is None or mission.lead_agency is None:
            return frozenset()
        agency = self._agencies.get(mission.lead_agency)
        if agency is None or agency.country_code is None:
            return frozenset()
        return frozenset({agency.country_code})


def _default_config_dir() -> Path:
    import config

    return Path(config.__file__).resolve().parent


def _read_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return data


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _strs(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in (value or ()))


def _countries(demonym_data: dict[str, Any]) -> tuple[CountryInfo, ...]:
    demonyms: dict[str, list[str]] = {}
    names: dict[str, list[str]] = {}
    ambiguous: dict[str, list[str]] = {}
    for word, code in (demonym_data.get("demonyms") or {}).items():
        demonyms.setdefault(str(code), []).append(str(word))
    for word, code in (demonym_data.get("names") or {}).items():
        names.setdefault(str(code), []).append(str(word))
    for word, code in (demonym_data.get("ambiguous") or {}).items():
        ambiguous.setdefault(str(code), []).append(str(word))
    ambiguous_words = {w for words in ambiguous.values() for w in words} | EXTRA_AMBIGUOUS
    result = []
    for country in pycountry.countries:
        code = str(country.alpha_2)
        display = NAME_OVERRIDES.get(code) or getattr(country, "common_name", None) or country.name
        candidates = [display, str(country.name), *names.get(code, [])]
        common = getattr(country, "common_name", None)
        if common:
            candidates.append(str(common))
        amb = list(ambiguous.get(code, []))
        clean: list[str] = []
        for word in candidates:
            if word in ambiguous_words:
                if word not in amb:
                    amb.append(word)
            elif word not in clean:
                clean.append(word)
        result.append(
            CountryInfo(
                code=code,
                name=str(display),
                flag=flag_emoji(code),
                demonyms=tuple(demonyms.get(code, [])),
                names=tuple(clean),
                ambiguous=tuple(amb),
            )
        )
    return tuple(result)


def _agency(row: dict[str, Any]) -> AgencyInfo:
    return AgencyInfo(
        abbrev=str(row["abbrev"]),
        name=str(row["name"]),
        kind=str(row.get("kind") or "space agency"),
        country_code=_opt_str(row.get("country")),
        multinational=bool(row.get("multinational", False)),
        members=_strs(row.get("members")),
        aliases=_strs(row.get("aliases")),
        homepage=_opt_str(row.get("homepage")),
    )


def _mission(row: dict[str, Any]) -> MissionInfo:
    partners = tuple(
        PartnerInfo(
            country_code=str(p["country"]),
            agency_abbrev=_opt_str(p.get("agency")),
            institution=_opt_str(p.get("institution")),
            payload=_opt_str(p.get("payload")),
            role=_opt_str(p.get("role")),
            source=_opt_str(p.get("source")),
        )
        for p in row.get("partners") or ()
    )
    launch = row.get("launch_date")
    return MissionInfo(
        slug=str(row["slug"]),
        name=str(row["name"]),
        aliases=_strs(row.get("aliases")),
        ambiguous_aliases=_strs(row.get("ambiguous_aliases")),
        program=_opt_str(row.get("program")),
        lead_agency=_opt_str(row.get("lead_agency")),
        agencies=_strs(row.get("agencies")),
        countries=_strs(row.get("countries")),
        target=_opt_str(row.get("target")),
        type=_opt_str(row.get("type")),
        status=_opt_str(row.get("status")),
        launch_date=None if launch is None else str(launch),
        launch_window=_opt_str(row.get("launch_window")),
        description=str(row.get("description") or ""),
        wikipedia=_opt_str(row.get("wikipedia")),
        partners=partners,
    )


def build_catalog(config_dir: Path) -> Catalog:
    """Read the three YAML files in ``config_dir`` (uncached; tests use temporary dirs)."""
    missions = _read_yaml(config_dir / "missions.yaml").get("missions") or []
    agencies = _read_yaml(config_dir / "agencies.yaml").get("agencies") or []
    demonyms = _read_yaml(config_dir / "demonyms.yaml")
    return Catalog(
        countries=_countries(demonyms),
        agencies=tuple(_agency(a) for a in agencies),
        missions=tuple(_mission(m) for m in missions),
    )


@lru_cache(maxsize=4)
def _cached(config_dir: Path) -> Catalog:
    return build_catalog(config_dir)


def load_catalog(config_dir: Path | None = None) -> Catalog:
    """The catalog from ``config_dir`` (default: the bundled ``config`` package), cached."""
    return _cached((config_dir or _default_config_dir()).resolve())
