"""scan_text's fast path (fold once, then cut the squeezed runs) equals the plain definition.

The definition: squeeze every ``\\s(?:[-–—‐/&'’".]*\\s)+`` run of the *original* text to one
space, then fold; texts with characters that expand when folded take :func:`normalize`.
"""

from __future__ import annotations

import re
from itertools import accumulate

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.knowledge.textnorm import _SLOW_RE, _SQUEEZE, NormText, fold, normalize, scan_text

#: The squeeze pattern as first written (group repeat); ``_SQUEEZE`` is an equivalent rewrite.
_REFERENCE_SQUEEZE = re.compile(r"\s(?:[-–—‐/&'’\".]*\s)+")

#: Letters, digits, every kind of separator scan_text treats specially, Unicode spaces,
#: characters that fold to something else (accents, fullwidth, Greek tonos) and ones that
#: expand ("ß", "ﬁ", a combining accent).
_ALPHABET = (
    "ab XYZ09-–—‐/&'’\".,;:()\n\t\r\x0b\x0c\x1c\x1f\x85\xa0\u2003\u2028\u3000"
    "éÉñÅＡｂΆά嫦娥“”‘«»ßﬁ\u0301"
)


def _reference_scan(text: str) -> NormText:
    if _SLOW_RE.search(text):
        return normalize(text)
    bounds = [m.span() for m in _REFERENCE_SQUEEZE.finditer(text)]
    if not bounds:
        return NormText(fold(text))
    shifts = list(accumulate(e - s - 1 for s, e in bounds))
    runs = [e - shift for (_, e), shift in zip(bounds, shifts, strict=True)]
    return NormText(fold(_REFERENCE_SQUEEZE.sub(" ", text)), tuple(runs), tuple(shifts))


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=_ALPHABET, max_size=60))
def test_scan_text_equals_squeeze_then_fold(text: str) -> None:
    assert scan_text(text) == _reference_scan(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_ALPHABET, max_size=60))
def test_squeeze_pattern_rewrite_has_the_same_matches(text: str) -> None:
    expected = [m.span() for m in _REFERENCE_SQUEEZE.finditer(text)]
    assert [m.span() for m in _SQUEEZE.finditer(text)] == expected


def test_scan_text_maps_squeezed_hits_back() -> None:
    text = "Chang'e \u2013 7 and\n\nNew  Horizons, A & B."
    norm = scan_text(text)
    assert norm.text == "chang e 7 and new horizons  a b "
    start = norm.text.index("new horizons")
    o_start, o_end = norm.span_to_original(start, start + len("new horizons"))
    assert text[o_start:o_end] == "New  Horizons"
