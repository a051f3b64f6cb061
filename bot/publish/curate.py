"""Curation: score stories, filter them per channel, pick the best to post.

Pure functions over :class:`~bot.publish.cluster.Story`; the publisher feeds them stories and
``now`` and turns the picks into outbox rows.

Score (0-100, higher is better; every component is shown by :func:`explain`)::

    source    = 30 · w / (w + 1)              w = max source_weight of the members (≥ 0);
                                              the default weight 1.0 earns 15, weight 3 earns 22.5
    freshness = 35 · 0.5 ^ (age_h / 12)       age since the news broke (earliest member);
                                              half-life 12 h, future dates count as age 0
    entities  = min(15, 7.5 · missions + 2.5 · agencies)
                                              linked catalog missions matter more than agencies
    coverage  = 15 · min(1, log2(sites) / 3)  distinct sites: 1 → 0, 2 → 5, 4 → 10, 8+ → 15
    image     = 5 if the post (the lead) has an image

Why these weights: freshness dominates (a news channel that posts yesterday's story first looks
broken), a trusted source and wide coverage are the next best signals of importance, mission
links say "this is on topic for a space channel", and posts with images get more attention.
Every component saturates, so no single one can push a story past the others on its own.

Channel filters follow what feed-bot users ask for most: language, include/exclude keywords
and a minimum score. Keywords match case- and accent-insensitively on word boundaries ("ESA"
does not match "mesa"), phrases match across any punctuation ("sample return" matches
"sample-return"), and a trailing ``*`` matches a prefix ("launch*" matches "launches").
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from bot.knowledge.textnorm import fold
from bot.publish.cluster import Story

__all__ = ["ChannelFilter", "explain", "pick", "score"]

SOURCE_MAX = 30.0
FRESHNESS_MAX = 35.0
HALF_LIFE_HOURS = 12.0
ENTITY_MAX = 15.0
PER_MISSION = 7.5
PER_AGENCY = 2.5
COVERAGE_MAX = 15.0
COVERAGE_FULL_SITES = 8
IMAGE_BONUS = 5.0


def explain(story: Story, now: datetime) -> dict[str, float]:
    """The score's components and ``total`` (for ``/stats`` and dry-run output)."""
    weight = max(0.0, max(m.source_weight for m in story.members))
    age_h = max(0.0, (now - story.first_published).total_seconds() / 3600.0)
    sites = len(story.sites)
    parts = {
        "source": SOURCE_MAX * weight / (weight + 1.0),
        "freshness": FRESHNESS_MAX * 0.5 ** (age_h / HALF_LIFE_HOURS),
        "entities": min(
            ENTITY_MAX, PER_MISSION * len(story.missions) + PER_AGENCY * len(story.agencies)
        ),
        "coverage": COVERAGE_MAX * min(1.0, math.log2(sites) / math.log2(COVERAGE_FULL_SITES)),
        "image": IMAGE_BONUS if story.has_image else 0.0,
    }
    parts["total"] = sum(parts.values())
    return parts


def score(story: Story, now: datetime) -> float:
    """The story's curation score, 0-100 (formula in the module docstring)."""
    return explain(story, now)["total"]


# --------------------------------------------------------------------------- filters
def _norm(text: str) -> str:
    """Folded text with single spaces, padded: word boundaries become plain spaces."""
    return " " + " ".join(fold(text).split()) + " "


def _is_cjk(ch: str) -> bool:
    return "\u2e80" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" or "\uf900" <= ch <= "\ufaff"


@lru_cache(maxsize=1024)
def _keyword_pattern(keywords: tuple[str, ...]) -> re.Pattern[str] | None:
    """One regex for a keyword list, over :func:`_norm` text; ``None`` when the list is empty.

    Words are separated by single spaces after folding, so a phrase is its folded words joined
    by one space; boundaries are spaces (the text is padded). CJK keywords match as substrings,
    since CJK text has no spaces between words.
    """
    alternatives = []
    for raw in keywords:
        prefix = raw.strip().endswith("*")
        words = fold(raw.strip().rstrip("*")).split()
        if not words:
            continue
        body = re.escape(" ".join(words))
        if _is_cjk(words[0][0]) or _is_cjk(words[-1][-1]):
            alternatives.append(body)
        else:
            alternatives.append(f"(?<= ){body}" + (r"" if prefix else r"(?= )"))
    if not alternatives:
        return None
    return re.compile("|".join(alternatives))


def _story_text(story: Story) -> str:
    """What keywords are matched against: what the post shows, plus its linked entities.

    The lead's title and summary (that is what subscribers see), the missions (slug with
    hyphens as spaces: "artemis-2" is found by "Artemis 2") and agency abbreviations.
    """
    entities = [m.replace("-", " ") for m in sorted(story.missions)] + sorted(story.agencies)
    return _norm(" \n ".join([story.lead.title, story.lead.summary, *entities]))


def _language(code: str) -> str:
    """Primary language subtag, lower case: "en-US" → "en"."""
    return code.strip().replace("_", "-").split("-")[0].casefold()


@dataclass(frozen=True)
class ChannelFilter:
    """What one channel wants. The default filter accepts everything.

    ``languages``: accepted language codes of the lead (primary subtag compared, so "en"
    accepts "en-GB"); empty = any. ``include``: if set, at least one keyword must match.
    ``exclude``: no keyword may match. ``min_score``: stories scoring lower are dropped.
    """

    languages: frozenset[str] = frozenset()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    min_score: float = 0.0

    def matches(self, story: Story, score: float) -> bool:
        """Whether ``story`` (with its precomputed ``score``) may be posted to the channel."""
        if score < self.min_score:
            return False
        if self.languages and _language(story.lead.language) not in {
            _language(code) for code in self.languages
        }:
            return False
        if not self.include and not self.exclude:
            return True
        text = _story_text(story)
        include = _keyword_pattern(tuple(self.include))
        if include is not None and not include.search(text):
            return False
        exclude = _keyword_pattern(tuple(self.exclude))
        return exclude is None or not exclude.search(text)


def pick(
    stories: Iterable[Story], now: datetime, filter: ChannelFilter, *, limit: int
) -> list[tuple[Story, float]]:
    """The best ``limit`` stories that pass ``filter``, best first, with their scores.

    Ties are broken by the newer story first, then by :attr:`Story.key`, so the order is
    deterministic. Stories already delivered must be removed by the caller beforehand (check
    :attr:`Story.member_ids` against the outbox).
    """
    if limit <= 0:
        return []
    scored: Sequence[tuple[Story, float]] = [
        (s, sc) for s in stories if filter.matches(s, sc := score(s, now))
    ]
    ranked = sorted(scored, key=lambda p: (-p[1], -p[0].first_published.timestamp(), p[0].key))
    return ranked[:limit]
