"""Linker: spellings, longest match, word boundaries, case and ambiguity rules."""

from __future__ import annotations

import pytest

from bot.knowledge.catalog import Catalog, flag_emoji
from bot.knowledge.linker import Linker
from bot.knowledge.textnorm import normalize, pattern_variants


@pytest.mark.parametrize(
    "spelling",
    ["Chang'e-7", "Chang’e 7", "Change-7", "Chang-e 7", "CHANG'E7", "CE-7", "嫦娥七号", "Chang'e7"],
)
def test_alias_spellings(linker: Linker, spelling: str) -> None:
    assert linker.link(f"The {spelling} lander is ready.").missions == {"change-7": 1}


def test_cjk_inside_chinese_text(linker: Linker) -> None:
    assert linker.link("我国嫦娥六号任务圆满成功").missions == {"change-6": 1}


def test_longest_match_wins(linker: Linker) -> None:
    m = linker.link("NASA's Artemis II crew trained for the Artemis programme.")
    assert m.missions == {"artemis-ii": 1, "artemis-programme": 1}
    assert linker.link("He lives in New Mexico, near a rocket range.").countries == {}


def test_word_boundaries(linker: Linker) -> None:
    assert linker.link("Exchange-7 rates and changes 7 times").missions == {}
    assert linker.link("The Chang'e-61 probe").missions == {}


@pytest.mark.parametrize(
    "text",
    [
        "Hera, queen of the gods, was jealous of Zeus in Greek myth.",
        "Psyche and Eros appear in a Roman tale retold by Apuleius.",
        "We hope the weather holds; Lucy said so.",
    ],
)
def test_mythology_and_names_do_not_link(linker: Linker, text: str) -> None:
    assert linker.link(text).missions == {}


def test_ambiguous_alias_with_space_context(linker: Linker) -> None:
    m = linker.link("ESA's Hera spacecraft flew past Mars on its way to the asteroid Didymos.")
    assert m.missions == {"hera": 1}
    assert linker.link("The Psyche probe fired its thrusters.").missions == {"psyche": 1}


def test_case_sensitive_abbreviations(linker: Linker) -> None:
    m = linker.link("In the mesa, Vanessa put the case on a shelf; asi es. Esa tarde.")
    assert m.agencies == {}
    m = linker.link("ESA, CAS, ASI and ISA signed a statement.")
    assert m.agencies == {"ESA": 1, "CAS": 1, "ASI": 1, "ISA": 1}


def test_countries_by_name_demonym_and_ambiguity(linker: Linker) -> None:
    m = linker.link("A Swedish detector, a Saudi rover and an Emirati orbiter; Russia too.")
    assert m.countries == {"SE": 1, "SA": 1, "AE": 1, "RU": 1}
    assert linker.link("Give us the turkey and polish the chad.").countries == {}
    assert linker.link("Turkey and Jordan joined the lunar mission talks.").countries == {
        "TR": 1,
        "JO": 1,
    }
    assert linker.link("Tell us about it.").countries == {}


def test_spans_cut_from_original_text(linker: Linker) -> None:
    text = "Before  the launch,   Chang’e 6  carried NASA's gear."
    spans = {s.kind: text[s.start : s.end] for s in linker.link(text).spans}
    assert spans["mission"] == "Chang’e 6"
    assert spans["agency"] == "NASA"


def test_textnorm() -> None:
    assert normalize("Ｃｈａｎｇ’ｅ—7  Café").text == "chang e 7 cafe"
    assert sorted(pattern_variants("Chang'e-7")) == ["chang e 7", "chang e7", "change 7", "change7"]


def test_catalog_lookups(catalog: Catalog) -> None:
    mission = catalog.find_mission("chang’e 7")
    assert mission is not None
    assert mission.slug == "change-7"
    assert catalog.find_mission("CE-7") is mission
    assert catalog.agency_by_abbrev("ESA") is not None
    country = catalog.country("ae")
    assert country is not None
    assert country.name == "United Arab Emirates"
    assert country.flag == flag_emoji("AE") == "🇦🇪"
    ru = catalog.country("RU")
    assert ru is not None
    assert ru.name == "Russia"
    assert catalog.lead_countries("change-6") == {"CN"}
    assert len(catalog.countries) >= 249


