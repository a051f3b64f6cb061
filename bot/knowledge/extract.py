"""Rule-based partner extraction: "country X (agency Y) contributes payload Z to mission M".

Pipeline, all pure functions over the linker's spans (:meth:`Linker.link`, memoised, so the
ingestion hook's link-then-extract links once):

1. **Cheap exits.** No mission span, or no country/agency/capital span → no facts, no
   tokenising. Sentences are found with one regex pass (:func:`split_sentences`: period/!/?
   + space + capital, except after abbreviations such as "U.S." or "Dr."); only sentences with
   an actor span are tokenised (one ``re.split`` per sentence, offsets by running sums), and
   word classes come from a cached per-word lookup (:func:`_flags`), not from regexes run per
   sentence; word flags also mark noun-phrase stops, so payload phrases are read from ints.
   Sentences are split lazily and reading stops after the sentence holding the last mention
   (nothing later can state or complete a fact). ``max_chars`` bounds the sentences read on
   very long articles (ingestion: the first 20,000 characters).
2. **Clauses.** A sentence is cut at ";", ":", "while", "whereas", "but", "although", ", and"
   (unless a country follows: lists keep going), and after a leading subordinate clause
   ("After ESA suspended cooperation with Roscosmos, NASA agreed …"). Modality, comparison and
   the mission an actor belongs to are decided per clause.
3. **Missions of a clause.** Mission spans minus those introduced by a comparison word
   ("unlike India's Chandrayaan-3", "similar to the one on Chang'e-6": the whole rest of the
   clause after unlike/than/compared/similar/versus is a comparison zone) and minus "Artemis
   Accords" (signing the accords contributes to no mission). An actor is credited to the nearest
   mission of its clause (else of its sentence), preferring missions that are not mere
   destinations ("to the ISS"): "a Swedish analyser rode on the Yutu-2 rover" credits Yutu-2,
   not the Chang'e-4 of the other clause. A sentence without missions inherits the previous
   sentence's when it opens with a back-reference ("It will also host…", "The probe…", ×0.9).
   A strong fact stated *before* the mission is named ("Sweden built the ion analyser. The
   instrument will fly on Chang'e-6.") is held for one sentence and credited to the next
   sentence's mission if that sentence refers back (×0.9).
4. **Actors.** Country words (names, demonyms, "Franco-" compounds), agencies with a country,
   and capitals. A country followed closely by an agency of that country is one actor ("Italy's
   INFN", "France's space agency CNES"). Coordinated actors form a list ("Belgium, Germany and
   the UK", "Franco-German"): every member gets the cues of the list's left *and* right edge,
   so the first item of "payloads from South Korea, Argentina, Germany and Saudi Arabia" is not
   lost. Capitals count only as political actors: subject of sign/agree/join/announce…
   ("Beijing and Moscow signed…").
5. **Cues → confidence.**
   - payload noun phrase right after the list ("a Swedish negative ion detector", "Australia's
     recovery team"): 0.95 with a contribution verb in the sentence, else 0.8;
   - list as subject of a contribution, launch or funding verb ("SpaceX launched…", "Germany's
     DLR and the Italian Space Agency funded…"): 0.9; of a political verb: 0.85 (partner);
   - agent/source on the left: "from"/"by" (optionally via "teams in", an institution or a
     city: "camera from the Max Planck Institute in Germany", "assembled by Airbus in Bremen,
     Germany", "led by teams in Belgium…", "one comes from France and another from Italy")
     after a payload noun or contribution/launch/lead/fund verb, or "built in Germany": 0.85;
   - role words (partner, co-founder, join, sign, member, funder…): 0.85;
   - any contribution verb in the sentence: 0.75; else ≤ 0.5 (dropped).
   Sentences about rivalry (compete, race) need the payload cue (0.95).
6. **Exclusions.** The lead agency's country; comparison zones and "like/unlike/after X"; a
   location after a launch/landing verb ("launched from Kazakhstan"); the owner of another
   mission or of its "own" probe ("India's Chandrayaan-3", "the UAE's own probe"); actors a
   relay merely serves ("relays data for Pakistan's rover"); a clause that is negated or about
   ended cooperation (not, never, ended, suspended, cancelled, withdrew…). Speculation in the
   actor's clause (is expected to, may, could, might, would, in talks, hopes to, considering,
   potential…) multiplies confidence by 0.6, below :data:`MIN_CONFIDENCE`.
7. **Payload** = the noun phrase after the country word ending in a payload noun ("negative
   ion detector", "rover weighing 10 kg" → "rover"), else the object of the contribution verb.

Callers keep candidates with confidence ≥ :data:`MIN_CONFIDENCE` (0.6).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from functools import reduce
from itertools import accumulate
from operator import or_

from bot.knowledge.catalog import Catalog
from bot.knowledge.linker import Linker, Span

MIN_CONFIDENCE = 0.6

_ABBREVIATIONS = frozenset(
    {"dr", "mr", "mrs", "ms", "prof", "st", "no", "nos", "vs", "etc", "inc", "ltd", "co", "corp",
     "jr", "sr", "gen", "lt", "col", "capt", "sgt", "approx", "fig", "jan", "feb", "mar", "apr",
     "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "est", "al", "e", "g", "i", "u",
     "s", "k", "n", "r", "p", "c", "a"}
)  # fmt: skip
#: Characters before a dot searched for the abbreviation token (longest abbreviation + 1).
_ABBR_SCAN = max(map(len, _ABBREVIATIONS)) + 1
#: "[.!?]" then "[.!?]*" rather than "[.!?]+" (same matches): a pattern that starts with a
#: plain character class lets ``re`` skip to the next candidate in C instead of trying a match
#: at every character (~2x faster on articles).
_SENTENCE_END = re.compile(r"[.!?][.!?]*[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9\u4e00-\u9fff])")
_WORD = re.compile(r"[^\W_]+(?:[-'’][^\W_]+)*")
_WORD_SPLIT = re.compile(r"([^\W_]+(?:[-'’][^\W_]+)*)")

CONTRIBUTION_VERBS = re.compile(
    r"^(carr(y|ies|ied|ying)|host(s|ed|ing)?|plac(e|es|ed|ing)|fl(y|ies|ew|own|ying)|"
    r"contribut\w*|provid\w*|suppl(y|ies|ied|ying)|buil[dt]\w*|develop\w*|deliver\w*|"
    r"install\w*|mount\w*|integrat\w*|aboard|onboard|board|ride|rides|riding|accommodat\w*|"
    r"send(s|ing)?|sent|furnish\w*|donat\w*|includ\w*|feature[sd]?|equip\w*|assembl\w*|"
    r"manufactur\w*|fabricat\w*|design(s|ed|ing)?|fund(s|ed|ing)?|financ\w*|sponsor\w*|"
    r"operat(e|es|ed|ing)|track(s|ed|ing)?|recover(s|ed|ing)?|retriev\w*|"
    r"produc(e|es|ed|ing)|lend(s|ing)?|lent|offer(s|ed|ing)?)$"
)
LAUNCH_VERBS = re.compile(r"^(launch(es|ed|ing)?|lofted|orbited)$")
LEAD_VERBS = re.compile(r"^(lead|leads|led|leading|fund\w*|financ\w*|sponsor\w*)$")
ROLE_WORDS = re.compile(
    r"^(partner\w*|co-?found\w*|cofound\w*|join(s|ed|ing)?|sign(s|ed|ing|atory|atories)?|"
    r"member(s|ship)?|collaborat\w*|cooperat\w*|participat\w*|agreement|funders?|backers?|"
    r"contributors?)$"
)
POLITICAL_VERBS = re.compile(
    r"^(sign(s|ed|ing)?|agree(s|d|ing)?|join(s|ed|ing)?|announc\w*|pledg\w*|commit(s|ted)?|"
    r"ratif\w*|endors\w*|approv\w*|co-?found\w*|cofound\w*|became|become|becomes|inked)$"
)
RIVALRY = re.compile(r"^(compet\w*|race|races|racing|rival\w*|versus|vs|beat|beating|outpace\w*)$")
COMPARISON = frozenset(
    {"unlike", "like", "than", "versus", "vs", "after", "following", "before", "compared",
     "similar", "rival", "rivals", "as", "beat", "beating"}
)  # fmt: skip
#: Comparison words whose scope runs to the end of the clause ("unlike the UAE's own probe").
ZONE_WORDS = frozenset({"unlike", "than", "compared", "similar", "versus", "vs", "rivals"})
LOCATION_VERBS = re.compile(
    r"^(launch\w*|lift\w*|blast\w*|land(s|ed|ing)?|based|headquartered|held|located|"
    r"flown|tracked|visited|toured|hosted|tested|test|testing|shipped|arrived|travel\w*)$"
)
SPECULATION = frozenset(
    {"expected", "may", "might", "could", "would", "talks", "hopes", "hoping",
     "considering", "considers", "consider", "mulling", "negotiating", "negotiations",
     "negotiate", "discussing", "discussions", "potential", "potentially", "possible",
     "possibly", "proposed", "proposes", "propose", "interested", "interest", "exploring",
     "explore", "seeks", "seeking", "aims", "aiming", "wants", "eyeing", "eyes", "likely",
     "perhaps", "reportedly", "rumoured", "rumored", "tentative", "tentatively"}
)  # fmt: skip
NEGATION = frozenset(
    {"not", "never", "no", "ended", "ends", "end", "suspended", "suspends", "suspend",
     "cancelled", "canceled", "cancels", "terminated", "terminates", "withdrew", "withdrawn",
     "withdraws", "withdrawal", "halted", "scrapped", "axed", "abandoned", "quit", "severed",
     "froze", "frozen", "dropped", "excluded", "left", "exited", "pulled", "isn't", "aren't",
     "wasn't", "weren't", "won't", "didn't", "doesn't", "don't", "without", "instead",
     "replaced", "replace", "replacing", "ceased", "collapsed", "sanctions"}
)  # fmt: skip
RELAY = re.compile(r"^(relay\w*|serv(e|es|ing))$")
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
    "laser": "instrument", "altimeter": "instrument", "spectrograph": "instrument",
    "retroreflector": "retroreflector", "retroreflectors": "retroreflector",
    "reflector": "retroreflector", "cubesat": "cubesat", "cubesats": "cubesat",
    "microsatellite": "cubesat", "smallsat": "cubesat", "satellite": "cubesat",
    "satellites": "cubesat", "rover": "rover", "microrover": "rover", "lander": "lander",
    "hopper": "lander", "module": "module", "arm": "robotics", "robot": "robotics",
    "astronaut": "crew", "astronauts": "crew", "crew": "crew", "cosmonaut": "crew",
    "engine": "component", "engines": "component", "thruster": "component",
    "thrusters": "component", "tracker": "component", "array": "instrument",
    "arrays": "instrument", "component": "component", "components": "component",
    "rocket": "launch", "launcher": "launch", "soyuz": "launch", "rovers": "rover",
    "booster": "launch", "station": "ground station", "stations": "ground station",
    "dish": "ground station", "dishes": "ground station", "tracking": "ground station",
    "recovery": "recovery",
}  # fmt: skip
_NP_STOP = frozenset(
    {"will", "would", "shall", "can", "could", "may", "might", "is", "are", "was", "were", "be",
     "been", "has", "have", "had", "that", "which", "who", "to", "for", "on", "aboard",
     "onboard", "from", "and", "or", "with", "by", "at", "in", "of", "as", "weighing", "built",
     "made", "developed", "designed", "provided", "supplied", "the", "a", "an", "its", "their",
     "this", "these", "own"}
)  # fmt: skip
_DETERMINERS = frozenset(
    {"a", "an", "the", "its", "their", "his", "her", "two", "three", "four", "several", "one",
     "new"}
)  # fmt: skip
_COREF = frozenset(
    {"it", "its", "mission", "probe", "spacecraft", "lander", "orbiter", "rover", "station",
     "craft", "telescope", "programme", "program", "project", "also", "additionally", "base",
     "they", "instrument", "instruments", "payload", "payloads", "device", "detector", "camera",
     "both", "each"}
)  # fmt: skip
#: Words allowed between a subject list and its verb ("Germany's DLR has also jointly funded").
_AUX = frozenset(
    {"will", "shall", "has", "have", "had", "is", "are", "was", "were", "be", "been", "being",
     "also", "jointly", "both", "together", "each", "officially", "formally", "already",
     "recently", "subsequently", "later", "then", "now", "too", "itself", "themselves", "to",
     "and", "agency", "space", "s", "'s", "national"}
)  # fmt: skip
#: Nouns that make "from"/"by" a source cue ("help from", "one … another from Italy").
_SOURCE_CUES = frozenset(
    {"one", "another", "other", "others", "each", "rest", "remainder", "come", "comes", "came",
     "coming", "help", "support", "assistance", "contribution", "contributions", "input",
     "funding", "money", "team", "teams", "led", "lead", "leads", "partners"}
)  # fmt: skip
#: "teams in Belgium", "scientists at …": people/organisation nouns skipped walking left.
_TEAM_NOUNS = frozenset(
    {"team", "teams", "scientists", "researchers", "engineers", "groups", "group", "institutes",
     "institute", "universities", "university", "company", "companies", "firm", "firms",
     "laboratory", "laboratories", "lab", "labs", "consortium", "consortia", "industry",
     "partners", "contractors"}
)  # fmt: skip
_SUBORDINATORS = frozenset(
    {"after", "following", "since", "when", "although", "though", "because", "if", "unlike",
     "like", "as", "while", "despite", "amid", "once", "before"}
)  # fmt: skip
_CLAUSE_WORDS = frozenset({"while", "whereas", "but", "although", "though", "however"})
_CLAUSE_PUNCT = re.compile(r"[,;:]")
_DESTINATION = frozenset({"to", "toward", "towards", "reach", "reached", "visit", "visiting"})
_INSTITUTION = re.compile(
    r"(?:[A-Z][\w'’-]+\s)+(?:University|Institute|Laboratory|Observatory|Academy|Centre|Center)"
    r"(?:\s(?:of|for)(?:\s[A-Z][\w'’-]+)+)?"
)
_COORDINATION = re.compile(
    r"\s*(?:,|,?\s*and|,?\s*or|/|-|–|‐|&|,?\s*as well as|,?\s*plus|,?\s*along with)?\s*"
    r"(?:the\s+)?"
)
_POSSESSIVE_GAP = re.compile(r"[’']s?\s*(?:[a-z]+\s+){0,3}|\s*\(\s*|\s+")

# word flags ----------------------------------------------------------------------------------
_VERB = 1
_ROLE = 2
_RIVAL = 4
_LOC = 8
_PAY = 16
_SPEC = 32
_NEG = 64
_POL = 128
_LAUNCH = 256
_RELAY = 512
_LEAD = 1024
_ZONE = 2048
_ACCORD = 4096
#: ends a payload noun phrase (:func:`_noun_phrase`): a stop word, a possessive, a rivalry word
_NP_END = 8192
#: skipped inside a payload noun phrase: "German-built", "US-made", "ESA-developed"
_NP_SKIP = 16384

_FLAG_CACHE: dict[str, int] = {}


def _flags(word: str) -> int:
    """Bit set of the word classes of a lower-cased word (cached: words repeat a lot)."""
    cached = _FLAG_CACHE.get(word)
    if cached is not None:
        return cached
    f = 0
    if CONTRIBUTION_VERBS.match(word):
        f |= _VERB
    if ROLE_WORDS.match(word):
        f |= _ROLE
    if RIVALRY.match(word):
        f |= _RIVAL
    if LOCATION_VERBS.match(word):
        f |= _LOC
    if word in PAYLOAD_HEADS:
        f |= _PAY
    if word in SPECULATION:
        f |= _SPEC
    if word in NEGATION or word.endswith("n't"):
        f |= _NEG
    if POLITICAL_VERBS.match(word):
        f |= _POL
    if LAUNCH_VERBS.match(word):
        f |= _LAUNCH
    if RELAY.match(word):
        f |= _RELAY
    if LEAD_VERBS.match(word):
        f |= _LEAD
    if word in ZONE_WORDS or word == "like":
        f |= _ZONE
    if word in ("accord", "accords"):
        f |= _ACCORD
    if word in _NP_STOP or word.endswith("'s") or f & _RIVAL:
        f |= _NP_END
    if word.endswith(("-built", "-made", "-developed")):
        f |= _NP_SKIP
    if len(_FLAG_CACHE) > 100_000:
        _FLAG_CACHE.clear()
    _FLAG_CACHE[word] = f
    return f


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


def split_sentences(text: str, max_chars: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans of ``text``, not breaking after abbreviations such as "U.S." or "Dr.".

    With ``max_chars``, only the first ``max_chars`` characters are split (the last sentence
    is cut there).
    """
    return list(_iter_sentences(text, max_chars))


