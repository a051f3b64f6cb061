"""Rule-based partner extraction: "country X (agency Y) contributes payload Z to mission M".

Pipeline, all pure functions over the linker's spans:

1. :func:`split_sentences` — period/!/? followed by space and a capital, except after known
   abbreviations ("U.S.", "Dr.", "No.", initials).
2. Mission of a sentence: the missions it names, minus those introduced by a comparison word
   ("unlike India's Chandrayaan-3", "after Chang'e-7"). A sentence naming none inherits the
   previous sentence's mission when it opens with a back-reference ("It will also host…",
   "The mission will also carry…", "The probe…").
3. A sentence only yields facts if it has a *cue*: a contribution verb (carry, host, place on,
   fly, contribute, provide, supply, build, develop…), a role word (partner, co-founder, join,
   sign, member) or a payload noun right after a country word ("a Swedish negative ion
   detector"). Sentences about rivalry (compete, race, rival) need the latter, strongest cue.
4. Each country word (name, demonym) or agency with a country is a candidate unless: it is the
   lead agency's country; a comparison word precedes it; it is a launch/landing location
   ("launched from Kazakhstan"); or it owns another mission ("India's Chandrayaan-3").
   A country followed closely by an agency of that country is merged ("Italy's INFN").
5. Payload = the noun phrase after the country word ending in a payload noun ("negative ion
   detector", "rover weighing 10 kg" → "rover"), else the object of the contribution verb.

Confidence encodes cue strength: demonym + payload noun + verb 0.95, role words 0.85, country
as subject/object of a contribution verb 0.75, co-reference ×0.9. Callers keep ≥ 0.6.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.knowledge.catalog import Catalog
from bot.knowledge.linker import Linker, Span

MIN_CONFIDENCE = 0.6

_ABBREVIATIONS = frozenset(
    [
        "dr",
        "mr",
        "mrs",
        "ms",
        "prof",
        "st",
        "no",
        "nos",
        "vs",
        "etc",
        "inc",
        "ltd",
        "co",
        "corp",
        "jr",
        "sr",
        "gen",
        "lt",
        "col",
        "capt",
        "sgt",
        "approx",
        "fig",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "est",
        "al",
        "e",
        "g",
        "i",
        "u",
        "s",
        "k",
        "n",
        "r",
        "p",
        "c",
        "a",
    ]
)
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9\u4e00-\u9fff])")
_WORD = re.compile(r"[^\W_]+(?:[-'’][^\W_]+)*")

CONTRIBUTION_VERBS = re.compile(
    r"^(carr(y|ies|ied|ying)|host(s|ed|ing)?|plac(e|es|ed|ing)|fl(y|ies|ew|own|ying)|"
    r"contribut\w*|provid\w*|suppl(y|ies|ied|ying)|buil[dt]\w*|develop\w*|deliver\w*|"
    r"install\w*|mount\w*|integrat\w*|aboard|onboard|board|ride|rides|riding|accommodat\w*|"
    r"send(s|ing)?|sent|furnish\w*|donat\w*|includ\w*|feature[sd]?|equip\w*)$"
)
ROLE_WORDS = re.compile(
    r"^(partner\w*|co-?found\w*|cofound\w*|join(s|ed|ing)?|sign(s|ed|ing|atory|atories)?|"
    r"member(s|ship)?|collaborat\w*|cooperat\w*|participat\w*|agreement)$"
)
RIVALRY = re.compile(r"^(compet\w*|race|races|racing|rival\w*|versus|vs|beat|beating|outpace\w*)$")
COMPARISON = frozenset(
    {"unlike", "like", "than", "versus", "vs", "after", "following", "before", "compared",
     "similar", "rival", "rivals", "as", "beat", "beating"}
)  # fmt: skip
LOCATION_VERBS = re.compile(
    r"^(launch\w*|lift\w*|blast\w*|land(s|ed|ing)?|based|headquartered|held|located|"
    r"flown|tracked|visited|toured|hosted)$"
)
PAYLOAD_HEADS = {
    "instrument": "instrument", "instruments": "instrument", "payload": "instrument",
    "payloads": "instrument", "detector": "instrument", "detectors": "instrument",
    "spectrometer": "instrument", "camera": "instrument", "cameras": "instrument",
    "imager": "instrument", "sensor": "instrument", "sensors": "instrument",
    "analyzer": "instrument", "analyser": "instrument", "magnetometer": "instrument",
    "radiometer": "instrument", "dosimeter": "instrument", "seismometer": "instrument",
    "device": "instrument", "experiment": "instrument", "experiments": "instrument",
    "package": "instrument", "telescope": "instrument", "antenna": "instrument",
    "radar": "instrument", "drill": "instrument", "probe": "instrument", "monitor": "instrument",
    "retroreflector": "retroreflector", "retroreflectors": "retroreflector",
    "reflector": "retroreflector", "cubesat": "cubesat", "cubesats": "cubesat",
    "microsatellite": "cubesat", "smallsat": "cubesat", "satellite": "cubesat",
    "rover": "rover", "microrover": "rover", "lander": "lander", "hopper": "lander",
    "module": "module", "arm": "robotics", "robot": "robotics", "astronaut": "crew",
    "astronauts": "crew", "crew": "crew", "engine": "component", "array": "instrument",
    "arrays": "instrument", "component": "component", "components": "component",
    "rocket": "launch", "launcher": "launch", "soyuz": "launch", "rovers": "rover",
}  # fmt: skip
_NP_STOP = frozenset(
    [
        "will",
        "would",
        "shall",
        "can",
        "could",
        "may",
        "might",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "has",
        "have",
        "had",
        "that",
        "which",
        "who",
        "to",
        "for",
        "on",
        "aboard",
        "onboard",
        "from",
        "and",
        "or",
        "with",
        "by",
        "at",
        "in",
        "of",
        "as",
        "weighing",
        "built",
        "made",
        "developed",
        "designed",
        "provided",
        "supplied",
        "the",
        "a",
        "an",
        "its",
        "their",
        "this",
        "these",
    ]
)
_DETERMINERS = frozenset(
    [
        "a",
        "an",
        "the",
        "its",
        "their",
        "his",
        "her",
        "two",
        "three",
        "four",
        "several",
        "one",
        "new",
        "own",
    ]
)
_COREF = frozenset(
    [
        "it",
        "its",
        "mission",
        "probe",
        "spacecraft",
        "lander",
        "orbiter",
        "rover",
        "station",
        "craft",
        "telescope",
        "programme",
        "program",
        "project",
        "also",
        "additionally",
        "base",
        "they",
    ]
)
_INSTITUTION = re.compile(
    r"(?:[A-Z][\w'’-]+\s)+(?:University|Institute|Laboratory|Observatory|Academy|Centre|Center)"
    r"(?:\s(?:of|for)(?:\s[A-Z][\w'’-]+)+)?"
)


@dataclass(frozen=True, slots=True)
class PartnerCandidate:
    mission_slug: str
    country_code: str | None
    agency_abbrev: str | None
    institution: str | None
    payload: str | None
    role: str | None
    evidence: str
    confidence: float


@dataclass(frozen=True, slots=True)
class _Word:
    start: int
    end: int
    text: str  # lower-cased


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans of ``text``, not breaking after abbreviations such as "U.S." or "Dr."."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        before = text[start : m.start() + 1]
        last = re.findall(r"[\w.]+\.?$", before)
        token = last[0].rstrip(".").split(".")[-1].lower() if last else ""
        if text[m.start()] == "." and token in _ABBREVIATIONS:
            continue
        spans.append((start, m.start() + 1))
        start = m.end()
    if start < len(text.rstrip()):
        spans.append((start, len(text.rstrip())))
    return [(s, e) for s, e in spans if text[s:e].strip()]


def _words(text: str, start: int, end: int) -> list[_Word]:
    return [
        _Word(m.start(), m.end(), m.group().lower().replace("’", "'"))
        for m in _WORD.finditer(text, start, end)
    ]


def _word_index(words: list[_Word], pos: int) -> int:
    for i, w in enumerate(words):
        if w.end > pos:
            return i
    return len(words)


def _noun_phrase(words: list[_Word], i: int) -> tuple[str | None, str | None]:
    """Payload phrase starting at word ``i`` (up to a stop word), cut after its last head noun."""
    phrase: list[str] = []
    last_head = -1
    role = None
    j = i
    while j < len(words) and len(phrase) < 7:
        w = words[j].text
        if w in _NP_STOP or w.endswith("'s") or RIVALRY.match(w):
            break
        if w.endswith("-built") or w.endswith("-made") or w.endswith("-developed"):
            j += 1
            continue
        phrase.append(w)
        if w in PAYLOAD_HEADS:
            last_head = len(phrase) - 1
            role = PAYLOAD_HEADS[w]
        j += 1
    if last_head < 0:
        return None, None
    return " ".join(phrase[: last_head + 1]), role


class _Sentence:
    def __init__(self, text: str, start: int, end: int, spans: list[Span]) -> None:
        self.text = text
        self.start = start
        self.end = end
        self.spans = spans
        self.words = _words(text, start, end)
        self.lower = [w.text for w in self.words]
        self.has_verb = any(CONTRIBUTION_VERBS.match(w) for w in self.lower)
        self.role_words = [w for w in self.lower if ROLE_WORDS.match(w)]
        self.rivalry = any(RIVALRY.match(w) for w in self.lower)

    def before(self, pos: int, n: int) -> list[str]:
        i = _word_index(self.words, pos)
        return self.lower[max(0, i - n) : i]

    def index_after(self, pos: int) -> int:
        for i, w in enumerate(self.words):
            if w.start >= pos:
                return i
        return len(self.words)


def _eligible_missions(sentence: _Sentence) -> list[Span]:
    out = []
    for span in sentence.spans:
        if span.kind != "mission":
            continue
        before = sentence.before(span.start, 4)
        if any(w in COMPARISON for w in before[-3:]):
            continue
        out.append(span)
    return out


def _starts_with_coref(sentence: _Sentence) -> bool:
    return any(w in _COREF for w in sentence.lower[:4])


def extract_partners(
    text: str, catalog: Catalog, linker: Linker, *, min_confidence: float = MIN_CONFIDENCE
) -> list[PartnerCandidate]:
    """Partner facts stated in ``text``, best confidence per (mission, country, agency)."""
    mentions = linker.link(text)
    if not mentions.missions:
        return []
    spans = [s for s in mentions.spans if s.kind != "context"]
    best: dict[tuple[str, str | None, str | None], PartnerCandidate] = {}
    previous: list[Span] = []
    for start, end in split_sentences(text):
        inside = [s for s in spans if s.start >= start and s.end <= end]
        sentence = _Sentence(text, start, end, inside)
        missions = _eligible_missions(sentence)
        factor = 1.0
        if not missions and previous and _starts_with_coref(sentence):
            missions, factor = previous, 0.9
        previous = missions
        if not missions:
            continue
        for cand in _sentence_candidates(sentence, missions, catalog, factor):
            if cand.confidence < min_confidence:
                continue
            key = (cand.mission_slug, cand.country_code, cand.agency_abbrev)
            if key not in best or best[key].confidence < cand.confidence:
                best[key] = cand
    return _merge_agency_duplicates(list(best.values()))


def _merge_agency_duplicates(cands: list[PartnerCandidate]) -> list[PartnerCandidate]:
    """Drop (mission, country, None) when the same pair also came with a named agency."""
    with_agency = {(c.mission_slug, c.country_code) for c in cands if c.agency_abbrev}
    return [
        c for c in cands if c.agency_abbrev or (c.mission_slug, c.country_code) not in with_agency
    ]


def _main_mission(missions: list[Span]) -> Span:
    """The sentence's first eligible mission: usually the subject ("Ax-4 carried … to the ISS")."""
    return missions[0]


