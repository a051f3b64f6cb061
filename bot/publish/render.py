"""Render a story into a Telegram post (``parse_mode=HTML``): a pure function, no I/O.

Why so defensive: every string here comes from somebody else's feed.  One bare ``&`` in a title,
one ``<img>`` in a summary, one ``javascript:`` link, or one emoji too many at the caption limit,
and Telegram answers ``400 can't parse entities`` / ``message is too long`` — the post is lost.
So: feed text is escaped, feed HTML goes through a real sanitizer (nh3, i.e. Ammonia) and is then
re-serialised by our own walker that can only emit Telegram's tag subset, only http(s) links
survive, and every length is counted in UTF-16 units on the *visible* text, which we compute
alongside the HTML instead of re-parsing it.

Layout::

    <b><a href="URL">Title</a></b>

    Summary …

    According to <a href="URL">spacenews.com</a> · Also reported by <a href="…">x</a>, …
    #ChangE6 #CNSA
    Follow us: <a href="…">Telegram</a> · <a href="…">X</a>
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from html.parser import HTMLParser
from typing import Any, Final, Literal
from urllib.parse import urlsplit, urlunsplit

import nh3

from .textlimits import clean_text, collapse_spaces, shorten_text, utf16_len, utf16_prefix

__all__ = [
    "MAX_CAPTION",
    "MAX_TEXT",
    "FollowLink",
    "PostContent",
    "RenderedPost",
    "hashtag",
    "html_to_plain",
    "parse_follow_us",
    "render_post",
    "safe_url",
    "sanitize_feed_html",
    "utf16_len",
]

MAX_TEXT: Final = 4096
MAX_CAPTION: Final = 1024

#: Caps for feed-controlled pieces, so no single field can crowd out the summary.
MAX_TITLE: Final = 300
MAX_SITE: Final = 64
MAX_ALSO_REPORTED: Final = 5
MAX_HASHTAGS: Final = 12
MAX_HASHTAG_LEN: Final = 64
MAX_URL: Final = 2048
#: Feed HTML beyond this is ignored: a summary never needs more, and it bounds sanitizer time.
MAX_FEED_HTML: Final = 200_000
#: A caption summary shorter than this (or than two thirds of the full one) is not worth
#: keeping the photo for; the post becomes a text message with a large image preview instead.
MIN_CAPTION_SUMMARY: Final = 200
#: In text messages a summary squeezed below this is dropped rather than shown as a stub.
MIN_TEXT_SUMMARY: Final = 40

_DOT: Final = " · "

# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class FollowLink:
    """One entry of the channel's "Follow us" footer (from the ``FOLLOW_US`` setting)."""

    label: str
    url: str


@dataclass(frozen=True)
class PostContent:
    """Everything a post shows; fields hold raw feed values, rendering escapes them."""

    title: str
    url: str
    summary: str = ""
    source_site: str = ""
    also_reported: tuple[tuple[str, str], ...] = ()
    hashtags: tuple[str, ...] = ()
    image_url: str | None = None
    published_at: datetime | None = None
    summary_html: str | None = None


@dataclass(frozen=True)
class RenderedPost:
    """A post ready for the Bot API.

    ``kind == "photo"``: ``sendPhoto(photo=photo_url, caption=html)``.  ``kind == "text"``:
    ``sendMessage(text=html, link_preview_options=LinkPreviewOptions(**link_preview))``.
    ``plain`` is the same post without markup (the article URL on the line after the title),
    for dry runs and for resending without ``parse_mode`` after "can't parse entities"; it fits
    the same limit as ``html``.
    """

    kind: Literal["photo", "text"]
    html: str
    photo_url: str | None
    link_preview: dict[str, Any] | None
    plain: str


# --------------------------------------------------------------------------- URLs

# What Telegram accepts as a link host (mirrors TDLib's check): no IPv6 literals, no userinfo.
_HOST_RE = re.compile(r"^[A-Za-z0-9._~%-]+(?::\d{1,5})?$")


