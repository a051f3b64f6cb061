"""Ingestion benchmark: orbitwire's real pipeline against the ``reader`` library, one run.

Run from the repository root::

    .venv/bin/python -m benchmarks.ingest            # print the table
    .venv/bin/python -m benchmarks.ingest --write    # also update docs/benchmarks.md

What it does: a loopback :class:`tests.support.feedserver.FeedServer` serves 200 synthetic RSS
feeds × 50 items (titles with entities, 300–800 character HTML descriptions with links and
entities — half in CDATA, half escaped —, RFC 822 dates, guids, authors, categories,
``media:content`` images; ETag + Last-Modified so a re-poll gets 304). Each feed lives on its
own loopback address (``127.0.0.2`` … ``127.0.0.201``, Linux routes all of 127/8 to ``lo``), so
the fetcher's production per-host limit (2) applies as it would to 200 real publishers; the
server binds one listening socket per address on a common port.

Then, each contender in its own fresh interpreter (so peak RSS is its own; the feed server runs
in the parent):

* **orbitwire** — the real ``IngestService`` (fetcher, 2 parser worker processes, updater,
  bulk store) with production settings except ``allow_private_feeds=True``, a fresh migrated
  SQLite file (and PostgreSQL in a private schema when ``ORBITWIRE_TEST_DATABASE_URL`` is set),
  linking wired as ``orbitwire fetch`` wires it (analysis in the parser workers, links written
  with the articles). Timed:
  ``Updater.run_pass`` cold (fetch, parse, dedup, store, link), then again (every feed 304).
  Production keeps only the newest ``backfill_items`` (20) of a new feed; a second orbitwire
  run with ``backfill_items=50`` stores all 10,000 items, like reader.
* **reader** — ``make_reader(path)``, ``add_feed`` × 200, ``update_feeds()`` cold then re-poll;
  and the same with ``update_feeds(workers=4)``.

Untimed in every case: interpreter start, schema creation, adding feeds, starting the worker
pool, building the linker. Peak RSS is VmHWM of the contender's main process; for orbitwire
also the parser workers and the forkserver (their VmHWM added up: an upper bound, shared pages
are counted more than once).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from benchmarks.common import (
    ROOT,
    PssSampler,
    SummaryRow,
    machine,
    private_pg_schema,
    proc_cpu_s,
    self_peak_mb,
    update_doc,
    vm_hwm_mb,
)

FEEDS = 200
ITEMS = 50
PG_ENV = "ORBITWIRE_TEST_DATABASE_URL"
COMMAND = ".venv/bin/python -m benchmarks ingest --write"
RESULT_PREFIX = "BENCH-RESULT "

# ---------------------------------------------------------------------------- synthetic feeds
WORDS = (
    "orbit", "launch", "booster", "payload", "satellite", "lunar", "lander", "crew", "capsule",
    "module", "docking", "station", "thruster", "propellant", "cryogenic", "apogee", "perigee",
    "telemetry", "ground", "antenna", "relay", "constellation", "mission", "engine", "static",
    "fire", "countdown", "scrub", "window", "trajectory", "insertion", "burn", "reentry", "heat",
    "shield", "parachute", "recovery", "barge", "fairing", "stage", "separation", "nominal",
    "anomaly", "review", "agency",
)  # fmt: skip
MISSIONS = ["Chang'e-7", "Tianwen-2", "Artemis II", "JUICE", "Hera", "NISAR", "Psyche", "SLIM"]
AGENCIES = ["NASA", "ESA", "CNSA", "JAXA", "ISRO", "Roscosmos", "CNES", "DLR"]
BASE_DATE = datetime(2026, 10, 1, tzinfo=UTC)


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _description(rng: random.Random, site: str) -> str:
    """An HTML fragment of 300–800 characters with links, entities and inline markup."""
    target = rng.randint(300, 800)
    parts: list[str] = []
    size = 0
    while size < target:
        mission, agency = rng.choice(MISSIONS), rng.choice(AGENCIES)
        piece = rng.choice(
            [
                f"<p>{agency} says {mission} &amp; its {_words(rng, 6)} are on track.</p>",
                f'<p>The <a href="https://{site}/tag/{mission.lower().replace(" ", "-")}">'
                f"{mission}</a> team reported {_words(rng, 8)}&nbsp;&#8212; "
                f"&ldquo;{_words(rng, 5)}&rdquo;.</p>",
                f"<p><strong>{_words(rng, 3).capitalize()}:</strong> {_words(rng, 12)}.</p>",
                f"<p>{_words(rng, 10).capitalize()} &#x2014; {agency}&#8217;s {_words(rng, 4)}"
                f' (<em>{mission}</em>) <a href="https://{site}/{rng.randint(1, 999)}/">more</a>'
                ".</p>",
            ]
        )
        parts.append(piece)
        size += len(piece)
    return "".join(parts)[: target + 200]


def make_feed(index: int, host: str, items: int = ITEMS) -> bytes:
    """RSS 2.0, deterministic per index; links point at a per-feed site name."""
    rng = random.Random(index)
    site = f"site{index}.example"
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:media="http://search.yahoo.com/mrss/" '
        'xmlns:atom="http://www.w3.org/2005/Atom"><channel>',
        f"<title>Space Wire {index} &amp; Friends</title><link>https://{site}/</link>",
        f'<atom:link href="http://{host}/feeds/{index}.xml" rel="self" '
        'type="application/rss+xml"/>',
        "<description>Synthetic space news</description><language>en-us</language>",
    ]
    for j in range(items):
        mission = rng.choice(MISSIONS)
        title = f"{mission}: {_words(rng, rng.randint(5, 10))} & {rng.choice(AGENCIES)}'s plan"
        slug = f"{2026 - j % 2}/{j:03d}-{mission.lower().replace(' ', '-')}"
        link = f"https://{site}/{slug}/?utm_source=rss&amp;utm_medium=feed"
        published = BASE_DATE + timedelta(hours=index, minutes=37 * j)
        desc = _description(rng, site)
        body = f"<![CDATA[{desc}]]>" if j % 2 == 0 else html.escape(desc, quote=False)
        out.append(
            f"<item><title>{html.escape(title, quote=False)}</title><link>{link}</link>"
            f'<guid isPermaLink="false">{site}/p/{index * 1000 + j}</guid>'
            f"<pubDate>{format_datetime(published)}</pubDate>"
            f"<dc:creator><![CDATA[{rng.choice(['Ana Ruiz', 'Li Wei', 'Sam Okafor'])}]]>"
            f"</dc:creator><category>{rng.choice(AGENCIES)}</category>"
            f"<category>{mission}</category>"
            f"<description>{body}</description>"
            f'<media:content url="https://cdn.{site}/img/{index}-{j}.jpg" medium="image" '
            'width="1200" height="675"/>'
            "</item>"
        )
    out.append("</channel></rss>")
    return "\n".join(out).encode("utf-8")


# ---------------------------------------------------------------------------- the server
def _loopback_hosts(n: int) -> list[str]:
    return [f"127.0.{(i + 2) // 256}.{(i + 2) % 256}" for i in range(n)]


def _free_port(hosts: list[str]) -> int:
    """A port free on every one of ``hosts`` (tries a few random ones)."""
    for _ in range(50):
        probe = socket.socket()
        probe.bind((hosts[0], 0))
        port = int(probe.getsockname()[1])
        probe.close()
        ok = True
        for host in hosts[1:]:
            s = socket.socket()
            try:
                s.bind((host, port))
            except OSError:
                ok = False
            finally:
                s.close()
            if not ok:
                break
        if ok:
            return port
    raise RuntimeError("no common free port on the loopback addresses")


@contextlib.contextmanager
def serve_feeds(n_feeds: int, items: int) -> Iterator[tuple[list[str], int]]:
    """Start the feed server on ``n_feeds`` loopback addresses; yields (urls, total bytes)."""
    sys.path.insert(0, str(ROOT))
    from aiohttp import web

    from tests.support.feedserver import FeedServer

    hosts = _loopback_hosts(n_feeds)

    class MultiHostFeedServer(FeedServer):
        """FeedServer listening on several loopback addresses (same routes, same port)."""

        async def _setup(self) -> None:
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._dispatch)
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
            await runner.setup()
            for host in hosts:
                await web.TCPSite(runner, host, self.port, backlog=1024).start()
            self._runner = runner

    server = MultiHostFeedServer(hosts[0], _free_port(hosts))
    urls: list[str] = []
    total = 0
    last_modified = format_datetime(BASE_DATE, usegmt=True)
    for i, host in enumerate(hosts):
        path = f"/feeds/{i}.xml"
        body = make_feed(i, f"{host}:{server.port}", items)
        total += len(body)
        server.add_feed(path, body, etag=f'"v1-{i}"', last_modified=last_modified)
        urls.append(f"http://{host}:{server.port}{path}")
    with server:
        yield urls, total


# ---------------------------------------------------------------------------- contenders
def _children_hwm(pids: list[int]) -> float:
    return sum(v for v in (vm_hwm_mb(p) for p in pids) if v is not None)


def _forkserver_pid() -> int | None:
    with contextlib.suppress(Exception):
        from multiprocessing import forkserver

        pid = forkserver._forkserver._forkserver_pid  # type: ignore[attr-defined]
        return int(pid) if pid else None
    return None


async def _orbitwire(
    urls: list[str], db_url: str, backfill: int, profile: str | None, link: bool = True
) -> dict:
    from bot.ingest.service import IngestService
    from config.settings import Settings
    from storage.articles import count_articles
    from storage.db import Database
    from storage.feeds import add_feed

    settings = Settings(
        allow_private_feeds=True, database_url=db_url, backfill_items=backfill, bot_token=None
    )
    db = Database(settings.database_url)
    db.upgrade()

    def add_all(session: Any) -> None:
        for url in urls:
            add_feed(session, url, origin="cli")

    db.call(add_all)
    knowledge = None
    link_note = "not linked (--no-link)"
    if link:
        from bot.knowledge.service import Knowledge

        knowledge = Knowledge()
        await asyncio.to_thread(knowledge.seed, db)
        _ = knowledge.linker  # built before timing, as the bot builds it at start
        link_note = (
            "linked as `orbitwire run`/`fetch` link: analysed in the parser workers, "
            "written in the store's transaction"
        )

    out: dict[str, Any] = {"link": link_note}
    async with IngestService(settings, db, knowledge=knowledge) as service:
        assert service.parser is not None
        assert service.updater is not None
        t = time.perf_counter()
        await service.parser.start()
        out["startup_s"] = time.perf_counter() - t
        profiler = None
        if profile:
            import cProfile
            import threading
            from collections import defaultdict

            db_times: dict[str, float] = defaultdict(float)
            lock = threading.Lock()
            original_call = Database.call

            def timed_call(self: Any, fn: Any, /, *a: Any, **kw: Any) -> Any:
                t0 = time.perf_counter()
                try:
                    return original_call(self, fn, *a, **kw)
                finally:
                    with lock:
                        db_times[getattr(fn, "__name__", str(fn))] += time.perf_counter() - t0

            Database.call = timed_call  # type: ignore[method-assign]
            out["db_times"] = db_times

            profiler = cProfile.Profile()
            profiler.enable()
        workers = service.parser.worker_pids
        fs = _forkserver_pid()
        group = [os.getpid(), *workers, *([fs] if fs else [])]
        cpu0 = time.process_time(), sum(proc_cpu_s(p) for p in workers)
        sampler = PssSampler(lambda: group)
        t = time.perf_counter()
        with sampler:
            cold = await service.updater.run_pass(include_all=True)
            out["cold_s"] = time.perf_counter() - t
        out["cold_cpu_main_s"] = time.process_time() - cpu0[0]
        out["cold_cpu_workers_s"] = sum(proc_cpu_s(p) for p in workers) - cpu0[1]
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)
            Database.call = original_call  # type: ignore[method-assign]
            out["db_times"] = dict(sorted(db_times.items(), key=lambda kv: -kv[1]))
        out["cold"] = cold.totals()
        out["cold_errors"] = [o.error for o in cold.outcomes if o.error][:3]
        out["linked"] = cold.links.articles
        cpu0 = time.process_time(), 0.0
        sampler2 = PssSampler(lambda: group)
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        t = time.perf_counter()
        with sampler2:
            again = await service.updater.run_pass(include_all=True)
            out["repoll_s"] = time.perf_counter() - t
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(f"{profile}.repoll")
        out["pss_peak_mb"] = max(sampler.peak, sampler2.peak)
        out["repoll_cpu_main_s"] = time.process_time() - cpu0[0]
        out["repoll"] = again.totals()
        out["workers_mb"] = _children_hwm(workers)
        out["forkserver_mb"] = _children_hwm([fs]) if fs else 0.0
    out["stored"] = db.call(count_articles)
    db.close()
    out["main_mb"] = self_peak_mb()
    return out


def _reader(urls: list[str], workers: int) -> dict:
    from reader import ParseError, make_reader

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        reader = make_reader(str(Path(tmp) / "reader.sqlite"))
        for url in urls:
            reader.add_feed(url)

        def update() -> tuple[int, list[str]]:
            errors: list[str] = []
            n = 0
            for result in reader.update_feeds_iter(workers=workers, scheduled=False):
                n += 1
                if isinstance(result.value, ParseError):
                    errors.append(str(result.value)[:200])
            return n, errors

        cpu0 = time.process_time()
        t = time.perf_counter()
        n, errors = update()
        out["cold_s"] = time.perf_counter() - t
        out["cold_cpu_main_s"] = time.process_time() - cpu0
        out["cold_errors"] = errors[:3]
        out["stored"] = reader.get_entry_counts().total
        cpu0 = time.process_time()
        t = time.perf_counter()
        update()
        out["repoll_s"] = time.perf_counter() - t
        out["repoll_cpu_main_s"] = time.process_time() - cpu0
        out["feeds"] = n
        reader.close()
    out["main_mb"] = self_peak_mb()
    return out


def child_main(args: argparse.Namespace) -> None:
    urls = json.loads(Path(args.urls).read_text())
    if args.child == "reader":
        result = _reader(urls, args.workers)
    else:
        drop = None
        if args.child == "orbitwire-pg":
            db_url, drop = private_pg_schema(os.environ[PG_ENV])
        else:
            tmp = tempfile.mkdtemp(prefix="ow-bench-")
            db_url = f"sqlite:///{Path(tmp) / 'orbitwire.db'}"
        try:
            result = asyncio.run(
                _orbitwire(urls, db_url, args.backfill, args.profile, link=not args.no_link)
            )
        finally:
            if drop is not None:
                drop()
    print(RESULT_PREFIX + json.dumps(result), flush=True)


@dataclass
class Row:
    name: str
    cold_s: float
    repoll_s: float
    stored: int
    main_mb: float
    total_mb: float | None = None
    pss_mb: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _run_child(urls_file: str, *extra: str) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.ingest", "--urls", urls_file, *extra]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    raise RuntimeError(f"{' '.join(extra)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")


def _median_run(runs: list[dict]) -> dict:
    """The run with the median cold time, its re-poll replaced by the median re-poll.

    One run of a few seconds on a shared 2-core machine varies by ±15 %; the median of a few
    fresh interpreters is the figure worth comparing (for every contender alike).
    """
    ordered = sorted(runs, key=lambda r: r["cold_s"])
    chosen = dict(ordered[len(ordered) // 2])
    repolls = sorted(r["repoll_s"] for r in runs)
    chosen["repoll_s"] = repolls[len(repolls) // 2]
    chosen["runs"] = len(runs)
    chosen["cold_runs"] = [round(r["cold_s"], 2) for r in runs]
    chosen["repoll_runs"] = [round(r["repoll_s"], 3) for r in runs]
    return chosen


def _fmt_mb(v: float | None) -> str:
    return "—" if v is None else f"{v:.0f}"


def run(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    ap.add_argument("--feeds", type=int, default=FEEDS)
    ap.add_argument("--items", type=int, default=ITEMS)
    ap.add_argument("--only", choices=["orbitwire", "reader"], help="skip the other contender")
    ap.add_argument("--no-pg", action="store_true", help="skip PostgreSQL even when configured")
    ap.add_argument("--profile", help="cProfile the orbitwire cold pass into this file")
    ap.add_argument(
        "--repeat", type=int, default=3, help="runs per contender; the medians are reported"
    )
    # child mode (internal)
    ap.add_argument("--child", choices=["orbitwire", "orbitwire-pg", "reader"])
    ap.add_argument("--urls")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--backfill", type=int, default=20)
    ap.add_argument("--no-link", action="store_true")
    args = ap.parse_args(argv)
    if args.child:
        child_main(args)
        return 0

    started = time.perf_counter()
    rows: list[Row] = []
    with (
        serve_feeds(args.feeds, args.items) as (urls, total_bytes),
        tempfile.TemporaryDirectory() as tmp,
    ):
        urls_file = str(Path(tmp) / "urls.json")
        Path(urls_file).write_text(json.dumps(urls))
        n_items = args.feeds * args.items
        print(
            f"{args.feeds} feeds × {args.items} items on {args.feeds} loopback addresses, "
            f"{total_bytes / 1e6:.1f} MB",
            flush=True,
        )
        plan: list[tuple[str, list[str]]] = []
        if args.only != "reader":
            prof = ["--profile", args.profile] if args.profile else []
            full = ["--backfill", "50"]
            plan.append(("orbitwire, SQLite, production (backfill 20)", ["--child", "orbitwire"]))
            plan.append(
                ("orbitwire, SQLite, all 50 stored", ["--child", "orbitwire", *full, *prof])
            )
            plan.append(
                (
                    "orbitwire, SQLite, all 50 stored, no link",
                    ["--child", "orbitwire", *full, "--no-link"],
                )
            )
            if os.environ.get(PG_ENV) and not args.no_pg:
                plan.append(
                    ("orbitwire, PostgreSQL, all 50 stored", ["--child", "orbitwire-pg", *full])
                )
        if args.only != "orbitwire":
            plan.append(("reader (default)", ["--child", "reader", "--workers", "1"]))
            plan.append(("reader workers=4", ["--child", "reader", "--workers", "4"]))
        for name, extra in plan:
            runs = [_run_child(urls_file, *extra) for _ in range(max(1, args.repeat))]
            r = _median_run(runs)
            row = Row(name, r["cold_s"], r["repoll_s"], int(r["stored"]), r["main_mb"], extra=r)
            if "workers_mb" in r:
                row.total_mb = r["main_mb"] + r["workers_mb"] + r.get("forkserver_mb", 0.0)
                row.pss_mb = r.get("pss_peak_mb")
            rows.append(row)
            bad = r.get("cold_errors") or []
            cpu = r.get("cold_cpu_main_s", 0.0) + r.get("cold_cpu_workers_s", 0.0)
            print(
                f"  {name}: cold {row.cold_s:.2f} s (CPU {cpu:.2f} s: main "
                f"{r.get('cold_cpu_main_s', 0.0):.2f}), re-poll "
                f"{row.repoll_s:.3f} s (CPU {r.get('repoll_cpu_main_s', 0.0):.3f} s), "
                f"{row.stored} stored{'; errors: ' + str(bad) if bad else ''}"
                f" (runs: cold {r['cold_runs']}, re-poll {r['repoll_runs']})",
                flush=True,
            )
            if r.get("db_times"):
                print(
                    "    database time by step:", {k: round(v, 2) for k, v in r["db_times"].items()}
                )
    wall = time.perf_counter() - started

    readers = [r for r in rows if r.name.startswith("reader")]
    best_cold = min((r.cold_s for r in readers), default=None)
    best_repoll = min((r.repoll_s for r in readers), default=None)
    lines = [
        "| run | cold s | items/s | rows stored | re-poll (304) s | cold vs best reader "
        "| re-poll vs best reader | peak RSS main MB | Σ peak RSS main + workers MB "
        "| peak Σ PSS main + workers MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio_c = f"{r.cold_s / best_cold:.2f}×" if best_cold else "—"
        ratio_r = f"{r.repoll_s / best_repoll:.2f}×" if best_repoll else "—"
        lines.append(
            f"| {r.name} | {r.cold_s:.2f} | {n_items / r.cold_s:,.0f} | {r.stored:,} "
            f"| {r.repoll_s:.3f} | {ratio_c} | {ratio_r} | {_fmt_mb(r.main_mb)} "
            f"| {_fmt_mb(r.total_mb)} | {_fmt_mb(r.pss_mb)} |"
        )
    table = "\n".join(lines)
    print()
    print(table)
    ow = next((r for r in rows if r.name.startswith("orbitwire, SQLite, production")), None)
    notes = []
    if ow is not None:
        notes.append(f"orbitwire startup (worker pool, untimed): {ow.extra['startup_s']:.2f} s")
        notes.append(f"linking: {ow.extra['link']} ({ow.extra['linked']} articles linked)")
    for n in notes:
        print(n)
    print(f"benchmark wall time: {wall:.0f} s")

    if args.write and ow is not None and best_cold and best_repoll:
        _write(rows, table, ow, best_cold, best_repoll, wall, args, total_bytes)
    return 0


def _write(
    rows: list[Row],
    table: str,
    ow: Row,
    best_cold: float,
    best_repoll: float,
    wall: float,
    args: argparse.Namespace,
    total_bytes: int,
) -> None:
    import importlib.metadata as md

    def v(pkg: str) -> str:
        try:
            return md.version(pkg)
        except md.PackageNotFoundError:
            return "?"

    yn = {True: "yes", False: "no"}
    full = next((r for r in rows if r.name == "orbitwire, SQLite, all 50 stored"), ow)
    nolink = next((r for r in rows if r.name.endswith("no link")), None)
    ours = [r for r in rows if r.name.startswith("orbitwire")]
    main_rss = max(r.main_mb for r in ours)
    pss = max((r.pss_mb or 0.0) for r in ours)
    hwm_sum = max((r.total_mb or 0.0) for r in ours)
    summary = [
        SummaryRow(
            "ingest: cold, 200×50 items all stored, fetch→link, orbitwire / best reader",
            f"{full.cold_s:.2f} s / {best_cold:.2f} s = {full.cold_s / best_cold:.2f}×",
            "≤ 0.25×",
            yn[full.cold_s <= best_cold / 4],
            COMMAND,
        )
    ]
    if ow is not full:
        summary.append(
            SummaryRow(
                "ingest: cold, production setting (a new feed keeps its newest 20), fetch→link",
                f"{ow.cold_s:.2f} s / {best_cold:.2f} s = {ow.cold_s / best_cold:.2f}×",
                "report (target compares all stored)",
                "—",
                COMMAND,
            )
        )
    if nolink is not None:
        summary.append(
            SummaryRow(
                "ingest: cold, same without linking, orbitwire / best reader",
                f"{nolink.cold_s:.2f} s / {best_cold:.2f} s = {nolink.cold_s / best_cold:.2f}×",
                "≤ 0.25×",
                yn[nolink.cold_s <= best_cold / 4],
                COMMAND,
            )
        )
    # The re-poll does not depend on backfill or linking: best of the SQLite runs, as for reader.
    repoll = min(r.repoll_s for r in ours if "SQLite" in r.name)
    summary += [
        SummaryRow(
            "ingest: 304 re-poll of 200 feeds (best SQLite run), orbitwire / best reader",
            f"{repoll:.3f} s / {best_repoll:.3f} s = {repoll / best_repoll:.2f}×",
            "≤ 0.5×",
            yn[repoll <= best_repoll / 2],
            COMMAND,
        ),
        SummaryRow(
            "ingest: peak RSS of the orbitwire process (VmHWM)",
            f"{main_rss:.0f} MB",
            "≤ 150 MB",
            yn[main_rss <= 150],
            COMMAND,
        ),
        SummaryRow(
            "ingest: peak Σ PSS, orbitwire process + parser workers + forkserver",
            f"{pss:.0f} MB (Σ VmHWM {hwm_sum:.0f} MB)",
            "≤ 150 MB",
            yn[pss <= 150],
            COMMAND,
        ),
    ]
    cpu_lines = []
    for r in rows:
        main_cpu = r.extra.get("cold_cpu_main_s", 0.0)
        workers_cpu = r.extra.get("cold_cpu_workers_s")
        split = f" ({main_cpu:.2f} main + {workers_cpu:.2f} parser workers)" if workers_cpu else ""
        cpu_lines.append(
            f"| {r.name} | {main_cpu + (workers_cpu or 0.0):.2f}{split} "
            f"| {r.extra.get('repoll_cpu_main_s', 0.0):.3f} |"
        )
    cpu_table = "\n".join(["| run | cold CPU s | re-poll CPU s |", "|---|---|---:|", *cpu_lines])
    body = f"""Command (from the repository root, ~{wall:.0f} s): `{COMMAND}`