def _sentence_candidates(
    sentence: _Sentence, missions: list[Span], catalog: Catalog, factor: float
) -> list[PartnerCandidate]:
    if not sentence.has_verb and not sentence.role_words and not _has_payload_noun(sentence):
        return []
    evidence = sentence.text[sentence.start : sentence.end].strip()
    role_word = _role_from_words(sentence.role_words)
    institutions = _INSTITUTION.findall(evidence)
    out: list[PartnerCandidate] = []
    actors = [s for s in sentence.spans if s.kind in ("country", "agency")]
    consumed: set[int] = set()
    for idx, span in enumerate(actors):
        if idx in consumed:
            continue
        country, agency = _actor_identity(span, catalog)
        # merge "Italy's INFN", "France's space agency CNES", "the Italian Space Agency (ASI)"
        if span.kind == "country" and idx + 1 < len(actors):
            nxt = actors[idx + 1]
            if nxt.kind == "agency" and nxt.start - span.end <= 25:
                n_country, n_agency = _actor_identity(nxt, catalog)
                if n_country == country:
                    agency = n_agency
                    consumed.add(idx + 1)
        if country is None and agency is None:
            continue
        mission = _main_mission(missions)
        if country is not None and country in catalog.lead_countries(mission.target):
            continue
        if country is None and agency is not None:
            info = catalog.agency_by_abbrev(agency)
            if info is None or not info.multinational:
                continue
            lead = catalog.mission_by_slug(mission.target)
            if lead is not None and lead.lead_agency == agency:
                continue
        if _excluded(sentence, span, missions):
            continue
        conf, payload, role = _score(sentence, _list_head(sentence, actors, idx))
        if role_word and (role is None or conf < 0.85):
            role = role_word
            conf = max(conf, 0.85)
        if sentence.rivalry and conf < 0.95:
            continue
        institution = institutions[0] if len(institutions) == 1 else None
        out.append(
            PartnerCandidate(
                mission_slug=mission.target,
                country_code=country,
                agency_abbrev=agency,
                institution=institution,
                payload=payload,
                role=role,
                evidence=evidence,
                confidence=round(conf * factor, 3),
            )
        )
    return out


