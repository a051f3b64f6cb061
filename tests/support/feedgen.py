"""Synthetic space-news feeds for tests, the demo and benchmarks (written by us, not copied)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape

MISSIONS = ["Chang'e-7", "Tianwen-2", "Artemis II", "JUICE", "Hera", "NISAR", "Psyche", "SLIM"]
VERBS = ["passes review for", "completes tests ahead of", "gets new instrument for", "delays"]


@dataclass(frozen=True, slots=True)
class Item:
    guid: str | None
    title: str
    link: str | None
    summary: str
    published: datetime | None
    image: str | None = None


def item(n: int, *, site: str = "news.example", base: datetime | None = None, **kw: object) -> Item:
    """The n-th synthetic story of a site (newer for larger n)."""
    base = base or datetime(2026, 11, 1, tzinfo=UTC)
    mission = MISSIONS[n % len(MISSIONS)]
    values: dict[str, object] = {
        "guid": f"{site}-story-{n}",
        "title": f"{mission} {VERBS[n % len(VERBS)]} milestone {n}",
        "link": f"https://{site}/{n:05d}/story?utm_source=rss",
        "summary": f"Engineers report progress on {mission}. Story number {n} from {site}.",
        "published": base + timedelta(minutes=n),
    }
    values.update(kw)
    return Item(**values)  # type: ignore[arg-type]


def rss(
    items: list[Item], *, title: str = "Example Space News", link: str = "https://news.example/"
) -> bytes:
    """An RSS 2.0 document."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel>',
        f"<title>{escape(title)}</title><link>{escape(link)}</link>",
        "<description>Synthetic feed</description><language>en</language>",
    ]
    for it in items:
        parts.append("<item>")
        parts.append(f"<title>{escape(it.title)}</title>")
        if it.link:
            parts.append(f"<link>{escape(it.link)}</link>")
        if it.guid:
            parts.append(f'<guid isPermaLink="false">{escape(it.guid)}</guid>')
        parts.append(f"<description>{escape(it.summary)}</description>")
        if it.published:
            parts.append(f"<pubDate>{format_datetime(it.published)}</pubDate>")
        if it.image:
            parts.append(f'<media:content url="{escape(it.image)}" medium="image"/>')
        parts.append("</item>")
    parts.append("</channel></rss>")
    return "\n".join(parts).encode("utf-8")


def feed_of(n_items: int, *, site: str = "news.example", start: int = 0) -> bytes:
    return rss([item(i, site=site) for i in range(start, start + n_items)], title=f"{site} news")
