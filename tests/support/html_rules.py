"""Telegram's ``parse_mode=HTML`` rules, re-implemented by hand for the Bot API emulator.

Why by hand: :mod:`html.parser` is a *browser-style* parser — it silently accepts unknown
tags, unbalanced tags, bare ``&`` and stray ``<``, which is exactly the class of bug that makes
real Telegram answer ``400 Bad Request: can't parse entities``.  The state machine below mirrors
TDLib's ``parse_html`` (``td/telegram/MessageEntity.cpp``) byte for byte, including its error
messages and its *byte* offsets (offsets into the UTF-8 encoded text), so a test failure reads
exactly like the production error would.

On top of TDLib, ``strict=True`` (the default) also rejects the constructs that Telegram
*accepts* but renders differently from what the author almost certainly meant, because the
documentation says they must be escaped:

* an ``&`` that does not start ``&lt;`` ``&gt;`` ``&amp;`` ``&quot;`` or a valid numeric
  reference (``AT&T``, ``&nbsp;``) — Telegram would show it literally;
* ``<a>`` without ``href``, and links with a scheme Telegram drops (``javascript:``) —
  Telegram would silently remove the link.

``strict=False`` gives TDLib's lenient behaviour.  Entity offsets and lengths are counted in
UTF-16 code units, as in the Bot API (an astral emoji counts 2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "SUPPORTED_TAGS",
    "HTMLParseError",
    "normalize_url",
    "parse_html",
    "utf16_len",
]

#: Tags Telegram understands in ``parse_mode=HTML`` (all others: "Unsupported start tag").
SUPPORTED_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)

_SIMPLE_TAG_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}

# TDLib sorts entities by offset, then by length (longest first), then by this priority.
_TYPE_PRIORITY = {
    "blockquote": 0,
    "expandable_blockquote": 0,
    "pre": 11,
    "code": 20,
    "text_link": 49,
    "text_mention": 49,
    "bold": 90,
    "italic": 91,
    "underline": 92,
    "strikethrough": 93,
    "spoiler": 94,
    "custom_emoji": 99,
}

_NAMED_ENTITIES = {b"lt": "<", b"gt": ">", b"amp": "&", b"quot": '"'}
_SPACES = frozenset(b" \t\r\n\v\0")
_AMP, _LT, _GT, _SLASH, _EQ = (ord(c) for c in "&<>/=")
_URL_SCHEMES = frozenset({"http", "https", "ftp", "tg", "ton", "tonsite", "mailto"})
_TG_USER_RE = re.compile(r"^tg://user\?id=(\d{1,20})$", re.IGNORECASE)
_HOST_RE = re.compile(r"^[A-Za-z0-9._~%-]+(?::\d{1,5})?$")


class HTMLParseError(ValueError):
    """Raised when Telegram would answer ``Bad Request: can't parse entities: <message>``.

    ``str(exc)`` is the part after ``can't parse entities:``; ``byte_offset`` is the UTF-8 byte
    offset the message refers to (``None`` for end-of-text errors).
    """

    def __init__(self, message: str, byte_offset: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.byte_offset = byte_offset


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units — the unit of every Bot API length limit."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def normalize_url(url: str) -> str | None:
    """Return the URL as Telegram stores it in a ``text_link`` entity, or ``None`` if dropped.

    Telegram prefixes scheme-less URLs with ``http://`` and adds the root path (``telegram.org``
    becomes ``http://telegram.org/``); unknown schemes such as ``javascript:`` are not links.
    """
    if not url or any(ch.isspace() for ch in url):
        return None
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):", url)
    if match and not re.match(r"^[^:/?#]+:\d+(?:[/?#]|$)", url):
        scheme = match.group(1).lower()
        if scheme not in _URL_SCHEMES:
            return None
        if scheme not in {"http", "https", "ftp"}:
            return url
    else:
        url = "http://" + url
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if not parts.netloc or not _HOST_RE.match(parts.netloc.rsplit("@", 1)[-1]):
        return None
    rest = parts.path or "/"
    if "?" in url:
        rest += "?" + parts.query
    if parts.fragment:
        rest += "#" + parts.fragment
    return f"{parts.scheme.lower()}://{parts.netloc}{rest}"


@dataclass(slots=True)
class _OpenTag:
    name: str
    argument: str | None
    utf16_offset: int
    result_pos: int
    byte_offset: int


def _is_ascii_alnum(byte: int) -> bool:
    return 48 <= byte <= 57 or 65 <= byte <= 90 or 97 <= byte <= 122


def _decode_entity(data: bytes, pos: int) -> tuple[int, int]:
    """Decode an HTML character reference at ``data[pos] == '&'`` the way TDLib does.

    Returns ``(code_point, end)``; ``code_point == 0`` means "not a reference" (TDLib then keeps
    the ``&`` literally).  The trailing ``;`` is optional, as in TDLib.
    """
    n = len(data)
    end = pos + 1
    value = 0
    if end < n and data[end] == ord("#"):
        end += 1
        if end < n and data[end] == ord("x"):
            end += 1
            while end < n and chr(data[end]) in "0123456789abcdefABCDEF":
                value = value * 16 + int(chr(data[end]), 16)
                end += 1
        else:
            while end < n and 48 <= data[end] <= 57:
                value = value * 10 + data[end] - 48
                end += 1
        if value == 0 or value >= 0x10FFFF or end - pos >= 10:
            return 0, pos
    else:
        while end < n and chr(data[end]).isascii() and chr(data[end]).isalpha():
            end += 1
        named = _NAMED_ENTITIES.get(data[pos + 1 : end])
        if named is None:
            return 0, pos
        value = ord(named)
    if end < n and data[end] == ord(";"):
        end += 1
    return value, end


def _entity_error(data: bytes, pos: int) -> HTMLParseError:
    """Strict-mode error for an ``&`` that Telegram would keep as a literal character."""
    name = re.match(rb"&(#?[xX]?[0-9A-Za-z]*;?)", data[pos:])
    shown = name.group(0).decode("ascii", "replace") if name else "&"
    if shown in {"&", "&;"} or not shown.endswith(";"):
        return HTMLParseError(f'Character "&" at byte offset {pos} must be escaped as "&amp;"', pos)
    if shown.startswith("&#"):
        return HTMLParseError(
            f'Invalid numeric character reference "{shown}" at byte offset {pos}', pos
        )
    return HTMLParseError(
        f'Unsupported HTML entity "{shown}" at byte offset {pos}; only &lt; &gt; &amp; &quot; '
        "and numeric references are supported",
        pos,
    )


def _append_code_point(result: bytearray, code_point: int) -> None:
    if 0xD800 <= code_point <= 0xDFFF:
        raise HTMLParseError(
            "Text contains invalid Unicode characters after decoding HTML entities, "
            "check for unmatched surrogate code units"
        )
    result += chr(code_point).encode("utf-8")


def _sort_key(entity: dict[str, Any]) -> tuple[int, int, int]:
    return (entity["offset"], -entity["length"], _TYPE_PRIORITY.get(entity["type"], 50))


def parse_html(text: str, *, strict: bool = True) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram-flavoured HTML into ``(plain_text, entities)``.

    ``entities`` are Bot API ``MessageEntity`` dicts (``type``, ``offset``, ``length`` in UTF-16
    code units, plus ``url`` / ``user`` / ``language`` / ``custom_emoji_id``), sorted the way
    Telegram returns them.  Raises :class:`HTMLParseError` with Telegram's wording.
    """
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise HTMLParseError("Strings must be encoded in UTF-8") from exc
    n = len(data)

    def at(index: int) -> int:
        return data[index] if index < n else 0

    def is_space(index: int) -> bool:
        return index >= n or data[index] in _SPACES

    result = bytearray()
    utf16_offset = 0
    stack: list[_OpenTag] = []
    entities: list[dict[str, Any]] = []
    i = 0
    while i < n:
        c = data[i]
        if c == _AMP:
            code_point, end = _decode_entity(data, i)
            if code_point:
                _append_code_point(result, code_point)
                utf16_offset += 2 if code_point > 0xFFFF else 1
                i = end
                continue
            if strict:
                raise _entity_error(data, i)
        if c != _LT:
            if c & 0xC0 != 0x80:  # first byte of a UTF-8 sequence
                utf16_offset += 2 if c >= 0xF0 else 1
            result.append(c)
            i += 1
            continue

        begin = i
        if at(i + 1) != _SLASH:
            i = _parse_start_tag(data, begin, strict, stack, utf16_offset, len(result))
            continue

        # An end tag.
        if not stack:
            raise HTMLParseError(f"Unexpected end tag at byte offset {begin}", begin)
        while not is_space(i) and at(i) != _GT:
            i += 1
        end_name = data[begin + 2 : i].decode("utf-8", "replace")
        while i < n and is_space(i):
            i += 1
        if at(i) != _GT:
            raise HTMLParseError(f"Unclosed end tag at byte offset {begin}", begin)
        i += 1
        opened = stack.pop()
        if end_name and end_name != opened.name:
            raise HTMLParseError(
                f'Unmatched end tag at byte offset {begin}, expected "</{opened.name}>", '
                f'found "</{end_name}>"',
                begin,
            )
        if utf16_offset > opened.utf16_offset:
            _close_entity(opened, utf16_offset, bytes(result), entities)

    if stack:
        raise HTMLParseError(
            f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"',
            stack[-1].byte_offset,
        )
    for entity in entities:
        if entity["type"] == "code":
            entity.pop("language", None)  # the Bot API has no language on inline code
    entities.sort(key=_sort_key)
    return result.decode("utf-8"), entities


