"""Story clustering: the same news from several sites becomes one story, posted once.

A channel that posts "Chang'e-6 returns samples" four times in an afternoon (once per site) is
the most common complaint about feed bots after plain duplicates. :func:`cluster` groups
:class:`Candidate` articles into :class:`Story` objects; the publisher posts each story's
:attr:`Story.lead` once with "Also reported by …" (:attr:`Story.also_reported`).

Pure functions over plain dataclasses: the database layer builds the candidates (article +
feed weight + linked missions/agencies/countries) and decides what to do with the stories.

How two articles are judged to be the same news (:func:`similarity`, ≈ -0.5 … 1.3):

* Titles and summaries (first :data:`SUMMARY_CHARS` characters) are folded (case, accents,
  punctuation: :func:`bot.knowledge.textnorm.fold`), stop words and newsroom filler ("live",
  "update") dropped and lightly stemmed, so "lands" / "landing" / "landed" and "Chang'e 6" /
  "Chang'e-6" / "Change-6" meet. The linked entities' own names (mission slug, agency
  abbreviation) are removed from the text part: the entity terms below count them once.
* ``title`` = 0.35·rapidfuzz ``token_set_ratio`` + 0.65·``token_sort_ratio`` of the normalised
  titles, rescaled so that unrelated headlines score ≈0 (:data:`TITLE_FLOOR`); set ratio is
  weighted down because it is 100 whenever one short title is a subset of another.
  ``text`` = Jaccard of the title+summary token sets (reworded titles still share the facts).
  ``base = 0.55·title + 0.45·text``.
* Entities and event kind: a shared mission slug adds :data:`MISSION_BOOST`, plus
  :data:`EVENT_AGREE` when both titles name the same kind of event (launch, landing, docking…);
  these bonuses fade to half over the window (the next Starlink launch two days later is
  another event). Articles naming only different missions lose :data:`MISSION_CONFLICT`,
  titles naming different event kinds lose :data:`EVENT_CONFLICT` (Chang'e-6 landing vs its
  ascent two days later), titles with numbers but none in common lose :data:`NUMBER_CONFLICT`.
  Agencies and countries add nothing on their own — "both mention NASA" is true of half the
  feed — only :data:`AGENCY_EVENT_AGREE` when there are no missions and both the agency and
  the event kind agree (still far below the threshold by itself).

Merging: pairs at or above the threshold are merged best first (Kruskal order) with
union-find, under constraints that hold for the *whole* story, not only the pair:

* the story spans at most ``window`` (48 h): chains of "similar to the previous day" cannot grow
  a week-long story, and a launch and a landing 30 days apart stay separate;
* two articles from the same site are only in one story when their titles are near-identical
  or the URL is the same (the article updated or re-posted): a site's second, different
  article on the same mission is news in its own right;
* merging two multi-article stories needs their *average* cross similarity to be at least
  ``threshold - AVERAGE_SLACK``, so one lucky pair cannot glue two events together.

Speed: no all-pairs comparison. Candidates are sorted by time and an inverted index maps each
key — the rarest title tokens, ``m:<mission slug>`` and the URL — to its postings. A pair is
scored only when it lies within the window and shares two keys (one for very short titles);
tokens expected in more than :data:`COMMON_IN_WINDOW` articles per window are not keys, and
each key contributes at most :data:`MAX_FANOUT` following neighbours per candidate, so the
work stays near-linear. Measured figures: ``benchmarks/clustering.py``.

Determinism: the input is put in a canonical order (published_at, article_id) and pairs are
merged in order of (similarity desc, indices), so the result does not depend on input order.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from urllib.parse import urlsplit

from rapidfuzz import fuzz

from bot.knowledge.textnorm import fold

__all__ = [
    "DEFAULT_THRESHOLD",
    "DEFAULT_WINDOW",
    "Candidate",
    "Story",
    "cluster",
    "similarity",
]

DEFAULT_WINDOW = timedelta(hours=48)
#: Calibrated on the labelled cases in ``tests/test_publish_cluster.py``: reworded reports of
#: one event with a linked mission score ≈0.41-0.9 (single link carries the weakest pairs),
#: same-mission different-event and same-agency distractors ≈0.1-0.35.
DEFAULT_THRESHOLD = 0.42
MISSION_BOOST = 0.15
MISSION_CONFLICT = 0.15
#: Same mission *and* the same kind of event (both launches) within the window: same news.
EVENT_AGREE = 0.15
#: Without missions on both sides: same agency and same kind of event is weak extra evidence
#: (kept below the threshold on its own, so "both NASA, both launches" never merges by itself).
AGENCY_EVENT_AGREE = 0.1
#: Titles with numbers but none in common: "23 Starlink satellites" vs "20 Starlink satellites".
NUMBER_CONFLICT = 0.15
#: Titles naming different kinds of event (a launch vs a landing) are different news.
EVENT_CONFLICT = 0.2
#: token ratios of unrelated headlines sit around this value (0-1); see :func:`_title_score`.
TITLE_FLOOR = 0.3
#: Same-site articles merge only above this title ratio (0-100): updates and re-posts.
NEAR_IDENTICAL = 90.0
#: At most this many nearest (in time) neighbours per candidate and key.
MAX_FANOUT = 24
#: At most this many of a candidate's rarest title tokens are used as blocking keys.
MAX_KEYS = 10
#: A title token expected in more than this many articles per window is too common to be a
#: blocking key (see :func:`_blocking_keys`).
COMMON_IN_WINDOW = 20
#: Merging two multi-article stories needs an average cross similarity of at least
#: ``threshold - AVERAGE_SLACK`` over up to AVERAGE_SAMPLE members per side.
AVERAGE_SLACK = 0.1
AVERAGE_SAMPLE = 8
#: Summary text beyond this many characters adds cost but little evidence.
SUMMARY_CHARS = 300

#: English stop words and newsroom filler, plus the commonest Russian, German, French and
#: Spanish function words (titles in those languages still cluster, a little less well).
_STOPWORD_TEXT = """
    a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each few
    for from further had has have having he her here hers him his how i if in into is it its
    itself just me more most my no nor not now of off on once only or other our ours out
    over own same she should so some such than that the their them then there these they
    this those through to too under until up very was we were what when where which while
    who whom why will with would you your yours new says said say via amid after could may
    might get gets got one two first live update updated updates breaking watch video photos
    photo report reports exclusive news today week year day s t в во на и с со по для из о
    об от к ко не что как это за до у же ли а но или der die das und ein eine mit von zu den
    im auf für ist le la les des et du un une en au el los las y del por con para al
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
#: Stemmed title words → the kind of event they announce. Two titles that both name an event
#: kind, but no common one, report different news even about the same mission on the same day
#: (Chang'e-6 lands on the far side / Chang'e-6 ascender lifts off from the far side).
_EVENTS = {
    **dict.fromkeys(("launch", "liftoff", "lift", "blast", "blastoff"), "launch"),
    **dict.fromkeys(
        ("land", "touchdown", "touch", "splashdown", "splash", "return", "reentry"),
        "landing",
    ),
    **dict.fromkeys(("dock", "berth", "undock", "rendezvous"), "docking"),
    **dict.fromkeys(("scrub", "delay", "postpon", "slip", "stand"), "delay"),
    **dict.fromkeys(
        ("explod", "explosion", "anomaly", "fail", "failur", "lost", "crash"), "failure"
    ),
    **dict.fromkeys(("spacewalk", "eva"), "spacewalk"),
    **dict.fromkeys(("select", "award", "contract", "funding", "budget"), "business"),
}
_APOSTROPHES = re.compile(r"(?<=\w)['’ʼ`´](?=\w)")
_APOSTROPHE_ANY = re.compile(r"['’ʼ`´]")
_ALNUM_RUNS = re.compile(r"\d+|[^\W\d_]+")
_DOUBLE = re.compile(r"([b-df-hj-km-np-rtv-z])\1$")  # doubled consonant except l, s, z


