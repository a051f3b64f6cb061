"""Crash runs: ``kill -9`` ``orbitwire run`` at random moments of ingest + publish, then audit.

One emulator, one loopback feed server (several feeds of distinct stories, each growing every
cycle) and one database shared by all runs (SQLite; a private PostgreSQL schema as well when
``ORBITWIRE_TEST_DATABASE_URL`` is set). Each run:

1. the feeds gain new items and every feed is made due, so the run's first ingest tick fetches;
2. random emulator faults are scripted (5xx, 429, slow answers, answers lost after 7 s with or
   without the message kept, dropped connections with or without the message kept);
3. ``orbitwire run`` starts publishing to three channels (no spacing, publish tick 1 s);
4. it is killed with SIGKILL: at a random moment 0.5–12 s after start-up (ingest, planning and
   sending all happen in that span), sometimes during start-up, and sometimes while it is paused
   at a failpoint — ``sender.after_claim`` (claimed, request not sent) or
   ``sender.after_begin`` (``sending`` committed, request about to leave) — the two dangerous
   windows of the outbox.

After the last run a clean ``orbitwire run`` fetches every feed once more and drains the outbox;
then the audit compares the emulator (what subscribers saw) with the database and the feed
server's log. Targets: 0 posts lost, 0 posts duplicated, 0 articles lost; ambiguous sends
(``unknown``: the process died, or the answer was lost, after the request left) are counted
separately, split by whether the emulator kept the message — by policy they are never re-sent.

    python -m benchmarks.crash [--runs 24] [--seed 7] [--backend all|sqlite|postgresql] [--write]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import _harness as h  # noqa: E402
from benchmarks.common import SummaryRow, machine, update_doc  # noqa: E402
from storage.db import Database  # noqa: E402

FAILPOINT_PAUSE = 30


@dataclass
class RunLog:
    number: int
    mode: str
    faults: list[str]
    alive_s: float
    new_items: int
    posts_before: int
    posts_after: int


def kill_during_failpoint(bot: h.Bot, point: str, rng: random.Random) -> bool:
    """Wait until this process pauses at failpoint ``point`` (its log says so), then kill -9.

    The log, not the outbox, tells: rows left ``claimed``/``sending`` by the previous kill stay
    so until the new process recovers them.
    """
    deadline = time.monotonic() + 25
    marker = f"failpoint sender.{point}: pausing"
    while time.monotonic() < deadline:
        if marker in bot.log_text():
            time.sleep(rng.uniform(0.0, 0.5))
            bot.kill9()
            return True
        if bot.pid is None:
            return False
        time.sleep(0.05)
    bot.kill9()
    return False


def one_run(
    number: int, bench: h.Workbench, bot: h.Bot, db: Database, rng: random.Random
) -> RunLog:
    new_items = bench.stories.grow(0, 1)
    h.make_feeds_due(db)
    bench.emu.clear_faults()
    faults = h.random_faults(bench.emu, rng, rng.randint(1, 3))
    roll = rng.random()
    if roll < 0.2:
        mode, failpoints = "after_claim", f"sender.after_claim={FAILPOINT_PAUSE}"
    elif roll < 0.4:
        mode, failpoints = "after_begin", f"sender.after_begin={FAILPOINT_PAUSE}"
    elif roll < 0.5:
        mode, failpoints = "startup", ""
    else:
        mode, failpoints = "random", ""
    posts_before = sum(len(bench.emu.messages(c)) for c in h.CHANNELS)
    calls = len(bench.emu.requests_for("setMyCommands"))
    started = time.monotonic()
    bot.start(failpoints)
    if mode == "startup":
        time.sleep(rng.uniform(0.2, 2.5))
        bot.kill9()
    elif mode in ("after_claim", "after_begin"):
        bot.wait_ready(calls)
        hit = kill_during_failpoint(bot, mode, rng)
        if not hit:
            mode += " (not reached)"
    else:
        bot.wait_ready(calls)
        time.sleep(rng.uniform(0.5, 12.0))
        bot.kill9()
    posts_after = sum(len(bench.emu.messages(c)) for c in h.CHANNELS)
    return RunLog(
        number, mode, faults, time.monotonic() - started, new_items, posts_before, posts_after
    )


def run_backend(
    backend: h.Backend, runs: int, seed: int, keep: bool
) -> tuple[h.Audit, list[RunLog], float, bool]:
    rng = random.Random(seed)
    bench = h.Workbench(rng, feeds=4, feed_error_rate=0.05)
    started = time.monotonic()
    try:
        bench.stories.grow(3, 3)
        with h.database(backend.url) as db:
            bot = h.Bot(bench.emu, backend.url, bench.feeds_file, bench.workdir)
            logs: list[RunLog] = []
            for n in range(1, runs + 1):
                log = one_run(n, bench, bot, db, rng)
                logs.append(log)
                print(
                    f"  run {n:2d}: {log.mode:<22} alive {log.alive_s:4.1f} s, "
                    f"+{log.new_items} items, posts {log.posts_before}→{log.posts_after}, "
                    f"faults {', '.join(log.faults)}",
                    flush=True,
                )
            bench.emu.clear_faults()
            bench.stories.error_rate = 0.0
            drained, took = h.drain(bot, db, bench.stories, timeout=420)
            print(f"  final clean run: drained={drained} in {took:.0f} s", flush=True)
            result = h.audit(db, bench.emu, bench.stories)
        if keep:
            print(f"  logs kept in {bench.workdir}")
        return result, logs, time.monotonic() - started, drained
    finally:
        bench.close(keep=keep)
        backend.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.crash", description=__doc__)
    ap.add_argument("--runs", type=int, default=24, help="kill -9 runs per backend (≥ 20)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--backend", choices=["all", "sqlite", "postgresql"], default="all")
    ap.add_argument("--keep", action="store_true", help="keep the work directory and bot logs")
    ap.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = ap.parse_args(argv)
    import tempfile

    command = f"python -m benchmarks crash --runs {args.runs} --seed {args.seed}"
    sections: list[str] = []
    summary: list[SummaryRow] = []
    ok = True
    for backend in h.backends(Path(tempfile.mkdtemp(prefix="ow-crash-db-")), args.backend):
        print(f"== crash runs on {backend.name}: {args.runs} runs, seed {args.seed}", flush=True)
        result, logs, seconds, drained = run_backend(backend, args.runs, args.seed, args.keep)
        rows = result.rows()
        modes: dict[str, int] = {}
        for log in logs:
            key = log.mode.split(" ")[0]
            modes[key] = modes.get(key, 0) + 1
        reached = {
            m: sum(1 for log in logs if log.mode == m) for m in ("after_claim", "after_begin")
        }
        rows = [
            ("kill -9 runs", str(len(logs))),
            (
                "kill moments",
                ", ".join(f"{k} {v}" for k, v in sorted(modes.items()))
                + f" (failpoint reached: claim {reached['after_claim']},"
                f" begin {reached['after_begin']})",
            ),
            ("final clean run drained the outbox", "yes" if drained else "no"),
            *rows,
            ("wall time", f"{seconds:.0f} s"),
        ]
        print(h.table(rows))
        for line in result.duplicate_titles + result.lost_detail:
            print(f"  ! {line}")
        if result.lost_guids:
            print(f"  ! articles lost (first 20): {', '.join(result.lost_guids)}")
        clean = (
            result.lost_posts == 0
            and result.duplicates == 0
            and result.articles_lost == 0
            and drained
        )
        ok = ok and clean
        sections.append(f"### {backend.name}\n\n{h.table(rows)}")
        label = f"crash runs ({backend.name}, {len(logs)} × kill -9)"
        summary += [
            SummaryRow(
                f"{label}: posts lost",
                str(result.lost_posts),
                "0",
                "yes" if result.lost_posts == 0 else "no",
                command,
            ),
            SummaryRow(
                f"{label}: posts duplicated",
                str(result.duplicates),
                "0",
                "yes" if result.duplicates == 0 else "no",
                command,
            ),
            *result.summary_rows(label, command),
        ]
    if args.write:
        body = (
            "Each run: the loopback feeds gain items and are made due, random Bot API faults "
            "are scripted (5xx, 429, slow answers, answers lost after the 5 s read timeout "
            "with or without the message kept, dropped connections with or without the "
            "message kept), `orbitwire run` starts publishing to 3 channels (no spacing, "
            "publish tick 1 s) and is killed with SIGKILL — at a random moment 0.5–12 s after "
            "start-up, during start-up, or while paused at the `sender.after_claim` / "
            "`sender.after_begin` failpoints. A final clean run fetches every feed and drains "
            "the outbox; the emulator (what subscribers saw), the outbox and the feed "
            "server's log of served items are then compared.\n\n"
            "*Ambiguous* sends are deliveries in `unknown` (the request left, the answer never "
            "came back): by the documented policy they are never re-sent, so they are neither "
            "lost nor duplicated; *delivered* means the emulator kept the message. *Articles "
            "lost* counts items the feed server served in a 200 answer that are not in the "
            "database after the final fetch.\n\n"
            f"Command: `{command}` · Machine: {machine()}\n\n" + "\n\n".join(sections)
        )
        path = update_doc("crash", "Crash runs", body, summary)
        print(f"updated {path}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
