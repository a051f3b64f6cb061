"""Linking throughput: pure Linker.link + extract_partners, and DB relink_all on SQLite.

Usage: python -m benchmarks.linking [-n 20000] [--db-articles 5000] [--compare-regex] [--ingest]

Synthetic articles (~1-3 KB) mix catalog names, demonyms, partner sentences and filler prose.
``--ingest`` instead uses the 10,000 items of the ingestion benchmark (``benchmarks/ingest.py``:
200 feeds × 50 items, parsed by the real parser, so title + summary + content as stored).
Throughput is reported per wall second and per CPU second (``time.process_time``), because
the CPU figure is what linking adds to the ingest pipeline's budget.
"""

from __future__ import annotations

import argparse
import random
import re
import tempfile
import time
from pathlib import Path

from bot.knowledge.catalog import load_catalog
from bot.knowledge.extract import extract_partners
from bot.knowledge.linker import Linker
from bot.knowledge.textnorm import normalize

FILLER = (
    "Engineers reviewed the data over the weekend and said the results looked promising. "
    "The team expects further updates in the coming weeks, according to a statement. "
    "Officials declined to give a precise schedule, citing ongoing tests of the hardware. "
    "Analysts noted that budgets remain tight and that several projects compete for funds. "
)
TEMPLATES = (
    "A {dem} {payload} will be placed on the upcoming {mission} mission.",
    "{mission} will carry a {dem} {payload} and a {dem2} {payload2}.",
    "It will also host a {country} {payload}.",
    "{agency} officials said {mission} remains on schedule for launch.",
    "Unlike {country}'s earlier probe, {mission} will land near the south pole.",
)
PAYLOADS = ("negative ion detector", "retroreflector", "cubesat", "camera", "spectrometer", "rover")


def make_articles(n: int, seed: int = 7) -> list[str]:
    catalog = load_catalog()
    rng = random.Random(seed)
    missions = [m.name for m in catalog.missions]
    agencies = [a.abbrev for a in catalog.agencies]
    dems = [d for c in catalog.countries for d in c.demonyms]
    countries = [c.name for c in catalog.countries if c.demonyms]
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(3, 8)):
            tpl = rng.choice(TEMPLATES)
            parts.append(
                tpl.format(
                    dem=rng.choice(dems),
                    dem2=rng.choice(dems),
                    country=rng.choice(countries),
                    payload=rng.choice(PAYLOADS),
                    payload2=rng.choice(PAYLOADS),
                    mission=rng.choice(missions),
                    agency=rng.choice(agencies),
                )
            )
            parts.append(FILLER[: rng.randint(80, len(FILLER))])
        out.append(" ".join(parts))
    return out


def make_ingest_rows() -> list[tuple[str, str, str | None]]:
    """(title, summary, content) of every item of the ingestion benchmark, as parsed."""
    from benchmarks.ingest import FEEDS, make_feed
    from bot.ingest.parse import parse_feed

    rows: list[tuple[str, str, str | None]] = []
    for i in range(FEEDS):
        url = f"http://127.0.0.1/feeds/{i}.xml"
        feed = parse_feed(make_feed(i, "127.0.0.1"), url=url, max_entries=100)
        rows += [(e.title, e.summary, e.content) for e in feed.entries]
    return rows


LAST: dict[str, float] = {}  # the latest figures, for --write


def bench_pure(articles: list[str]) -> None:
    catalog = load_catalog()
    linker = Linker(catalog)
    size = sum(len(a) for a in articles) / len(articles)
    t = time.perf_counter()
    for text in articles:
        linker.link(text)
    link_s = time.perf_counter() - t
    t = time.perf_counter()
    facts = 0
    for text in articles:
        facts += len(extract_partners(text, catalog, linker))
    both_s = time.perf_counter() - t
    # the ingestion hook (storage.knowledge.link_articles) links, then extracts the same text
    # when it names a mission: the linker memoises its last result, so it is linked once
    t, c = time.perf_counter(), time.process_time()
    for text in articles:
        if linker.link(text).missions:
            extract_partners(text, catalog, linker)
    hook_s, hook_cpu = time.perf_counter() - t, time.process_time() - c
    n = len(articles)
    LAST.update(link=n / link_s, link_extract=n / both_s, hook=n / hook_s)
    print(f"articles: {n}, mean size {size:.0f} chars, patterns {linker.pattern_count}")
    print(f"Linker.link:              {n / link_s:10.0f} articles/s")
    print(f"link + extract_partners:  {n / both_s:10.0f} articles/s ({facts} facts)")
    print(
        f"ingestion (link; extract): {n / hook_s:9.0f} articles/s "
        f"({hook_cpu / n * 10_000:.2f} CPU-s per 10k)"
    )


