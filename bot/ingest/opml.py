"""OPML import/export: how feed readers trade subscription lists.

Pure functions over bytes/str. Parsing uses the standard library's expat, which refuses
external entities and (since expat 2.4) caps entity expansion, so a hostile OPML file cannot
read local files or blow up memory.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

MAX_OPML_BYTES = 5 * 1024 * 1024


class OPMLError(ValueError):
    """The file is not usable OPML."""


@dataclass(frozen=True, slots=True)
class OPMLFeed:
    url: str
    title: str
    homepage: str | None = None


def parse_opml(data: bytes) -> list[OPMLFeed]:
    """Every ``<outline xmlUrl=…>`` at any depth (folders are flattened), duplicates dropped."""
    if len(data) > MAX_OPML_BYTES:
        raise OPMLError("OPML file is larger than 5 MiB")
    if b"<!ENTITY" in data:
        raise OPMLError("OPML with entity declarations is refused")
    try:
        root = ET.fromstring(data)  # noqa: S314 - guarded above; expat resolves no external entities
    except ET.ParseError as exc:
        raise OPMLError(f"not valid XML: {exc}") from None
    if root.tag.lower() != "opml":
        raise OPMLError("not an OPML document (root element is not <opml>)")
    feeds: list[OPMLFeed] = []
    seen: set[str] = set()
    for outline in root.iter("outline"):
        url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
        if not url or url in seen:
            continue
        if not url.lower().startswith(("http://", "https://")):
            continue
        seen.add(url)
        title = (outline.get("title") or outline.get("text") or "").strip()
        homepage = (outline.get("htmlUrl") or "").strip() or None
        feeds.append(OPMLFeed(url=url, title=title[:512], homepage=homepage))
    return feeds


def render_opml(feeds: list[OPMLFeed], title: str = "orbitwire feeds") -> str:
    """An OPML 2.0 document listing ``feeds``."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        f"  <head><title>{_text(title)}</title></head>",
        "  <body>",
    ]
    for feed in feeds:
        label = quoteattr(feed.title or feed.url)
        attrs = f'type="rss" text={label} title={label} xmlUrl={quoteattr(feed.url)}'
        if feed.homepage:
            attrs += f" htmlUrl={quoteattr(feed.homepage)}"
        lines.append(f"    <outline {attrs}/>")
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines)


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