_COORDINATION = re.compile(r"^\s*(?:,|,?\s*and|,?\s*or|/|-|–|,\s*as well as)\s*$")


def _list_head(sentence: _Sentence, actors: list[Span], idx: int) -> Span:
    """In "Russian, Swiss and Thai instruments" every member shares the last one's payload."""
    span = actors[idx]
    while idx + 1 < len(actors):
        gap = sentence.text[actors[idx].end : actors[idx + 1].start]
        if not _COORDINATION.match(gap):
            break
        idx += 1
        span = actors[idx]
    return span


def _role_from_words(words: list[str]) -> str | None:
    if any(w.startswith(("co-found", "cofound")) for w in words):
        return "co-founder"
    if words:
        return "partner"
    return None


def _has_payload_noun(sentence: _Sentence) -> bool:
    return any(w in PAYLOAD_HEADS for w in sentence.lower)


def _actor_identity(span: Span, catalog: Catalog) -> tuple[str | None, str | None]:
    if span.kind == "country":
        return span.target, None
    info = catalog.agency_by_abbrev(span.target)
    if info is None:
        return None, None
    return info.country_code, info.abbrev


def _excluded(sentence: _Sentence, span: Span, missions: list[Span]) -> bool:
    before = sentence.before(span.start, 4)
    if any(w in COMPARISON for w in before[-2:]):
        return True
    if (
        before
        and before[-1] in ("from", "in", "at", "over", "near", "to", "into")
        and any(LOCATION_VERBS.match(w) for w in before)
    ):
        return True
    # "India's Chandrayaan-3", "the Japanese SLIM lander": the country owns another mission
    for m in sentence.spans:
        if m.kind == "mission" and 0 <= m.start - span.end <= 4 and m not in missions:
            return True
    return False


