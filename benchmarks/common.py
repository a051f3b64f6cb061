"""Helpers shared by the benchmarks: machine description, peak memory, docs/benchmarks.md.

``docs/benchmarks.md`` has a summary table at the top and one ``##`` section per benchmark.
Each benchmark owns the text between ``<!-- bench:NAME:start -->`` and ``<!-- bench:NAME:end -->``
and passes its summary rows to :func:`update_doc`; the rows are kept as a JSON comment inside the
section, and the summary table is rebuilt from every section's rows on each write, so
benchmarks written by different people never overwrite each other's figures.
"""

from __future__ import annotations

import json
import os
import platform
import re
import resource
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"

_HEADER = """# Benchmarks

Figures measured on the project's own machine class (see each section for the exact machine,
Python version and date). Run everything with `make bench` (= `.venv/bin/python -m benchmarks
--write`), or one benchmark with `.venv/bin/python -m benchmarks NAME [--write]`.
Each section below is rewritten by its benchmark; the summary table is rebuilt from them.
"""
_SUMMARY_START, _SUMMARY_END = "<!-- summary:start -->", "<!-- summary:end -->"
_ROWS_RE = re.compile(r"<!-- summary-rows: (.*?) -->", re.S)


@dataclass(frozen=True, slots=True)
class SummaryRow:
    figure: str
    value: str
    target: str
    met: str  # "yes", "no" or "—"
    command: str


def machine() -> str:
    """One line: date, CPU count and model, Python version."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    return (
        f"{date}, {os.cpu_count()} CPUs (`nproc`), {model}, "
        f"Python {platform.python_version()} on {platform.system()} {platform.release()}"
    )


def vm_hwm_mb(pid: int | str = "self") -> float | None:
    """Peak resident set (VmHWM) of a live process, in MB (None when unreadable)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def pss_mb(pid: int | str = "self") -> float:
    """Proportional set size (shared pages split between the processes sharing them), in MB."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return 0.0
    return 0.0


class PssSampler:
    """Samples the summed PSS of a set of processes in a thread; ``peak`` is the highest sum.

    Summed PSS counts a page shared by N processes once in total (1/N in each), so it is the
    honest "memory of this group of processes" figure that summed RSS overstates. Sampling
    misses spikes shorter than ``interval``.
    """

    def __init__(self, pids: Callable[[], list[int]], interval: float = 0.25) -> None:
        self._pids = pids
        self._interval = interval
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pss-sampler", daemon=True)

    def _run(self) -> None:
        while True:
            self.sample()
            if self._stop.wait(self._interval):
                return

    def sample(self) -> None:
        total = sum(pss_mb(p) for p in self._pids())
        self.peak = max(self.peak, total)

    def __enter__(self) -> PssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a live process (0.0 when unreadable)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def self_peak_mb() -> float:
    """Peak RSS of this process (getrusage; Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _section_markers(name: str) -> tuple[str, str]:
    return f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"


def update_doc(name: str, title: str, body: str, rows: list[SummaryRow]) -> Path:
    """Replace (or append) the ``## title`` section of ``name`` and rebuild the summary table."""
    start, end = _section_markers(name)
    text = DOC.read_text() if DOC.exists() else _HEADER + f"\n{_SUMMARY_START}\n{_SUMMARY_END}\n"
    rows_json = json.dumps([asdict(r) for r in rows], ensure_ascii=False)
    section = f"{start}\n## {title}\n\n{body.strip()}\n\n<!-- summary-rows: {rows_json} -->\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section, text)
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    all_rows: list[SummaryRow] = []
    for m in _ROWS_RE.finditer(text):
        try:
            all_rows += [SummaryRow(**r) for r in json.loads(m.group(1))]
        except (ValueError, TypeError):
            continue
    table = ["| figure | value | target | met? | command |", "|---|---:|---|---|---|"]
    table += [
        f"| {r.figure} | {r.value} | {r.target} | {r.met} | `{r.command}` |" for r in all_rows
    ]
    summary = f"{_SUMMARY_START}\n" + "\n".join(table) + f"\n{_SUMMARY_END}"
    if _SUMMARY_START in text and _SUMMARY_END in text:
        text = re.sub(
            re.escape(_SUMMARY_START) + r".*?" + re.escape(_SUMMARY_END),
            lambda _m: summary,
            text,
            flags=re.S,
        )
    else:
        text = text.replace(_HEADER, _HEADER + "\n" + summary + "\n", 1)
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text.rstrip() + "\n")
    return DOC


class Tee:
    """Capture what a benchmark prints (to put it in the doc) while still printing it."""

    def __init__(self) -> None:
        import io
        import sys

        self._out = sys.stdout
        self.buffer = io.StringIO()

    def write(self, text: str) -> int:
        self._out.write(text)
        return self.buffer.write(text)

    def flush(self) -> None:
        self._out.flush()

    def text(self) -> str:
        return self.buffer.getvalue()


def private_pg_schema(base: str, prefix: str = "ow_bench") -> tuple[str, Callable[[], None]]:
    """A new empty schema on the PostgreSQL server at ``base``.

    Returns a URL whose connections use that schema (``search_path``) and a function that
    drops it: benchmarks never touch the shared database's own tables and leave nothing behind.
    """
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = (
        make_url(base)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()

    return url, drop
