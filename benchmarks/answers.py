"""Answer latency: ``Answers.mission``, ``.partners`` and ``.search`` with 100k articles stored.

Run from the repository root::

    .venv/bin/python -m benchmarks.answers            # print the table
    .venv/bin/python -m benchmarks.answers --write    # also update docs/benchmarks.md

What it does: a fresh migrated SQLite file (and PostgreSQL in a private schema when
``ORBITWIRE_TEST_DATABASE_URL`` is set) gets ``-n`` synthetic articles (default 100,000) by bulk
insert — titles and 300–600 character summaries mixing catalog mission names, agencies,
countries and filler vocabulary, published over two years. About 35 % are linked to missions
(Zipf-like: popular missions get thousands of links) and ~2 % carry an article partner fact, as
ingestion would leave them. The catalog is seeded as at start.

Timed in-process, the way a handler calls them (``await answers.X(...)``: thread hop, queries,
rendering; not Telegram): ``/mission`` over rotating mission names (typos excluded), ``/partners``
over missions, countries and agencies, ``/search`` over a mix of rare words, mission names,
common words and phrases. Each measurement repeats until ``--samples`` runs; p50/p99 reported.

The machine the figures come from is shared and noisy, so the timed part runs ``--runs`` times
over the same store and the table shows the **median** p50/p99 of those runs, plus the process
CPU time per call (``time.process_time``, all threads: SQLite work on the worker thread counts,
PostgreSQL's server does not). CPU per call barely moves with load; wall time does, so the two
together tell slow code from a busy machine.

Steady state, as a running bot sees it: PostgreSQL gets ``VACUUM ANALYZE`` after the bulk load
(autovacuum does the same after inserts; without it index-only scans hit the heap), the answers
service is warmed (:meth:`Answers.warm`) and then ``gc.freeze()`` moves everything allocated so
far (catalog, compiled SQL, the generated data's leftovers) out of the collector's sight, as the
bot does after start-up, so a full collection does not walk them in the middle of an answer.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import re
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text
from sqlmodel import col

from benchmarks.common import SummaryRow, machine, private_pg_schema, update_doc
from bot.answers import Answers
from bot.knowledge.service import Knowledge
from storage.db import Database, upgrade_database
from storage.models import Article, ArticleMission, Mission, PartnerFact

COMMAND = ".venv/bin/python -m benchmarks answers --write"
TARGETS_MS = {"sqlite": 5.0, "postgresql": 15.0}

FILLER = re.findall(
    r"\w+",
    "engineers review data weekend results promising team expects updates coming weeks "
    "statement officials schedule tests hardware analysts budgets projects funds launch "
    "orbit lander rover orbiter instrument camera spectrometer detector sample return "
    "lunar surface crater pole ice water dust radiation solar wind magnetic field asteroid "
    "comet telescope galaxy star planet atmosphere climate satellite constellation rocket "
    "engine booster payload fairing pad countdown delay anomaly investigation contract "
    "partnership agreement cooperation station crew astronaut spacewalk module docking",
)
SEARCHES = [
    "negative ion detector",
    "Chang'e-7",
    "lunar south pole ice",
    "asteroid sample return",
    "Tianwen-2",
    "spectrometer",
    "crew module docking",
    '"solar wind" -comet',
    "JUICE Jupiter",
    "moon",
    "booster anomaly investigation",
    "Pakistan cubesat",
]
PARTNER_QUERIES = ["Chang'e-6", "Pakistan", "ESA", "Chang'e-7", "Sweden", "UAE", "CNSA", "Japan"]


def _zipf_weights(n: int) -> list[float]:
    return [1.0 / (rank + 1) for rank in range(n)]


def _vocabulary(rng: random.Random, size: int = 30_000) -> tuple[list[str], list[float]]:
    """A Zipf-distributed vocabulary (s = 1.05), like news text: the domain words above are
    spread over the top ranks, the long tail is made-up words. Uniform sampling from a small
    word list would put every word in 40 % of documents, which no real corpus does."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    tail = ["".join(rng.choices(letters, k=rng.randint(4, 10))) for _ in range(size)]
    vocab = list(tail)
    for k, word in enumerate(FILLER):
        vocab.insert(20 + k * 7, word)
    total = 0.0
    cum = []
    for rank in range(len(vocab)):
        total += 1.0 / (rank + 1) ** 1.05
        cum.append(total)
    return vocab, cum