def _parse_start_tag(
    data: bytes,
    begin: int,
    strict: bool,
    stack: list[_OpenTag],
    utf16_offset: int,
    result_pos: int,
) -> int:
    """Parse ``<tag attr=value ...>`` starting at ``begin``; push it and return the next index."""
    n = len(data)

    def at(index: int) -> int:
        return data[index] if index < n else 0

    def is_space(index: int) -> bool:
        return index >= n or data[index] in _SPACES

    i = begin
    while not is_space(i) and at(i) != _GT:
        i += 1
    if i >= n:
        raise HTMLParseError(f"Unclosed start tag at byte offset {begin}", begin)
    tag = data[begin + 1 : i].decode("utf-8", "replace").lower()
    if tag not in SUPPORTED_TAGS:
        raise HTMLParseError(f'Unsupported start tag "{tag}" at byte offset {begin}', begin)

    argument: str | None = None
    has_href = False
    while at(i) != _GT:
        while i < n and is_space(i):
            i += 1
        if i >= n:
            raise HTMLParseError(f"Unclosed start tag at byte offset {begin}", begin)
        if at(i) == _GT:
            break
        name_begin = i
        while not is_space(i) and at(i) not in (_EQ, _GT):
            i += 1
        attr_name = data[name_begin:i].decode("utf-8", "replace")
        if not attr_name:
            raise HTMLParseError(
                f'Empty attribute name in the tag "{tag}" at byte offset {begin}', begin
            )
        while i < n and is_space(i):
            i += 1
        value = ""
        if at(i) == _EQ:
            i += 1
            while i < n and is_space(i):
                i += 1
            if i >= n:
                raise HTMLParseError(f'Unclosed start tag "{tag}" at byte offset {begin}', begin)
            quote = at(i)
            if quote not in (ord('"'), ord("'")):
                # A name token: letters, digits, periods and hyphens; case-insensitive.
                token_begin = i
                while i < n and (_is_ascii_alnum(data[i]) or data[i] in b".-"):
                    i += 1
                value = data[token_begin:i].decode("ascii").lower()
                if not is_space(i) and at(i) != _GT:
                    raise HTMLParseError(
                        f"Unexpected end of name token at byte offset {token_begin}", token_begin
                    )
            else:
                i += 1
                buffer = bytearray()
                while i < n and data[i] != quote:
                    if data[i] == _AMP:
                        code_point, end = _decode_entity(data, i)
                        if code_point:
                            _append_code_point(buffer, code_point)
                            i = end
                            continue
                    buffer.append(data[i])
                    i += 1
                if i < n:
                    i += 1
                value = buffer.decode("utf-8", "replace")
            if i >= n:
                raise HTMLParseError(f"Unclosed start tag at byte offset {begin}", begin)

        if tag == "a" and attr_name == "href":
            argument, has_href = value, True
        elif tag == "code" and attr_name == "class" and value.startswith("language-"):
            argument = value[len("language-") :]
        elif tag == "span" and attr_name == "class" and value.startswith("tg-"):
            argument = value[len("tg-") :]
        elif tag == "tg-emoji" and attr_name == "emoji-id":
            argument = value
        elif tag == "blockquote" and attr_name == "expandable":
            argument = "1"

    if tag == "span" and argument != "spoiler":
        raise HTMLParseError(
            f'Tag "span" must have class "tg-spoiler" at byte offset {begin}', begin
        )
    if strict and tag == "a":
        if not has_href:
            raise HTMLParseError(
                f'Tag "a" must have attribute "href" at byte offset {begin}', begin
            )
        if not _TG_USER_RE.match(argument or "") and normalize_url(argument or "") is None:
            raise HTMLParseError(
                f'Unsupported URL "{argument}" in the tag "a" at byte offset {begin}', begin
            )
    stack.append(_OpenTag(tag, argument, utf16_offset, result_pos, begin))
    return i + 1


