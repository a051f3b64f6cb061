"""Integrity checks for the curated catalog in config/*.yaml.

These tests only read data files: missions.yaml, agencies.yaml, demonyms.yaml.
They need PyYAML and nothing else (no pycountry).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"

# ISO 3166-1 alpha-2 codes (officially assigned, 2025). Embedded so the test
# does not depend on pycountry.
ISO_ALPHA2 = frozenset(
    re.findall(
        r"[A-Z]{2}",
        """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ
    BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR
    CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR
    GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU
    ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ
    LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
    MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF
    PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI
    SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR
    TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
    """,
    )
)
ALPHA2_RE = re.compile(r"^[A-Z]{2}$")
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

STATUSES = frozenset(
    {"planned", "in development", "launched", "operational", "completed", "failed", "cancelled"}
)
FLOWN_STATUSES = frozenset({"launched", "operational", "completed", "failed"})
AGENCY_KINDS = frozenset(
    {
        "space agency",
        "company",
        "research institute",
        "university",
        "intergovernmental",
        "non-profit",
    }
)

MUST_HAVE = [
    ("change-4", "Chang'e-4"),
    ("change-5", "Chang'e-5"),
    ("change-6", "Chang'e-6"),
    ("change-7", "Chang'e-7"),
    ("change-8", "Chang'e-8"),
    ("tianwen-1", "Tianwen-1"),
    ("tianwen-2", "Tianwen-2"),
    ("tianwen-3", "Tianwen-3"),
    ("tianwen-4", "Tianwen-4"),
    ("ilrs", "International Lunar Research Station"),
    ("artemis-i", "Artemis I"),
    ("artemis-ii", "Artemis II"),
    ("artemis-iii", "Artemis III"),
    ("lunar-gateway", "Lunar Gateway"),
    ("chandrayaan-3", "Chandrayaan-3"),
    ("aditya-l1", "Aditya-L1"),
    ("gaganyaan", "Gaganyaan"),
    ("slim", "SLIM"),
    ("mmx", "MMX"),
    ("hayabusa2", "Hayabusa2"),
    ("juice", "JUICE"),
    ("europa-clipper", "Europa Clipper"),
    ("bepicolombo", "BepiColombo"),
    ("hera", "Hera"),
    ("dart", "DART"),
    ("psyche", "Psyche"),
    ("rosalind-franklin", "Rosalind Franklin"),
    ("nisar", "NISAR"),
    ("jwst", "JWST"),
    ("euclid", "Euclid"),
    ("luna-25", "Luna-25"),
    ("emirates-mars-mission", "Hope"),
    ("emirates-asteroid-mission", "EMA"),
    ("starship", "Starship"),
    ("crew-dragon", "Crew Dragon"),
    ("iss", "ISS"),
    ("tiangong", "Tiangong"),
]

# Aliases that are ordinary words or personal names: if a mission uses one, it
# must be listed in that mission's ambiguous_aliases.
KNOWN_AMBIGUOUS_WORDS = frozenset(
    {
        "artemis",
        "athena",
        "clipper",
        "curiosity",
        "dart",
        "dawn",
        "dragon",
        "dragonfly",
        "euclid",
        "gaia",
        "gateway",
        "hera",
        "hope",
        "hubble",
        "ingenuity",
        "juice",
        "juno",
        "lisa",
        "lucy",
        "odysseus",
        "orion",
        "parker",
        "peregrine",
        "perseverance",
        "plato",
        "psyche",
        "resilience",
        "roman",
        "smile",
        "starship",
        "viper",
        "vulcan",
        "webb",
    }
)

REQUIRED_DEMONYMS = {
    "Swedish": "SE",
    "Saudi": "SA",
    "Emirati": "AE",
    "Pakistani": "PK",
    "Italian": "IT",
    "French": "FR",
    "Russian": "RU",
    "Chinese": "CN",
}

_QUOTE_MAP = str.maketrans(
    {
        "\u2019": "'",
        "\u2018": "'",
        "\u02bc": "'",
        "\u2032": "'",
        "`": "'",
        "\u201c": '"',
        "\u201d": '"',
    }
)
_SEPARATORS_RE = re.compile(r"[\s'\"\-\u2010-\u2015_.]+")


def normalise_alias(text: str) -> str:
    """Casefold, unify quotes and drop hyphens/spaces/apostrophes/dots."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTE_MAP).casefold()
    return _SEPARATORS_RE.sub("", text)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys (safe_load keeps the last)."""


def _construct_unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


def _load(name: str) -> dict[str, Any]:
    path = CONFIG_DIR / name
    text = path.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    assert isinstance(data, dict), f"{name} must be a mapping at top level"
    return data


@pytest.fixture(scope="module")
def missions() -> list[dict[str, Any]]:
    data = _load("missions.yaml")
    items = data["missions"]
    assert isinstance(items, list)
    return items


@pytest.fixture(scope="module")
def agencies() -> list[dict[str, Any]]:
    data = _load("agencies.yaml")
    items = data["agencies"]
    assert isinstance(items, list)
    return items


@pytest.fixture(scope="module")
def agency_index(agencies: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {a["abbrev"]: a for a in agencies}


@pytest.fixture(scope="module")
def demonyms() -> dict[str, Any]:
    return _load("demonyms.yaml")


def _is_country(code: Any) -> bool:
    return isinstance(code, str) and bool(ALPHA2_RE.match(code)) and code in ISO_ALPHA2


def _nonblank(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


# --------------------------------------------------------------------------- files


@pytest.mark.parametrize("name", ["missions.yaml", "agencies.yaml", "demonyms.yaml"])
def test_no_duplicate_yaml_keys(name: str) -> None:
    text = (CONFIG_DIR / name).read_text(encoding="utf-8")
    yaml.load(text, Loader=_UniqueKeyLoader)


# ------------------------------------------------------------------------ agencies


def test_agencies_schema(agencies: list[dict[str, Any]]) -> None:
    assert len(agencies) >= 40
    abbrevs = [a["abbrev"] for a in agencies]
    dupes = [k for k, n in Counter(a.casefold() for a in abbrevs).items() if n > 1]
    assert not dupes, f"duplicate agency abbrevs: {dupes}"
    for a in agencies:
        where = a.get("abbrev")
        assert _nonblank(a.get("abbrev")), a
        assert _nonblank(a.get("name")), where
        assert a.get("kind") in AGENCY_KINDS, (where, a.get("kind"))
        assert isinstance(a.get("aliases", []), list), where
        if a.get("homepage") is not None:
            assert str(a["homepage"]).startswith("https://"), where
        if a.get("multinational"):
            assert "country" not in a, f"{where}: multinational body must omit country"
            members = a.get("members") or []
            assert members, f"{where}: multinational body needs members"
            bad = [m for m in members if not _is_country(m)]
            assert not bad, (where, bad)
            assert len(set(members)) == len(members), where
        else:
            assert _is_country(a.get("country")), (where, a.get("country"))
            assert not a.get("members"), where


def test_required_agencies_present(agency_index: dict[str, dict[str, Any]]) -> None:
    required = """
        CNSA CAS CMSA NASA JPL ESA Roscosmos IKI ISRO JAXA ISAS CNES ASI DLR UKSA
        CSA SUPARCO SSA UAESA MBRSC KARI KASA AEB CONAE SANSA ASA ISA TUA GISTDA
        IRF INFN IRAP SpaceX Astrobotic ispace Boeing Firefly
    """
    missing = [a for a in required.split() if a not in agency_index]
    for company in ("Blue Origin", "Rocket Lab", "Northrop Grumman", "Intuitive Machines"):
        if company not in agency_index:
            missing.append(company)
    assert not missing, missing


def test_esa_members(agency_index: dict[str, dict[str, Any]]) -> None:
    esa = agency_index["ESA"]
    assert esa["multinational"] is True
    members = set(esa["members"])
    assert len(members) == 23
    assert {"FR", "DE", "IT", "SE", "GB", "CH", "NO", "SI"} <= members
    assert "US" not in members
    assert "CN" not in members


def test_agency_countries(agency_index: dict[str, dict[str, Any]]) -> None:
    expected = {
        "CNSA": "CN",
        "NASA": "US",
        "Roscosmos": "RU",
        "ISRO": "IN",
        "JAXA": "JP",
        "SUPARCO": "PK",
        "SSA": "SA",
        "UAESA": "AE",
        "MBRSC": "AE",
        "IRF": "SE",
        "INFN": "IT",
        "IRAP": "FR",
        "ispace": "JP",
    }
    for abbrev, code in expected.items():
        assert agency_index[abbrev]["country"] == code, abbrev


# ------------------------------------------------------------------------ missions


def test_mission_count(missions: list[dict[str, Any]]) -> None:
    assert len(missions) >= 60


def test_must_have_missions_present(missions: list[dict[str, Any]]) -> None:
    slugs = {m["slug"] for m in missions}
    names = {normalise_alias(m["name"]) for m in missions}
    aliases = {normalise_alias(a) for m in missions for a in m.get("aliases", [])}
    missing = [
        (slug, label)
        for slug, label in MUST_HAVE
        if slug not in slugs and normalise_alias(label) not in names | aliases
    ]
    assert not missing, missing


def test_slugs_unique_and_ascii(missions: list[dict[str, Any]]) -> None:
    slugs = [m["slug"] for m in missions]
    dupes = [s for s, n in Counter(slugs).items() if n > 1]
    assert not dupes, dupes
    bad = [s for s in slugs if not (isinstance(s, str) and s.isascii() and SLUG_RE.match(s))]
    assert not bad, bad


def test_names_unique(missions: list[dict[str, Any]]) -> None:
    names = [normalise_alias(m["name"]) for m in missions]
    dupes = [s for s, n in Counter(names).items() if n > 1]
    assert not dupes, dupes


def test_no_alias_shared_between_missions(missions: list[dict[str, Any]]) -> None:
    owner: dict[str, str] = {}
    clashes: list[tuple[str, str, str]] = []
    for m in missions:
        keys = {normalise_alias(m["name"])} | {normalise_alias(a) for a in m.get("aliases", [])}
        for key in keys:
            assert key, f"{m['slug']}: empty alias after normalisation"
            if key in owner and owner[key] != m["slug"]:
                clashes.append((key, owner[key], m["slug"]))
            owner.setdefault(key, m["slug"])
    assert not clashes, clashes


def test_aliases_are_clean_strings(missions: list[dict[str, Any]]) -> None:
    for m in missions:
        aliases = m.get("aliases", [])
        assert isinstance(aliases, list), m["slug"]
        for a in aliases:
            assert _nonblank(a), (m["slug"], a)
            assert a == a.strip(), (m["slug"], a)


def test_ambiguous_aliases_marked(missions: list[dict[str, Any]]) -> None:
    problems = []
    for m in missions:
        ambiguous = m.get("ambiguous_aliases", [])
        assert isinstance(ambiguous, list), m["slug"]
        known = {normalise_alias(a) for a in [m["name"], *m.get("aliases", [])]}
        marked = {normalise_alias(a) for a in ambiguous}
        unknown = marked - known
        if unknown:
            problems.append((m["slug"], "ambiguous alias not among name/aliases", unknown))
        for text in [m["name"], *m.get("aliases", [])]:
            key = normalise_alias(text)
            if key in KNOWN_AMBIGUOUS_WORDS and key not in marked:
                problems.append((m["slug"], "ordinary word not marked ambiguous", text))
    assert not problems, problems


def test_required_ambiguous_markers(missions: list[dict[str, Any]]) -> None:
    by_slug = {m["slug"]: m for m in missions}
    for slug, word in [
        ("emirates-mars-mission", "Hope"),
        ("hera", "Hera"),
        ("psyche", "Psyche"),
        ("lucy", "Lucy"),
        ("gaia", "Gaia"),
        ("juno", "Juno"),
        ("euclid", "Euclid"),
        ("jwst", "Webb"),
    ]:
        assert word in by_slug[slug].get("ambiguous_aliases", []), (slug, word)


def test_mission_agencies_exist(
    missions: list[dict[str, Any]], agency_index: dict[str, dict[str, Any]]
) -> None:
    missing = []
    for m in missions:
        if m.get("lead_agency") not in agency_index:
            missing.append((m["slug"], "lead_agency", m.get("lead_agency")))
        for a in m.get("agencies", []) or []:
            if a not in agency_index:
                missing.append((m["slug"], "agencies", a))
        for p in m.get("partners", []) or []:
            if "agency" in p and p["agency"] not in agency_index:
                missing.append((m["slug"], "partner agency", p["agency"]))
    assert not missing, missing


def test_mission_countries_valid(
    missions: list[dict[str, Any]], agency_index: dict[str, dict[str, Any]]
) -> None:
    problems = []
    for m in missions:
        countries = m.get("countries", []) or []
        for c in countries:
            if not _is_country(c):
                problems.append((m["slug"], c))
        lead = agency_index[m["lead_agency"]]
        if countries and lead.get("country") and lead["country"] not in countries:
            problems.append((m["slug"], "lead agency country not in countries"))
        if not countries and not lead.get("multinational"):
            problems.append((m["slug"], "countries required for a national lead agency"))
    assert not problems, problems


def test_mission_required_fields(missions: list[dict[str, Any]]) -> None:
    for m in missions:
        slug = m.get("slug")
        for field in ("name", "slug", "lead_agency", "target", "type", "status", "description"):
            value = m.get(field)
            assert _nonblank(value), (slug, field)
        if m.get("wikipedia") is not None:
            assert str(m["wikipedia"]).startswith("https://en.wikipedia.org/wiki/"), slug


def test_statuses_allowed(missions: list[dict[str, Any]]) -> None:
    bad = [(m["slug"], m.get("status")) for m in missions if m.get("status") not in STATUSES]
    assert not bad, bad


def test_dates(missions: list[dict[str, Any]]) -> None:
    problems = []
    earliest = dt.date(1957, 10, 4)
    latest = dt.date.today() + dt.timedelta(days=1)
    for m in missions:
        slug = m["slug"]
        status = m["status"]
        if "launch_date" in m:
            try:
                launched = _as_date(m["launch_date"])
            except ValueError:
                problems.append((slug, "unparseable launch_date", m["launch_date"]))
                continue
            if not earliest <= launched <= latest:
                problems.append((slug, "launch_date out of range", launched))
        elif status in FLOWN_STATUSES:
            problems.append((slug, f"status {status!r} needs launch_date"))
        if "launch_date" not in m and not m.get("launch_window"):
            problems.append((slug, "needs launch_date or launch_window"))
        if status in {"planned"} and "launch_date" in m:
            problems.append((slug, "planned mission should not have a launch_date"))
    assert not problems, problems


def test_key_launch_dates(missions: list[dict[str, Any]]) -> None:
    by_slug = {m["slug"]: m for m in missions}
    assert _as_date(by_slug["change-6"]["launch_date"]) == dt.date(2024, 5, 3)
    assert _as_date(by_slug["artemis-i"]["launch_date"]) == dt.date(2022, 11, 16)
    assert _as_date(by_slug["jwst"]["launch_date"]) == dt.date(2021, 12, 25)
    assert by_slug["luna-25"]["status"] == "failed"


# ------------------------------------------------------------------------ partners


def _partner_rows(missions: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(m, p) for m in missions for p in (m.get("partners") or [])]


def test_partner_rows_complete(missions: list[dict[str, Any]]) -> None:
    rows = _partner_rows(missions)
    assert len(rows) >= 80
    problems = []
    for m, p in rows:
        slug = m["slug"]
        if not _is_country(p.get("country")):
            problems.append((slug, "country", p.get("country")))
        for field in ("payload", "role"):
            if not (isinstance(p.get(field), str) and p[field].strip()):
                problems.append((slug, field, p))
        source = p.get("source")
        if not (isinstance(source, str) and source.startswith("https://") and " " not in source):
            problems.append((slug, "source", source))
    assert not problems, problems


def test_partner_not_lead_country(
    missions: list[dict[str, Any]], agency_index: dict[str, dict[str, Any]]
) -> None:
    problems = []
    for m, p in _partner_rows(missions):
        lead_country = agency_index[m["lead_agency"]].get("country")
        if lead_country and p.get("country") == lead_country:
            problems.append((m["slug"], p.get("payload")))
    assert not problems, problems


def test_partner_agency_matches_country(
    missions: list[dict[str, Any]], agency_index: dict[str, dict[str, Any]]
) -> None:
    """A national partner agency must belong to the row's country; ESA rows
    must name an ESA member state."""
    problems = []
    for m, p in _partner_rows(missions):
        if "agency" not in p:
            continue
        agency = agency_index[p["agency"]]
        if agency.get("multinational"):
            if p["country"] not in agency["members"]:
                problems.append((m["slug"], p["agency"], p["country"]))
        elif agency["country"] != p["country"]:
            problems.append((m["slug"], p["agency"], p["country"]))
    assert not problems, problems


def test_core_partner_facts(missions: list[dict[str, Any]]) -> None:
    by_slug = {m["slug"]: m for m in missions}

    def countries(slug: str) -> set[str]:
        return {p["country"] for p in by_slug[slug].get("partners", [])}

    assert {"SE", "FR", "IT", "PK"} <= countries("change-6")
    assert {"DE", "SE", "NL", "SA"} <= countries("change-4")
    assert {"EG", "BH", "IT", "RU", "CH", "TH"} <= countries("change-7")
    assert {"PK", "TR"} <= countries("change-8")
    assert "RU" in countries("ilrs")
    assert "CA" in countries("artemis-ii")
    assert {"CA", "JP", "AE"} <= countries("lunar-gateway")
    assert {"FR", "DE", "US"} <= countries("mmx")
    assert "IN" in countries("nisar")
    ilrs_roles = {p["country"]: p["role"] for p in by_slug["ilrs"]["partners"]}
    assert ilrs_roles["RU"] == "co-founder"


# ------------------------------------------------------------------------ demonyms


def test_demonym_sections(demonyms: dict[str, Any]) -> None:
    for section in ("demonyms", "names", "ambiguous"):
        assert isinstance(demonyms.get(section), dict), section
        bad = {k: v for k, v in demonyms[section].items() if not _is_country(v)}
        assert not bad, (section, bad)
        assert all(isinstance(k, str) and k == k.strip() and k for k in demonyms[section])


def test_demonym_keys_unique_across_sections(demonyms: dict[str, Any]) -> None:
    seen: dict[str, str] = {}
    clashes = []
    for section in ("demonyms", "names", "ambiguous"):
        for key in demonyms[section]:
            norm = unicodedata.normalize("NFKC", key).translate(_QUOTE_MAP).casefold()
            if norm in seen:
                clashes.append((key, seen[norm], section))
            seen[norm] = section
    assert not clashes, clashes


def test_demonym_coverage(demonyms: dict[str, Any]) -> None:
    codes = set(demonyms["demonyms"].values()) | set(demonyms["names"].values())
    assert len(codes) >= 80
    for word, code in REQUIRED_DEMONYMS.items():
        assert demonyms["demonyms"].get(word) == code, word
    names = demonyms["names"]
    assert names["UAE"] == "AE"
    assert names["PRC"] == "CN"
    assert names["UK"] == "GB"
    assert names["South Korea"] == "KR"


def test_ambiguous_words_not_unconditional(demonyms: dict[str, Any]) -> None:
    unconditional = {k.casefold() for k in demonyms["demonyms"]} | {
        k.casefold() for k in demonyms["names"]
    }
    for word in ("Chad", "Jordan", "Georgia", "Guinea", "Niger", "Turkey", "Polish", "US"):
        assert word in demonyms["ambiguous"], word
        assert word.casefold() not in unconditional, word


def test_partner_countries_have_names(
    missions: list[dict[str, Any]], demonyms: dict[str, Any]
) -> None:
    """Every country that appears as a partner can be found by name."""
    known = (
        set(demonyms["demonyms"].values())
        | set(demonyms["names"].values())
        | set(demonyms["ambiguous"].values())
    )
    missing = sorted({p["country"] for _, p in _partner_rows(missions)} - known)
    assert not missing, missing