def generate(db: Database, n: int, seed: int = 11) -> None:
    """Bulk-insert ``n`` articles, their mission links and some article partner facts."""
    knowledge = Knowledge()
    knowledge.seed(db)
    rng = random.Random(seed)
    catalog = knowledge.catalog
    missions = list(catalog.missions)
    rng.shuffle(missions)
    weights = _zipf_weights(len(missions))
    agencies = [a.abbrev for a in catalog.agencies]
    countries = [c.name for c in catalog.countries[:80]]
    with db.session() as s:
        mission_ids = dict(s.execute(select(col(Mission.slug), col(Mission.id))).all())
    start = datetime(2025, 1, 1, tzinfo=UTC)
    span = timedelta(days=730).total_seconds()
    batch: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    facts: list[dict[str, Any]] = []
    next_id = 1

    def flush() -> None:
        with db.session() as s:
            if batch:
                s.execute(insert(Article), batch)
            if links:
                s.execute(insert(ArticleMission), links)
            if facts:
                s.execute(insert(PartnerFact), facts)
        batch.clear()
        links.clear()
        facts.clear()

    vocab, cum = _vocabulary(rng)
    for i in range(n):
        mission = rng.choices(missions, weights)[0]
        words = rng.choices(vocab, cum_weights=cum, k=rng.randint(45, 90))
        linked = rng.random() < 0.35
        name = mission.name if linked else rng.choice(FILLER)
        summary = (
            f"{name} {' '.join(words[:30])}. {rng.choice(agencies)} and {rng.choice(countries)} "
            f"{' '.join(words[30:])}."
        )
        published = start + timedelta(seconds=span * i / n + rng.uniform(-3600, 3600))
        batch.append(
            {
                "id": next_id,
                "identity": uuid.UUID(int=rng.getrandbits(128)).hex,
                "url": f"https://bench{i % 50}.example/a/{i}",
                "canonical_url": f"https://bench{i % 50}.example/a/{i}",
                "title": f"{name} {' '.join(rng.choices(vocab, cum_weights=cum, k=6))}",
                "summary": summary,
                "content": None,
                "language": "en",
                "source_name": f"Bench {i % 50}",
                "source_site": f"bench{i % 50}.example",
                "published_at": published,
                "fetched_at": published,
                "content_hash": "",
                "update_count": 0,
            }
        )
        if linked:
            links.append({"article_id": next_id, "mission_id": mission_ids[mission.slug]})
            if mission.partners and rng.random() < 0.06:
                p = rng.choice(mission.partners)
                facts.append(
                    {
                        "fact_key": uuid.UUID(int=rng.getrandbits(128)).hex,
                        "mission_id": mission_ids[mission.slug],
                        "country_code": p.country_code,
                        "payload": p.payload,
                        "article_id": next_id,
                        "origin": "article",
                        "confidence": 0.9,
                        "created_at": published,
                    }
                )
        next_id += 1
        if len(batch) >= 5000:
            flush()
    flush()
    if db.is_postgres:
        with db.engine.begin() as conn:
            conn.execute(text("SELECT setval('article_id_seq', (SELECT max(id) FROM article))"))
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))  # what autovacuum does after a bulk insert
    else:
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))


Timing = tuple[float, float, float]  # p50 ms, p99 ms, median CPU ms per call


async def _measure(fn: Callable[[str], Awaitable[Any]], inputs: list[str], samples: int) -> Timing:
    times: list[float] = []
    cpu: list[float] = []
    for k in range(samples):
        item = inputs[k % len(inputs)]
        c0 = time.process_time()
        t0 = time.perf_counter()
        await fn(item)
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return statistics.median(times), _pct(times, 0.99), statistics.median(cpu)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run_queries(db: Database, samples: int, runs: int = 1) -> dict[str, Timing]:
    """Median over ``runs`` of each answer's (p50, p99, CPU per call)."""
    answers = Answers(db, Knowledge())
    mission_names = [m.name for m in answers.knowledge.catalog.missions]
    cases: list[tuple[str, Callable[[str], Awaitable[Any]], list[str]]] = [
        ("/mission", answers.mission, mission_names),
        ("/partners", answers.partners, PARTNER_QUERIES),
        ("/search", answers.search, SEARCHES),
    ]
    await answers.warm()
    for _name, fn, inputs in cases:
        for item in inputs:  # warm caches and the thread pool
            await fn(item)
    gc.collect()
    gc.freeze()  # as the bot does after start-up (see the module docstring)
    per_run: dict[str, list[Timing]] = {name: [] for name, _fn, _inputs in cases}
    for _ in range(runs):
        for name, fn, inputs in cases:
            per_run[name].append(await _measure(fn, inputs, samples))
    gc.unfreeze()
    return {
        name: (
            statistics.median(t[0] for t in timings),
            statistics.median(t[1] for t in timings),
            statistics.median(t[2] for t in timings),
        )
        for name, timings in per_run.items()
    }


