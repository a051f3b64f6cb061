"""Feed bytes → :class:`ParsedFeed`: robust against hostile documents and bounded in time.

Pipeline (see ``docs/parser-choice.md`` for the measurements behind it):

1. **Size cap** — the body is cut at :data:`MAX_BODY_BYTES` (the fetcher caps too; this is
   defence in depth for callers that bypass it). A cut document is recovered like a truncated
   one.
2. **Charset** — BOM → XML declaration → HTTP ``charset`` → strict UTF-8 check → detection with
   charset-normalizer. None of the parsers detects windows-1251 bytes declared as UTF-8, so this
   happens first; the text is then re-encoded as UTF-8 with a matching XML declaration and the
   repair is reported in ``ParsedFeed.bozo``.
3. **Sanitising the XML text** —
   * NUL and the other C0 controls are removed (PostgreSQL rejects NUL, XML forbids them);
   * the DOCTYPE (with its internal subset) is removed, so no entity is ever declared: this
     defuses the one-line entity bomb (feedparser's own ENTITY filter only matches
     declarations at the start of a line) and SYSTEM entities (XXE). The references left
     behind become literal text (``&xxe;``), never file contents;
   * bare ``&`` becomes ``&amp;`` and HTML named entities (``&nbsp;``, ``&copy;``) become
     numeric references (fastfeedparser turns a bare "AT&T" into "AT", feedparser-rs drops
     every entry, feedparser into "AT&T;");
   * over-long text in author/e-mail elements is cut (feedparser's e-mail regex is quadratic:
     a 64 KB author field costs it ~19 s).
4. **Parsing** — fastfeedparser (lxml, ``resolve_entities=False``) first; feedparser (expat
   with external general entities off, always handed a byte *stream*) when fastfeedparser
   raises, returns fewer entries than the document has ``<item>``/``<entry>`` elements, or the
   document uses ``xml:base`` (fastfeedparser ignores it).
5. **Normalising** — plain-text fields with caps, absolute http(s) URLs, aware UTC dates
   clamped to "now", the newest ``max_entries`` entries.

CPU-bound worst cases cannot be interrupted from asyncio, so production code parses through
:class:`bot.ingest.pool.ParserPool`, which runs :func:`parse_feed` in worker processes and
kills a worker that exceeds its time limit.
"""

from __future__ import annotations

import calendar
import codecs
import email.utils
import functools
import html
import html.entities
import io
import logging
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urljoin, urlsplit

import fastfeedparser
import feedparser
from feedparser.datetimes import _parse_date as _feedparser_parse_date

from bot.ingest.normalize import clean_text, clean_text_pair
from bot.ingest.types import FeedParseError, ParsedEntry, ParsedFeed

__all__ = [
    "AUTHOR_MAX",
    "CONTENT_MAX",
    "MAX_BODY_BYTES",
    "SUMMARY_MAX",
    "TITLE_MAX",
    "URL_MAX",
    "FeedParseError",
    "decode_feed_bytes",
    "parse_date",
    "parse_feed",
    "sanitize_xml",
]

log = logging.getLogger(__name__)

MAX_BODY_BYTES: Final = 16 * 1024 * 1024
TITLE_MAX: Final = 512
SUMMARY_MAX: Final = 4_000
CONTENT_MAX: Final = 100_000
SUMMARY_HTML_MAX: Final = 100_000
AUTHOR_MAX: Final = 200
URL_MAX: Final = 2_048
GUID_MAX: Final = 2_048
TAG_MAX: Final = 100
TAGS_PER_ENTRY: Final = 20
LANGUAGE_MAX: Final = 35
#: Text in author/e-mail-like elements is cut to this many characters before parsing.
AUTHOR_FIELD_RAW_MAX: Final = 1_024
#: Dates before this year are treated as bogus ("0000-00-00", 1970 fallbacks of broken CMSs).
MIN_YEAR: Final = 1971


# ============================================================================================
# 1–2. Charset detection and decoding
# ============================================================================================

