"""Run the benchmarks: ``python -m benchmarks [--write] [NAME ...]``.

Every module of this package with a top-level ``main`` is a benchmark (``parsers``, ``ingest``,
``linking``, …); ``benchmarks/common.py`` holds shared helpers and is not one. With no names,
all of them run, in alphabetical order, each in its own interpreter (so one benchmark's imports,
caches and peak memory never colour the next one's figures). ``--write`` is passed on to the
benchmarks that accept it (they update their section of ``docs/benchmarks.md`` or their own
document); others just print. ``make bench`` runs ``python -m benchmarks --write``.
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
import time
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
ROOT = PACKAGE.parent
NOT_BENCHMARKS = frozenset({"__init__", "__main__", "common"})


def discover() -> dict[str, Path]:
    """Benchmark name → file, for every module defining a top-level ``main``."""
    found: dict[str, Path] = {}
    for path in sorted(PACKAGE.glob("*.py")):
        if path.stem in NOT_BENCHMARKS or path.stem.startswith("_"):
            continue
        try:
            tree = ast.parse(path.read_text(), filename=str(path))
        except (SyntaxError, OSError):
            continue
        if any(
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "main"
            for node in tree.body
        ):
            found[path.stem] = path
    return found


def main(argv: list[str] | None = None) -> int:
    available = discover()
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0] if __doc__ else None
    )
    ap.add_argument("--write", action="store_true", help="let benchmarks update their docs")
    ap.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    ap.add_argument("names", nargs="*", help=f"any of: {', '.join(available)} (default: all)")
    args, extra = ap.parse_known_args(argv)
    if args.list:
        print("\n".join(available))
        return 0
    unknown = [n for n in args.names if n not in available]
    if unknown:
        ap.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(available)}")
    names = args.names or list(available)
    failed: list[str] = []
    started = time.perf_counter()
    for name in names:
        source = available[name].read_text()
        cmd = [sys.executable, "-m", f"benchmarks.{name}", *extra]
        if args.write and '"--write"' in source:
            cmd.append("--write")
        print(f"=== {name}: {' '.join(cmd[1:])}", flush=True)
        t = time.perf_counter()
        code = subprocess.call(cmd, cwd=ROOT)
        print(f"=== {name}: exit {code} after {time.perf_counter() - t:.0f} s\n", flush=True)
        if code != 0:
            failed.append(name)
    print(f"benchmarks done in {time.perf_counter() - started:.0f} s", end="")
    print(f"; failed: {', '.join(failed)}" if failed else "")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
