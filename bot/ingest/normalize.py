"""Pure normalisation helpers: canonical URLs, entry identities, content hashes, clean text.

Nothing here does I/O. The functions are shared by the parser (:mod:`bot.ingest.parse`), the
deduplication in the updater and the post formatter, so their outputs must stay *stable*:
changing ``canonical_url`` or ``entry_identity`` changes every stored identity and would make
the bot repost old items. Treat the behaviour as a storage format.

Decisions (documented here because they are visible in the database):

* Tracking parameters are removed, the remaining query parameters keep their **original order**
  (sorting would merge URLs that some sites treat as different, e.g. ordered filter lists, and
  buys little: feeds emit the same link byte-for-byte on every fetch).
* ``http`` and ``https`` are **not** unified: a site may serve different things on each, and the
  feed links the scheme it wants users to open.
* Path case and repeated slashes are kept: paths are case- and separator-sensitive.
* Percent-encoding is normalised: unreserved characters are decoded (``%7E`` → ``~``), the hex
  digits of the remaining escapes are upper-cased, and raw non-ASCII / spaces are escaped.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Sequence
from urllib.parse import SplitResult, quote, unquote, urlsplit, urlunsplit

from bot.ingest.types import ParsedEntry

__all__ = [
    "TRACKING_PARAMS",
    "assign_identities",
    "canonical_url",
    "clean_text",
    "clean_text_pair",
    "content_hash",
    "entry_identity",
    "site_of",
]

#: Exact query-parameter names dropped by :func:`canonical_url` (compared case-insensitively).
TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "ref",
        "ref_src",
        "ref_url",
        "cmpid",
        "_hsenc",
        "_hsmi",
        "ocid",
        "yclid",
        "spm",
        "scid",
        "soc_src",
        "soc_trk",
        "twclid",
        "vero_id",
        "_ga",
        "_gl",
        "mkt_tok",
        "oly_anon_id",
        "oly_enc_id",
        "rb_clickid",
        "s_cid",
        "wt.mc_id",
        "at_medium",
        "at_campaign",
    }
)
#: Query-parameter prefixes dropped by :func:`canonical_url`.
TRACKING_PREFIXES: tuple[str, ...] = ("utm_", "pk_", "mtm_", "hsa_")

_DEFAULT_PORTS = {"http": 80, "https": 443}
# RFC 3986 unreserved characters: percent-escapes of these are decoded.
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PCT_RE = re.compile(r"%([0-9A-Fa-f]{2})")
# Characters that may stay literal in a path / query component (everything else is escaped).
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_QUERY_SAFE = "/?:@!$'()*+,;-._~%"

# C0 controls except tab/newline/CR, DEL and C1 controls (C1 in feed text is mojibake, and
# PostgreSQL rejects NUL outright). Also the XML non-characters U+FFFE/U+FFFF.
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
_WS_RE = re.compile(r"\s+")
_NEWLINE_RUN_RE = re.compile(r"\n{3,}")
# Every character _CONTROL_RE removes plus every whitespace character (str.isspace) other than
# " " and "\n", in one class: a text without any is left as it is by the controls pass, and
# its lines need no whitespace collapsing unless they have double or outer spaces. Pinned
# against str.isspace() by tests/test_normalize.py.
_UNTIDY_CHAR_RE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufffe\uffff]"
)
_ELLIPSIS = "…"


# --------------------------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------------------------


def clean_text(s: str | None, max_len: int, *, keep_paragraphs: bool = False) -> str:
    """Make feed text safe to store and show: controls out, NFC, collapsed whitespace, capped.

    NUL and the other C0/C1 controls are removed (PostgreSQL rejects NUL, Telegram shows the
    rest as boxes). Whitespace runs become one space; with ``keep_paragraphs`` a blank line
    survives as ``"\\n\\n"`` and single newlines as ``"\\n"`` (full-content posts read better).
    Text longer than ``max_len`` is cut at a word boundary (when one is reasonably close) and
    ends with "…", so the result is never longer than ``max_len``.
    """
    if not s or max_len <= 0:
        return ""
    # Bound the work on hostile input before the O(n) passes below.
    if len(s) > max_len * 4 + 1024:
        s = s[: max_len * 4 + 1024]
    s = _safe_chars(s)
    # " ".join(s.split()) is _WS_RE.sub(" ", s).strip() (str.split and re's \s share
    # Py_UNICODE_ISSPACE), in one C call.
    s = _paragraphs(s) if keep_paragraphs else " ".join(s.split())
    return _cap(s, max_len)


def clean_text_pair(s: str | None, max_len: int, paragraphs_max_len: int) -> tuple[str, str]:
    """``(clean_text(s, max_len), clean_text(s, paragraphs_max_len, keep_paragraphs=True))``.

    The parser needs both forms of most entries' text (an RSS description is the summary and
    the content). Computed together, the controls and NFC pass runs once and the one-line
    form is derived from the paragraph form with two replacements instead of a split into
    words and a join.
    """
    if not s or max_len <= 0 or paragraphs_max_len <= 0:
        return clean_text(s, max_len), clean_text(s, paragraphs_max_len, keep_paragraphs=True)
    if len(s) > min(max_len, paragraphs_max_len) * 4 + 1024:
        # clean_text would cut the input of at least one of them: nothing to share.
        return clean_text(s, max_len), clean_text(s, paragraphs_max_len, keep_paragraphs=True)
    forms = _tidy_forms(s)
    if forms is None:
        paragraphs = _paragraphs(_safe_chars(s))
        line = _one_line(paragraphs)
    else:
        paragraphs, line = forms
    return _cap(line, max_len), _cap(paragraphs, paragraphs_max_len)


def _one_line(paragraphs: str) -> str:
    """``" ".join(paragraphs.split())`` for an output of :func:`_paragraphs`.

    Such a text has the words of its input in order, and its only whitespace is one space
    inside lines and one or two "\n" between them, none at the ends. Turning each of those
    runs into one space is what the split and join would do, and equals " ".join(s.split())
    of the text it came from.
    """
    return paragraphs.replace("\n\n", " ").replace("\n", " ")


def _tidy_forms(s: str) -> tuple[str, str] | None:
    """``(paragraphs, line)`` as :func:`clean_text_pair` computes them, for tidy text only.

    Text out of the HTML stripper usually has nothing for the controls/NFC pass to do and
    lines of single-spaced words; recognising that is cheaper than the passes. Returns None
    for any other text.
    """
    # A no-break space (&nbsp;) separates words exactly like " " in both forms, and neither
    # pass treats it differently (it is no control, and NFC leaves it and its neighbours be).
    t = s.replace("\xa0", " ") if "\xa0" in s else s
    if _UNTIDY_CHAR_RE.search(t) is not None:
        return None  # a control to remove, or whitespace other than " " and "\n"
    if not t.isascii() and not unicodedata.is_normalized("NFC", t):
        return None
    # So _safe_chars(t) is t. _paragraphs would collapse the spaces of each line and merge
    # blank lines, then strip: if, once blank lines are merged and the ends stripped, every
    # whitespace run is exactly " ", "\n" or "\n\n" (each becomes one space in the one-line
    # form, anything else two or more), the lines had nothing to collapse and this is it.
    paragraphs = (_NEWLINE_RUN_RE.sub("\n\n", t) if "\n\n\n" in t else t).strip()
    line = _one_line(paragraphs)
    if "  " in line:
        return None
    return paragraphs, line


def _safe_chars(s: str) -> str:
    """Controls removed, NFC: the character-level half of :func:`clean_text`."""
    if not s.isprintable():  # every character _CONTROL_RE removes is non-printable
        s = _CONTROL_RE.sub("", s)
    if not s.isascii() and not unicodedata.is_normalized("NFC", s):
        s = unicodedata.normalize("NFC", s)
    return s


def _paragraphs(s: str) -> str:
    """Whitespace of :func:`clean_text` with ``keep_paragraphs`` (before the length cap)."""
    if "\r" in s:
        s = s.replace("\r\n", "\n").replace("\r", "\n")
    # Per line, " ".join(line.split()) is what collapsing [^\S\n]+ to " " and stripping the
    # line did (neither crosses "\n"; str.split and re's \s share one definition of
    # whitespace), without a regex pass that made a match object for every space.
    s = "\n".join([" ".join(line.split()) for line in s.split("\n")])
    # With every line stripped, the only whitespace next to a "\n" is another "\n": what
    # _BLANK_LINES_RE (\n\s*\n\s*) turned into one blank line are the runs of two or more,
    # and only runs of three or more change.
    if "\n\n\n" in s:
        s = _NEWLINE_RUN_RE.sub("\n\n", s)
    return s.strip()


def _cap(s: str, max_len: int) -> str:
    if len(s) <= max_len:
        return s
    if max_len == 1:
        return _ELLIPSIS
    cut = s[: max_len - 1]
    # Back off to the last space unless that would lose more than max(30 chars, 20%).
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space >= max(1, (max_len - 1) - max(30, (max_len - 1) // 5)):
        cut = cut[:space]
    return cut.rstrip() + _ELLIPSIS


# --------------------------------------------------------------------------------------------
# URLs
# --------------------------------------------------------------------------------------------


def _normalise_pct(component: str, safe: str) -> str:
    """Decode escapes of unreserved chars, upper-case other escapes, escape raw unsafe chars."""

    def fix(m: re.Match[str]) -> str:
        ch = chr(int(m.group(1), 16))
        return ch if ch in _UNRESERVED else "%" + m.group(1).upper()

    component = _PCT_RE.sub(fix, component)
    # quote() leaves existing "%XX" alone because "%" is in safe; a stray "%" not followed by
    # two hex digits is escaped so that the result is a valid URI.
    component = re.sub(r"%(?![0-9A-F]{2})", "%25", component)
    return quote(component, safe=safe)


def _is_tracking(name: str) -> bool:
    return _is_tracking_name(unquote(name).lower())


def _idna_host(host: str) -> str:
    host = host.strip().rstrip(".").lower()
    if not host or host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        # Labels the codec rejects (too long, odd characters): keep them readable and stable.
        return quote(host, safe=".-")


def canonical_url(url: str) -> str:
    """The form of ``url`` used for deduplication (see the module docstring for the rules).

    Lower-cases scheme and host, encodes an internationalised host with IDNA, drops default
    ports, userinfo-free hosts are kept as is, drops the fragment, removes tracking parameters
    (``utm_*``, ``fbclid``, … — :data:`TRACKING_PARAMS`), keeps the remaining parameters in
    their original order, normalises percent-encoding and drops an empty ``?``. Input that is
    not an absolute URL is returned stripped and otherwise unchanged (never raises).
    """
    # Pure function of a string, called several times per entry (identity, dedup, drafts) and
    # once per entry for the feed's own URL: memoised.
    return _canonical_url(url)


# The common shape of a feed link: lower-case http(s) scheme and ASCII host, no userinfo, port
# or percent-escape, and only characters that quote() keeps as they are in the path (group 3)
# and the query (group 4). For such a URL every step of _canonical_url_general is the identity
# except dropping the fragment, adding the "/" path and filtering tracking parameters, so
# _canonical_url does just those without urlsplit/quote/urlunsplit (about 4× cheaper);
# tests/test_normalize.py checks both paths agree on a fuzzed corpus.
_SIMPLE_URL_RE = re.compile(
    r"(https?)://([a-z0-9-]+(?:\.[a-z0-9-]+)*)"
    r"(/[A-Za-z0-9_.~/:@!$&'()*+,;=-]*)?"
    r"(?:\?([A-Za-z0-9_.~/?:@!$&'()*+,;=-]*))?"
    r"(?:#.*)?",
    re.S,
)


@functools.lru_cache(maxsize=8192)
def _canonical_url(url: str) -> str:
    url = url.strip()
    m = _SIMPLE_URL_RE.fullmatch(url)
    if m is None:
        return _canonical_url_general(url)
    scheme, host, path, query = m.groups()
    out = f"{scheme}://{host}{path or '/'}"
    if query:
        kept = [
            pair
            for pair in query.split("&")
            # No "%" in the query, so unquote() in _is_tracking would be the identity.
            if pair and not _is_tracking_name(pair.split("=", 1)[0].lower())
        ]
        if kept:
            out += "?" + "&".join(kept)
    return out


def _is_tracking_name(lowered: str) -> bool:
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def _canonical_url_general(url: str) -> str:
    """:func:`canonical_url` of a stripped URL of any shape (the reference implementation)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if not scheme or not parts.netloc:
        return url
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else _idna_host(host)  # ":" → IPv6 literal
    netloc = host
    if parts.username is not None:
        userinfo = parts.username + (f":{parts.password}" if parts.password is not None else "")
        netloc = f"{userinfo}@{host}"
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc = f"{netloc}:{port}"

    path = _normalise_pct(parts.path, _PATH_SAFE)
    if not path and scheme in _DEFAULT_PORTS:
        path = "/"

    kept: list[str] = []
    for pair in parts.query.split("&") if parts.query else []:
        if not pair:
            continue
        name = pair.split("=", 1)[0]
        if _is_tracking(name):
            continue
        kept.append(_normalise_pct(pair, _QUERY_SAFE + "="))
    query = "&".join(kept)
    return urlunsplit(SplitResult(scheme, netloc, path, query, ""))