_BOMS: Final[tuple[tuple[bytes, str], ...]] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_XML_DECL_ENC_RE = re.compile(
    rb"""^\s*<\?xml[^>]{0,200}?encoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})["']"""
)
_CT_CHARSET_RE = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]{1,40})""", re.I)
_UTF8_NAMES: Final = frozenset({"utf-8", "utf8"})
# WHATWG: labels that browsers decode as windows-1252 (a superset that also maps 0x80–0x9F).
_AS_CP1252: Final = frozenset({"latin-1", "iso8859-1", "ascii", "cp1252", "us-ascii"})


def _codec_name(label: str | None) -> str | None:
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip().lower()).name
    except LookupError:
        return None
    # UTF-16/32 without BOM are handled by the sniffing below; a declared "utf-16" on a body
    # without BOM is ambiguous, so let the declaration pass and Python pick (BE by spec).
    return "cp1252" if name in _AS_CP1252 else name


def _sniff_utf16_32(body: bytes) -> str | None:
    """XML without BOM in UTF-16/32 starts with ``<`` as a multi-byte unit (XML spec, App. F)."""
    head = body[:4]
    table = {
        b"\x00\x00\x00<": "utf-32-be",
        b"<\x00\x00\x00": "utf-32-le",
        b"\x00<\x00?": "utf-16-be",
        b"<\x00?\x00": "utf-16-le",
    }
    return table.get(head)


def _detect(body: bytes) -> str | None:
    """charset-normalizer's best guess, preferring cp1252 among equally good candidates.

    On short Western text it often ranks cp1250 first with the same scores as cp1252, which
    turns Spanish "ñ" into "ń"; the WHATWG default (windows-1252) is the better tie-break.
    """
    try:
        from charset_normalizer import from_bytes

        matches = list(from_bytes(body[:200_000]))
    except Exception:  # pragma: no cover - defensive: detection must never break parsing
        log.debug("charset detection failed", exc_info=True)
        return None
    if not matches:
        return None
    best = matches[0]
    for m in matches[1:]:
        if (
            m.encoding == "cp1252"
            and abs(m.chaos - best.chaos) < 1e-6
            and abs(m.coherence - best.coherence) < 1e-6
        ):
            return "cp1252"
    return _codec_name(best.encoding) or best.encoding


def decode_feed_bytes(body: bytes, content_type: str | None = None) -> tuple[str, str, str | None]:
    """Decode a feed body to text: returns ``(text, encoding_used, repair_note_or_None)``.

    Order: BOM (authoritative) → UTF-16/32 sniffing → strict UTF-8 when the bytes are valid
    UTF-8 (random legacy-encoded text practically never is, so a valid UTF-8 body declared as
    something else is a mislabel) → the XML declaration → the HTTP charset → charset-normalizer.
    The XML declaration wins over HTTP because servers send generic defaults
    (``text/xml; charset=iso-8859-1``) for every file, while the declaration is written by the
    feed generator. Never raises: the last resort is UTF-8 with replacement characters.
    """
    for bom, enc in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(enc, "replace"), enc, None
    sniffed = _sniff_utf16_32(body)
    if sniffed:
        return body.decode(sniffed, "replace"), sniffed, "no BOM, sniffed " + sniffed

    m = _XML_DECL_ENC_RE.match(body)
    declared_xml = _codec_name(m.group(1).decode("ascii")) if m else None
    ct = _CT_CHARSET_RE.search(content_type or "")
    declared_http = _codec_name(ct.group(1)) if ct else None
    declared = declared_xml or declared_http
    raw_label = (m.group(1).decode("ascii") if m else None) or (ct.group(1) if ct else None)

    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        note = None
        if declared and declared not in _UTF8_NAMES and not body.isascii():
            note = f"declared {raw_label}, was utf-8"
        return text, "utf-8", note

    # Not UTF-8. Trust a non-UTF-8 declaration (single-byte codecs accept any byte, so a
    # successful decode proves nothing, but the declaration is the best evidence we have).
    if declared and declared not in _UTF8_NAMES and not declared.startswith("utf-"):
        try:
            return body.decode(declared), declared, None
        except (UnicodeDecodeError, LookupError):
            pass

    detected = _detect(body)
    if detected:
        try:
            text = body.decode(detected, "replace")
        except LookupError:
            pass
        else:
            what = f"declared {raw_label}" if raw_label else "no charset declared"
            return text, detected, f"{what}, was {detected}"
    return body.decode("utf-8", "replace"), "utf-8", "undecodable bytes replaced"


# ============================================================================================
# 3. Sanitising the XML text
# ============================================================================================

# XML 1.0 forbids these; C1 controls are allowed by XML but are mojibake in feeds.
_XML_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# The ASCII members of _XML_CONTROL_RE as bytes, for the fast check in _strip_xml_controls.
_XML_CONTROL_BYTES: Final = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)])
_XML_DECL_RE = re.compile(r"^\s*<\?xml\b[^>]{0,500}?\?>\s*", re.I)
# DOCTYPE with an optional internal subset; the subset may contain ">" inside declarations.
_DOCTYPE_RE = re.compile(r"<!DOCTYPE\b[^\[>]*(?:\[.*?\]\s*)?>", re.I | re.S)
# Finds exactly what `"<!doctype" in head.lower()` did (no non-ASCII character lower-cases or
# case-folds to one of these letters), without copying the head to lower-case it.
_DOCTYPE_START_RE = re.compile("<!doctype", re.I)
_ENTITY_DECL_RE = re.compile(r"<!ENTITY\b[^>]*>", re.I)
# Prolog junk before the root element: comments, PIs, DOCTYPE.
_PROLOG_SKIP_RE = re.compile(
    r"\s*(?:<!--.*?-->|<\?.*?\?>|<!DOCTYPE\b[^\[>]*(?:\[.*?\]\s*)?>)", re.S | re.I
)
_FIRST_TAG_RE = re.compile(r"\s*<([A-Za-z_][\w.:-]*)")
# An ampersand that is not one of the five XML entities or a plausible numeric reference.
_ODD_AMP_RE = re.compile(r"&(?!(?:amp|lt|gt|quot|apos);)(?!#\d{2,7};)(?!#[xX][0-9a-fA-F]{2,6};)")
# Full tokenizer used only when _ODD_AMP_RE found something: CDATA and comments pass through.
# The five predefined entities are skipped by the lookahead rather than matched and returned
# unchanged by _fix_amp (same result, no Python call for every "&amp;" of the document).
# A CDATA section (comment) runs to the first "]]>" ("-->") or to the end of the text, as the
# lazy ".*?(?:\]\]>|\Z)" did; the possessive loops find that end without the per-character
# backtracking of the lazy form.
_AMP_TOKEN_RE = re.compile(
    r"<!\[CDATA\[(?:[^\]]++|\](?!\]>))*+(?:\]\]>)?"
    r"|<!--(?:[^-]++|-(?!->))*+(?:-->)?"
    r"|&(?!(?:amp|lt|gt|quot|apos);)"
    r"(?:(#[0-9]{1,10}|#[xX][0-9a-fA-F]{1,8}|[A-Za-z][A-Za-z0-9]{0,31});)?"
)
# An "&" that _AMP_TOKEN_RE would hand to _fix_amp when it is outside CDATA and comments.
_AMP_NOT_PREDEFINED_RE = re.compile(r"&(?!(?:amp|lt|gt|quot|apos);)")
_XML_PREDEFINED: Final = frozenset({"amp", "lt", "gt", "quot", "apos"})
_HTML5: Final[Mapping[str, str]] = html.entities.html5
_AUTHOR_TEXT_RE = re.compile(
    r"(<(?:[\w.-]+:)?(?:author|creator|name|email|managingEditor|webMaster|contributor|publisher)"
    r"\b[^>]{0,2000}>)([^<]{" + str(AUTHOR_FIELD_RAW_MAX + 1) + ",})"
)
# Where an _AUTHOR_TEXT_RE match can end its first group: a ">" followed by more than the cap
# of text (see _has_overlong_author_text).
_LONG_TEXT_RE = re.compile(">[^<]{" + str(AUTHOR_FIELD_RAW_MAX + 1) + "}")
_ITEM_START_RE = re.compile(r"<(?:[\w-]+:)?(?:item|entry)[\s>/]")
_ITEM_END_RE = re.compile(r"</(?:[\w-]+:)?(?:item|entry)\s*>")
_FEED_ROOTS: Final = frozenset({"rss", "feed", "rdf", "channel"})
_OUT_DECL: Final = '<?xml version="1.0" encoding="utf-8"?>\n'


def _valid_xml_codepoint(cp: int) -> bool:
    return (
        cp in (0x9, 0xA, 0xD)
        or 0x20 <= cp <= 0xD7FF
        or 0xE000 <= cp <= 0xFFFD
        or 0x10000 <= cp <= 0x10FFFF
    )


def _fix_amp(m: re.Match[str]) -> str:
    token = m.group(0)
    if token[0] == "<":  # CDATA or comment: literal, leave alone
        return token
    ref = m.group(1)
    if ref is None:
        return "&amp;"
    if ref[0] == "#":
        try:
            cp = int(ref[2:], 16) if ref[1] in "xX" else int(ref[1:])
        except ValueError:
            return "&amp;" + token[1:]
        return token if _valid_xml_codepoint(cp) else ""
    if ref in _XML_PREDEFINED:
        return token
    value = _HTML5.get(ref + ";")
    if value is None:
        # Unknown or DOCTYPE-declared entity (now undeclared): keep it as literal text.
        return "&amp;" + token[1:]
    return "".join(f"&#{ord(ch)};" for ch in value)


def _strip_xml_controls(value: str) -> str:
    """``_XML_CONTROL_RE.sub("", value)``, with a cheaper test for the usual clean ASCII text.

    Runs over whole documents and every entry's HTML; for ASCII text, encoding it and letting
    bytes.translate() delete the controls is a tight C loop, about three times faster than
    the regex scan, and nearly every text has none to remove.
    """
    if value.isascii():
        data = value.encode("ascii")
        if len(data.translate(None, _XML_CONTROL_BYTES)) == len(data):
            return value
    return _XML_CONTROL_RE.sub("", value)


def _amp_tokens_outside_literals(text: str) -> bool:
    """Whether _AMP_TOKEN_RE has any "&" token (not a CDATA section or comment) in ``text``.

    Without one, ``_AMP_TOKEN_RE.sub(_fix_amp, text)`` returns ``text`` unchanged (_fix_amp
    returns CDATA and comments as they are), so the costly full pass can be skipped: feeds
    commonly have HTML entities such as "&nbsp;" inside CDATA, which _ODD_AMP_RE reports. The
    sections are delimited exactly as _AMP_TOKEN_RE does (leftmost opener, first closer after
    it, or the end); an "&" token never contains "<", so it cannot straddle a section start.
    """
    n = len(text)
    pos = 0
    next_cdata = text.find("<![CDATA[")
    next_comment = text.find("<!--")
    while True:
        if 0 <= next_cdata < pos:
            next_cdata = text.find("<![CDATA[", pos)
        if 0 <= next_comment < pos:
            next_comment = text.find("<!--", pos)
        starts = [i for i in (next_cdata, next_comment) if i >= 0]
        start = min(starts) if starts else n
        if _AMP_NOT_PREDEFINED_RE.search(text, pos, start):
            return True
        if start == n:
            return False
        closer, opener_len = ("]]>", 9) if start == next_cdata else ("-->", 4)
        end = text.find(closer, start + opener_len)
        if end < 0:
            return False  # the section runs to the end of the text
        pos = end + 3


def _has_overlong_author_text(text: str) -> bool:
    """Whether ``_AUTHOR_TEXT_RE.search(text)`` finds a match, at a fraction of the cost.

    The search tries the author names at every "<" of the document. A match's first group
    ends at the first ">" after its "<" and is followed by over AUTHOR_FIELD_RAW_MAX
    characters without "<", so that ">" is where _LONG_TEXT_RE matches; such places are few
    (long escaped descriptions), and the match can only start at a "<" after the previous
    ">". _LONG_TEXT_RE's matches contain no "<", so one that is skipped because it lies
    inside an earlier one has no "<" before it to start a match from.
    """
    for long_text in _LONG_TEXT_RE.finditer(text):
        end = long_text.start()
        start = text.rfind(">", 0, end) + 1
        lt = text.find("<", start, end)
        while lt >= 0:
            if _AUTHOR_TEXT_RE.match(text, lt):
                return True
            lt = text.find("<", lt + 1, end)
    return False


def _root_name(text: str) -> str | None:
    """Local name of the first element, skipping the XML declaration, comments and DOCTYPE."""
    pos = 0
    head = text[:100_000]
    while True:
        m = _PROLOG_SKIP_RE.match(head, pos)
        if not m or m.end() == pos:
            break
        pos = m.end()
    m2 = _FIRST_TAG_RE.match(head, pos)
    if not m2:
        return None
    return m2.group(1).rsplit(":", 1)[-1].lower()


def sanitize_xml(text: str) -> tuple[str, list[str]]:
    """Neutralise the known traps in decoded feed text; returns ``(text, notes)``.

    Removes control characters, the DOCTYPE and any entity declaration, escapes bare ``&``,
    maps HTML named entities to numeric references, cuts over-long author/e-mail text, and
    replaces the XML declaration by a UTF-8 one. The notes say what was repaired (for bozo).
    """
    notes: list[str] = []
    if text.startswith("\ufeff"):
        text = text[1:]
    cleaned = _strip_xml_controls(text)
    if len(cleaned) != len(text):
        notes.append("control characters removed")
        text = cleaned
    text = _XML_DECL_RE.sub("", text, count=1)
    head = text[:200_000]
    if _DOCTYPE_START_RE.search(head):
        new_head = _DOCTYPE_RE.sub("", head, count=1)
        if new_head != head:
            notes.append("DOCTYPE removed")
            text = new_head + text[200_000:]
    if "<!ENTITY" in text:
        text = _ENTITY_DECL_RE.sub("", text)
    if _has_overlong_author_text(text):
        text = _AUTHOR_TEXT_RE.sub(lambda m: m.group(1) + m.group(2)[:AUTHOR_FIELD_RAW_MAX], text)
        notes.append("over-long author field cut")
    if _ODD_AMP_RE.search(text) and _amp_tokens_outside_literals(text):
        fixed = _AMP_TOKEN_RE.sub(_fix_amp, text)
        if fixed != text:
            notes.append("bare & or HTML entities repaired")
            text = fixed
    return _OUT_DECL + text, notes


# ============================================================================================
# 5. Field normalisation helpers
# ============================================================================================

_SCRIPT_RE = re.compile(r"<(script|style|noscript|template|iframe)\b.*?</\1\s*>", re.S | re.I)
_COMMENT_RE = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
# p, div, br, li, ul, ol, h1-h6, tr, table, blockquote, pre, section, article, header, footer,
# figure, figcaption, hr, dd, dt, dl — as a prefix tree, which the regex engine tries faster
# than 21 alternatives at every "<". Same matches: all names are followed by \b, so at most
# one of them can match at a given position, whatever the order of the alternatives.
_BLOCK_TAG_RE = re.compile(
    r"</?(?:p(?:re)?|d(?:iv|[dtl])|b(?:r|lockquote)|li|[ou]l|h[1-6r]|t(?:r|able)|section"
    r"|article|header|f(?:ooter|ig(?:ure|caption)))\b[^>]{0,2000}>",
    re.I,
)
_NEEDS_SCRIPT_PASS_RE = re.compile(r"<(?:script|style|noscript|template|iframe)\b", re.I)
_CELL_TAG_RE = re.compile(r"</?t[dh]\b[^>]{0,2000}>", re.I)
_TAG_RE = re.compile(r"</?[A-Za-z][^>]{0,2000}>|<![^>]{0,2000}>|<\?[^>]{0,2000}>")
_IMG_SRC_RE = re.compile(r"""<img\b[^>]{0,2000}?\bsrc\s*=\s*["']?([^"'\s>]+)""", re.I)
_IMAGE_EXT_RE = re.compile(r"\.(?:jpe?g|png|gif|webp|avif)(?:$|[?#])", re.I)


def html_to_text(value: str | None, max_len: int, *, keep_paragraphs: bool = False) -> str:
    """Plain text from an HTML fragment (or from text that may contain entities).

    Regex-based rather than an HTML parser because it runs over every summary and content of
    every feed (an ``html.parser`` pass costs several times the whole parse). Scripts, styles
    and comments go with their content; block tags become line breaks, inline tags vanish;
    entities are unescaped once; the result is :func:`~bot.ingest.normalize.clean_text`-ed.
    """
    if not value:
        return ""
    text = _strip_html(_html_input(value, max_len))
    return clean_text(text, max_len, keep_paragraphs=keep_paragraphs)


def _html_input(value: str, max_len: int) -> str:
    """The part of ``value`` that :func:`html_to_text` looks at for a result of ``max_len``."""
    return value[: max_len * 4 + 8192]  # bound the regex work; text shrinks when tags go


def _strip_html(s: str) -> str:
    """The HTML half of :func:`html_to_text`: tags out, entities unescaped, not yet cleaned.

    Split out so that an entry whose summary and content are the same HTML (fastfeedparser
    reports an RSS ``<description>`` as both) pays for these passes once.
    """
    if "<" in s:
        if _NEEDS_SCRIPT_PASS_RE.search(s):
            s = _SCRIPT_RE.sub(" ", s)
        if "<!--" in s:
            s = _COMMENT_RE.sub(" ", s)
        s = _BLOCK_TAG_RE.sub("\n", s)
        s = _CELL_TAG_RE.sub(" ", s)
        s = _TAG_RE.sub("", s)
    if "&" in s:
        s = _unescape(s)
    return s


# html.unescape() replaces each character reference found by this (private) pattern through a
# Python function that re-parses the reference. The same few references (&nbsp;, &#8217;, …)
# recur in every entry, so the replacement of each distinct one is looked up in a dict. The
# stdlib's own compiled pattern is used so that the references are exactly the ones
# html.unescape() finds; if it is ever missing, html.unescape() is used as is.
_STDLIB_CHARREF_RE = getattr(html, "_charref", None)
_CHARREF_RE: Final[re.Pattern[str] | None] = (
    _STDLIB_CHARREF_RE if isinstance(_STDLIB_CHARREF_RE, re.Pattern) else None
)
_CHARREF_CACHE: dict[str, str] = {}
_CHARREF_CACHE_MAX: Final = 2048


def _cached_charref(m: re.Match[str]) -> str:
    ref = m.group()
    value = _CHARREF_CACHE.get(ref)
    if value is None:
        # A reference alone is matched the same way as in context (the pattern only looks
        # forward, and a reference never contains "&"), so this is html.unescape's own
        # replacement for it.
        value = html.unescape(ref)
        if len(_CHARREF_CACHE) >= _CHARREF_CACHE_MAX:  # bound it on hostile input
            _CHARREF_CACHE.clear()
        _CHARREF_CACHE[ref] = value
    return value


def _unescape(s: str) -> str:
    """``html.unescape(s)``, with the replacement of each distinct reference cached."""
    if _CHARREF_RE is None:
        return html.unescape(s)
    return _CHARREF_RE.sub(_cached_charref, s)


@functools.lru_cache(maxsize=2048)
def _short_html_to_text_cached(value: str, max_len: int) -> str:
    return html_to_text(value, max_len)


def _short_html_to_text(value: str, max_len: int) -> str:
    """:func:`html_to_text` for author names and tags, remembered.

    The same few names and categories come with every entry of a feed (and across feeds), so
    a small cache answers most calls; long values are not kept in it.
    """
    if len(value) > 256:
        return html_to_text(value, max_len)
    return _short_html_to_text_cached(value, max_len)


def _as_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    return None


def absolute_url(value: Any, base: str | None) -> str | None:
    """An absolute http(s) URL ≤ :data:`URL_MAX` chars, resolved against ``base``; else None.

    Other schemes (``javascript:``, ``data:``, ``file:``) are dropped: these links end up as
    buttons in Telegram posts. An over-long URL is dropped rather than cut (a cut URL is wrong).
    """
    raw = _as_str(value)
    if not raw:
        return None
    raw = raw.strip()
    if _SIMPLE_ABS_URL_RE.fullmatch(raw):  # fast path: already absolute and clean
        return raw if len(raw) <= URL_MAX else None
    raw = _strip_xml_controls(raw)
    if not raw or len(raw) > URL_MAX * 2:
        return None
    try:
        url = urljoin(base, raw) if base else raw
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    url = url.replace(" ", "%20")
    return url if len(url) <= URL_MAX else None


_SIMPLE_ABS_URL_RE = re.compile(r"https?://[A-Za-z0-9.-]+(?::\d{1,5})?(?:[/?#][!#-;=?-~]*)?")
_EPOCH_RE = re.compile(r"\d{9,13}(?:\.\d+)?")


def parse_date(value: Any, *, now: datetime | None = None) -> datetime | None:
    """Any feed date → aware UTC datetime, or None; never raises.

    Handles ISO 8601 (with or without zone), RFC 822 with, without or with a bogus zone (no or
    unknown zone → UTC, as Miniflux does), bare epoch seconds or milliseconds, "0000-00-00…"
    and years before 1971 (→ None), and falls back to feedparser's many-format date parser.
    Dates in the future are clamped to ``now``: a feed must not pin itself to the top.
    """
    dt = _parse_date_unclamped(value)
    if dt is None:
        return None
    if dt.year < MIN_YEAR:
        return None
    current = now or datetime.now(UTC)
    return min(dt, current)


def _parse_date_unclamped(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, time.struct_time):
        try:
            return datetime.fromtimestamp(calendar.timegm(value), UTC)
        except (OverflowError, ValueError, OSError):
            return None
    s = _as_str(value)
    if not s:
        return None
    s = s.strip()[:100]
    if not s or s.startswith("0000"):
        return None
    try:
        if _EPOCH_RE.fullmatch(s):
            secs = float(s)
            if secs > 1e11:  # milliseconds
                secs /= 1000
            return datetime.fromtimestamp(secs, UTC)
        try:
            dt = datetime.fromisoformat(s)
        except ValueError:
            pass
        else:
            return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC)
        tup = email.utils.parsedate_tz(s)
        if tup is not None and tup[0] and tup[0] > 0:
            offset = tup[9] or 0
            naive = datetime(*tup[:6])  # naive on purpose: offset applied below
            return datetime.fromtimestamp(calendar.timegm(naive.timetuple()) - offset, UTC)
        parsed = _feedparser_parse_date(s)
        if parsed is not None:
            return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    except (ValueError, OverflowError, OSError, TypeError, IndexError):
        return None
    return None