def _iter_sentences(text: str, max_chars: int | None) -> Iterator[tuple[int, int]]:
    """:func:`split_sentences`, lazily: extraction stops reading once no mention is left."""
    limit = len(text) if max_chars is None else min(len(text), max_chars)
    start = 0
    for m in _SENTENCE_END.finditer(text, 0, limit):
        dot, after = m.span()
        if text[dot] == ".":
            # The word before the dot, from its last "." or " " (at most 30 back). Only its
            # tail is searched: lower() never shortens a string, so a token longer than the
            # longest abbreviation cannot be one.
            lo = dot - 30 if dot - 30 > start else start
            win = dot - _ABBR_SCAN if dot - _ABBR_SCAN > lo else lo
            cut = max(text.rfind(" ", win, dot), text.rfind(".", win, dot))
            if cut >= 0:
                token = text[cut + 1 : dot]
            elif win == lo:
                token = text[lo:dot]
            else:
                token = ""
            if token and token.lower() in _ABBREVIATIONS:
                continue
        # A sentence after a match starts at a capital/digit/quote (the lookahead), never at
        # a space: only the first one can be blank.
        if start or not text[: dot + 1].isspace():
            yield start, dot + 1
        start = after
    tail = len(text[:limit].rstrip()) if limit < len(text) else len(text.rstrip())
    if start < tail and (start or not text[:tail].isspace()):
        yield start, tail


