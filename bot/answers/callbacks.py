"""Compact, stateless ``callback_data`` for answer buttons (Telegram allows 64 bytes).

Stateless on purpose: the bot may run as several replicas behind one PostgreSQL, and a button
pressed tomorrow must work on whichever replica gets the update, so everything needed to answer
travels in the button itself:

- ``m:<slug>`` open a mission card;
- ``pm:<slug>`` / ``pc:<ISO code>`` / ``pa:<agency abbrev>`` partners of a mission / country /
  agency;
- ``s:<page>:<query>`` a search page. The query is the *canonical* query (see
  :func:`storage.search.canonical_query`) cut at a term boundary to fit; the first page is
  searched with that same cut text, so every page belongs to one search.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.search import canonical_query

MAX_BYTES = 64


@dataclass(frozen=True, slots=True)
class Action:
    kind: str  # m | pm | pc | pa | s
    key: str
    page: int = 0


def _fits(data: str) -> str | None:
    return data if 1 <= len(data.encode()) <= MAX_BYTES else None


def mission(slug: str) -> str | None:
    return _fits(f"m:{slug}")


def partners(kind: str, key: str) -> str | None:
    prefix = {"mission": "pm", "country": "pc", "agency": "pa"}[kind]
    return _fits(f"{prefix}:{key}")


def search_budget(page: int) -> int:
    """Bytes left for the query in a search button for ``page``."""
    return MAX_BYTES - len(f"s:{page}:".encode())


def fit_query(query: str, page: int = 99) -> str:
    """The canonical query, short enough for a search button up to page 99."""
    return canonical_query(query, max_bytes=search_budget(page))


def search(page: int, query: str) -> str | None:
    if not query:
        return None
    return _fits(f"s:{page}:{query}")


def decode(data: str) -> Action | None:
    """Parse ``callback_data``; ``None`` for anything not ours (or malformed)."""
    kind, sep, rest = data.partition(":")
    if not sep or not rest:
        return None
    if kind in ("m", "pm", "pc", "pa"):
        return Action(kind, rest)
    if kind == "s":
        page, sep, query = rest.partition(":")
        if not sep or not page.isdigit() or not query:
            return None
        return Action("s", query, int(page))
    return None
