"""Extraction fast paths: each shortcut gives what the straightforward version gives."""

from __future__ import annotations

import re
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.knowledge.catalog import Catalog
from bot.knowledge.extract import (
    _ABBREVIATIONS,
    _NP_STOP,
    _RIVAL,
    PAYLOAD_HEADS,
    _flags,
    _noun_phrase,
    extract_partners,
    split_sentences,
)
from bot.knowledge.linker import Linker

#: The sentence-end pattern as first written ("[.!?]+"); the module's is an equivalent rewrite.
_REFERENCE_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9\u4e00-\u9fff])")


def _reference_split(text: str, max_chars: int | None = None) -> list[tuple[int, int]]:
    limit = len(text) if max_chars is None else min(len(text), max_chars)
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _REFERENCE_SENTENCE_END.finditer(text, 0, limit):
        dot = m.start()
        if text[dot] == ".":
            lo = dot - 30 if dot - 30 > start else start
            token = text[text.rfind(" ", lo, dot) + 1 or lo : dot].split(".")[-1].lower()
            if token in _ABBREVIATIONS:
                continue
        spans.append((start, dot + 1))
        start = m.end()
    tail = len(text[:limit].rstrip()) if limit < len(text) else len(text.rstrip())
    if start < tail:
        spans.append((start, tail))
    return [(s, e) for s, e in spans if not text[s:e].isspace() and s < e]


_PIECES = [
    "Dr", "U.S", "e.g", "approx", "Approx", "Jan", "NASA", "x" * 31, "longword", "K", "\u212a",
    "İ", "It", "The", "42", "嫦娥", ".", "..", "!", "?", " ", "  ", "\n", "\t", '"', "”", "’",
    ")", "(", "“", "a.b", "St", "s", "ſ",
]  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=40), st.none() | st.integers(0, 120))
def test_split_sentences_equals_the_plain_definition(
    pieces: list[str], max_chars: int | None
) -> None:
    text = "".join(pieces)
    assert split_sentences(text, max_chars) == _reference_split(text, max_chars)


def _reference_noun_phrase(words: list[str], i: int) -> tuple[str | None, str | None]:
    phrase: list[str] = []
    last_head = -1
    role = None
    j = i
    while j < len(words) and len(phrase) < 7:
        w = words[j]
        if w in _NP_STOP or w.endswith("'s") or _flags(w) & _RIVAL:
            break
        if w.endswith(("-built", "-made", "-developed")):
            j += 1
            continue
        phrase.append(w)
        if w in PAYLOAD_HEADS:
            last_head = len(phrase) - 1
            role = PAYLOAD_HEADS[w]
        j += 1
    if last_head < 0:
        return None, None
    return " ".join(phrase[: last_head + 1]), role


_WORDS = [
    "swedish", "ion", "detector", "detectors", "camera", "rover", "the", "will", "german-built",
    "us-made", "nasa's", "race", "rival", "and", "of", "new", "lander", "crew", "station", "x",
]  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(_WORDS), max_size=14), st.integers(0, 15))
def test_noun_phrase_from_word_flags_equals_word_tests(words: list[str], i: int) -> None:
    flags = [_flags(w) for w in words]
    assert _noun_phrase(words, flags, i) == _reference_noun_phrase(words, i)


def test_lowering_before_splitting_keeps_the_words() -> None:
    """Premise of the lower-then-split shortcuts (_eligible_quick, _opens_with_coref).

    Except "İ" (lower() gives two characters, which the callers detect by the length),
    lower() maps each character to one character that is a word character exactly when the
    original is, and a hyphen/apostrophe exactly when the original is.
    """
    word = re.compile(r"\w")
    odd = []
    for code in range(sys.maxunicode + 1):
        if 0xD800 <= code < 0xE000:
            continue
        ch = chr(code)
        low = ch.lower()
        if low == ch:
            continue
        if (
            len(low) != 1
            or bool(word.match(ch)) != bool(word.match(low))
            or (ch in "-'’") != (low in "-'’")
        ):
            odd.append(ch)
    assert odd == ["İ"]


def test_mentions_ending_inside_the_last_word(catalog: Catalog, linker: Linker) -> None:
    """A unit starting inside the sentence's last token ("Franco-German.") has no next word."""
    text = "The detector on Chang'e-6 was supplied by Franco-German."
    facts = {(c.mission_slug, c.country_code) for c in extract_partners(text, catalog, linker)}
    assert facts == {("change-6", "FR"), ("change-6", "DE")}
    # with a location/relay word the left-anchor walk runs for "ESA" too (used to raise)
    text = "Chang'e-6 launched a camera relayed by NASA-ESA."
    assert [c.agency_abbrev for c in extract_partners(text, catalog, linker)] == ["NASA"]


def test_sentences_after_the_last_mention_add_nothing(catalog: Catalog, linker: Linker) -> None:
    """Reading stops after the last mention; what follows could not have added a fact."""
    text = "Instruments from Sweden and Italy will fly on Chang'e-6. It also carries a camera."
    tail = " It was fine. The probe is well." * 50
    assert {c.country_code for c in extract_partners(text, catalog, linker)} == {"SE", "IT"}
    assert extract_partners(text + tail, catalog, linker) == extract_partners(text, catalog, linker)