# --------------------------------------------------------------------------- sentence model
@dataclass(slots=True)
class _Unit:
    """One actor: a country/agency/capital span, or a country merged with its agency."""

    start: int
    end: int
    country: str | None
    agency: str | None
    capital: bool
    first_word: int  # index of the first word of the unit
    after_word: int  # index of the first word after the unit


@dataclass(slots=True)
class _Cue:
    conf: float
    payload: str | None
    role: str | None
    subject: bool = False  # the list is the subject of the cue verb


#: ``clause_start`` of a sentence that is one clause.
_ONE_CLAUSE = (0,)


class _Sentence:
    """Tokens of one sentence with their classes and clause ids (built only when needed).

    Built for every sentence that names an actor, so construction leaves per-word work to C
    where it can: one split for the words, a ``map`` over the flag cache, and clause boundaries
    looked for only when the sentence has a "," ";" ":" or a clause word (most have none).
    ``zone`` is None when the sentence has no comparison word (nothing is in a zone).
    """

    __slots__ = (
        "all_flags", "clause", "clause_flags", "clause_start", "end", "ends", "flags", "lower",
        "missions", "start", "starts", "text", "zone",
    )  # fmt: skip

    def __init__(self, text: str, start: int, end: int, actors: list[Span]) -> None:
        self.text = text
        self.start = start
        self.end = end
        chunk = text[start:end].lower().replace("’", "'")
        if len(chunk) != end - start:  # lower() changed the length (rare): per-word fallback
            found = [(m.start(), m.end()) for m in _WORD.finditer(text, start, end)]
            lower = [text[a:b].lower().replace("’", "'") for a, b in found]
            starts = [a for a, _ in found]
            ends = [b for _, b in found]
        else:
            # One C-level split gives [gap, word, gap, word, …, gap]; the running sum of the
            # piece lengths gives every word's start and end without a match object per word.
            pieces = _WORD_SPLIT.split(chunk)
            lower = pieces[1::2]
            bounds = list(accumulate(map(len, pieces), initial=start))
            starts = bounds[1:-1:2]
            ends = bounds[2:-1:2]
        self.starts = starts
        self.ends = ends
        self.lower = lower
        try:
            flags = list(map(_FLAG_CACHE.__getitem__, lower))
        except KeyError:  # a word not seen yet (rare once the cache is warm)
            flags = list(map(_flags, lower))
        all_flags = reduce(or_, flags, 0)
        if all_flags & _SPEC:
            for i, w in enumerate(lower):
                if w == "may" and i > 0 and text[starts[i]] == "M":
                    flags[i] &= ~_SPEC
                elif w == "talks" and (i == 0 or lower[i - 1] != "in"):
                    flags[i] &= ~_SPEC  # "in talks to join" is speculation, "after talks" not
            all_flags = reduce(or_, flags, 0)
        self.flags = flags
        self.all_flags = all_flags
        n = len(lower)
        # lower() keeps ",;:" where they are, so the (lower-cased) chunk tells if any exists
        punct = "," in chunk or ";" in chunk or ":" in chunk
        cuts = self._cuts(punct, actors) if punct or not _CLAUSE_WORDS.isdisjoint(lower) else []
        if cuts:
            clause = [0] * n
            for c, i in enumerate(cuts, 1):
                clause[i:] = [c] * (n - i)
            self.clause_start: tuple[int, ...] = (0, *cuts)
            # each clause is a run of words: OR its flags slice in C
            self.clause_flags = [
                reduce(or_, flags[a:b], 0)
                for a, b in zip(self.clause_start, (*cuts, n), strict=True)
            ]
        else:
            clause = [0] * n
            self.clause_start = _ONE_CLAUSE
            self.clause_flags = [all_flags]
        self.clause = clause
        self.zone: list[bool] | None = self._comparison_zone() if all_flags & _ZONE else None
        self.missions: list[Span] = []  # the sentence's mission spans (set by the caller)

    def _cuts(self, punct: bool, actors: list[Span]) -> list[int]:
        """Indices of the words that open a new clause (see the module docstring, step 2)."""
        lower, starts, ends, text = self.lower, self.starts, self.ends, self.text
        n = len(lower)
        opener = bool(lower) and lower[0] in _SUBORDINATORS
        # candidate boundaries: punctuation gaps and clause words only (not every word)
        marks: dict[int, str] = {}
        if punct:
            for m in _CLAUSE_PUNCT.finditer(text, self.start, self.end):
                i = bisect_left(starts, m.start())
                if 0 < i < n:
                    marks[i] = marks.get(i, "") + m.group()
        cuts: list[int] = []
        candidates = set(marks)
        if not _CLAUSE_WORDS.isdisjoint(lower):
            candidates.update(i for i, w in enumerate(lower) if w in _CLAUSE_WORDS)
        actor_starts: set[int] | None = None
        actor_ends: set[int] = set()
        for i in sorted(candidates):
            if i == 0:
                continue
            gap = marks.get(i, "")
            w = lower[i]
            boundary = ";" in gap or ":" in gap or w in _CLAUSE_WORDS
            if not boundary and "," in gap:
                if opener:
                    boundary, opener = True, False
                elif w == "and" and i + 1 < n:
                    nxt = starts[i + 2] if lower[i + 1] == "the" and i + 2 < n else starts[i + 1]
                    if actor_starts is None:
                        actor_starts = {s.start for s in actors}
                        actor_ends = {s.end for s in actors}
                    # ", and the UK" continues a list only right after another actor
                    boundary = nxt not in actor_starts or ends[i - 1] not in actor_ends
            if boundary:
                cuts.append(i)
        return cuts

    def _comparison_zone(self) -> list[bool]:
        zone = [False] * len(self.lower)
        active = -1
        for i, w in enumerate(self.lower):
            if active >= 0 and self.clause[i] != active:
                active = -1
            # "like" opens a zone only clause-initially ("Like Japan's Hayabusa2, …")
            if w in ZONE_WORDS or (
                w == "like" and (i == 0 or "," in self.text[self.ends[i - 1] : self.starts[i]])
            ):
                active = self.clause[i]
            if active >= 0:
                zone[i] = True
        return zone

    def word_at(self, pos: int) -> int:
        """Index of the first word starting at or after ``pos``."""
        return bisect_left(self.starts, pos)

    def clause_at(self, pos: int) -> int:
        i = min(self.word_at(pos), len(self.clause) - 1)
        return self.clause[i] if i >= 0 and self.clause else 0

    def clause_of(self, i: int) -> int:
        """Clause of word ``i`` (``i == len(words)``: the last clause), as ``clause_at``."""
        clause = self.clause
        if not clause:
            return 0
        return clause[i] if i < len(clause) else clause[-1]


