"""Soak: ``orbitwire run`` under a steady workload for a bounded time, with kill -9 restarts.

For ``--minutes`` (default 10): loopback feeds gain a story every few seconds (every feed is made
due every 30 s, so each ingest tick — one a minute — fetches them all), the bot publishes to
three channels (no spacing, publish tick 1 s) and sends keyword alerts to one subscriber, the
emulator injects random faults at a low rate, and the bot is killed with SIGKILL and restarted
twice (at 25 % and 45 % of the run). Every ~10 s the bot's RSS and the PSS of the bot plus its
parser workers are sampled.

At the end a clean run fetches every feed once more and drains the outbox, and the same audit as
the crash runs reports posts lost / duplicated, ambiguous sends (``unknown``, split by whether
the emulator kept the message), articles lost, plus memory over time: start, max, end, and the
slope (MB/min, least squares) of the last process life after a 30 s warm-up.

    python -m benchmarks.soak [--minutes 10] [--seed 11] [--write]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import _harness as h  # noqa: E402
from benchmarks.common import SummaryRow, machine, pss_mb, update_doc  # noqa: E402

ITEM_EVERY_S = 3.0
DUE_EVERY_S = 30.0
SAMPLE_EVERY_S = 10.0
FAULT_EVERY_S = 20.0
FAULT_CHANCE = 0.5
WARMUP_S = 30.0
SLOPE_TARGET = 1.0  # MB/min over the last process life


@dataclass
class Sample:
    t: float  # seconds since the soak started
    life: int  # which process (1 = first start, 2 = after the first kill, …)
    rss: float  # bot process RSS, MB
    pss: float  # bot + parser workers PSS, MB
    workers: int


def sample(bot: h.Bot, t: float) -> Sample | None:
    pid = bot.pid
    if pid is None:
        return None
    kids = h.descendants(pid)
    return Sample(
        t=t,
        life=bot.starts,
        rss=h.rss_mb(pid),
        pss=pss_mb(pid) + sum(pss_mb(k) for k in kids),
        workers=len(kids),
    )


def soak(
    minutes: float, seed: int, backend_name: str, keep: bool
) -> tuple[h.Audit, list[Sample], dict[str, object]]:
    rng = random.Random(seed)
    bench = h.Workbench(rng, feeds=4, feed_error_rate=0.02)
    backend = h.backends(Path(tempfile.mkdtemp(prefix="ow-soak-db-")), backend_name)[0]
    duration = minutes * 60.0
    kills_at = [0.25 * duration, 0.45 * duration]
    samples: list[Sample] = []
    info: dict[str, object] = {"backend": backend.name, "faults": 0, "kills": 0, "items": 0}
    try:
        bench.stories.grow(3, 3)
        with h.database(backend.url) as db:
            h.subscribe_alerts(db)
            bot = h.Bot(bench.emu, backend.url, bench.feeds_file, bench.workdir)
            started = time.monotonic()
            bot.start()
            bot.wait_ready(0)
            next_item = next_due = next_fault = next_sample = 0.0
            faults: list[str] = []
            while (now := time.monotonic() - started) < duration:
                if now >= next_item:
                    bench.stories.add_item()
                    info["items"] = int(str(info["items"])) + 1
                    next_item = now + rng.uniform(0.5, 1.5) * ITEM_EVERY_S
                if now >= next_due:
                    h.make_feeds_due(db)
                    next_due = now + DUE_EVERY_S
                if now >= next_fault:
                    if rng.random() < FAULT_CHANCE:
                        faults += h.random_faults(bench.emu, rng, 1)
                    next_fault = now + FAULT_EVERY_S
                if kills_at and now >= kills_at[0]:
                    kills_at.pop(0)
                    bot.kill9()
                    info["kills"] = int(str(info["kills"])) + 1
                    print(f"  {now:5.0f} s: kill -9, restarting", flush=True)
                    time.sleep(rng.uniform(0.5, 2.0))
                    calls = len(bench.emu.requests_for("setMyCommands"))
                    bot.start()
                    bot.wait_ready(calls)
                    continue
                if now >= next_sample:
                    s = sample(bot, now)
                    if s is not None:
                        samples.append(s)
                        posts = sum(len(bench.emu.messages(c)) for c in h.CHANNELS)
                        print(
                            f"  {now:5.0f} s: rss {s.rss:6.1f} MB, pss+workers {s.pss:6.1f} MB"
                            f" ({s.workers} children), posts {posts}",
                            flush=True,
                        )
                    elif bot.proc is not None and bot.proc.poll() is not None:
                        raise RuntimeError(f"the bot exited on its own ({bot.proc.returncode})")
                    next_sample = now + SAMPLE_EVERY_S
                time.sleep(0.1)
            final = sample(bot, time.monotonic() - started)
            if final is not None:
                samples.append(final)
            info["faults"] = len(faults)
            info["fault_kinds"] = ", ".join(f"{k} {faults.count(k)}" for k in sorted(set(faults)))
            bot.stop()
            bench.emu.clear_faults()
            bench.stories.error_rate = 0.0
            drained, took = h.drain(bot, db, bench.stories)
            info["drained"] = drained
            info["drain_s"] = took
            print(f"  final clean run: drained={drained} in {took:.0f} s", flush=True)
            result = h.audit(db, bench.emu, bench.stories)
        if keep:
            print(f"  logs kept in {bench.workdir}")
        return result, samples, info
    finally:
        bench.close(keep=keep)
        backend.close()


def memory_figures(samples: list[Sample]) -> dict[str, float]:
    if not samples:
        return {}
    last_life = samples[-1].life
    life = [s for s in samples if s.life == last_life]
    born = life[0].t
    warm = [s for s in life if s.t - born >= WARMUP_S] or life
    return {
        "rss_start": samples[0].rss,
        "rss_max": max(s.rss for s in samples),
        "rss_end": samples[-1].rss,
        "pss_start": samples[0].pss,
        "pss_max": max(s.pss for s in samples),
        "pss_end": samples[-1].pss,
        "rss_slope": h.linear_slope([(s.t / 60, s.rss) for s in warm]),
        "pss_slope": h.linear_slope([(s.t / 60, s.pss) for s in warm]),
        "slope_minutes": (warm[-1].t - warm[0].t) / 60,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    ap.add_argument("--minutes", type=float, default=10.0, help="soak length (default 10)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--keep", action="store_true", help="keep the work directory and bot logs")
    ap.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = ap.parse_args(argv)
    minutes = f"{args.minutes:g}"
    command = f"python -m benchmarks soak --minutes {minutes}"
    print(f"== soak: {minutes} min on {args.backend}, seed {args.seed}", flush=True)
    result, samples, info = soak(args.minutes, args.seed, args.backend, args.keep)
    mem = memory_figures(samples)
    rows = [
        ("duration", f"{minutes} min, {info['kills']} × kill -9 + restart"),
        ("stories added to the feeds", str(info["items"])),
        ("emulator faults injected", f"{info['faults']} ({info.get('fault_kinds') or 'none'})"),
        ("final clean run drained the outbox", "yes" if info.get("drained") else "no"),
        *result.rows(),
    ]
    if mem:
        rows += [
            (
                "bot RSS: start / max / end",
                f"{mem['rss_start']:.1f} / {mem['rss_max']:.1f} / {mem['rss_end']:.1f} MB",
            ),
            (
                "bot + parser workers PSS: start / max / end",
                f"{mem['pss_start']:.1f} / {mem['pss_max']:.1f} / {mem['pss_end']:.1f} MB",
            ),
            (
                "slope, last process life after 30 s warm-up",
                f"RSS {mem['rss_slope']:+.2f} MB/min, PSS {mem['pss_slope']:+.2f} MB/min "
                f"(over {mem['slope_minutes']:.1f} min)",
            ),
        ]
    print(h.table(rows))
    for line in result.duplicate_titles + result.lost_detail:
        print(f"  ! {line}")
    if result.lost_guids:
        print(f"  ! articles lost (first 20): {', '.join(result.lost_guids)}")
    series = ["| t (s) | process | bot RSS (MB) | bot + workers PSS (MB) | workers |"]
    series.append("|---:|---:|---:|---:|---:|")
    step = max(1, len(samples) // 30)  # at most ~30 rows in the document
    shown = samples[::step] + ([samples[-1]] if samples and (len(samples) - 1) % step else [])
    series += [f"| {s.t:.0f} | {s.life} | {s.rss:.1f} | {s.pss:.1f} | {s.workers} |" for s in shown]
    slope = float(mem.get("rss_slope", 0.0))
    clean = (
        result.lost_posts == 0
        and result.duplicates == 0
        and result.articles_lost == 0
        and bool(info.get("drained"))
    )
    if args.write:
        summary = [
            SummaryRow(
                f"soak {minutes} min: posts lost / duplicated",
                f"{result.lost_posts} / {result.duplicates}",
                "0 / 0",
                "yes" if result.lost_posts == 0 and result.duplicates == 0 else "no",
                command,
            ),
            *result.summary_rows(f"soak {minutes} min", command),
            SummaryRow(
                f"soak {minutes} min: bot RSS max / slope",
                f"{mem.get('rss_max', 0.0):.0f} MB / {slope:+.2f} MB/min",
                f"slope ≤ {SLOPE_TARGET:g} MB/min",
                "yes" if abs(slope) <= SLOPE_TARGET else "no",
                command,
            ),
        ]
        body = (
            "A steady workload for a bounded time: 4 loopback feeds gain a story every "
            f"~{ITEM_EVERY_S:g} s and are made due every {DUE_EVERY_S:g} s (the ingest tick is "
            "60 s), `orbitwire run` publishes to 3 channels (no spacing, publish tick 1 s) and "
            "sends keyword alerts to one subscriber, the emulator injects a random fault "
            f"(5xx, 429, slow or lost answers, dropped connections) every ~{FAULT_EVERY_S:g} s "
            f"with probability {FAULT_CHANCE:g}, feeds answer 2 % of requests with a 503, and "
            "the bot is killed with SIGKILL and restarted at 25 % and 45 % of the run. A final "
            "clean run fetches every feed and drains the outbox; then the same audit as the "
            "crash runs. Memory is sampled every ~10 s: RSS of the bot process and PSS of the "
            "bot plus its parser workers; the slope is a least-squares fit over the last "
            "process life after a 30 s warm-up.\n\n"
            f"Command: `{command}` · Machine: {machine()}\n\n"
            + h.table(rows)
            + "\n\nMemory over time:\n\n"
            + "\n".join(series)
        )
        path = update_doc("soak", "Soak", body, summary)
        print(f"updated {path}")
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