@dataclass(frozen=True)
class Candidate:
    """One article as the publisher sees it (built from Article + Feed + knowledge links).

    ``article_id`` must be unique within one :func:`cluster` call. ``published_at`` must be
    timezone-aware (UTC). ``site`` is the source's site (e.g. ``spacenews.com``); when empty,
    the URL's host stands in for it.
    """

    article_id: int
    title: str
    summary: str
    url: str
    site: str
    published_at: datetime
    language: str
    source_weight: float
    missions: frozenset[str] = frozenset()
    agencies: frozenset[str] = frozenset()
    countries: frozenset[str] = frozenset()
    has_image: bool = False


def _lead_order(c: Candidate) -> tuple[float, bool, datetime, int]:
    """Sort key, best lead first: heaviest source, then with image, then earliest, then id."""
    return (-c.source_weight, not c.has_image, c.published_at, c.article_id)


def site_key(c: Candidate) -> str:
    """Comparable site: casefolded, without ``www.``; URL host if unset; unique if unknown."""
    site = (c.site or urlsplit(c.url).hostname or "").strip().casefold()
    site = site.removeprefix("www.")
    return site or f"#article-{c.article_id}"


@dataclass
class Story:
    """One piece of news: the article to post (``lead``) and every report of it (``members``).

    Identity for "was it posted already?": the outbox dedups on ``(article_id, chat)``, and the
    lead may change between runs (a heavier source picks the story up later). So callers must
    check :attr:`member_ids` against what was delivered, not only the lead. :attr:`key` is the
    smallest member ``article_id``: article ids grow with insertion, so articles joining a story
    later have larger ids and the key stays the same while the story grows (it changes only if
    the oldest article drops out of the candidate window — another reason to use member_ids).
    """

    lead: Candidate
    members: list[Candidate] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.members:
            self.members = [self.lead]
        elif self.lead not in self.members:
            raise ValueError("the lead must be one of the members")

    @property
    def key(self) -> int:
        """Stable story key: the smallest member article id (see class docstring)."""
        return min(m.article_id for m in self.members)

    @property
    def member_ids(self) -> frozenset[int]:
        """Every member's article id: check these against deliveries before posting."""
        return frozenset(m.article_id for m in self.members)

    @property
    def sites(self) -> frozenset[str]:
        """Distinct sites (normalised) covering the story."""
        return frozenset(site_key(m) for m in self.members)

    @property
    def also_reported(self) -> list[tuple[str, str]]:
        """(site, url) for every *other* site covering the story, one article per site.

        Per site the article that would have been its lead is shown; sites are listed
        heaviest source first, then earliest. The lead's own site is never listed, even when
        the site has a second (near-identical) article in the story.
        """
        lead_site = site_key(self.lead)
        best: dict[str, Candidate] = {}
        for m in sorted(self.members, key=_lead_order):
            best.setdefault(site_key(m), m)
        best.pop(lead_site, None)
        ordered = sorted(best.items(), key=lambda kv: _lead_order(kv[1]))
        return [(m.site or key, m.url) for key, m in ordered]

    @property
    def missions(self) -> frozenset[str]:
        """Union of the members' mission slugs."""
        return frozenset().union(*(m.missions for m in self.members))

    @property
    def agencies(self) -> frozenset[str]:
        """Union of the members' agency abbreviations."""
        return frozenset().union(*(m.agencies for m in self.members))

    @property
    def countries(self) -> frozenset[str]:
        """Union of the members' country codes."""
        return frozenset().union(*(m.countries for m in self.members))

    @property
    def first_published(self) -> datetime:
        """When the news broke: the earliest member's publication time."""
        return min(m.published_at for m in self.members)

    @property
    def has_image(self) -> bool:
        """Whether the post (the lead) has an image."""
        return self.lead.has_image