def _score(sentence: _Sentence, span: Span) -> tuple[float, str | None, str | None]:
    """Confidence, payload and role for one country/agency mention."""
    i = sentence.index_after(span.end)
    words = sentence.lower
    if i < len(words) and words[i] in ("s", "'s"):
        i += 1
    payload, role = _noun_phrase(sentence.words, i)
    if payload is not None:
        return (0.95 if sentence.has_verb else 0.8), payload, role
    before = sentence.before(span.start, 3)
    if before and before[-1] in ("from", "by") and any(w in PAYLOAD_HEADS for w in before[:-1]):
        return 0.85, None, None
    if before[-2:] and before[-1] == "by" and any(CONTRIBUTION_VERBS.match(w) for w in before[:-1]):
        return 0.85, None, None
    if sentence.has_verb:
        obj, role = _verb_object(sentence)
        return 0.75, obj, role
    if _has_payload_noun(sentence):
        return 0.5, None, None
    return 0.4, None, None


def _verb_object(sentence: _Sentence) -> tuple[str | None, str | None]:
    for k, w in enumerate(sentence.lower):
        if CONTRIBUTION_VERBS.match(w):
            j = k + 1
            while j < len(sentence.lower) and sentence.lower[j] in _DETERMINERS:
                j += 1
            phrase, role = _noun_phrase(sentence.words, j)
            if phrase:
                return phrase, role
    return None, None