# ============================================================================================
# 4. Parsers
# ============================================================================================


def _run_fastfeedparser(data: bytes) -> Any:
    # Bytes only: a str starting with http(s):// would make it fetch the URL itself.
    return fastfeedparser.parse(data)


def _run_feedparser(data: bytes, url: str) -> Any:
    # A byte *stream*, never bytes or str: feedparser treats a str as a URL to fetch and tries
    # bytes as a *file name* (a body of b"/etc/passwd" would be read from disk).
    return feedparser.parse(
        io.BytesIO(data),
        response_headers={"content-location": url, "content-type": "application/xml"},
    )


def _xml_error_reason(exc: BaseException | None) -> str:
    if exc is None:
        return "not a feed"
    line: int | None = None
    get_line = getattr(exc, "getLineNumber", None)
    if callable(get_line):
        try:
            line = int(get_line())
        except (TypeError, ValueError):
            line = None
    if line is None:
        lineno = getattr(exc, "lineno", None)
        line = lineno if isinstance(lineno, int) else None
    return f"XML error at line {line}" if line else "XML error"


def _well_formedness_error(data: bytes) -> Exception | None:
    """The strict XML error of a document (entities never resolved, no network), or None."""
    from lxml import etree  # type: ignore[import-untyped]  # fastfeedparser's own dependency

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        syntax_error: Exception = exc
        return syntax_error
    except Exception as exc:  # pragma: no cover - anything else is still "not a feed"
        return exc
    return None