# --------------------------------------------------------------------------- main entry
def extract_partners(
    text: str,
    catalog: Catalog,
    linker: Linker,
    *,
    min_confidence: float = MIN_CONFIDENCE,
    max_chars: int | None = None,
) -> list[PartnerCandidate]:
    """Partner facts stated in ``text``, best confidence per (mission, country, agency).

    ``max_chars`` limits extraction to the sentences in the first ``max_chars`` characters
    (the ingestion hook passes :data:`storage.knowledge.EXTRACT_MAX_CHARS`); the spans still
    come from linking the whole text, so mention rules that look at the whole article
    (space context, confirmed missions) are unchanged.
    """
    mentions = linker.link(text)
    if not mentions.missions:
        return []
    spans = mentions.spans
    if not (mentions.agencies or mentions.countries) and all(s.kind == "mission" for s in spans):
        return []
    best: dict[tuple[str, str | None, str | None], PartnerCandidate] = {}
    previous: list[Span] = []
    pending: list[tuple[_Unit, _Cue, str]] = []
    k = 0
    n = len(spans)
    for start, end in _iter_sentences(text, max_chars):
        while k < n and spans[k].start < start:
            k += 1
        if k == n:
            break  # no mention left: later sentences can neither state nor complete a fact
        j = k
        while j < n and spans[j].end <= end:
            j += 1
        if j == k:  # no mention: only a back-reference keeps the previous missions
            if previous and not _opens_with_coref(text, start, end):
                previous = []
            pending = []
            continue
        inside = spans[k:j]
        k = j
        missions = [s for s in inside if s.kind == "mission"]
        if len(missions) == len(inside):
            actors: list[Span] = []
        else:
            actors = [s for s in inside if s.kind != "mission"] if missions else inside
        if not actors:
            eligible = _eligible_quick(text, missions) if missions else []
            if not eligible and previous and _opens_with_coref(text, start, end):
                eligible = previous
            elif eligible and pending and _opens_with_coref(text, start, end):
                _flush_pending(pending, eligible[0], catalog, best, min_confidence)
            previous = eligible
            pending = []
            continue
        sentence = _Sentence(text, start, end, actors)
        sentence.missions = missions
        eligible = _eligible(sentence, missions) if missions else []
        factor = 1.0
        inherited = False
        # the back-reference test only matters for held facts or a mission-less sentence
        if pending and eligible and _opens_with_coref(text, start, end):
            _flush_pending(pending, eligible[0], catalog, best, min_confidence)
        pending = []
        if not eligible and previous and _opens_with_coref(text, start, end):
            eligible, factor, inherited = previous, 0.9, True
        previous = eligible
        units = _units(sentence, actors, catalog)
        if not eligible:
            pending = _pending_candidates(sentence, units)
            continue
        for cand in _sentence_candidates(sentence, units, eligible, inherited, catalog, factor):
            _keep(best, cand, min_confidence)
    if not best:
        return []
    return _merge_agency_duplicates(list(best.values()))