Measured {machine()}; reader {v("reader")}, feedparser {v("feedparser")},
fastfeedparser {v("fastfeedparser")}, httpx {v("httpx")}, SQLAlchemy {v("SQLAlchemy")}.

{args.feeds} synthetic RSS feeds × {args.items} items ({total_bytes / 1e6:.1f} MB: titles with
entities, 300–800 character HTML descriptions with links and entities, half CDATA and half
escaped, dates, guids, authors, categories, `media:content` images), served by
`tests/support/feedserver.py` with ETag and Last-Modified. Every feed has its **own loopback
address** (127.0.0.2 … 127.0.0.201, one listening socket each on a common port; Linux routes
all of 127/8 to `lo`): the fetcher's production per-host limit (2) is unchanged and applies as
it would to 200 publishers. Each contender runs in a fresh interpreter; the feed server runs in
the parent process and shares the 2 CPUs with whoever is measured. Every contender runs
{args.repeat} times (fresh interpreter, fresh store each time); the tables show the run with the
median cold time and the median re-poll.

{table}

CPU time of the same runs (the machine has 2 cores; wall time can only approach CPU / 2 when
the work spreads over both):

{cpu_table}

* **orbitwire** = the real `IngestService` (httpx fetcher with the SSRF guard, 2 parser worker
  processes, updater, bulk store) with production settings except `allow_private_feeds=True`;
  timed is `Updater.run_pass(include_all=True)`: fetch, parse, normalize, dedup, store, and
  link ({ow.extra["link"]}, as `orbitwire fetch` wires it; {ow.extra["linked"]} articles
  linked in the production run). Production stores only the
  newest `backfill_items` = 20 items of a new feed (4,000 rows); the "all 50 stored" runs set
  `backfill_items=50` and store all 10,000 like reader does — those are compared with the
  cold target. items/s = {args.feeds * args.items:,} items fetched and processed / cold seconds.