_MULTI_PART_SUFFIXES = frozenset(
    {
        "co.uk",
        "org.uk",
        "ac.uk",
        "gov.uk",
        "co.jp",
        "ne.jp",
        "or.jp",
        "ac.jp",
        "com.au",
        "net.au",
        "org.au",
        "gov.au",
        "co.nz",
        "com.br",
        "com.cn",
        "com.tw",
        "co.in",
        "co.za",
        "com.mx",
        "com.ar",
        "com.tr",
        "co.kr",
        "com.sg",
        "com.ua",
        "org.ru",
        "msk.ru",
        "spb.ru",
        "gc.ca",
        "gouv.fr",
    }
)
# Hosts where every sub-domain is a different publisher.
_SHARED_HOSTING = frozenset(
    {
        "blogspot.com",
        "wordpress.com",
        "substack.com",
        "medium.com",
        "github.io",
        "tumblr.com",
        "livejournal.com",
    }
)


# "http(s)://host[:port]" followed by the end of the netloc: group 1 is what urlsplit() would
# return as the host name (before lower-casing), without the cost of urlsplit().
_SIMPLE_HOST_RE = re.compile(r"https?://([A-Za-z0-9.-]+)(?::[0-9]*)?(?:[/?#]|\Z)")
_IP_LIKE_RE = re.compile(r"[0-9.]+")