# --------------------------------------------------------------------------- normalisation
@lru_cache(maxsize=1 << 16)
def _stem(tok: str) -> str:
    """A deliberately tiny English stemmer: enough for lands/landing/landed to meet."""
    if not tok.isalpha() or len(tok) <= 3:
        return tok
    if tok.endswith("ies") and len(tok) > 4:
        tok = tok[:-3] + "y"
    elif tok.endswith("ing") and len(tok) > 5:
        tok = tok[:-3]
        tok = tok[:-1] if _DOUBLE.search(tok) else tok
    elif tok.endswith("ed") and len(tok) > 4:
        tok = tok[:-2]
        tok = tok[:-1] if _DOUBLE.search(tok) else tok
    elif tok.endswith(("ches", "shes", "sses", "xes", "zes")):
        tok = tok[:-2]
    elif tok.endswith("s") and not tok.endswith(("ss", "us", "is")):
        tok = tok[:-1]
    if tok.endswith("e") and len(tok) > 4:
        tok = tok[:-1]
    return tok


_WORD_CACHE: dict[str, str] = {}
_WORD_CACHE_MAX = 200_000


def _word_token(w: str) -> str:
    """The token for one folded word ("" when it is dropped), memoised: vocabularies repeat."""
    tok = _WORD_CACHE.get(w)
    if tok is None:
        drop = w in _STOPWORDS or (len(w) == 1 and w.isascii() and w.isalpha())
        tok = "" if drop else _stem(w)
        if len(_WORD_CACHE) < _WORD_CACHE_MAX:
            _WORD_CACHE[w] = tok
    return tok


