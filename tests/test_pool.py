"""The parser worker pool: prepared entries, analysis in the workers, clean worker start."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from bot.ingest.normalize import assign_identities, canonical_url, content_hash
from bot.ingest.parse import parse_feed
from bot.ingest.pool import ParseItem, ParserPool
from bot.knowledge.analysis import Analysis
from bot.knowledge.service import Knowledge
from tests.support.feedgen import item, rss

ROOT = Path(__file__).resolve().parent.parent
FEED_URL = "https://cnsa.example/feed.xml"
DOC = rss(
    [
        item(1, site="cnsa.example", summary="A Swedish detector will fly on Chang'e-6."),
        item(2, site="cnsa.example", guid="same"),
        item(3, site="cnsa.example", guid="same"),
    ]
)


async def test_prepared_entries_match_the_in_process_normalisation() -> None:
    knowledge = Knowledge()
    async with ParserPool(max_workers=1, analyser=knowledge.analyser) as pool:
        plain, prepared = await pool.parse_many(
            [ParseItem(DOC, FEED_URL), ParseItem(DOC, FEED_URL, feed_url=FEED_URL)]
        )
    assert not isinstance(plain, Exception)
    assert not isinstance(prepared, Exception)
    # without feed_url: only parsed, nothing prepared or analysed
    assert plain.prepared_for is None
    assert all(e.identity is None and e.analysis is None for e in plain.entries)
    # with feed_url: the same identities, links and hashes as the in-process functions give
    reference = parse_feed(DOC, url=FEED_URL)
    expected = assign_identities(FEED_URL, reference.entries)
    assert prepared.prepared_for == FEED_URL
    assert [e.identity for e in prepared.entries] == [ident for ident, _e in expected]
    for entry, (_ident, ref) in zip(prepared.entries, expected, strict=True):
        assert entry.canonical_url == canonical_url(ref.link or "")
        assert entry.content_hash == content_hash(ref)
        assert isinstance(entry.analysis, Analysis)
    change6 = next(e for e in prepared.entries if "Swedish" in e.summary)
    assert change6.analysis.missions.get("change-6") == 1
    assert {f.country_code for f in change6.analysis.facts} == {"SE"}


def test_workers_do_not_rerun_the_parents_main_module(tmp_path: Path) -> None:
    """``orbitwire run``'s console script must not be re-imported in every parser worker."""
    mark = tmp_path / "imported-as"
    script = tmp_path / "main_script.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import asyncio, os
            if __name__ != "__main__":
                with open({str(mark)!r}, "a") as f:
                    f.write(__name__ + "\\n")
            from bot.ingest.pool import ParserPool

            async def main():
                async with ParserPool(max_workers=2) as pool:
                    await pool.start()
                    feed = await pool.parse({DOC!r}, url="https://x.example/feed")
                    print(len(feed.entries), pool.crashes, pool.timeouts)

            if __name__ == "__main__":
                asyncio.run(main())
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["3", "0", "0"]
    assert not mark.exists(), mark.read_text()


async def test_article_pages_are_extracted_in_a_worker() -> None:
    paragraph = "Hera reached Didymos and will release two CubeSats to study Dimorphos. " * 5
    page = (
        "<html><head><title>Hera</title></head><body><nav>Home</nav><article><h1>Hera</h1>"
        f"<p>{paragraph}</p><p>{paragraph}</p></article></body></html>"
    )
    async with ParserPool(max_workers=1) as pool:
        extracted = await pool.extract_page(page.encode(), "https://esa.example/hera")
        nothing = await pool.extract_page(b"<html><body>404</body></html>", "https://x.example/")
        assert pool.crashes == 0
    assert extracted is not None
    assert "Dimorphos" in extracted.text
    assert "Home" not in extracted.text
    assert nothing is None