def _keep(
    best: dict[tuple[str, str | None, str | None], PartnerCandidate],
    cand: PartnerCandidate,
    min_confidence: float,
) -> None:
    if cand.confidence < min_confidence:
        return
    key = (cand.mission_slug, cand.country_code, cand.agency_abbrev)
    if key not in best or best[key].confidence < cand.confidence:
        best[key] = cand


def _merge_agency_duplicates(cands: list[PartnerCandidate]) -> list[PartnerCandidate]:
    """Drop (mission, country, None) when the same pair also came with a named agency."""
    with_agency = {(c.mission_slug, c.country_code) for c in cands if c.agency_abbrev}
    return [
        c for c in cands if c.agency_abbrev or (c.mission_slug, c.country_code) not in with_agency
    ]


_FIRST_WORDS = re.compile(r"\w+")


def _opens_with_coref(text: str, start: int, end: int) -> bool:
    """Whether one of the first four words refers back ("It", "The probe", "Both")."""
    head = text[start : min(end, start + 60)]
    low = head.lower()
    if len(low) == len(head):  # lower-case, then split: see _eligible_quick
        return not _COREF.isdisjoint(_FIRST_WORDS.findall(low)[:4])
    words = _FIRST_WORDS.findall(head)[:4]
    return any(w.lower() in _COREF for w in words)