* **reader** = `make_reader(path)`, `add_feed` × {args.feeds}, `update_feeds_iter(workers=N,
  scheduled=False)` cold and then again (all 304). `scheduled=False` because reader's default
  `scheduled=True` skips feeds updated less than an hour ago, so a re-poll would not fetch at all.
* Untimed: interpreter start, migrations, adding feeds, starting the parser pool
  ({ow.extra["startup_s"]:.2f} s), seeding the catalog and building the linker.
* Memory: "peak RSS main" is VmHWM of the contender's process. For orbitwire, the parser
  workers and the forkserver are separate processes: "Σ peak RSS" adds their VmHWM (an upper
  bound that counts the pages they share after fork several times); "peak Σ PSS" samples the
  summed proportional set size of the whole group every 0.25 s (shared pages counted once).

**Targets (issue 9).** Cold ingest ≤ ¼ of the better reader time: with linking
**{yn[full.cold_s <= best_cold / 4]}** ({full.cold_s:.2f} s vs {best_cold / 4:.2f} s)"""
    if nolink is not None:
        body += f"""; without linking **{yn[nolink.cold_s <= best_cold / 4]}**
({nolink.cold_s:.2f} s)"""
    body += f""". 304 re-poll ≤ ½ of the better reader re-poll:
**{yn[repoll <= best_repoll / 2]}** ({repoll:.3f} s, best of the SQLite runs, vs
{best_repoll / 2:.3f} s).
Peak RSS ≤ 150 MB: main process **{yn[main_rss <= 150]}** ({main_rss:.0f} MB); with the parser
workers **{yn[pss <= 150]}** ({pss:.0f} MB summed PSS; summed VmHWM {hwm_sum:.0f} MB).
"""
    path = update_doc("ingest", "Ingestion", body + "\n" + NOTES, summary)
    print(f"wrote {path.relative_to(ROOT)}")


NOTES = """### Where the time went, and what was changed

