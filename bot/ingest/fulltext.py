"""Full text for feeds that only carry excerpts: main text and lead image via trafilatura.

Pure (bytes in, text out) so it runs in a worker thread or process and tests without I/O.
When extraction fails the caller keeps the feed's excerpt: a post is never lost over it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)

MAX_HTML_BYTES = 5 * 1024 * 1024
MAX_TEXT_CHARS = 100_000


def _tidy(text: str, limit: int) -> str:
    """Keep paragraphs, drop control characters (PostgreSQL rejects NUL), cap the length."""
    cleaned = "".join(ch for ch in text if ch in "\n\t" or ch >= " ")
    paragraphs = [" ".join(line.split()) for line in cleaned.splitlines()]
    joined = "\n".join(p for p in paragraphs if p)
    return joined[:limit]


@dataclass(frozen=True, slots=True)
class Extracted:
    text: str
    image_url: str | None
    title: str | None


def extract_article(html: bytes, url: str) -> Extracted | None:
    """Main text, lead image and title of an article page, or None when there is no article."""
    if not html:
        return None
    # Imported on first use: ~14 MB and a few hundred ms that deployments without full-text
    # feeds never need in the bot's process.
    import trafilatura

    try:
        document = html[:MAX_HTML_BYTES].decode("utf-8", errors="replace")
        text = trafilatura.extract(
            document, url=url, include_comments=False, include_tables=False, favor_precision=True
        )
        if not text or len(text) < 200:
            return None
        meta = trafilatura.extract_metadata(document, default_url=url)
        image = getattr(meta, "image", None) if meta is not None else None
        title = getattr(meta, "title", None) if meta is not None else None
    except Exception:  # trafilatura/lxml on hostile HTML: keep the excerpt instead
        log.debug("full-text extraction failed for %s", url, exc_info=True)
        return None
    image_url = (
        image if isinstance(image, str) and image.startswith(("http://", "https://")) else None
    )
    return Extracted(
        text=_tidy(text, MAX_TEXT_CHARS),
        image_url=image_url,
        title=_tidy(title, 512) if isinstance(title, str) else None,
    )
