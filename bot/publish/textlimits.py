"""Length arithmetic and safe shortening for Telegram texts.

Why a module of its own: every Bot API length limit (4,096 for texts, 1,024 for captions) counts
UTF-16 code units, not Python characters — an astral emoji such as 🚀 is one ``str`` character
but two units.  Counting with ``len()`` lets a post that "fits" be refused with
``400 message is too long``.  The renderer and the summarizer both shorten text, so the rules for
*where* to cut (sentence end, then word boundary with an ellipsis, never inside a character)
live here once.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "ELLIPSIS",
    "clean_text",
    "collapse_spaces",
    "shorten_text",
    "utf16_len",
    "utf16_prefix",
]

ELLIPSIS = "…"

# C0/C1 control characters except tab and newline, plus DEL.  Feeds carry NUL bytes and stray
# form feeds; Telegram either rejects or shows them as boxes.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SPACES_RE = re.compile(r"[ \t\r\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
# A sentence end: terminal punctuation, optional closing quotes/brackets, then whitespace.
_SENTENCE_END_RE = re.compile(r"[.!?…。！？][\"'”’»)\]]*(?=\s)|[。！？]")
_TRAILING_JUNK = " \t\n,;:-–—([{\"'“‘«"


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, the unit of every Bot API length limit.

    Most text has no character beyond the Basic Multilingual Plane, where the count is just
    ``len``; checking ``max`` is several times cheaper than encoding (chat answers measure
    every line they add).
    """
    if not text or max(text) < "\U00010000":
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def utf16_prefix(text: str, limit: int) -> str:
    """The longest prefix of ``text`` whose UTF-16 length is at most ``limit``.

    Cuts between code points only, so an astral character is never split into a lone surrogate.
    """
    if limit <= 0:
        return ""
    if utf16_len(text) <= limit:
        return text
    used = 0
    for index, ch in enumerate(text):
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > limit:
            return text[:index]
    return text


def clean_text(text: str) -> str:
    """Make feed text safe to send: valid Unicode, no control characters.

    Lone surrogates (from broken decoders) would make Telegram answer "strings must be encoded
    in UTF-8", and surrogate *pairs* stored as two code points are merged back into one
    character.  Tabs and newlines survive; every other control character is removed.
    """
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return _CONTROL_RE.sub("", text)


def collapse_spaces(text: str, *, keep_newlines: bool = True) -> str:
    """Collapse runs of horizontal whitespace; keep at most one blank line between paragraphs.

    With ``keep_newlines=False`` the text becomes a single line (titles, site names).
    """
    text = clean_text(text)
    if not keep_newlines:
        return " ".join(_SPACES_RE.sub(" ", text).split())
    lines = [_SPACES_RE.sub(" ", line).strip() for line in text.replace("\r", "\n").split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


def _continues_cluster(text: str, index: int) -> bool:
    """Whether ``text[index]`` belongs to the grapheme cluster started before it (roughly)."""
    ch = text[index]
    return (
        unicodedata.category(ch) in {"Mn", "Mc", "Me"}
        or ch in "\u200d\ufe0e\ufe0f"
        or "\U0001f3fb" <= ch <= "\U0001f3ff"  # skin tones
        or text[index - 1] == "\u200d"
    )


def shorten_text(text: str, limit: int, *, min_sentence_ratio: float = 0.5) -> str:
    """Shorten plain ``text`` to at most ``limit`` UTF-16 units, at a natural boundary.

    Preference: whole sentences (no ellipsis — the text reads as complete) when they keep at
    least ``min_sentence_ratio`` of the room; otherwise the last word boundary plus "…"; a hard
    cut plus "…" only for a single enormous word.  Returns ``""`` when ``limit`` leaves no room.
    Working on plain text (escaping afterwards) is what makes it impossible to cut inside an
    HTML tag or entity.
    """
    text = text.strip()
    if utf16_len(text) <= limit:
        return text
    if limit <= 1:
        return ""
    room = utf16_prefix(text, limit)
    # Whole sentences: a sentence end inside the room (or right at its end).
    best = -1
    for match in _SENTENCE_END_RE.finditer(text[: len(room) + 1]):
        if match.end() <= len(room):
            best = match.end()
    if best > 0 and utf16_len(text[:best]) >= min_sentence_ratio * limit:
        return text[:best].rstrip()
    # Word boundary with an ellipsis.
    room = utf16_prefix(text, limit - 1)
    cut = len(room)
    if cut < len(text) and not text[cut].isspace():
        space = max(room.rfind(" "), room.rfind("\n"))
        if space >= len(room) * 0.3:
            cut = space
        else:  # hard cut: at least keep combining marks and emoji sequences whole
            while cut > 0 and _continues_cluster(text, cut):
                cut -= 1
    shortened = room[:cut].rstrip(_TRAILING_JUNK)
    if not shortened:
        shortened = room.rstrip()
    return shortened + ELLIPSIS if shortened else ""