def safe_url(url: str | None) -> str | None:
    """Return ``url`` if it is an http(s) URL Telegram will keep as a link, else ``None``.

    Rejects other schemes (``javascript:``, ``data:``, ``mailto:``), relative URLs, whitespace,
    credentials in the host (``https://user@evil``) and IPv6 literals; internationalised host
    names are converted to punycode, because Telegram refuses raw non-ASCII hosts.
    """
    if not url:
        return None
    url = url.strip()
    if (
        not url
        or utf16_len(url) > MAX_URL
        or any(ch.isspace() or unicodedata.category(ch)[0] == "C" for ch in url)
    ):
        return None
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.scheme.lower() not in {"http", "https"} or not netloc or "@" in netloc:
            return None
        if not netloc.isascii():
            host, sep, port = netloc.partition(":")
            netloc = host.encode("idna").decode("ascii") + sep + port
            url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
        _ = parts.port  # raises ValueError on a malformed or out-of-range port
    except (ValueError, UnicodeError):
        return None
    host = netloc.rsplit(":", 1)[0] if ":" in netloc else netloc
    if not _HOST_RE.match(netloc) or not any(ch.isalnum() for ch in host):
        return None
    return url


def _host_label(url: str | None) -> str:
    """``https://www.spacenews.com/x`` → ``spacenews.com`` (for a missing source site)."""
    if not url:
        return ""
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.")


# --------------------------------------------------------------------------- FOLLOW_US


def parse_follow_us(value: str) -> list[FollowLink]:
    """Parse ``"Telegram=https://t.me/orbitwire,X=https://x.com/orbitwire"``.

    Raises :class:`ValueError` naming the bad entry, so a typo fails at start-up rather than
    producing a footer with a dead or dangerous link.  Empty input means "no footer".  Entries
    are separated by commas; the first ``=`` separates label and URL (URLs may contain ``=``).
    """
    links: list[FollowLink] = []
    seen: set[str] = set()
    for raw in value.split(","):
        entry = raw.strip()
        if not entry:
            continue
        label, sep, url = entry.partition("=")
        label = collapse_spaces(label, keep_newlines=False)
        url = url.strip()
        if not sep or not label or not url:
            raise ValueError(
                f"FOLLOW_US entry {entry!r} must look like 'Label=https://…' "
                "(entries separated by commas)"
            )
        if utf16_len(label) > 32:
            raise ValueError(f"FOLLOW_US label {label!r} is longer than 32 characters")
        safe = safe_url(url)
        if safe is None:
            raise ValueError(
                f"FOLLOW_US entry {label!r}: {url!r} is not an absolute http(s) URL "
                "Telegram can link to"
            )
        if label.casefold() in seen:
            raise ValueError(f"FOLLOW_US label {label!r} appears twice")
        seen.add(label.casefold())
        links.append(FollowLink(label, safe))
    return links


# --------------------------------------------------------------------------- hashtags


def _is_tag_char(ch: str) -> bool:
    # Letters of any script, decimal digits and combining marks (needed by Indic scripts).
    category = unicodedata.category(ch)
    return category[0] == "L" or category in {"Nd", "Mn", "Mc"}


def hashtag(name: str, *, digit_prefix: str = "_") -> str | None:
    """Turn a mission/agency name into a Telegram hashtag: ``"Chang'e-6"`` → ``"#ChangE6"``.

    Words (split at anything that is not a letter, digit or mark — apostrophes, hyphens,
    spaces) are joined in CamelCase so the tag stays readable; letters of any script are kept
    (Telegram hashtags are Unicode).  A tag must not start with a digit, so ``digit_prefix``
    is put in front (``"2024 YR4"`` → ``"#_2024YR4"``).  Returns ``None`` when nothing usable
    is left (no letter at all).
    """
    words: list[str] = []
    current: list[str] = []
    for ch in clean_text(name):
        if _is_tag_char(ch) and (current or unicodedata.category(ch)[0] != "M"):
            current.append(ch)
        elif current:
            words.append("".join(current))
            current = []
    if current:
        words.append("".join(current))
    if not words or not any(unicodedata.category(ch)[0] == "L" for w in words for ch in w):
        return None
    parts: list[str] = []
    for index, word in enumerate(words):
        keep_case = index == 0 and any(ch.isupper() for ch in word[1:])  # eROSITA, iSpace
        parts.append(word if keep_case else word[0].upper() + word[1:])
    tag = "".join(parts)
    if unicodedata.category(tag[0]) == "Nd":
        tag = digit_prefix + tag
    return "#" + utf16_prefix(tag, MAX_HASHTAG_LEN)