def tokens(text: str) -> list[str]:
    """Normalised content tokens of ``text`` (see module docstring).

    A short number right after a word is glued to it ("Chang'e 6" → ``change6``, "Falcon 9" →
    ``falcon9``): that is how missions and vehicles are named, and the glued token is far
    rarer (so a better blocking key) than "6" on its own. Apostrophes inside words vanish
    ("Chang'e" → "change", not "chang e").
    """
    if _APOSTROPHE_ANY.search(text):
        text = _APOSTROPHES.sub("", text)
    out: list[str] = []
    cache = _WORD_CACHE
    prev_alpha = ""
    for word in fold(text).split():
        parts = (word,) if word.isalpha() or word.isdigit() else _ALNUM_RUNS.findall(word)
        for w in parts:
            if prev_alpha and len(w) <= 2 and w.isdigit():
                out[-1] = prev_alpha + w
                prev_alpha = ""
                continue
            tok = cache.get(w)
            if tok is None:
                tok = _word_token(w)
            if tok:
                out.append(tok)
                prev_alpha = tok if tok.isalpha() else ""
            else:
                prev_alpha = ""
    return out


@dataclass(frozen=True, slots=True)
class _Prep:
    """Per-candidate precomputation, so pair scoring is a few set ops and two rapidfuzz calls."""

    title: str  # normalised tokens without entity names, joined by spaces
    title_tokens: frozenset[str]  # every title token (blocking keys)
    text_tokens: frozenset[str]
    site: str
    ts: float
    missions: frozenset[str]
    agencies: frozenset[str]
    url: str
    events: frozenset[str]
    numbers: frozenset[str]
    full_title: str  # every token, for the near-identical test


@lru_cache(maxsize=4096)
def _entity_tokens(name: str) -> frozenset[str]:
    """Title tokens an entity name produces ("change-6" → {"chang6"}, "NASA" → {"nasa"})."""
    return frozenset(tokens(name.replace("-", " ")))


def _prep(c: Candidate) -> _Prep:
    """Tokens with the linked entities' own names removed.

    The mission name is already counted by MISSION_BOOST, and agency names ("NASA") are in
    half of all headlines: leaving them in the text part would count the mission twice and let
    "both mention NASA" look like shared wording. What is left is what the article *says*.
    """
    if c.published_at.tzinfo is None:
        raise ValueError(f"article {c.article_id}: published_at must be timezone-aware")
    names: frozenset[str] = frozenset().union(
        *(_entity_tokens(m) for m in c.missions), *(_entity_tokens(a) for a in c.agencies)
    )
    t = tokens(c.title)
    core = [w for w in t if w not in names] if names else t
    s = [w for w in tokens(c.summary[:SUMMARY_CHARS]) if w not in names]
    return _Prep(
        title=" ".join(core),
        title_tokens=frozenset(t),
        text_tokens=frozenset(core).union(s),
        site=site_key(c),
        ts=c.published_at.timestamp(),
        missions=c.missions,
        agencies=c.agencies,
        url=c.url.strip(),
        events=frozenset(_EVENTS[w] for w in t if w in _EVENTS),
        numbers=frozenset(w for w in t if w.isdigit()),
        full_title=" ".join(t),
    )


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def _title_score(a: str, b: str) -> float:
    """Mean of token-set and token-sort ratio, rescaled so unrelated titles land near 0.

    Character-level ratios of two unrelated headlines are rarely below ~30: the floor is
    subtracted so the title part of the score means "shared wording", not "both are English".
    """
    if not a or not b:
        return 0.0
    mix = (0.35 * fuzz.token_set_ratio(a, b) + 0.65 * fuzz.token_sort_ratio(a, b)) / 100.0
    return max(0.0, (mix - TITLE_FLOOR) / (1.0 - TITLE_FLOOR))


def _similarity(a: _Prep, b: _Prep, window: float) -> float:
    """Text evidence, plus entity/event evidence that fades over the window (docstring above)."""
    sim = 0.55 * _title_score(a.title, b.title) + 0.45 * _jaccard(a.text_tokens, b.text_tokens)
    # Reports of one event come within hours; the same mission doing the same kind of thing
    # a day or two later (the next Starlink launch) is more likely a new event.
    near = 1.0 - 0.5 * min(1.0, abs(a.ts - b.ts) / window) if window > 0 else 1.0
    if a.missions and b.missions:
        if a.missions & b.missions:
            sim += MISSION_BOOST * near
            if a.events & b.events:
                sim += EVENT_AGREE * near
        else:
            sim -= MISSION_CONFLICT
    elif a.events & b.events and a.agencies & b.agencies:
        sim += AGENCY_EVENT_AGREE * near
    if a.events and b.events and not a.events & b.events:
        sim -= EVENT_CONFLICT
    if a.numbers and b.numbers and not a.numbers & b.numbers:
        sim -= NUMBER_CONFLICT
    return sim