def bench_regex(articles: list[str]) -> None:
    """The alternative we rejected: one alternation regex over the same normalized keys."""
    linker = Linker(load_catalog())
    keys = sorted((k.strip() for k in linker._patterns), key=len, reverse=True)
    rx = re.compile(r"(?<![^\W_])(?:" + "|".join(map(re.escape, keys)) + r")(?![^\W_])")
    t = time.perf_counter()
    for text in articles:
        rx.findall(normalize(text).text)
    regex_s = time.perf_counter() - t
    t = time.perf_counter()
    for text in articles:
        list(linker._automaton.iter(f" {normalize(text).text} "))
    ac_s = time.perf_counter() - t
    n = len(articles)
    print(f"raw scan, regex:          {n / regex_s:10.0f} articles/s")
    print(f"raw scan, Aho-Corasick:   {n / ac_s:10.0f} articles/s")


def bench_db(rows: list[tuple[str, str, str | None]]) -> None:
    """``relink_all`` (= ``link_articles`` in batches of 500) on a fresh SQLite file."""
    from storage.db import Database
    from storage.knowledge import relink_all, seed_catalog
    from storage.models import Article

    catalog = load_catalog()
    linker = Linker(catalog)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'bench.db'}")
        db.upgrade()
        db.call(seed_catalog, catalog)

        def add(session, chunk, base):  # type: ignore[no-untyped-def]
            session.add_all(
                Article(
                    identity=f"a{base + i}", url=f"https://x/{base + i}", title=title,
                    summary=summary, content=content,
                )
                for i, (title, summary, content) in enumerate(chunk)
            )  # fmt: skip

        for i in range(0, len(rows), 2000):
            db.call(add, rows[i : i + 2000], i)
        cpu = time.process_time()
        report = relink_all(db, linker, catalog, batch=500)
        cpu = time.process_time() - cpu
        db.close()
    n = report.articles
    print(
        f"relink_all (SQLite):      {n / report.seconds:10.0f} articles/s "
        f"({n} articles, {report.facts} facts, {report.seconds:.1f} s; "
        f"{n / cpu:.0f}/CPU-s, {cpu / n * 10_000:.2f} CPU-s per 10k)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=20_000)
    parser.add_argument("--db-articles", type=int, default=5_000)
    parser.add_argument("--compare-regex", action="store_true")
    parser.add_argument("--ingest", action="store_true", help="use the ingest benchmark items")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args(argv)
    if args.write:
        _write(args)
        return

    if args.ingest:
        from storage.knowledge import article_text

        rows = make_ingest_rows()
        articles = [article_text(*row) for row in rows]
    else:
        articles = make_articles(args.n)
        rows = [("", text, None) for text in articles]
    bench_pure(articles)
    if args.compare_regex:
        bench_regex(articles[:2000])
    if args.db_articles:
        bench_db(rows[: args.db_articles])


def _write(args: argparse.Namespace) -> None:
    """Run the default benchmark, capture its report, write the "Linking" section."""
    import contextlib

    from benchmarks.common import SummaryRow, Tee, machine, update_doc

    argv = ["-n", str(args.n), "--db-articles", str(args.db_articles)]
    tee = Tee()
    with contextlib.redirect_stdout(tee):  # type: ignore[type-var]
        main(argv)
    command = ".venv/bin/python -m benchmarks linking --write"
    body = (
        f"Command: `{command}`\n\nMeasured {time.strftime('%Y-%m-%d')}, {machine()}.\n\n"
        f"{args.n:,} synthetic articles (~1.5 KB, dense with catalog names) through the linker "
        "and the partner extractor in one process; `relink_all` on SQLite for "
        f"{args.db_articles:,} of them.\n\n```\n{tee.text().strip()}\n```"
    )
    rows = [
        SummaryRow(
            "linking: Linker.link throughput",
            f"{LAST['link']:,.0f} articles/s",
            "report",
            "—",
            command,
        ),
        SummaryRow(
            "linking: link + partner extraction",
            f"{LAST['link_extract']:,.0f} articles/s",
            "report",
            "—",
            command,
        ),
    ]
    print(f"wrote {update_doc('linking', 'Linking throughput', body, rows)}")


if __name__ == "__main__":
    main()