# --------------------------------------------------------------------------- feed HTML

#: Telegram tags a feed summary may keep, mapped to the one spelling we emit.
_INLINE_TAGS: Final = {
    "b": "b",
    "strong": "b",
    "i": "i",
    "em": "i",
    "u": "u",
    "ins": "u",
    "s": "s",
    "strike": "s",
    "del": "s",
    "code": "code",
    "pre": "pre",
    "a": "a",
    "blockquote": "blockquote",
}
#: Block tags that become line breaks (value: newlines around them); their markup is dropped.
_BLOCK_TAGS: Final = {
    "p": 2,
    "div": 1,
    "section": 2,
    "article": 2,
    "header": 1,
    "footer": 1,
    "h1": 2,
    "h2": 2,
    "h3": 2,
    "h4": 2,
    "h5": 2,
    "h6": 2,
    "ul": 1,
    "ol": 1,
    "li": 1,
    "dl": 1,
    "dt": 1,
    "dd": 1,
    "table": 1,
    "tr": 1,
    "figure": 1,
    "pre": 1,
    "blockquote": 1,
}
_VOID_BREAKS: Final = {"br": 1, "hr": 2}
#: Tags whose *content* is dropped too: code, styling, and image credits in <figcaption>.
_DROP_CONTENT: Final = frozenset(
    {"script", "style", "figcaption", "noscript", "template", "iframe", "object", "svg", "math"}
)
_NH3_TAGS: Final = frozenset(_INLINE_TAGS) | frozenset(_BLOCK_TAGS) | frozenset(_VOID_BREAKS)
_COLLAPSE_RE = re.compile(r"[ \t\r\n\f]+")


@dataclass
class _Text:
    value: str
    raw: bool = False  # inside <pre>: keep whitespace


@dataclass
class _Break:
    newlines: int
    value: str = ""


@dataclass
class _Elem:
    tag: str
    href: str | None = None
    children: list[_Text | _Break | _Elem] = field(default_factory=list)