def site_of(url: str) -> str:
    """A short "registrable-looking" domain for attribution ("According to spacenews.com").

    Heuristic, no public-suffix list: the last two labels, or three when the last two form a
    common two-level suffix (``bbc.co.uk``) or a shared-hosting domain where the sub-domain is
    the publisher (``someone.substack.com``). ``www.`` is dropped; IP addresses are returned
    as is; an unparseable URL gives "".
    """
    # Called for every entry with the entry's link (nearly always a new URL), so the cache is
    # keyed by host: a feed's links share one or two hosts.
    url = url.strip()
    m = _SIMPLE_HOST_RE.match(url)
    if m is not None:
        return _site_of_host(m.group(1))
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return _site_of_host(host)


@functools.lru_cache(maxsize=4096)
def _site_of_host(host: str) -> str:
    host = host.rstrip(".").lower()
    if not host:
        return ""
    if ":" in host or _IP_LIKE_RE.fullmatch(host):
        return host
    labels = host.split(".")
    if labels[0] == "www" and len(labels) > 2:
        labels = labels[1:]
    if len(labels) <= 2:
        return ".".join(labels)
    last_two = ".".join(labels[-2:])
    if last_two in _MULTI_PART_SUFFIXES or last_two in _SHARED_HOSTING:
        return ".".join(labels[-3:])
    return last_two