@dataclass(slots=True)
class _Raw:
    """Parser output reduced to what we use, in feedparser's vocabulary."""

    feed: Mapping[str, Any]
    entries: list[Mapping[str, Any]]
    parser: str


def _get(d: Any, key: str) -> Any:
    # Parsers hand out plain dicts: test for those first (isinstance against the Mapping ABC
    # costs several times more, and this runs a few times per entry).
    if type(d) is dict or isinstance(d, Mapping):
        return d.get(key)
    return None


def _first_text(d: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        v = _as_str(d.get(key))
        if v:
            return v
    return None


def _content_html(e: Mapping[str, Any]) -> str | None:
    content = e.get("content")
    if isinstance(content, list):
        if len(content) == 1:  # the usual case; same result without building and joining
            return _as_str(_get(content[0], "value")) or None
        parts = [_as_str(_get(c, "value")) for c in content]
        joined = "\n".join(p for p in parts if p)
        return joined or None
    return _as_str(content)


def _image_of(e: Mapping[str, Any], html_sources: Iterable[str | None], base: str) -> str | None:
    """media:content → media:thumbnail → image enclosure → first <img> in the HTML."""
    for item in e.get("media_content") or []:
        url = _get(item, "url")
        typ = str(_get(item, "type") or "")
        medium = str(_get(item, "medium") or "")
        if url and (
            medium == "image"
            or typ.startswith("image/")
            or (not medium and not typ and _IMAGE_EXT_RE.search(str(url)))
        ):
            found = absolute_url(url, base)
            if found:
                return found
    for item in e.get("media_thumbnail") or []:
        found = absolute_url(_get(item, "url"), base)
        if found:
            return found
    enclosures = list(e.get("enclosures") or [])
    enclosures += [link for link in e.get("links") or [] if _get(link, "rel") == "enclosure"]
    for enc in enclosures:
        url = _get(enc, "href") or _get(enc, "url")
        typ = str(_get(enc, "type") or "")
        if url and (typ.startswith("image/") or (not typ and _IMAGE_EXT_RE.search(str(url)))):
            found = absolute_url(url, base)
            if found:
                return found
    for source in html_sources:
        if source and "<img" in source.lower():
            m = _IMG_SRC_RE.search(source[:200_000])
            if m:
                found = absolute_url(html.unescape(m.group(1)), base)
                if found:
                    return found
    return None


def _entry_link(e: Mapping[str, Any], base: str) -> str | None:
    link = absolute_url(e.get("link"), base)
    if link:
        return link
    for candidate in e.get("links") or []:
        if _get(candidate, "rel") in (None, "alternate"):
            link = absolute_url(_get(candidate, "href"), base)
            if link:
                return link
    guid = _as_str(e.get("id"))
    if guid and guid.startswith(("http://", "https://")) and e.get("guidislink", True):
        return absolute_url(guid, None)
    return None


def _author_of(e: Mapping[str, Any]) -> str | None:
    author = _first_text(e, "author")
    if not author:
        detail = e.get("author_detail")
        author = _as_str(_get(detail, "name")) or _as_str(_get(detail, "email"))
    if not author:
        for a in e.get("authors") or []:
            author = _as_str(_get(a, "name"))
            if author:
                break
    text = _short_html_to_text(author, AUTHOR_MAX) if author else ""
    return text or None


def _tags_of(e: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for t in e.get("tags") or []:
        term = _as_str(_get(t, "term")) or _as_str(_get(t, "label"))
        text = _short_html_to_text(term, TAG_MAX) if term else ""
        key = text.lower()
        if text and key not in seen:
            seen.add(key)
            out.append(text)
            if len(out) >= TAGS_PER_ENTRY:
                break
    return out


def _date_of(e: Mapping[str, Any], key: str, now: datetime) -> datetime | None:
    value = e.get(key)
    dt = parse_date(value, now=now) if value is not None else None  # "updated" is often absent
    if dt is None:
        parsed = e.get(key + "_parsed")
        if isinstance(parsed, time.struct_time):
            dt = parse_date(parsed, now=now)
    return dt


def _build_entry(
    e: Mapping[str, Any], base: str, language: str | None, now: datetime
) -> ParsedEntry | None:
    title_raw = _first_text(e, "title")
    summary_raw = _first_text(e, "summary", "description")
    content_raw = _content_html(e)
    title = html_to_text(title_raw, TITLE_MAX)
    # The same results as html_to_text() on each field, but when the content is the same HTML
    # as the summary (every RSS <description> read by fastfeedparser) it is converted once.
    summary_in = _html_input(summary_raw, SUMMARY_MAX) if summary_raw else ""
    summary_text = _strip_html(summary_in) if summary_in else ""
    content = ""
    if content_raw and _html_input(content_raw, CONTENT_MAX) == summary_in:
        summary, content = clean_text_pair(summary_text, SUMMARY_MAX, CONTENT_MAX)
    else:
        summary = clean_text(summary_text, SUMMARY_MAX)
        if content_raw:
            content = html_to_text(content_raw, CONTENT_MAX, keep_paragraphs=True)
    if not summary and content:
        summary = clean_text(content, SUMMARY_MAX)
    guid_raw = _as_str(e.get("id"))
    guid = clean_text(guid_raw, GUID_MAX) if guid_raw else ""
    link = _entry_link(e, base)
    if not (title or summary or link or guid):
        return None  # nothing a user could see or we could identify
    html_src = content_raw or summary_raw
    summary_html = clean_text_keep(html_src, SUMMARY_HTML_MAX) if html_src else None
    published = _date_of(e, "published", now)
    updated = _date_of(e, "updated", now)
    if published is None:
        published = updated
    return ParsedEntry(
        guid=guid or None,
        link=link,
        title=title,
        summary=summary,
        summary_html=summary_html,
        content=content or None,
        author=_author_of(e),
        published=published,
        updated=updated,
        image_url=_image_of(e, (content_raw, summary_raw), link or base),
        language=language,
        tags=_tags_of(e),
    )


def clean_text_keep(value: str, max_len: int) -> str:
    """HTML kept for the later sanitiser: controls removed and capped, otherwise untouched."""
    return _strip_xml_controls(value)[:max_len]


_LANG_RE = re.compile(r"<(?:dc:)?language>\s*([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8}){0,3})\s*<")
_XML_LANG_RE = re.compile(
    r"""<(?:rss|feed|rdf:RDF|channel)\b[^>]{0,2000}?\bxml:lang\s*=\s*["']([^"']{1,35})["']"""
)


def _language_of(feed: Mapping[str, Any], text: str) -> str | None:
    lang = _as_str(feed.get("language"))
    if not lang:
        m = _LANG_RE.search(text[:65536]) or _XML_LANG_RE.search(text[:65536])
        lang = m.group(1) if m else None
    lang = clean_text(lang, LANGUAGE_MAX) if lang else ""
    return lang.replace("_", "-").lower() or None


def _run_parsers(data: bytes, text: str, url: str) -> tuple[_Raw | None, BaseException | None]:
    """fastfeedparser first; feedparser when it fails, loses entries or xml:base is used."""
    expected_items = len(_ITEM_START_RE.findall(text))
    uses_xml_base = "xml:base" in text
    fast: _Raw | None = None
    error: BaseException | None = None
    if not uses_xml_base:
        try:
            r = _run_fastfeedparser(data)
            fast = _Raw(r.get("feed") or {}, list(r.get("entries") or []), "fastfeedparser")
        except Exception as exc:  # any failure → fallback
            error = exc
        if fast is not None and len(fast.entries) >= expected_items:
            return fast, None
    try:
        fp = _run_feedparser(data, url)
    except Exception as exc:  # feedparser is tolerant, but never trust that
        return fast, (exc if fast is None else None)
    # Plain dicts: FeedParserDict's key aliases ("updated" → "published") warn and mislead.
    slow = _Raw(
        dict(fp.get("feed") or {}),
        [dict(e) for e in fp.get("entries") or [] if isinstance(e, Mapping)],
        "feedparser",
    )
    if fast is not None and len(fast.entries) >= len(slow.entries):
        return fast, None
    if not slow.entries and not _as_str(slow.feed.get("title")) and fp.get("bozo"):
        return fast, fp.get("bozo_exception") or error
    return slow, None


def _sort_and_cap(entries: list[ParsedEntry], max_entries: int) -> list[ParsedEntry]:
    if any(e.published or e.updated for e in entries):
        floor = datetime.min.replace(tzinfo=UTC)
        entries = sorted(entries, key=lambda e: e.published or e.updated or floor, reverse=True)
    return entries[: max(0, max_entries)]


def parse_feed(
    body: bytes, *, url: str, content_type: str | None = None, max_entries: int = 100
) -> ParsedFeed:
    """Parse a feed document (pure: never fetches anything); raises :class:`FeedParseError`.

    ``url`` is the document's URL (final URL after redirects): relative links resolve against
    it (or against ``xml:base``). Entries come newest first when the feed has dates, else in
    document order, at most ``max_entries``. Any internal error becomes ``FeedParseError``.
    """
    try:
        return _parse_feed(body, url=url, content_type=content_type, max_entries=max_entries)
    except FeedParseError:
        raise
    except MemoryError:
        raise FeedParseError("parser out of memory") from None
    except RecursionError:
        raise FeedParseError("document nested too deeply") from None
    except Exception as exc:
        log.warning("unexpected parser failure for %s", url, exc_info=True)
        raise FeedParseError(f"parser failed ({type(exc).__name__})") from exc


def _parse_feed(body: bytes, *, url: str, content_type: str | None, max_entries: int) -> ParsedFeed:
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise FeedParseError("body is not bytes")
    body = bytes(body)
    notes: list[str] = []
    if len(body) > MAX_BODY_BYTES:
        body = body[:MAX_BODY_BYTES]
        notes.append(f"cut at {MAX_BODY_BYTES} bytes")
    if not body.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
        raise FeedParseError("empty document")

    text, _encoding, charset_note = decode_feed_bytes(body, content_type)
    if charset_note:
        notes.append(charset_note)
    stripped = text.lstrip("\ufeff \t\r\n\x00")
    if not stripped:
        raise FeedParseError("empty document")
    if stripped[0] in "{[":
        return _parse_json_feed(stripped, url=url, max_entries=max_entries, notes=notes)

    root = _root_name(stripped)
    if root is None:
        if "<" not in stripped[:4096]:
            raise FeedParseError("not a feed (plain text)")
        raise FeedParseError("not a feed (no XML element)")
    if root in ("html", "head", "body"):
        raise FeedParseError("not a feed (HTML page)")
    if root not in _FEED_ROOTS:
        raise FeedParseError(f"not a feed (root element <{root[:40]}>)")

    xml_text, sanitize_notes = sanitize_xml(stripped)
    notes.extend(sanitize_notes)
    data = xml_text.encode("utf-8", "replace")
    raw, error = _run_parsers(data, xml_text, url)
    if raw is None:
        raise FeedParseError(_xml_error_reason(error))
    if not raw.entries and not _as_str(raw.feed.get("title")):
        # Nothing recovered: a well-formed empty channel is a feed with nothing in it, but a
        # broken document deserves the reason (line number) rather than an empty result.
        problem = error if isinstance(error, Exception) else _well_formedness_error(data)
        if problem is not None:
            raise FeedParseError(_xml_error_reason(problem))
    return _assemble(raw, xml_text, url, max_entries, notes)


def _assemble(raw: _Raw, text: str, url: str, max_entries: int, notes: list[str]) -> ParsedFeed:
    now = datetime.now(UTC)
    feed = raw.feed
    language = _language_of(feed, text)
    feed_link = absolute_url(feed.get("link"), url)
    raw_entries = raw.entries
    # A document cut mid-item: lxml's recover mode returns the half item too. Keep only as
    # many entries (in document order) as there are closing tags.
    closed = len(_ITEM_END_RE.findall(text))
    if closed < len(raw_entries) and raw.parser != "json":
        notes.append(f"truncated document: {len(raw_entries) - closed} incomplete entries dropped")
        raw_entries = raw_entries[:closed]
    entries: list[ParsedEntry] = []
    # Bound the work: a 500-item feed does not need 500 normalisations to return 100.
    budget = max(max_entries * 5, 500)
    for e in raw_entries[:budget]:
        if type(e) is not dict and not isinstance(e, Mapping):
            continue
        entry = _build_entry(e, url, language, now)
        if entry is not None:
            entries.append(entry)
    return ParsedFeed(
        title=html_to_text(_as_str(feed.get("title")), TITLE_MAX),
        link=feed_link,
        language=language,
        entries=_sort_and_cap(entries, max_entries),
        parser=raw.parser,
        bozo="; ".join(notes)[:500] if notes else None,
    )


def _parse_json_feed(text: str, *, url: str, max_entries: int, notes: list[str]) -> ParsedFeed:
    """JSON Feed (jsonfeed.org) via fastfeedparser, which maps it to feedparser's vocabulary."""
    try:
        r = _run_fastfeedparser(text.encode("utf-8", "replace"))
    except Exception as exc:
        raise FeedParseError("not a feed (JSON that is not a JSON Feed)") from exc
    raw = _Raw(r.get("feed") or {}, list(r.get("entries") or []), "json")
    parsed = _assemble(raw, "", url, max_entries, notes)
    parsed.parser = "fastfeedparser"
    return parsed