The previous version of this page (same command, same day, but measured while other test
suites loaded the machine) reported 12.47 s cold with linking and 1.21 s for the re-poll. On
an idle machine at the start of this round the same tree measured **6.18 s cold with linking**
(7.94 CPU s), 4.43 s without, **0.54–0.68 s re-poll**; reader 8.63 s cold and 0.32 s re-poll.
The figures above are after the changes below (each was measured with CPU time, which is
steadier than wall time on this shared 2-core machine):

1. **Parser workers did not start clean.** With `forkserver` each worker re-ran the parent's
   `__main__` (for `orbitwire run`, the console script: the whole bot) and the pool did not wait
   for the warm-up, so ~1 s of CPU per worker landed inside the first pass. Workers now start
   without the main module and report ready after warming up (`bot/ingest/pool.py`).
2. **Per-entry work moved into the workers.** Besides parsing, a worker now computes
   identities, canonical URLs and content hashes (`bot/ingest/prepare.py`) and the article's
   analysis — mentions and partner facts (`bot/knowledge/analysis.py`) — for the newest entries
   the store may keep; full-text extraction runs there too. The event loop's process only
   fetches, unpickles and writes. Prepared entries leave the original HTML behind (the
   largest part of the message) and facts travel as plain tuples.
3. **Links are written with the articles**, in the store's transaction
   (`storage/knowledge.py::write_links`): no second read of the articles, no DELETEs for rows
   inserted in the same transaction, facts through the driver's executemany (with the column
   types' own bind processors). Store + link of 10,000 articles: ≈ 1.45 CPU s on SQLite
   (0.35 s of it the FTS5 triggers).