# --------------------------------------------------------------------------------------------
# Identity and hashing
# --------------------------------------------------------------------------------------------


def _sha256(*parts: str) -> str:
    # Each part is length-prefixed so ("ab", "c") and ("a", "bc") never collide: the digest is
    # of b"<len>:<utf-8 bytes>" for every part in turn. The digests are stored, so this byte
    # stream must never change; it is built in one buffer and hashed with a single update
    # (cheaper than str(len).encode() + concatenation + update per part).
    buf: list[bytes] = []
    for part in parts:
        data = part.encode("utf-8", "surrogatepass")
        buf.append(b"%d:" % len(data))
        buf.append(data)
    return hashlib.sha256(b"".join(buf)).hexdigest()


def _norm(s: str | None) -> str:
    """NFC with whitespace runs collapsed to one space and trimmed: ``" ".join(s.split())``.

    Hashed for every entry, and the texts usually come from :func:`clean_text` already in
    that form (summary) or with one or two "\\n" between lines of single-spaced words
    (content): splitting them into words only to join them again was the main cost of
    :func:`content_hash`, so those shapes are recognised and flattened directly.
    """
    if not s:
        return ""
    if not s.isascii() and not unicodedata.is_normalized("NFC", s):
        s = unicodedata.normalize("NFC", s)
    # The only whitespace isprintable() accepts is the ASCII space (every other isspace()
    # character is a control or a separator), so a printable text without double, leading or
    # trailing spaces is exactly what the split/join would produce.
    if s.isprintable():
        if "  " not in s and s[0] != " " and s[-1] != " ":
            return s
    elif "\n" in s and _UNTIDY_CHAR_RE.search(s) is None:
        # Whitespace is only " " and "\n": reading each "\n" or "\n\n" as one space keeps
        # the words; if that leaves single spaces only, it is the split/join.
        flat = s.replace("\n\n", " ").replace("\n", " ")
        if "  " not in flat and flat[0] != " " and flat[-1] != " ":
            return flat
    return " ".join(s.split())  # == _WS_RE.sub(" ", s).strip()