def test_capitals_are_spans_not_country_mentions(linker: Linker) -> None:
    m = linker.link("Beijing and Moscow signed a lunar station roadmap.")
    assert m.countries == {}
    assert [(s.kind, s.target) for s in m.spans] == [("capital", "CN"), ("capital", "RU")]


def test_compound_prefixes_need_a_hyphen(linker: Linker) -> None:
    assert linker.link("The Franco-German rover rides on MMX.").countries == {"FR": 1, "DE": 1}
    assert linker.link("Franco said the German rover is ready.").countries == {"DE": 1}
    assert linker.link("Indo-Pacific security talks.").countries == {}


def test_abbreviation_redefined_by_the_text(linker: Linker) -> None:
    text = "The Italian Spring Accelerometer (ISA) flies on BepiColombo; ISA measures forces."
    assert "ISA" not in linker.link(text).agencies
    text = "The Israel Space Agency (ISA) joined the mission; ISA will fund a camera."
    assert linker.link(text).agencies.get("ISA") == 3  # the name and both abbreviations


def test_sentence_initial_common_word_alias(linker: Linker) -> None:
    assert linker.link("Hope remains that the rover will land on Mars.").missions == {}
    assert linker.link("Hope probe images show dust storms on Mars.").missions == {
        "emirates-mars-mission": 1
    }
    text = "The Emirates Mars Mission reached orbit. Hope then imaged the Martian moons."
    assert linker.link(text).missions == {"emirates-mars-mission": 2}


@pytest.mark.parametrize(
    "text",
    [
        "Germany,  France and the U.S. space agency back Chang'e  7.",
        "Chang'e - 7 carries a Swedish detector.\n\nNew  Horizons flew by.",
        "Plain text: Chang’e 6 carried NASA's gear, a Swedish ion detector.",
    ],
)
def test_fast_scan_matches_full_normalization(linker: Linker, text: str) -> None:
    """scan_text (fold + whitespace squeeze) finds what the full normalize path finds."""
    from bot.knowledge.textnorm import normalize, scan_text

    norm = scan_text(text)
    full = normalize(text)
    assert norm.text.split() == full.text.split()
    for i, ch in enumerate(norm.text):
        if ch != " ":
            assert (
                text[norm.to_original(i)].lower() == ch or not text[norm.to_original(i)].isascii()
            )


def test_link_is_memoised_for_the_same_text(linker: Linker) -> None:
    text = "Chang'e-6 carried a Swedish detector."
    assert linker.link(text) is linker.link(text)


def test_fold_equals_the_translate_table() -> None:
    """The bytes fast path of fold() is exactly str.translate with the fold table."""
    import random

    from bot.knowledge.textnorm import _TABLE, fold

    rng = random.Random(3)
    pool = [chr(i) for i in range(0x3100) if not 0xD800 <= i < 0xE000]
    pool += ["Ａ", "ｂ", "嫦", "娥", "ά", "ำ", "—", "’", "\xa0"]
    for _ in range(3000):
        text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 40)))
        assert fold(text) == text.translate(_TABLE)


def test_spaced_dashes_and_ampersands_are_squeezed(linker: Linker) -> None:
    text = "NASA & ESA: Chang'e – 7 carries a Swedish detector."
    m = linker.link(text)
    assert m.missions == {"change-7": 1}
    assert {s.surface for s in m.spans} >= {"NASA", "ESA", "Chang'e – 7", "Swedish"}


def test_linker_survives_pickling(linker: Linker) -> None:
    """A built linker can be handed to a worker process (caches are not pickled)."""
    import pickle

    text = "Chang'e-6 carried a Swedish detector, ESA said."
    expected = linker.link(text)
    copy = pickle.loads(pickle.dumps(linker))
    assert copy._last is None
    assert copy._accepted == {}
    assert copy.link(text) == expected