def _near_identical(a: _Prep, b: _Prep) -> bool:
    """Same article twice (update, re-post, syndication): identical URL or ~identical title."""
    if a.url and a.url == b.url:
        return True
    x, y = a.full_title, b.full_title
    if not x or not y:
        return False
    return max(fuzz.ratio(x, y), fuzz.token_sort_ratio(x, y)) >= NEAR_IDENTICAL


def similarity(a: Candidate, b: Candidate, *, window: timedelta = DEFAULT_WINDOW) -> float:
    """How likely ``a`` and ``b`` report the same news (≈-0.5-1.3; see module docstring).

    Exposed for tests, tuning and dry-run explanations; :func:`cluster` uses the same scoring
    (and merges pairs scoring at least its ``threshold``).
    """
    return _similarity(_prep(a), _prep(b), window.total_seconds())


# --------------------------------------------------------------------------- clustering
class _Clusters:
    """Union-find whose roots also know the story's members, time span and sites.

    :meth:`try_union` enforces the story-level rules (window, same-site, group average) that
    plain union-find over pairs would not: one good pair must not glue two stories together.
    """

    def __init__(self, preps: Sequence[_Prep], window: float, sims: dict[tuple[int, int], float]):
        self.preps = preps
        self.window = window
        self.sims = sims  # pair scores already computed, (i, j) with i < j
        self.parent = list(range(len(preps)))
        self.lo = [p.ts for p in preps]
        self.hi = [p.ts for p in preps]
        self.members: list[list[int]] = [[i] for i in range(len(preps))]
        self.by_site: list[dict[str, list[int]]] = [{p.site: [i]} for i, p in enumerate(preps)]

    def find(self, i: int) -> int:
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def _sim(self, i: int, j: int) -> float:
        key = (i, j) if i < j else (j, i)
        sim = self.sims.get(key)
        if sim is None:
            sim = self.sims[key] = _similarity(self.preps[key[0]], self.preps[key[1]], self.window)
        return sim

    def _cohesive(self, ri: int, rj: int, threshold: float) -> bool:
        """Group average: the two stories' members must be similar on average, not just once.

        Single-link alone chains "A≈B, B≈C" into A≈C; across two multi-article stories that
        glues different events sharing a mission. Only the first AVERAGE_SAMPLE members of each
        side are compared, which bounds the cost on big stories.
        """
        xs = self.members[ri][:AVERAGE_SAMPLE]
        ys = self.members[rj][:AVERAGE_SAMPLE]
        if len(xs) == len(ys) == 1:
            return True
        total = sum(self._sim(x, y) for x in xs for y in ys)
        return total / (len(xs) * len(ys)) >= threshold - AVERAGE_SLACK

    def try_union(self, i: int, j: int, threshold: float) -> bool:
        """Merge the stories of ``i`` and ``j`` unless that breaks a story-level rule."""
        ri, rj = self.find(i), self.find(j)
        if ri == rj:
            return False
        if max(self.hi[ri], self.hi[rj]) - min(self.lo[ri], self.lo[rj]) > self.window:
            return False
        si, sj = self.by_site[ri], self.by_site[rj]
        small, large = (si, sj) if len(si) <= len(sj) else (sj, si)
        for site, members in small.items():
            others = large.get(site)
            if others and not all(
                _near_identical(self.preps[x], self.preps[y]) for x in members for y in others
            ):
                return False
        if not self._cohesive(ri, rj, threshold):
            return False
        if len(self.members[ri]) < len(self.members[rj]):
            ri, rj = rj, ri
        self.parent[rj] = ri
        self.members[ri].extend(self.members[rj])
        self.members[rj] = []
        self.lo[ri] = min(self.lo[ri], self.lo[rj])
        self.hi[ri] = max(self.hi[ri], self.hi[rj])
        target = self.by_site[ri]
        for site, members in self.by_site[rj].items():
            target.setdefault(site, []).extend(members)
        self.by_site[rj] = {}
        return True