def _feed_scope(feed_url: str) -> str:
    """The feed part of guid and content keys (computed once per document by the callers)."""
    return canonical_url(feed_url) if feed_url else ""


def _guid_key(scope: str, guid: str) -> str:
    return _sha256("guid", scope, guid.strip())


def _link_key(link: str) -> str:
    # Links are globally meaningful, so they are *not* scoped to the feed: the same article
    # reached through two feeds of one site gets one identity.
    return _sha256("link", canonical_url(link))


def _content_key(scope: str, entry: ParsedEntry) -> str:
    published = entry.published.isoformat() if entry.published else ""
    return _sha256("content", scope, _norm(entry.title), _norm(entry.summary), published)


def entry_identity(feed_url: str, entry: ParsedEntry) -> str:
    """Stable identity (sha256 hex) of an entry: guid → canonical link → content.

    The guid is scoped to the feed URL because guids are only unique per feed (two feeds may
    both number their items "1", "2", …). Without a guid the canonical link identifies the
    item; without either, a hash of title + summary + published date (scoped to the feed).
    For a whole document use :func:`assign_identities`, which also handles feeds that reuse
    one guid for every item.
    """
    if entry.guid and entry.guid.strip():
        return _guid_key(_feed_scope(feed_url), entry.guid)
    if entry.link and entry.link.strip():
        return _link_key(entry.link)
    return _content_key(_feed_scope(feed_url), entry)


def assign_identities(
    feed_url: str, entries: Sequence[ParsedEntry]
) -> list[tuple[str, ParsedEntry]]:
    """Identities for one parsed document, robust to guids shared between items.

    A guid used by more than one entry in the same document cannot identify any of them (some
    CMSs emit the site URL as every item's guid): those entries fall back to their canonical
    link, and to the content hash when the link is shared or missing too. Exact duplicates —
    same guid *and* same link (or, without either, same content) — keep the first occurrence
    only, as reader does ("duplicate ids in one feed: first wins"). Order is preserved.
    """
    guid_counts: dict[str, int] = {}
    for e in entries:
        if e.guid and e.guid.strip():
            g = e.guid.strip()
            guid_counts[g] = guid_counts.get(g, 0) + 1

    # Within a shared guid, a link is only usable if it is also distinct.
    # Count distinct (guid, link) pairs, so an exact duplicate does not spoil its link.
    shared_pairs: set[tuple[str, str]] = set()
    for e in entries:
        g = (e.guid or "").strip()
        if g and guid_counts[g] > 1 and e.link and e.link.strip():
            shared_pairs.add((g, canonical_url(e.link)))
    shared_link_counts: dict[str, int] = {}
    for _g, key in shared_pairs:
        shared_link_counts[key] = shared_link_counts.get(key, 0) + 1

    scope = _feed_scope(feed_url)  # once per document, not once per entry
    seen_exact: set[tuple[str, str]] = set()
    seen_ids: set[str] = set()
    out: list[tuple[str, ParsedEntry]] = []
    for e in entries:
        g = (e.guid or "").strip()
        link = canonical_url(e.link) if e.link and e.link.strip() else ""
        # Exact duplicate: same guid and same link (same content when there is no link).
        exact = (g, link or _content_key(scope, e))
        if exact in seen_exact:
            continue  # exact duplicate: first wins
        seen_exact.add(exact)
        if g and guid_counts[g] == 1:
            ident = _guid_key(scope, g)
        elif g:
            # Shared guid: link when distinct within the document, else content.
            if link and shared_link_counts.get(link, 0) == 1:
                ident = _link_key(link)
            else:
                ident = _sha256("guid+content", _guid_key(scope, g), _content_key(scope, e))
        elif link:
            ident = _link_key(link)
        else:
            ident = _content_key(scope, e)
        if ident in seen_ids:
            continue  # identical content under different keys: keep the first
        seen_ids.add(ident)
        out.append((ident, e))
    return out


def content_hash(entry: ParsedEntry) -> str:
    """sha256 hex of the normalised title + summary + content, to detect edited items.

    Whitespace and Unicode normalisation differences do not count as edits (feeds re-render
    their HTML often); any change of words does.
    """
    return _sha256("v1", _norm(entry.title), _norm(entry.summary), _norm(entry.content))