_BEFORE_WORDS = re.compile(r"[^\W_]+(?:[-'’][^\W_]+)*")


def _eligible_quick(text: str, missions: list[Span]) -> list[Span]:
    """Mission eligibility without tokenising the sentence (sentences with no actor).

    The window is lower-cased *before* it is split into words (one call instead of one per
    word). That gives the same words, lower-cased: apart from "İ" (which lower() expands to two
    characters, caught by the length test) lower() maps every character to one character of
    the same class for these patterns (word character or not, hyphen/apostrophe or not).
    """
    out = []
    for m in missions:
        window = text[max(0, m.start - 40) : m.start]
        low = window.lower()
        if len(low) == len(window):
            before = _BEFORE_WORDS.findall(low)[-3:]
        else:
            before = [w.lower() for w in _BEFORE_WORDS.findall(window)][-3:]
        if not COMPARISON.isdisjoint(before) or _accords(text, m):
            continue
        out.append(m)
    return out


def _accords(text: str, mission: Span) -> bool:
    return text[mission.end : mission.end + 8].strip().lower().startswith("accord")


def _eligible(sentence: _Sentence, missions: list[Span]) -> list[Span]:
    """Missions of the sentence not introduced by a comparison and not "… Accords"."""
    starts, lower, zone, text = sentence.starts, sentence.lower, sentence.zone, sentence.text
    out = []
    for m in missions:
        i = bisect_left(starts, m.start)
        if i and not COMPARISON.isdisjoint(lower[max(0, i - 3) : i]):
            continue
        if zone is not None and i < len(zone) and zone[i]:
            continue
        if _accords(text, m):
            continue
        out.append(m)
    return out


# --------------------------------------------------------------------------- actors
def _identity(span: Span, catalog: Catalog) -> tuple[str | None, str | None]:
    if span.kind in ("country", "capital"):
        return span.target, None
    info = catalog.agency_by_abbrev(span.target)
    if info is None:
        return None, None
    return info.country_code, info.abbrev


def _units(sentence: _Sentence, actors: list[Span], catalog: Catalog) -> list[_Unit]:
    """Actor spans → units, merging "Italy's INFN", "the Italian Space Agency (ASI)"."""
    units: list[_Unit] = []
    text = sentence.text
    starts = sentence.starts
    for span in actors:
        country, agency = _identity(span, catalog)
        if units:
            prev = units[-1]
            if country is not None and country == prev.country:
                gap = text[prev.end : span.start]
                if (
                    len(gap) <= 25
                    and _POSSESSIVE_GAP.fullmatch(gap)
                    and " and " not in gap
                    and "," not in gap
                ):
                    prev.end = max(prev.end, span.end)
                    prev.agency = prev.agency or agency
                    prev.capital = prev.capital and span.kind == "capital"
                    prev.after_word = bisect_left(starts, prev.end)
                    continue
        units.append(
            _Unit(
                span.start, span.end, country, agency, span.kind == "capital",
                bisect_left(starts, span.start), bisect_left(starts, span.end),
            )
        )  # fmt: skip
    return units


def _lists(sentence: _Sentence, units: list[_Unit]) -> list[tuple[int, int]]:
    """Index ranges [first, last] of coordinated units ("Belgium, Germany and the UK")."""
    if len(units) == 1:
        return [(0, 0)]
    out: list[tuple[int, int]] = []
    first = 0
    for i in range(1, len(units) + 1):
        if i < len(units):
            gap = sentence.text[units[i - 1].end : units[i].start]
            if len(gap) <= 20 and _COORDINATION.fullmatch(gap):
                continue
        out.append((first, i - 1))
        first = i
    return out


# --------------------------------------------------------------------------- candidates
#: The nouns :data:`_INSTITUTION` needs: one C search rules out most sentences cheaply.
_INSTITUTION_NOUN = re.compile("University|Institute|Laboratory|Observatory|Academy|Cent(?:re|er)")


def _institution(evidence: str) -> str | None:
    """The institution named in the evidence, when exactly one is."""
    if _INSTITUTION_NOUN.search(evidence) is None:
        return None
    found = _INSTITUTION.findall(evidence)
    return found[0] if len(found) == 1 else None


def _sentence_candidates(
    sentence: _Sentence,
    units: list[_Unit],
    missions: list[Span],
    inherited: bool,
    catalog: Catalog,
    factor: float,
) -> list[PartnerCandidate]:
    out: list[PartnerCandidate] = []
    evidence: str | None = None
    institution: str | None = None
    for first, last in _lists(sentence, units):
        members = units[first : last + 1]
        cue = _list_cue(sentence, units, first, last)
        # the cue is the list's: when it is missing or too weak, no member gets a fact
        if cue is None or cue.conf * factor < MIN_CONFIDENCE * 0.99:
            continue
        for unit in members:
            if unit.country is None and unit.agency is None:
                continue
            if unit.capital and not cue.subject:
                continue  # a capital counts only as the acting subject ("Moscow signed")
            mission = missions[0] if inherited else _nearest_mission(sentence, unit, missions)
            if not _allowed(sentence, unit, mission, catalog):
                continue
            conf = cue.conf * _modality(sentence, unit)
            if evidence is None:
                evidence = sentence.text[sentence.start : sentence.end].strip()
                institution = _institution(evidence)
            out.append(
                PartnerCandidate(
                    mission.target, unit.country, unit.agency, institution, cue.payload,
                    cue.role, evidence, round(conf * factor, 3),
                )
            )  # fmt: skip
    return out


