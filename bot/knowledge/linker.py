"""Find catalog missions, agencies and countries in text: one Aho-Corasick pass.

Why Aho-Corasick (pyahocorasick): all ~1,300 pattern keys (every alias with its separator
variants) are matched in one C-level scan of the normalized text, independent of the number of
patterns. A single alternation regex of the same keys measured ~13x slower (raw scan of
1.5 KB articles: ~960 vs ~12,800 articles/s; ``benchmarks/linking.py --compare-regex``),
because Python's ``re`` tries the alternation at every position.

Rules, applied to each raw hit:

- **Word boundaries**: keys are padded with a space and the text too; since :mod:`textnorm`
  turns all punctuation into spaces, a hit can only start and end at word edges. CJK keys are
  not padded (CJK has no spaces between words).
- **Case**: short all-caps aliases ("ESA", "CAS", "ASI", "CE-6", "US") must appear in capitals
  in the original text, so "case", "Asi", "mesa", "Vanessa" never match. Country words and
  single-word company names need an initial capital ("Chinese", not "chinese" porcelain).
- **Ambiguity**: ``ambiguous_aliases`` of missions ("Hera", "Psyche", "Hope"), ambiguous
  country words ("Turkey", "Chad", "Jordan", "US"…) and ambiguous company names only count
  (capitalised) when the text has *space context*: an unambiguous mission/agency hit, or at
  one strong space word (spacecraft, probe, rover, asteroid…) or two weak ones (mission,
  launch, orbit, space). Countries do
  not create context: a mythology piece naming "Greek" gods must not wake up "Hera".
- **Sentence-initial common words**: an ambiguous alias that is an ordinary English word
  ("Hope", "Curiosity", "Gateway", :data:`COMMON_WORD_ALIASES`) is capitalised for free at the
  start of a sentence, so there it only counts when a space noun follows ("Hope probe") or the
  same mission is also mentioned elsewhere in the text.
- **Redefined abbreviations**: an all-caps alias that the text itself expands to something
  else ("the Italian Spring Accelerometer (ISA)", "EMA (European Medicines Agency)") is dropped
  everywhere in that text: the initials match, the expansion is not one of the target's names.
- **Compound prefixes**: "Franco-", "Sino-", "Russo-"… (:data:`COMPOUND_PREFIXES`) are country
  words only right before a hyphen ("Franco-German", "Sino-Russian").
- **Capitals** (:data:`CAPITALS`, ~50) produce ``capital`` spans that are *not* counted as
  country mentions: "Moscow" usually names a place. The extractor promotes a capital to its
  country only when it acts politically ("Beijing and Moscow signed…").
- **Longest match wins**: overlapping valid hits are resolved longest-first, so "Chang'e-6"
  never also counts as "Chang'e", "Artemis II" not as "Artemis", "New Mexico" (a blocker
  pattern) not as Mexico.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from operator import itemgetter, lt
from typing import Any, Literal, NamedTuple

import ahocorasick  # type: ignore[import-not-found]

from bot.knowledge.catalog import Catalog
from bot.knowledge.textnorm import cased_compact, fold_key, pattern_variants, raw_key, scan_text

Kind = Literal["mission", "agency", "country", "capital", "context", "block"]

#: Words that make a text "about space" on their own.
SPACE_WORDS = (
    "spacecraft", "space probe", "probe", "probes", "orbiter", "orbiters", "asteroid",
    "rocket", "rockets", "satellite", "satellites", "lander", "landers", "rover", "rovers",
    "telescope", "space telescope", "astronaut", "astronauts", "cosmonaut", "cosmonauts",
    "spaceflight", "liftoff", "payload", "payloads", "lunar", "space agency", "space station",
    "flyby", "launch pad", "moon landing", "cubesat", "cubesats",
)  # fmt: skip
#: Words that count only in pairs ("mission" and "launch" are common outside space news).
WEAK_SPACE_WORDS = ("mission", "missions", "launch", "launched", "orbit", "space", "trajectory")

#: Phrases that contain a country word but do not refer to that country.
BLOCKERS = (
    "New Mexico", "New Jersey", "New South Wales", "New England", "Indian Ocean",
    "Latin American", "South American", "North American", "Central American", "Native American",
    "Guinea pig", "Georgia Tech", "Jordan River", "Chinese New Year", "French fries",
    "Polish notation", "Turkish delight", "Irish Sea", "Arabian Sea", "Mexican wave",
    "Indo-Pacific", "Indo-European", "Anglo-Saxon", "Greco-Roman", "Washington Post",
    "Paris Agreement", "Paris Climate Agreement",
)  # fmt: skip

#: Company names that are ordinary words; treated as ambiguous (need capital + context).
AMBIGUOUS_AGENCY_WORDS = frozenset({"Vast", "Firefly", "Boeing"})

#: Ambiguous mission aliases that are ordinary English words: at a sentence start their capital
#: letter proves nothing ("Hope is fading…"), see the module docstring.
COMMON_WORD_ALIASES = frozenset(
    {"hope", "smile", "dragon", "juice", "dart", "slim", "viper", "resilience", "clipper",
     "vulcan"}
)  # fmt: skip
#: Nouns that confirm a sentence-initial common-word alias ("Hope probe", "Gateway station").
_SPACE_NOUN_AFTER = re.compile(
    r"[\s\-’']*(?:probe|orbiter|mission|spacecraft|rover|lander|craft|capsule|helicopter|"
    r"telescope|station|module|rocket|launcher|vehicle|team)\b",
    re.IGNORECASE,
)

#: "Franco-German": country prefixes valid only right before a hyphen.
COMPOUND_PREFIXES = {
    "Franco": "FR", "Sino": "CN", "Anglo": "GB", "Russo": "RU", "Italo": "IT", "Indo": "IN",
    "Nippo": "JP", "Hispano": "ES", "Luso": "PT", "Austro": "AT", "Greco": "GR", "Turco": "TR",
    "Belgo": "BE", "Germano": "DE", "Polono": "PL", "Helveto": "CH", "Swedo": "SE",
    "Dano": "DK", "Irano": "IR",
}  # fmt: skip
_HYPHENS = frozenset("-‐‑–—")

#: Capital cities standing for their governments ("Beijing and Moscow signed…"). Only used by
#: the extractor when the capital acts politically; never counted as a country mention.
CAPITALS = {
    "Beijing": "CN", "Moscow": "RU", "Washington": "US", "Tokyo": "JP", "New Delhi": "IN",
    "Delhi": "IN", "Paris": "FR", "Berlin": "DE", "Rome": "IT", "Madrid": "ES", "London": "GB",
    "Ottawa": "CA", "Canberra": "AU", "Seoul": "KR", "Pyongyang": "KP", "Riyadh": "SA",
    "Abu Dhabi": "AE", "Cairo": "EG", "Islamabad": "PK", "Tehran": "IR", "Ankara": "TR",
    "Brasilia": "BR", "Brasília": "BR", "Buenos Aires": "AR", "Pretoria": "ZA", "Minsk": "BY",
    "Caracas": "VE", "Baku": "AZ", "Belgrade": "RS", "Bangkok": "TH", "Managua": "NI",
    "Dakar": "SN", "Astana": "KZ", "Tashkent": "UZ", "Jakarta": "ID", "Hanoi": "VN",
    "Kyiv": "UA", "Kiev": "UA", "Warsaw": "PL", "Budapest": "HU", "Stockholm": "SE",
    "Oslo": "NO", "Copenhagen": "DK", "Helsinki": "FI", "Vienna": "AT", "Bern": "CH",
    "Brussels": "BE", "The Hague": "NL", "Lisbon": "PT", "Athens": "GR", "Nairobi": "KE",
    "Abuja": "NG", "Addis Ababa": "ET", "Kuala Lumpur": "MY", "Manila": "PH", "Dhaka": "BD",
    "Ulaanbaatar": "MN", "Doha": "QA", "Muscat": "OM", "Manama": "BH", "Amman": "JO",
    "Tunis": "TN", "Rabat": "MA", "Bucharest": "RO", "Prague": "CZ",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Pattern:
    kind: Kind
    target: str
    ambiguous: bool = False
    cased: str | None = None  # exact letters/digits required (all-caps abbreviations)
    needs_capital: bool = False
    before_hyphen: bool = False  # compound prefix: the original must continue with a hyphen
    common_word: bool = False  # ordinary English word: sentence-initial hits need confirmation


class Span(NamedTuple):
    """One accepted mention; ``start``/``end`` index the original text.

    A named tuple, not a frozen dataclass: every article yields a dozen spans, and a frozen
    dataclass pays one ``object.__setattr__`` per field (~4x slower to create).
    """

    start: int
    end: int
    kind: Kind
    target: str  # mission slug, agency abbrev or country code
    surface: str


@dataclass(slots=True)
class Mentions:
    """Counts per kind plus the accepted spans in text order (treat as read-only: shared)."""

    missions: dict[str, int] = field(default_factory=dict)
    agencies: dict[str, int] = field(default_factory=dict)
    countries: dict[str, int] = field(default_factory=dict)
    spans: list[Span] = field(default_factory=list)


def _is_all_caps_abbrev(name: str) -> bool:
    letters = [c for c in name if c.isalpha()]
    return 2 <= len(letters) <= 8 and all(c.isupper() for c in letters)


def _is_cjk(ch: str) -> bool:
    return ord(ch) >= 0x2E80


def _capitalised(surface: str) -> bool:
    first = surface[:1]
    if not first.isalpha():
        first = next((c for c in surface if c.isalpha()), "")
    return not first or first.isupper() or (not first.isascii() and not first.islower())


def _sentence_initial(text: str, start: int) -> bool:
    """True when only quotes/brackets separate ``start`` from a sentence end or the text start."""
    i = start - 1
    while i >= 0 and text[i] in " \t\n\r\"'“‘([":
        i -= 1
    return i < 0 or text[i] in ".!?:;"


_ABBR_FILLER = frozenset({"of", "for", "and", "the", "on", "in", "de", "du", "la", "&", "to"})
_EXPANSION_WORD = re.compile(r"[^\W\d_][\w'’-]*")


_INITIALS: dict[str, str] = {}


def _initials(surface: str) -> str:
    """Upper-cased letters of an abbreviation ("CE-6" → "CE"), cached: a few surfaces repeat."""
    letters = _INITIALS.get(surface)
    if letters is None:
        letters = "".join(c for c in surface if c.isalpha()).upper()
        if len(_INITIALS) > 10_000:
            _INITIALS.clear()
        _INITIALS[surface] = letters
    return letters


def _expansion(text: str, surface: str) -> str | None:
    """What ``text`` spells ``surface`` out as: "Italian Spring Accelerometer (ISA)" → words.

    Looks at "Words … (ABBR)" and "ABBR (Words …)"; the capitalised initials must spell ABBR.
    Two substring searches decide the usual case (neither form present) before any word is
    looked at: this runs for every all-caps mention of a text that contains "(".
    """
    pos = text.find(f"({surface})")
    if pos > 0:
        letters = _initials(surface)
        n = len(letters)
        words = _EXPANSION_WORD.findall(text, max(0, pos - 20 * n - 40), pos)
        if n:
            # the last n content words, walking back (only those are looked at)
            tail = []
            for w in reversed(words):
                if w.lower() not in _ABBR_FILLER:
                    tail.append(w)
                    if len(tail) == n:
                        break
            tail.reverse()
        else:
            tail = [w for w in words if w.lower() not in _ABBR_FILLER]
        if len(tail) == n and "".join(w[0] for w in tail).upper() == letters:
            return " ".join(tail)
    pos = text.find(f"{surface} (")
    if pos >= 0:
        close = text.find(")", pos)
        if close > 0:
            letters = _initials(surface)
            n = len(letters)
            words = _EXPANSION_WORD.findall(text, pos + len(surface) + 2, close)
            content = [w for w in words if w.lower() not in _ABBR_FILLER]
            if len(content) == n and "".join(w[0] for w in content).upper() == letters:
                return " ".join(content)
    return None


class Linker:
    """Built once per catalog (≈0.2 s); :meth:`link` is pure and thread-safe.

    The last result is memoised (one entry, keyed by the text): ingestion calls :meth:`link`
    and then :func:`bot.knowledge.extract.extract_partners` on the same text, which links again.
    The case rules of a key depend only on the matched surface, so their outcome is cached per
    (key, surface) (bounded to 10,000 entries, a few hundred KB; real text repeats a few hundred
    surfaces). The linker pickles (caches dropped, ~0.7 MB, ~20 ms) and builds from the catalog
    in ~0.1 s, so parser worker processes can link too.
    """

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._patterns: dict[str, list[tuple[int, Pattern]]] = {}
        for mission in catalog.missions:
            ambiguous = {n.casefold() for n in mission.ambiguous_aliases}
            for name in mission.all_names:
                amb = name.casefold() in ambiguous
                common = amb and name.casefold() in COMMON_WORD_ALIASES
                self._add(
                    name, "mission", mission.slug, ambiguous=amb, needs_capital=amb,
                    common_word=common,
                )  # fmt: skip
        for agency in catalog.agencies:
            for name in (agency.abbrev, agency.name, *agency.aliases):
                single = " " not in name.strip() and name[:1].isupper()
                amb = name in AMBIGUOUS_AGENCY_WORDS
                self._add(name, "agency", agency.abbrev, ambiguous=amb, needs_capital=single)
        for country in catalog.countries:
            for name in (*country.names, *country.demonyms):
                self._add(name, "country", country.code, needs_capital=True)
            for name in country.ambiguous:
                self._add(name, "country", country.code, ambiguous=True, needs_capital=True)
        for name, code in COMPOUND_PREFIXES.items():
            self._add(name, "country", code, needs_capital=True, before_hyphen=True)
        for name, code in CAPITALS.items():
            self._add(name, "capital", code, needs_capital=True)
        for word in SPACE_WORDS:
            self._add(word, "context", word)
        for word in WEAK_SPACE_WORDS:
            self._add(word, "context", "weak:" + word)
        for phrase in BLOCKERS:
            self._add(phrase, "block", phrase)
        self._names: dict[str, frozenset[str]] = {}
        for mission in catalog.missions:
            self._names[mission.slug] = frozenset(fold_key(n) for n in mission.all_names)
        for agency in catalog.agencies:
            names = (agency.abbrev, agency.name, *agency.aliases)
            self._names[agency.abbrev] = frozenset(fold_key(n) for n in names)
        self._automaton = self._build_automaton()
        self._last: tuple[str, Mentions] | None = None
        self._accepted: dict[tuple[int, str], tuple[tuple[Pattern, ...], bool]] = {}

    def _build_automaton(self) -> Any:
        """One automaton value per key, precomputed so the per-hit loop does no arithmetic.

        Value: (start back-offset, end back-offset, patterns, context bits, slot, plain,
        hyphen, strong). Context bits: bit 0 for a strong space word, one bit per weak space
        word above it (the loop ORs ints instead of filling a set of words); ``slot`` numbers
        the key for the per-surface acceptance cache; ``plain``
        means no pattern of the key looks at the surface (nothing to check); ``hyphen`` that
        one needs the character after the hit ("Franco-"); ``strong`` that an unambiguous
        mission/agency pattern is among them (space context, for ``plain`` keys).
        """
        automaton = ahocorasick.Automaton()
        for slot, (key, entries) in enumerate(self._patterns.items()):
            patterns = tuple(p for _, p in entries if p.kind != "context")
            context = 0
            for _, p in entries:
                if p.kind == "context":
                    context |= _context_bit(p.target)
            length = len(key)
            # hits index the haystack " " + text + " ": padded keys carry the two spaces
            back, fwd = (length - 1, 1) if key[0] == " " else (length, 0)
            plain = not any(p.cased or p.needs_capital or p.before_hyphen for p in patterns)
            hyphen = any(p.before_hyphen for p in patterns)
            strong = any(not p.ambiguous and p.kind in ("mission", "agency") for p in patterns)
            value = (back, fwd, patterns, context, slot, plain, hyphen, strong)
            automaton.add_word(key, value)
        automaton.make_automaton()
        return automaton

    def __getstate__(self) -> dict[str, Any]:
        """Picklable (e.g. to hand a built linker to a worker process): caches are dropped."""
        state = dict(self.__dict__)
        state["_last"] = None
        state["_accepted"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def _add(
        self, name: str, kind: Kind, target: str, *, ambiguous: bool = False,
        needs_capital: bool = False, before_hyphen: bool = False, common_word: bool = False,
    ) -> None:  # fmt: skip
        cased = cased_compact(name) if _is_all_caps_abbrev(name) else None
        pattern = Pattern(kind, target, ambiguous, cased, needs_capital, before_hyphen, common_word)
        variants = pattern_variants(name)
        raw = raw_key(name)
        if raw is not None:
            variants.add(raw)
        for variant in variants:
            padded = not (_is_cjk(variant[0]) or _is_cjk(variant[-1]))
            key = f" {variant} " if padded else variant
            entries = self._patterns.setdefault(key, [])
            if all(p != pattern for _, p in entries):
                entries.append((len(entries), pattern))

    @property
    def pattern_count(self) -> int:
        return len(self._patterns)

    def link(self, text: str) -> Mentions:
        """All mentions in ``text`` (see the module docstring for the rules)."""
        last = self._last
        if last is not None and last[0] == text:
            return last[1]
        mentions = self._link(text)
        self._last = (text, mentions)
        return mentions

    def _link(self, text: str) -> Mentions:
        norm = scan_text(text)
        haystack = f" {norm.text} "
        # Back to ``text`` offsets: nothing to map, squeezed runs only (mapped inline below: one
        # C bisect per edge instead of two method calls per hit), or the slow path's full map.
        runs, shifts = norm._runs, norm._shifts
        general = norm._offsets is not None
        to_original = norm.span_to_original
        cache = self._accepted
        hits: list[tuple[int, int, Pattern]] = []
        context_bits = 0
        strong_context = False
        for end_idx, value in self._automaton.iter(haystack):
            back, fwd, patterns, context, slot, plain, hyphen, strong = value
            if context:
                context_bits |= context
                if not patterns:
                    continue
            start = end_idx - back
            if start < 0:
                continue
            o_end = end_idx - fwd  # > start: every key has a character between its pads
            if general:
                o_start, o_end = to_original(start, o_end)
            elif runs:
                i = bisect_right(runs, start) - 1
                o_start = start + shifts[i] if i >= 0 else start
                i = bisect_right(runs, o_end - 1) - 1
                if i >= 0:
                    o_end += shifts[i]
            else:
                o_start = start
            if plain:
                accepted = patterns
            else:
                surface = text[o_start:o_end]
                found = cache.get((slot, surface))
                if found is None:
                    if len(cache) > 10_000:
                        cache.clear()
                    found = cache[slot, surface] = _accept(patterns, surface)
                accepted, strong = found
                if hyphen:
                    accepted = tuple(
                        p for p in accepted
                        if not p.before_hyphen
                        or (text[o_end : o_end + 1] in _HYPHENS and text[o_end + 1 : o_end + 2])
                    )  # fmt: skip
            if strong:
                strong_context = True
            for p in accepted:
                hits.append((o_start, o_end, p))
        if not hits:
            return Mentions()
        # an unambiguous mission/agency hit, a strong space word, or two distinct weak ones
        has_context = (
            strong_context or bool(context_bits & 1) or (context_bits >> 1).bit_count() >= 2
        )
        return self._resolve(text, hits, has_context)

    def _redefined(self, text: str, surface: str, target: str) -> bool:
        expansion = _expansion(text, surface)
        return expansion is not None and fold_key(expansion) not in self._names.get(target, ())

    def _resolve(
        self, text: str, hits: list[tuple[int, int, Pattern]], has_context: bool
    ) -> Mentions:
        valid = hits if has_context else [h for h in hits if not h[2].ambiguous]
        # by start, longer first: two stable C-keyed sorts instead of a Python key per hit
        valid.sort(key=_second, reverse=True)
        valid.sort(key=_first)
        valid = _drop_overlaps(valid)
        redefined: dict[str, bool] = {}
        tentative: list[tuple[int, int, Pattern]] = []
        confirmed: set[str] = set()
        accepted: list[tuple[int, int, Pattern]] = []
        seen: set[tuple[int, str, str]] = set()
        parens = "(" in text
        # Mentions are built as hits are accepted (one pass); only when a sentence-initial
        # common word is confirmed later does the result get rebuilt in text order.
        mentions = Mentions()
        counts: dict[str, dict[str, int]] = {
            "mission": mentions.missions, "agency": mentions.agencies,
            "country": mentions.countries,
        }  # fmt: skip
        spans = mentions.spans
        # the same mention twice needs two hits at one start: when starts are unique, skip it
        dedupe = len(set(map(_first, valid))) != len(valid)
        for hit in valid:
            start, end, pattern = hit
            kind = pattern.kind
            if kind == "block":
                continue
            target = pattern.target
            if dedupe:
                key = (start, kind, target)
                if key in seen:
                    continue
                seen.add(key)
            if parens and pattern.cased is not None:
                surface = text[start:end]
                gone = redefined.get(surface)
                if gone is None:
                    gone = redefined[surface] = self._redefined(text, surface, target)
                if gone:
                    continue
            if (
                pattern.common_word
                and _sentence_initial(text, start)
                and not _SPACE_NOUN_AFTER.match(text, end)
            ):
                tentative.append(hit)
                continue
            if kind == "mission":
                confirmed.add(target)
            accepted.append(hit)
            counter = counts.get(kind)
            if counter is not None:
                counter[target] = counter.get(target, 0) + 1
            spans.append(_new_tuple(Span, (start, end, kind, target, text[start:end])))
        if tentative:
            late = [h for h in tentative if h[2].target in confirmed]
            if late:
                accepted += late
                accepted.sort(key=_first)
                return _mentions(text, accepted)
        return mentions


def _mentions(text: str, accepted: list[tuple[int, int, Pattern]]) -> Mentions:
    """Counts and spans of accepted hits (in text order)."""
    mentions = Mentions()
    counts: dict[str, dict[str, int]] = {
        "mission": mentions.missions, "agency": mentions.agencies,
        "country": mentions.countries,
    }  # fmt: skip
    spans = mentions.spans
    for start, end, pattern in accepted:
        kind, target = pattern.kind, pattern.target
        counter = counts.get(kind)
        if counter is not None:
            counter[target] = counter.get(target, 0) + 1
        spans.append(_new_tuple(Span, (start, end, kind, target, text[start:end])))
    return mentions


_first = itemgetter(0)
_second = itemgetter(1)


def _context_bit(target: str) -> int:
    """Bit of a context word: 1 for strong space words, one bit per weak word above it."""
    if target.startswith("weak:"):
        return 2 << WEAK_SPACE_WORDS.index(target[5:])
    return 1


#: ``tuple.__new__(Span, values)`` builds a :class:`Span` without the generated ``__new__``'s
#: keyword handling (~3x cheaper; a text yields a dozen spans).
_new_tuple = tuple.__new__


def _accept(patterns: tuple[Pattern, ...], surface: str) -> tuple[tuple[Pattern, ...], bool]:
    """Patterns of one key that ``surface`` satisfies (case rules), and whether one is strong.

    Depends on the surface only, so :meth:`Linker._link` caches it per (key, surface): the same
    few surfaces ("NASA", "Chinese", "ESA") make most hits. ``before_hyphen`` patterns pass
    here and are checked against the text by the caller.
    """
    out: list[Pattern] = []
    strong = False
    compact: str | None = None
    for p in patterns:
        if p.cased is not None:
            if compact is None:
                compact = (
                    surface if surface.isalnum() and surface.isascii() else cased_compact(surface)
                )
            if compact != p.cased:
                continue
        if p.needs_capital and not _capitalised(surface):
            continue
        if not p.ambiguous and p.kind in ("mission", "agency"):
            strong = True
        out.append(p)
    return tuple(out), strong


def _drop_overlaps(hits: list[tuple[int, int, Pattern]]) -> list[tuple[int, int, Pattern]]:
    """Longest match wins inside each cluster of overlapping hits (``hits`` sorted by start).

    Most texts have no overlap at all, which three C-level passes establish; otherwise hits
    that overlap nothing are copied as they are, and only a real cluster (hits starting before
    the furthest end seen so far) is sliced out and resolved.
    """
    starts = list(map(_first, hits))
    ends = list(map(_second, hits))
    if not any(map(lt, starts[1:], ends)):
        return hits  # no hit starts before the previous one ends: nothing overlaps
    out: list[tuple[int, int, Pattern]] = []
    n = len(hits)
    i = 0
    while i < n:
        hit = hits[i]
        cluster_end = hit[1]
        j = i + 1
        while j < n and hits[j][0] < cluster_end:
            if hits[j][1] > cluster_end:
                cluster_end = hits[j][1]
            j += 1
        if j == i + 1:
            out.append(hit)
        else:
            out += _longest_first(hits[i:j])
        i = j
    return out


def _longest_first(hits: list[tuple[int, int, Pattern]]) -> list[tuple[int, int, Pattern]]:
    """Resolve one overlap cluster: longer hits win; identical extents keep every pattern."""
    ordered = sorted(hits, key=_longest_key)
    taken: list[tuple[int, int]] = []
    accepted: list[tuple[int, int, Pattern]] = []
    for start, end, pattern in ordered:
        for t_start, t_end in taken:
            if start < t_end and t_start < end:
                if (start, end) not in taken:
                    break
                accepted.append((start, end, pattern))
                break
        else:
            taken.append((start, end))
            accepted.append((start, end, pattern))
    accepted.sort(key=_first)
    return accepted


def _longest_key(hit: tuple[int, int, Pattern]) -> tuple[int, int]:
    return hit[0] - hit[1], hit[0]
