"""Linker fast paths: each shortcut gives what the straightforward version gives."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.knowledge.linker import Linker, Pattern, _drop_overlaps, _first, _second

Hit = tuple[int, int, Pattern]


def _reference_drop_overlaps(hits: list[Hit]) -> list[Hit]:
    """Cluster overlapping hits; longest wins in a cluster, identical extents all stay."""
    out: list[Hit] = []
    cluster: list[Hit] = []
    cluster_end = -1
    for hit in hits:
        if hit[0] < cluster_end:
            cluster.append(hit)
            cluster_end = max(cluster_end, hit[1])
            continue
        out += cluster if len(cluster) == 1 else _reference_longest(cluster)
        cluster = [hit]
        cluster_end = hit[1]
    out += cluster if len(cluster) == 1 else _reference_longest(cluster)
    return out


def _reference_longest(hits: list[Hit]) -> list[Hit]:
    ordered = sorted(hits, key=lambda h: (h[0] - h[1], h[0]))
    taken: list[tuple[int, int]] = []
    accepted: list[Hit] = []
    for start, end, pattern in ordered:
        if any(start < t_end and t_start < end for t_start, t_end in taken):
            if (start, end) not in taken:
                continue
        else:
            taken.append((start, end))
        accepted.append((start, end, pattern))
    accepted.sort(key=lambda h: h[0])
    return accepted


_extents = st.lists(
    st.tuples(st.integers(0, 40), st.integers(1, 8)).map(lambda t: (t[0], t[0] + t[1])),
    max_size=12,
)


def _hits(extents: list[tuple[int, int]]) -> list[Hit]:
    """Hits in automaton order (by end), each with its own pattern so order is observable."""
    return [
        (start, end, Pattern("mission", f"m{i}"))
        for i, (start, end) in enumerate(sorted(extents, key=lambda e: e[1]))
    ]


@settings(max_examples=300, deadline=None)
@given(_extents)
def test_two_stable_sorts_equal_the_start_then_longest_key(extents: list[tuple[int, int]]) -> None:
    hits = _hits(extents)
    expected = sorted(hits, key=lambda h: (h[0], h[0] - h[1]))
    hits.sort(key=_second, reverse=True)
    hits.sort(key=_first)
    assert hits == expected


@settings(max_examples=300, deadline=None)
@given(_extents)
def test_drop_overlaps_equals_cluster_resolution(extents: list[tuple[int, int]]) -> None:
    hits = sorted(_hits(extents), key=lambda h: (h[0], h[0] - h[1]))
    assert _drop_overlaps(list(hits)) == _reference_drop_overlaps(hits)


@pytest.mark.parametrize(
    ("text", "missions"),
    [
        ("Hera was discussed at the mission review.", {}),  # one weak space word
        ("Hera was discussed at the mission launch review.", {"hera": 1}),  # two weak ones
        ("Hera was discussed at the probe review.", {"hera": 1}),  # a strong one
    ],
)
def test_weak_space_words_count_in_pairs(
    linker: Linker, text: str, missions: dict[str, int]
) -> None:
    assert linker.link(text).missions == missions


def test_late_confirmed_common_word_keeps_text_order(linker: Linker) -> None:
    m = linker.link("Hope is fading. Later the Hope probe reached Mars.")
    assert m.missions == {"emirates-mars-mission": 2}
    assert [(s.start, s.surface) for s in m.spans] == [(0, "Hope"), (26, "Hope probe")]


def test_repeated_mentions_with_squeezed_runs_map_back(linker: Linker) -> None:
    text = "Chang'e-7 and CE-7.\n\nChang'e \u2013 7 and  Chang'e 7 are one; the Chang'e programme."
    m = linker.link(text)
    assert m.missions["change-7"] == 4
    assert all(text[s.start : s.end] == s.surface for s in m.spans)
    assert [s.surface for s in m.spans][:4] == [
        "Chang'e-7",
        "CE-7",
        "Chang'e \u2013 7",
        "Chang'e 7",
    ]


def test_pickled_linker_links_the_same_and_stays_small(linker: Linker) -> None:
    text = "NASA & ESA: Chang'e \u2013 7 carries a Swedish detector.\n\nThe Hope probe (EMM) too."
    blob = pickle.dumps(linker)
    copy = pickle.loads(blob)
    assert copy.link(text) == linker.link(text)
    assert len(blob) < 2_000_000