def _pending_candidates(sentence: _Sentence, units: list[_Unit]) -> list[tuple[_Unit, _Cue, str]]:
    """Strong facts of a mission-less sentence, held for the next sentence's mission."""
    out: list[tuple[_Unit, _Cue, str]] = []
    for first, last in _lists(sentence, units):
        cue = _list_cue(sentence, units, first, last)
        if cue is None or cue.conf < 0.85 or (cue.payload is None and cue.role is None):
            continue
        for unit in units[first : last + 1]:
            if unit.capital or (unit.country is None and unit.agency is None):
                continue
            if _excluded_context(sentence, unit) or _modality(sentence, unit) < 1.0:
                continue
            out.append((unit, cue, sentence.text[sentence.start : sentence.end].strip()))
    return out


def _flush_pending(
    pending: list[tuple[_Unit, _Cue, str]],
    mission: Span,
    catalog: Catalog,
    best: dict[tuple[str, str | None, str | None], PartnerCandidate],
    min_confidence: float,
) -> None:
    for unit, cue, evidence in pending:
        if not _not_lead(unit, mission, catalog):
            continue
        cand = PartnerCandidate(
            mission.target, unit.country, unit.agency, None, cue.payload, cue.role, evidence,
            round(cue.conf * 0.9, 3),
        )  # fmt: skip
        _keep(best, cand, min_confidence)


def _nearest_mission(sentence: _Sentence, unit: _Unit, missions: list[Span]) -> Span:
    """The mission the unit talks about: same clause, not a mere destination, nearest."""
    if len(missions) == 1:
        return missions[0]
    clause = sentence.clause_of(unit.first_word)
    same = [m for m in missions if sentence.clause_at(m.start) == clause] or missions
    if len(same) > 1:
        lower = sentence.lower
        real = []
        for m in same:
            i = sentence.word_at(m.start)
            before = lower[max(0, i - 2) : i]
            if not any(w in _DESTINATION for w in before):
                real.append(m)
        same = real or same

    def distance(m: Span) -> int:
        return unit.start - m.end if m.end <= unit.start else m.start - unit.end

    return min(same, key=distance)


def _not_lead(unit: _Unit, mission: Span, catalog: Catalog) -> bool:
    if unit.country is not None:
        return unit.country not in catalog.lead_countries(mission.target)
    if unit.agency is None:
        return False
    info = catalog.agency_by_abbrev(unit.agency)
    if info is None or not info.multinational:
        return False
    lead = catalog.mission_by_slug(mission.target)
    return lead is None or lead.lead_agency != unit.agency


def _allowed(sentence: _Sentence, unit: _Unit, mission: Span, catalog: Catalog) -> bool:
    if not _not_lead(unit, mission, catalog) or _excluded_context(sentence, unit):
        return False
    # "India's Chandrayaan-3", "the Japanese SLIM lander": the actor owns another mission
    text = sentence.text
    after = text[unit.end : unit.end + 6]
    for m in sentence.missions:
        if m.start != mission.start and 0 <= m.start - unit.end <= 4:
            return False
    return not after.lstrip("’'s ").startswith("own ")


def _excluded_context(sentence: _Sentence, unit: _Unit) -> bool:
    """Comparison, launch/landing location, relay service, negation in the unit's clause.

    The left anchor is only walked to when the sentence has a location or relay word at all:
    without one neither test below can fire.
    """
    i = unit.first_word
    lower, zone = sentence.lower, sentence.zone
    if zone is not None and i < len(zone) and zone[i]:
        return True
    if i and not COMPARISON.isdisjoint(lower[max(0, i - 2) : i]):
        return True
    c = sentence.clause_of(i)
    all_flags = sentence.all_flags
    if all_flags & (_LOC | _RELAY):
        flags = sentence.flags
        lo = sentence.clause_start[c]
        anchor = _left_anchor(sentence, i, lo)
        if (
            anchor >= lo
            and lower[anchor] in ("from", "in", "at", "over", "near", "to", "into")
            and any(flags[k] & _LOC for k in range(max(lo, anchor - 6), anchor))
        ):
            return True
        if (
            all_flags & _RELAY
            and any(flags[k] & _RELAY for k in range(lo, i))
            and not (anchor >= lo and lower[anchor] == "by")
        ):
            return True
    return bool(sentence.clause_flags[c] & _NEG)


def _modality(sentence: _Sentence, unit: _Unit) -> float:
    clause_flags = sentence.clause_flags
    f = (
        clause_flags[0]
        if len(clause_flags) == 1
        else clause_flags[sentence.clause_of(unit.first_word)]
    )
    return 0.6 if f & _SPEC else 1.0


