"""Story clustering benchmark: time :func:`bot.publish.cluster.cluster` on synthetic weeks.

Run from the repository root::

    .venv/bin/python -m benchmarks.clustering            # 5,000 and 20,000 candidates
    .venv/bin/python -m benchmarks.clustering 50000      # any sizes

The data is deterministic (seeded) and shaped like a busy space-news week: events reported by
1-6 sites within 10 hours with reworded headlines (3 of 5 event-specific words, a verb, a
mission name for 70 %, and 3 words from a ~440-word vocabulary drawn with probability ~1/rank,
so that "NASA" and "Moon" are in about one headline in five), spread over 7 days. 300 missions:
at 20,000 articles a mission has ~19 different events a week — a hard case for precision.
Besides time, it prints pairwise precision/recall against the generator's truth, as a sanity
check of the blocking (a pair the index never proposes is a recall loss).
"""

from __future__ import annotations

import random
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import combinations

from bot.publish.cluster import Candidate, cluster

START = datetime(2026, 11, 1, tzinfo=UTC)
SITES = [f"site{i:02d}.example" for i in range(60)]
AGENCIES = ["NASA", "ESA", "CNSA", "JAXA", "ISRO", "Roscosmos", "SpaceX", "CSA", "KARI", "UKSA"]
_COMMON_TEXT = """
    nasa moon mission space rocket satellite station crew orbit lunar mars spacecraft agency
    science astronaut flight probe engine telescope data first year plan company programme
    new record image sun earth planet scientist study team success
"""
COMMON = _COMMON_TEXT.split()
_VERBS_TEXT = """
    launches lands docks tests delays reveals completes deploys selects unveils images
    confirms finds studies reaches fires captures loses restores extends ends begins
"""
VERBS = _VERBS_TEXT.split()


def _word(rnd: random.Random) -> str:
    return "".join(rnd.choice("bcdfghklmnprstvz") + rnd.choice("aeiou") for _ in range(3))


def _zipf(rnd: random.Random, words: list[str], weights: list[float]) -> str:
    """A word with probability ~1/rank: a few words ("nasa", "moon") are everywhere."""
    return rnd.choices(words, cum_weights=weights)[0]


def generate(n: int, seed: int = 7) -> tuple[list[Candidate], list[int]]:
    """``n`` candidates over 7 days and, for each, the id of the event it reports."""
    rnd = random.Random(seed)
    missions = [f"{_word(rnd)}-{i % 9 + 1}" for i in range(300)]
    vocab = COMMON + [_word(rnd) for _ in range(400)]
    cum: list[float] = []
    for rank in range(1, len(vocab) + 1):
        cum.append((cum[-1] if cum else 0.0) + 1.0 / rank)
    out: list[Candidate] = []
    truth: list[int] = []
    event = 0
    while len(out) < n:
        event += 1
        t0 = START + timedelta(seconds=rnd.uniform(0, 7 * 86400))
        specific = [_word(rnd) for _ in range(5)]
        mission = rnd.choice(missions) if rnd.random() < 0.7 else None
        agency = rnd.choice(AGENCIES)
        verb = rnd.choice(VERBS)
        reports = min(n - len(out), rnd.choice([1, 1, 1, 2, 2, 3, 4, 6]))
        for site in rnd.sample(SITES, reports):
            words = rnd.sample(specific, 3) + [_zipf(rnd, vocab, cum) for _ in range(3)]
            if mission:
                words.insert(rnd.randrange(len(words)), mission.replace("-", " "))
            words.insert(1, verb)
            rnd.shuffle(words)
            summary = " ".join(
                rnd.sample(specific, 4) + [_zipf(rnd, vocab, cum) for _ in range(12)]
            )
            aid = len(out) + 1
            out.append(
                Candidate(
                    article_id=aid,
                    title=" ".join(words).capitalize(),
                    summary=summary,
                    url=f"https://{site}/news/{aid}",
                    site=site,
                    published_at=t0 + timedelta(minutes=rnd.uniform(0, 600)),
                    language="en",
                    source_weight=rnd.choice([0.5, 1.0, 1.0, 1.5, 2.0]),
                    missions=frozenset([mission] if mission else []),
                    agencies=frozenset([agency]),
                    countries=frozenset(),
                    has_image=rnd.random() < 0.6,
                )
            )
            truth.append(event)
    return out, truth


def _pairs(groups: list[list[int]]) -> set[tuple[int, int]]:
    return {p for g in groups for p in combinations(sorted(g), 2)}


LAST: dict[int, float] = {}  # candidates → best seconds, for --write


def run(n: int, repeats: int = 3) -> None:
    cands, truth = generate(n)
    best = float("inf")
    stories = []
    for _ in range(repeats):
        t = time.perf_counter()
        stories = cluster(cands)
        best = min(best, time.perf_counter() - t)
    by_event: dict[int, list[int]] = {}
    for c, e in zip(cands, truth, strict=True):
        by_event.setdefault(e, []).append(c.article_id)
    expected = _pairs(list(by_event.values()))
    predicted = _pairs([sorted(s.member_ids) for s in stories])
    hit = len(expected & predicted)
    sizes = Counter(len(s.members) for s in stories)
    LAST[n] = best
    print(
        f"{n:>7,} candidates  {best * 1000:8.1f} ms (best of {repeats})  "
        f"{n / best:>9,.0f}/s  stories {len(stories):,} (events {len(by_event):,})  "
        f"pair precision {hit / max(1, len(predicted)):.3f} "
        f"recall {hit / max(1, len(expected)):.3f}"
        f"  largest story {max(sizes)}"
    )


def main(argv: list[str]) -> None:
    write = "--write" in argv
    sizes = [int(a) for a in argv if a != "--write"] or [5_000, 20_000]
    if write:
        _write(sizes)
        return
    print(f"cluster() on synthetic 7-day batches, Python {sys.version.split()[0]}")
    for n in sizes:
        run(n)


def _write(sizes: list[int]) -> None:
    import contextlib

    from benchmarks.common import SummaryRow, Tee, machine, update_doc

    tee = Tee()
    with contextlib.redirect_stdout(tee):  # type: ignore[type-var]
        main(sizes and [str(n) for n in sizes])
    command = ".venv/bin/python -m benchmarks clustering --write"
    body = (
        f"Command: `{command}`\n\nMeasured {time.strftime('%Y-%m-%d')}, {machine()}.\n\n"
        "Synthetic candidates over 7 days (reworded reports of the same events from several "
        "sites, plus distractors), clustered by `bot.publish.cluster.cluster`; pair precision "
        f"and recall against the generator's ground truth.\n\n```\n{tee.text().strip()}\n```"
    )
    rows = [
        SummaryRow(
            f"clustering: {n:,} candidates",
            f"{LAST[n] * 1000:,.0f} ms",
            "< 1 s for 5,000" if n == 5_000 else "report",
            ("yes" if LAST[n] < 1.0 else "no") if n == 5_000 else "—",
            command,
        )
        for n in sizes
    ]
    print(f"wrote {update_doc('clustering', 'Story clustering', body, rows)}")


if __name__ == "__main__":
    main(sys.argv[1:])