class _TreeBuilder(HTMLParser):
    """Walk nh3's (well-formed) output and build a tree of Telegram-safe elements.

    Why a second pass after nh3: Ammonia guarantees well-formed, tag-filtered HTML, but not
    Telegram's rules — it keeps ``&nbsp;`` (Telegram: "unsupported entity"), ``<a>`` without
    href, links nested in links, and formatting inside ``<pre>`` that Telegram drops.  Text is
    decoded here (``convert_charrefs``) and re-escaped on output, so the only references we emit
    are ``&amp; &lt; &gt; &quot;`` and ``&#x27;``.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Elem("")
        self._stack: list[_Elem] = [self.root]
        self._open: list[tuple[str, bool]] = []  # (source tag, pushed an element?)

    def _inside(self, *tags: str) -> bool:
        return any(elem.tag in tags for elem in self._stack)

    def _break(self, newlines: int) -> None:
        self._stack[-1].children.append(_Break(newlines))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID_BREAKS:
            self._break(_VOID_BREAKS[tag])
            return
        if tag in _BLOCK_TAGS:
            self._break(_BLOCK_TAGS[tag])
        if tag == "li":
            self._stack[-1].children.append(_Text("• "))
        canonical = _INLINE_TAGS.get(tag)
        pushed = False
        if canonical is not None and not self._inside("code", "pre"):
            href = safe_url(dict(attrs).get("href")) if canonical == "a" else None
            allowed = not self._inside(canonical) and (canonical != "a" or href is not None)
            if canonical in {"pre", "blockquote"}:
                # Telegram has no block entity inside a blockquote/pre.
                allowed = allowed and not self._inside("blockquote", "pre")
            if allowed:
                elem = _Elem(canonical, href)
                self._stack[-1].children.append(elem)
                self._stack.append(elem)
                pushed = True
        self._open.append((tag, pushed))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID_BREAKS:
            self._break(_VOID_BREAKS[tag])

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID_BREAKS:
            return
        # nh3 output is well-formed, but stay robust: unwind to the matching start tag.
        while self._open:
            source, pushed = self._open.pop()
            if pushed:
                self._stack.pop()
            if source in _BLOCK_TAGS:
                self._break(_BLOCK_TAGS[source])
            if source == tag:
                break

    def handle_data(self, data: str) -> None:
        data = clean_text(data)
        if self._inside("pre"):
            self._stack[-1].children.append(_Text(data, raw=True))
        else:
            self._stack[-1].children.append(_Text(_COLLAPSE_RE.sub(" ", data)))


def _leaves(elem: _Elem) -> list[_Text | _Break]:
    out: list[_Text | _Break] = []
    for child in elem.children:
        if isinstance(child, _Elem):
            out.extend(_leaves(child))
        else:
            out.append(child)
    return out


def _normalise_whitespace(root: _Elem) -> None:
    """Turn breaks into newlines, collapse spaces across tags, trim both ends (in place)."""
    emitted: list[_Text] = []
    pending: _Break | None = None
    for leaf in _leaves(root):
        if isinstance(leaf, _Break):
            if emitted and (pending is None or leaf.newlines > pending.newlines):
                if pending is not None:
                    pending.value = ""
                pending = leaf
            continue
        value = leaf.value
        at_line_start = pending is not None or not emitted or emitted[-1].value.endswith(" ")
        if not leaf.raw and at_line_start:
            value = value.lstrip(" ")
        if not value:
            leaf.value = ""
            continue
        if pending is not None:
            for previous in reversed(emitted):
                previous.value = previous.value.rstrip(" ")
                if previous.value:
                    break
            pending.value = "\n" * min(pending.newlines, 2)
            pending = None
        leaf.value = value
        emitted.append(leaf)
    for previous in reversed(emitted):
        previous.value = previous.value.rstrip()
        if previous.value:
            break


def _serialise(elem: _Elem) -> tuple[str, str]:
    """``(telegram_html, visible_text)``; elements with no visible text lose their tags."""
    html_parts: list[str] = []
    text_parts: list[str] = []
    for child in elem.children:
        if isinstance(child, _Elem):
            child_html, child_text = _serialise(child)
        else:
            child_html, child_text = html.escape(child.value, quote=False), child.value
        html_parts.append(child_html)
        text_parts.append(child_text)
    inner_html, text = "".join(html_parts), "".join(text_parts)
    if not elem.tag or not text.strip():
        return inner_html, text
    if elem.tag == "a":
        return f'<a href="{html.escape(elem.href or "", quote=True)}">{inner_html}</a>', text
    return f"<{elem.tag}>{inner_html}</{elem.tag}>", text


def _sanitize(feed_html: str) -> tuple[str, str]:
    cleaned = nh3.clean(
        clean_text(feed_html[:MAX_FEED_HTML]),
        tags=set(_NH3_TAGS),
        clean_content_tags=set(_DROP_CONTENT),
        attributes={"a": {"href"}},
        url_schemes={"http", "https"},
        url_relative="deny",
        link_rel=None,
        strip_comments=True,
    )
    builder = _TreeBuilder()
    builder.feed(cleaned)
    builder.close()
    _normalise_whitespace(builder.root)
    return _serialise(builder.root)


def sanitize_feed_html(feed_html: str) -> str:
    """Reduce feed HTML to Telegram's tag subset (b i u s code pre a blockquote).

    Paragraphs, ``<br>`` and list items become line breaks; images, scripts, styles and
    figure captions (image credits) disappear; links keep only an http(s) ``href``; named
    entities such as ``&nbsp;`` become characters.  The result always passes Telegram's
    ``parse_mode=HTML`` parser.
    """
    return _sanitize(feed_html)[0]


def html_to_plain(feed_html: str) -> str:
    """The visible text of feed HTML, with paragraph breaks (input for the summarizer)."""
    return _sanitize(feed_html)[1]


# --------------------------------------------------------------------------- assembly


@dataclass(frozen=True)
class _Piece:
    """A fragment of the post: its HTML and exactly the text Telegram will display."""

    html: str
    text: str

    @property
    def size(self) -> int:
        return utf16_len(self.text)


def _plain_piece(text: str) -> _Piece:
    return _Piece(html.escape(text, quote=False), text)


def _link(label: str, url: str | None) -> _Piece:
    if url is None:
        return _plain_piece(label)
    return _Piece(
        f'<a href="{html.escape(url, quote=True)}">{html.escape(label, quote=False)}</a>', label
    )


def _concat(*pieces: _Piece) -> _Piece:
    return _Piece("".join(p.html for p in pieces), "".join(p.text for p in pieces))


def _join(pieces: Sequence[_Piece], sep: str) -> _Piece:
    out: list[_Piece] = []
    for piece in pieces:
        if out:
            out.append(_plain_piece(sep))
        out.append(piece)
    return _concat(*out)


@dataclass(frozen=True)
class _Parts:
    title: str
    url: str | None
    source: _Piece | None
    also: tuple[_Piece, ...]
    hashtags: str
    footer: _Piece | None

    def title_piece(self) -> _Piece:
        link = _link(self.title, self.url)
        return _Piece(f"<b>{link.html}</b>", link.text)

    def meta(self) -> _Piece | None:
        lines: list[_Piece] = []
        line: list[_Piece] = []
        if self.source is not None:
            line.append(_concat(_plain_piece("According to "), self.source))
        if self.also:
            label = "Also reported by " if line else "Reported by "
            line.append(_concat(_plain_piece(label), _join(self.also, ", ")))
        if line:
            lines.append(_join(line, _DOT))
        if self.hashtags:
            lines.append(_plain_piece(self.hashtags))
        if self.footer is not None:
            lines.append(self.footer)
        return _join(lines, "\n") if lines else None

    def compose(self, summary: _Piece | None) -> _Piece:
        blocks = [self.title_piece()]
        if summary is not None and summary.text:
            blocks.append(summary)
        meta = self.meta()
        if meta is not None:
            blocks.append(meta)
        return _join(blocks, "\n\n")


def _single_line(value: str, limit: int) -> str:
    return shorten_text(collapse_spaces(value, keep_newlines=False), limit)


def _prepare(content: PostContent, follow: Sequence[FollowLink]) -> _Parts:
    url = safe_url(content.url)
    site = _single_line(content.source_site, MAX_SITE) or _host_label(url)
    title = _single_line(content.title, MAX_TITLE) or site or "Untitled story"

    also: list[_Piece] = []
    # The story's own outlet is never "also" reporting it, whatever name the feed gives it.
    seen = {name.casefold() for name in (site, _host_label(url)) if name}
    for other_site, other_url in content.also_reported:
        other_safe = safe_url(other_url)
        label = _single_line(other_site, MAX_SITE) or _host_label(other_safe)
        keys = {name.casefold() for name in (label, _host_label(other_safe)) if name}
        if label and not keys & seen and len(also) < MAX_ALSO_REPORTED:
            seen |= keys
            also.append(_link(label, other_safe))

    tags: list[str] = []
    seen_tags: set[str] = set()
    for name in content.hashtags:
        tag = hashtag(name)
        if tag and tag.casefold() not in seen_tags and len(tags) < MAX_HASHTAGS:
            seen_tags.add(tag.casefold())
            tags.append(tag)

    footer_links = [
        _link(label, safe_url(link.url))
        for link in follow
        if (label := _single_line(link.label, MAX_SITE))
    ]
    footer = (
        _concat(_plain_piece("Follow us: "), _join(footer_links, _DOT)) if footer_links else None
    )
    return _Parts(
        title=title,
        url=url,
        source=_link(site, url) if site else None,
        also=tuple(also),
        hashtags=" ".join(tags),
        footer=footer,
    )


def _summary(content: PostContent) -> tuple[_Piece | None, str]:
    """The summary as ``(piece, plain)``: sanitized feed HTML if usable, else escaped text."""
    if content.summary_html:
        sanitized_html, plain = _sanitize(content.summary_html)
        if plain.strip():
            return _Piece(sanitized_html, plain), plain
    plain = collapse_spaces(content.summary)
    return (_plain_piece(plain), plain) if plain else (None, "")


def _fit(
    parts: _Parts, summary: _Piece | None, plain: str, limit: int, min_summary: int
) -> _Piece | None:
    """The post within ``limit``, shortening the summary if needed; ``None`` if impossible."""
    full = parts.compose(summary)
    if full.size <= limit:
        return full
    base = parts.compose(None)
    if not plain or base.size > limit:
        return None
    room = limit - base.size - 2  # the blank line before the summary
    if room < min_summary:
        return None
    short = shorten_text(plain, room)
    return parts.compose(_plain_piece(short)) if short else None


def _fit_text(parts: _Parts, summary: _Piece | None, plain: str, limit: int) -> _Piece:
    """Fit a text message, giving up the least important parts first if it must."""
    variants = [
        parts,
        replace(parts, hashtags=""),
        replace(parts, hashtags="", also=()),
        replace(parts, hashtags="", also=(), footer=None),
    ]
    for variant in variants:  # the summary matters more than hashtags and the footer
        fitted = _fit(variant, summary, plain, limit, MIN_TEXT_SUMMARY)
        if fitted is not None:
            return fitted
    for variant in variants:
        if variant.compose(None).size <= limit:
            return variant.compose(None)
    # Only absurd limits or settings get here: the title alone, shortened.
    bare = replace(variants[-1], source=None)
    title_room = max(1, limit)
    return replace(bare, title=shorten_text(bare.title, title_room) or "…").compose(None)


def _with_url_line(text: str, title: str, url: str | None, limit: int) -> str:
    """The plain fallback: the visible text plus the article URL under the title, if it fits."""
    if url and text.startswith(title) and utf16_len(text) + 1 + utf16_len(url) <= limit:
        return f"{title}\n{url}{text[len(title) :]}"
    return text


def render_post(
    content: PostContent,
    follow: Sequence[FollowLink] = (),
    *,
    max_text: int = MAX_TEXT,
    max_caption: int = MAX_CAPTION,
) -> RenderedPost:
    """Render ``content`` as a photo with caption or a text message, always valid and in limits.

    With an image: a photo when the caption fits ``max_caption`` (visible UTF-16 units), also
    after shortening the summary if a useful summary remains; otherwise a text message whose
    link preview shows the image large above the text.  Without an image: a text message
    previewing the article.  Over-long texts lose summary words first, then hashtags, "also
    reported", and the footer.
    """
    parts = _prepare(content, follow)
    summary, plain = _summary(content)
    image = safe_url(content.image_url)

    if image is not None:
        min_caption = min(MIN_CAPTION_SUMMARY, (utf16_len(plain) * 2 + 2) // 3)
        caption = _fit(parts, summary, plain, max_caption, max(min_caption, 1))
        if caption is not None:
            return RenderedPost(
                kind="photo",
                html=caption.html,
                photo_url=image,
                link_preview=None,
                plain=_with_url_line(caption.text, parts.title, parts.url, max_caption),
            )
        preview: dict[str, Any] = {
            "url": image,
            "prefer_large_media": True,
            "show_above_text": True,
        }
    elif parts.url is not None:
        preview = {"url": parts.url, "prefer_large_media": True, "show_above_text": False}
    else:
        preview = {"is_disabled": True}

    text = _fit_text(parts, summary, plain, max_text)
    return RenderedPost(
        kind="text",
        html=text.html,
        photo_url=None,
        link_preview=preview,
        plain=_with_url_line(text.text, parts.title, parts.url, max_text),
    )