def _left_anchor(sentence: _Sentence, i: int, lo: int) -> int:
    """Walk left from word ``i`` over determiners, "teams in", institutions and "in City,"."""
    lower, starts, text = sentence.lower, sentence.starts, sentence.text
    j = i - 1
    steps = 0
    while j >= lo and steps < 10:
        w = lower[j]
        if w in _DETERMINERS or w == "the":
            j -= 1
        elif w in ("in", "at", "of") and j > lo:
            prev = lower[j - 1]
            if prev in _TEAM_NOUNS or text[starts[j - 1]].isupper():
                j -= 1
                while j >= lo and (
                    lower[j] in _TEAM_NOUNS
                    or text[starts[j]].isupper()
                    or lower[j] in ("of", "for", "the", "de")
                ):
                    j -= 1
            else:
                return j
        elif (
            text[starts[j]].isupper()
            # a unit that starts inside the last word ("… Franco-German.") has no next word
            and j + 1 < len(starts)
            and "," in text[sentence.ends[j] : starts[j + 1]]
        ):
            j -= 1  # "in Bremen, Germany": a city before the country
        else:
            return j
        steps += 1
    return j


def _list_cue(sentence: _Sentence, units: list[_Unit], first: int, last: int) -> _Cue | None:
    """Strongest cue for a coordinated list of actors (see module docstring, step 5).

    Cues are tried strongest-first where that is free, and a weaker test is skipped when it
    could not beat the cue already found (a strictly higher confidence replaces the best).
    """
    lower, flags, clause = sentence.lower, sentence.flags, sentence.clause
    n = len(lower)
    all_flags = sentence.all_flags
    has_verb = bool(all_flags & _VERB)
    i = units[last].after_word
    first_word = units[first].first_word
    c = sentence.clause_of(first_word)
    accords = bool(sentence.clause_flags[c] & _ACCORD)
    best: _Cue | None = None
    # (a) payload noun phrase right after the list
    j = i
    if j < n and lower[j] in ("s", "'s"):
        j += 1
    payload, role = _noun_phrase(lower, flags, j)
    if payload is not None:
        best = _Cue(0.95 if has_verb else 0.8, payload, role)
    # (b) the list is the subject of a verb
    k = i
    while k < n and lower[k] in _AUX and k - i < 5:
        k += 1
    if k < n and clause[k] == c and (k - i < 5):
        f = flags[k]
        if f & _POL and not accords:
            if best is None or best.conf < 0.85:
                role_name = "co-founder" if lower[k].startswith(("co", "cofound")) else "partner"
                best = _Cue(0.85, None, role_name, subject=True)
        elif f & _LAUNCH:
            if best is None or best.conf < 0.9:
                best = _Cue(0.9, "launch", "launch", subject=True)
        elif f & (_VERB | _LEAD) and not f & _LOC and (best is None or best.conf < 0.9):
            obj, obj_role = _object_after(lower, flags, k + 1)
            funding = "funding" if lower[k].startswith("fund") else None
            best = _Cue(0.9, obj, obj_role or funding, subject=True)
    # (c) source/agent on the left (0.85: can only matter while nothing reaches 0.85)
    if best is None or best.conf < 0.85:
        lo = sentence.clause_start[c]
        anchor = _left_anchor(sentence, first_word, lo)
        if anchor >= lo:
            a = lower[anchor]
            if a in ("from", "by"):
                window = range(lo, anchor)
                cue_before = any(
                    flags[x] & (_PAY | _VERB | _LAUNCH | _LEAD) or lower[x] in _SOURCE_CUES
                    for x in window
                )
                if cue_before:
                    launch = any(flags[x] & _LAUNCH for x in window)
                    best = _Cue(0.85, "launch" if launch else None, "launch" if launch else None)
            elif (
                a == "in"
                and anchor > lo
                and flags[anchor - 1] & _VERB
                and not flags[anchor - 1] & _LOC
            ):
                best = _Cue(0.85, None, None)
    # (d) role words anywhere in the sentence
    if (
        all_flags & _ROLE
        and not accords
        and (best is None or best.role is None or best.conf < 0.85)
    ):
        roles = [w for w, f in zip(lower, flags, strict=True) if f & _ROLE]
        cofounder = any(w.startswith(("co-found", "cofound")) for w in roles)
        name = "co-founder" if cofounder else "partner"
        if best is None or best.conf < 0.85:
            best = _Cue(0.85, best.payload if best else None, name)
        elif best.role is None:
            best.role = name
    # (e) any contribution verb
    if best is None and has_verb:
        obj, obj_role = _verb_object(lower, flags)
        best = _Cue(0.75, obj, obj_role)
    if best is None:
        return None
    if all_flags & _RIVAL and best.conf < 0.95:
        return None
    return best


def _noun_phrase(words: list[str], flags: list[int], i: int) -> tuple[str | None, str | None]:
    """Payload phrase starting at word ``i`` (up to a stop word), cut after its last head noun.

    Stop words, possessives, rivalry words (:data:`_NP_END`), "-built"-style skips
    (:data:`_NP_SKIP`) and head nouns (:data:`_PAY`) are word flags: no string test per word.
    The phrase is only assembled once a head noun is known to be in it (most lists have none).
    """
    n = len(words)
    taken = 0
    head = -1
    j = i
    while j < n and taken < 7:
        f = flags[j]
        if f & _NP_END:
            break
        if not f & _NP_SKIP:
            taken += 1
            if f & _PAY:
                head = j
        j += 1
    if head < 0:
        return None, None
    phrase = [words[x] for x in range(i, head + 1) if not flags[x] & _NP_SKIP]
    return " ".join(phrase), PAYLOAD_HEADS[words[head]]


def _object_after(words: list[str], flags: list[int], j: int) -> tuple[str | None, str | None]:
    while j < len(words) and words[j] in _DETERMINERS:
        j += 1
    return _noun_phrase(words, flags, j)


def _verb_object(words: list[str], flags: list[int]) -> tuple[str | None, str | None]:
    for k, f in enumerate(flags):
        if f & _VERB:
            phrase, role = _object_after(words, flags, k + 1)
            if phrase:
                return phrase, role
    return None, None