def _close_entity(
    opened: _OpenTag,
    utf16_end: int,
    result: bytes,
    entities: list[dict[str, Any]],
) -> None:
    """Turn a closed, non-empty tag into its Bot API entity (TDLib's end-tag branch)."""
    offset = opened.utf16_offset
    length = utf16_end - offset
    tag = opened.name
    last = entities[-1] if entities else None
    same_span = last is not None and last["offset"] == offset and last["length"] == length
    if tag in _SIMPLE_TAG_TYPES:
        entities.append({"type": _SIMPLE_TAG_TYPES[tag], "offset": offset, "length": length})
    elif tag == "blockquote":
        kind = "expandable_blockquote" if opened.argument else "blockquote"
        entities.append({"type": kind, "offset": offset, "length": length})
    elif tag == "tg-emoji":
        if not opened.argument or not opened.argument.isdigit():
            raise HTMLParseError("Invalid custom emoji identifier specified", opened.byte_offset)
        entities.append(
            {
                "type": "custom_emoji",
                "offset": offset,
                "length": length,
                "custom_emoji_id": opened.argument,
            }
        )
    elif tag == "a":
        url = opened.argument
        if not url:
            url = result[opened.result_pos :].decode("utf-8")
        user = _TG_USER_RE.match(url)
        if user:
            entities.append(
                {
                    "type": "text_mention",
                    "offset": offset,
                    "length": length,
                    "user": {"id": int(user.group(1)), "is_bot": False, "first_name": ""},
                }
            )
        else:
            normalized = normalize_url(url)
            if normalized is not None:
                entities.append(
                    {"type": "text_link", "offset": offset, "length": length, "url": normalized}
                )
    elif tag == "pre":
        if last is not None and same_span and last["type"] == "code" and last.get("language"):
            last["type"] = "pre"
        else:
            entities.append({"type": "pre", "offset": offset, "length": length})
    elif tag == "code":
        if last is not None and same_span and last["type"] == "pre" and opened.argument:
            last["language"] = opened.argument
        elif opened.argument:
            # Kept while a surrounding <pre> may still claim the language; dropped at the end.
            entities.append(
                {"type": "code", "offset": offset, "length": length, "language": opened.argument}
            )
        else:
            entities.append({"type": "code", "offset": offset, "length": length})