4. **Fetching**: one small connection pool per host instead of one pool for all (httpcore's
   pool scan is quadratic in requests in flight × pooled connections), requests straight to the
   guarded transport (no `AsyncClient` merging and cookie parsing per request), httpcore streams
   on plain asyncio transports instead of anyio (no task group per connect, no cancel scope per
   read, no `poll()` per pooled connection), IP literals not sent through the resolver thread.
   Fetch CPU per feed: cold 2.0 → 0.8 ms, 304 ≈ 1.0 → 0.6 ms.
5. **Re-poll bookkeeping**: the snapshots of all due feeds in one Core query per pass, and the
   plain 304s of a write batch as one executemany `UPDATE`.
6. **Pure-Python speed, identical results** (pinned digests and baselines compared `==`):
   parsing ≈ 2.1× less CPU (one conversion for a description read as summary and content,
   cached entity/tag text, faster sanitiser scans, `canonical_url` fast path, one-buffer
   hashing); linking + extraction ≈ 1.5× less (one fold in `scan_text`, inline offset mapping,
   lazy sentences, stop after the last mention).

What limits remain (CPU of the all-50 linked pass, 10,000 articles):

* the parser workers: parse ≈ 0.55 s, prepare ≈ 0.17 s, analysis ≈ 1.45 s (link ≈ 0.45 s,
  partner extraction ≈ 0.9 s: the synthetic descriptions name an agency and a mission in
  every paragraph, a worst case for extraction), pickling;
* the single database writer: store + link ≈ 1.45 s, which with the GIL and the 2 cores
  shared with the workers and the feed server is the critical path (the event loop itself is
  idle most of the pass).
  With linking the cold target is met for the production setting (a new feed stores its newest
  20 items, and only those are analysed) but not when all 10,000 items are stored and linked.
* **Memory**: the orbitwire process stays under 150 MB; the group (process + 2 workers +
  forkserver) is ≈ 150–170 MB PSS: each worker holds lxml, fastfeedparser, feedparser,
  charset-normalizer and its own linker (~25 MB PSS each), the forkserver ~20 MB.
* **PostgreSQL** (≈ 11 s cold) is bound by the database server, which shares the 2 cores: the
  generated search column runs `to_tsvector` over title, summary and content of every row
  (summary and content repeat each other for RSS descriptions), so storing 10,000 articles
  alone takes ≈ 6 s there against ≈ 1.4 s of client CPU. Not changed in this round.
"""


def main(argv: list[str] | None = None) -> int:
    return run(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