def _pg_database(base: str) -> tuple[Database, Callable[[], None]]:
    url, drop = private_pg_schema(base)
    return Database(url), drop


Results = dict[str, Timing]


def bench_backend(backend: str, n: int, samples: int, runs: int = 1) -> tuple[Results, float]:
    cleanup: Callable[[], None] = lambda: None  # noqa: E731
    tmp: tempfile.TemporaryDirectory[str] | None = None
    if backend == "sqlite":
        tmp = tempfile.TemporaryDirectory()
        db = Database(f"sqlite:///{Path(tmp.name) / 'bench.db'}")
    else:
        db, cleanup = _pg_database(os.environ["ORBITWIRE_TEST_DATABASE_URL"])
    try:
        upgrade_database(db.engine)
        t0 = time.perf_counter()
        generate(db, n)
        load_s = time.perf_counter() - t0
        return asyncio.run(run_queries(db, samples, runs)), load_s
    finally:
        db.close()
        cleanup()
        if tmp is not None:
            tmp.cleanup()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="benchmarks.answers", description=__doc__)
    ap.add_argument("-n", type=int, default=100_000, help="articles to generate")
    ap.add_argument("--samples", type=int, default=400, help="timed calls per answer")
    ap.add_argument("--runs", type=int, default=5, help="timed runs; medians are reported")
    ap.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = ap.parse_args(argv)
    backends = ["sqlite"]
    if os.environ.get("ORBITWIRE_TEST_DATABASE_URL"):
        backends.append("postgresql")
    table = [
        "| backend | answer | p50 ms | p99 ms | CPU ms/call | target p99 |",
        "|---|---|---:|---:|---:|---|",
    ]
    summary: list[SummaryRow] = []
    loads = []
    for backend in backends:
        results, load_s = bench_backend(backend, args.n, args.samples, args.runs)
        loads.append(f"{backend} {load_s:.0f} s")
        target = TARGETS_MS[backend]
        for name, (p50, p99, cpu) in results.items():
            table.append(
                f"| {backend} | `{name}` | {p50:.2f} | {p99:.2f} | {cpu:.2f} | ≤ {target:g} ms |"
            )
            summary.append(
                SummaryRow(
                    f"answers: `{name}` p99, {args.n:,} articles, {backend}",
                    f"{p99:.2f} ms",
                    f"≤ {target:g} ms",
                    "yes" if p99 <= target else "no",
                    COMMAND,
                )
            )
    print("\n".join(table))
    print(f"(data generation: {', '.join(loads)})")
    if args.write:
        body = (
            f"Command: `{COMMAND}`\n\nMeasured {machine()}.\n\n"
            f"{args.n:,} synthetic articles bulk-inserted (35 % linked to missions, Zipf-like; "
            "~2 % of linked ones with an article partner fact); "
            f"{args.samples} timed in-process calls per answer (`await Answers.X(...)`: thread "
            f"hop, SQL, rendering), {args.runs} runs: p50 and p99 are the medians over the runs; "
            "CPU ms/call is the median process CPU time per call (all threads, not the "
            "PostgreSQL server), which separates slow code from a busy machine. After warm-up "
            "and `gc.freeze()`; PostgreSQL after `VACUUM ANALYZE`. Inputs rotate: every catalog "
            "mission for `/mission`; "
            "missions, countries and agencies for `/partners`; rare and common words, mission "
            "names and phrases for `/search`.\n\n" + "\n".join(table)
        )
        path = update_doc("answers", "Answer latency", body, summary)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