def _blocking_keys(preps: Sequence[_Prep], window: float) -> list[list[str]]:
    """Each candidate's index keys: its rarest title tokens, mission slugs and its URL.

    Rarity is document frequency over the whole batch: rare tokens are the ones two reports of
    one event are likely to share and unrelated articles are not. A token expected in more
    than :data:`COMMON_IN_WINDOW` articles of one window ("nasa", "launch", "moon" in a busy
    week) is never a key: it would propose many useless pairs and be cut by the fan-out cap
    anyway. Missions are always keys (fan-out is capped for them too).
    """
    df: dict[str, int] = defaultdict(int)
    for p in preps:
        for t in p.title_tokens:
            df[t] += 1
    span = preps[-1].ts - preps[0].ts if preps else 0.0
    common = COMMON_IN_WINDOW * max(1.0, span / window) if window > 0 else COMMON_IN_WINDOW
    keys: list[list[str]] = []
    for p in preps:
        rare = sorted((t for t in p.title_tokens if df[t] <= common), key=lambda t: (df[t], t))
        keys.append([*rare[:MAX_KEYS], *(f"m:{m}" for m in sorted(p.missions)), f"u:{p.url}"])
    return keys


def _candidate_pairs(preps: Sequence[_Prep], window: float) -> list[tuple[int, int]]:
    """Pairs (i < j) within ``window`` worth scoring, found through the inverted index.

    A pair is proposed when it shares two keys, or one key if either side has only one (a
    short title without mission). Each key contributes at most :data:`MAX_FANOUT` following
    neighbours per candidate. Returned sorted, so the work order is deterministic.
    """
    keys = _blocking_keys(preps, window)
    postings: dict[str, list[int]] = defaultdict(list)
    for i, ks in enumerate(keys):  # i is in time order, so every posting list is too
        for k in ks:
            postings[k].append(i)
    post_ts = {k: [preps[i].ts for i in ids] for k, ids in postings.items() if len(ids) > 1}
    n = len(preps)
    shared: dict[int, int] = defaultdict(int)  # i * n + j: int keys hash faster than tuples
    for i, ks in enumerate(keys):
        limit = preps[i].ts + window
        base = i * n
        for k in ks:
            ts = post_ts.get(k)
            if ts is None:
                continue
            ids = postings[k]
            start = bisect_left(ids, i) + 1
            end = min(bisect_right(ts, limit, lo=start), start + MAX_FANOUT)
            for j in ids[start:end]:
                shared[base + j] += 1
    short = {i for i, ks in enumerate(keys) if len(ks) < 3}  # < 2 keys besides the URL
    pairs = []
    for code, count in shared.items():
        i, j = divmod(code, n)
        if count >= 2 or i in short or j in short:
            pairs.append((i, j))
    pairs.sort()
    return pairs


def _canonical(candidates: Iterable[Candidate]) -> list[Candidate]:
    ordered = sorted(candidates, key=lambda c: (c.published_at, c.article_id))
    ids = [c.article_id for c in ordered]
    if len(set(ids)) != len(ids):
        raise ValueError("article_id values must be unique within one cluster() call")
    return ordered


def cluster(
    candidates: Sequence[Candidate],
    *,
    window: timedelta = DEFAULT_WINDOW,
    threshold: float = DEFAULT_THRESHOLD,
) -> list[Story]:
    """Group ``candidates`` into stories (a partition: each candidate in exactly one story).

    Returns stories ordered by when the news broke (earliest member), then :attr:`Story.key`;
    members are in publication order. Raises ValueError on duplicate article ids or naive
    datetimes. See the module docstring for the similarity and the merge constraints.
    """
    ordered = _canonical(candidates)
    if not ordered:
        return []
    preps = [_prep(c) for c in ordered]
    span = window.total_seconds()
    scored: list[tuple[float, int, int]] = []
    sims: dict[tuple[int, int], float] = {}
    for i, j in _candidate_pairs(preps, span):
        a, b = preps[i], preps[j]
        if b.ts - a.ts > span:
            continue
        if a.site == b.site:
            if _near_identical(a, b):
                scored.append((-math.inf, i, j))  # duplicates merge first
            continue
        sim = sims[i, j] = _similarity(a, b, span)
        if sim >= threshold:
            scored.append((-sim, i, j))
    scored.sort()
    uf = _Clusters(preps, span, sims)
    for _, i, j in scored:
        uf.try_union(i, j, threshold)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(ordered)):
        groups[uf.find(i)].append(i)
    stories = []
    for idx in groups.values():
        members = [ordered[i] for i in idx]
        stories.append(Story(lead=min(members, key=_lead_order), members=members))
    stories.sort(key=lambda s: (s.first_published, s.key))
    return stories
