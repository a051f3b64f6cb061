"""Partner extraction: the issue's examples and precision/recall on the labelled set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.knowledge.catalog import Catalog
from bot.knowledge.extract import PartnerCandidate, extract_partners, split_sentences
from bot.knowledge.linker import Linker

LABELLED = Path(__file__).parent / "data" / "partners_labelled.yaml"


def _pairs(cands: list[PartnerCandidate]) -> set[tuple[str, str]]:
    return {(c.mission_slug, c.country_code) for c in cands if c.country_code}


def load_items() -> list[dict[str, Any]]:
    data = yaml.safe_load(LABELLED.read_text(encoding="utf-8"))
    items: list[dict[str, Any]] = data["items"]
    return items


def evaluate(catalog: Catalog, linker: Linker) -> tuple[float, float, list[str]]:
    """Micro precision/recall over (mission, country) pairs; roles checked when labelled."""
    tp = fp = fn = 0
    errors: list[str] = []
    for item in load_items():
        cands = extract_partners(item["text"], catalog, linker)
        got = _pairs(cands)
        want = {(f[0], str(f[1])) for f in item["facts"]}
        roles = {(f[0], str(f[1])): f[2] for f in item["facts"] if len(f) > 2}
        for c in cands:
            pair = (c.mission_slug, c.country_code or "")
            if pair in roles and c.role != roles[pair]:
                errors.append(f"role {pair}: {c.role!r} != {roles[pair]!r}")
        tp += len(got & want)
        fp += len(got - want)
        fn += len(want - got)
        if got != want:
            errors.append(f"{item['text'][:70]!r}: +{sorted(got - want)} -{sorted(want - got)}")
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall, errors


def test_labelled_set_is_big_enough() -> None:
    items = load_items()
    assert len(items) >= 50
    assert sum(1 for i in items if not i["facts"]) >= 10  # negatives


def test_precision_and_recall_on_labelled_set(catalog: Catalog, linker: Linker) -> None:
    precision, recall, errors = evaluate(catalog, linker)
    print(f"\npartner extraction: precision={precision:.3f} recall={recall:.3f}")
    for error in errors:
        print("  ", error)
    assert precision >= 0.9
    assert recall >= 0.9


def test_issue_list_example(catalog: Catalog, linker: Linker) -> None:
    text = (
        "A Swedish negative ion detector, an Italian retroreflector, a French radon detection "
        "device and a Pakistani cubesat will be placed on the upcoming Chang'e-6 mission. "
        "It will also host a Saudi Arabia rover weighing 10 kg."
    )
    cands = {c.country_code: c for c in extract_partners(text, catalog, linker)}
    assert set(cands) == {"SE", "IT", "FR", "PK", "SA"}
    assert cands["SE"].payload == "negative ion detector"
    assert cands["IT"].payload == "retroreflector"
    assert cands["FR"].payload == "radon detection device"
    assert cands["PK"].payload == "cubesat"
    assert cands["SA"].payload == "rover"
    assert cands["SA"].evidence.startswith("It will also host")
    assert cands["SA"].confidence < cands["SE"].confidence  # co-reference costs confidence
    assert all(c.mission_slug == "change-6" for c in cands.values())


def test_co_founders(catalog: Catalog, linker: Linker) -> None:
    text = "For the ILRS, the co-founders are the Russian Federation and the PRC."
    cands = extract_partners(text, catalog, linker)
    assert [(c.mission_slug, c.country_code, c.role) for c in cands] == [
        ("ilrs", "RU", "co-founder")
    ]


def test_lead_country_is_not_a_partner(catalog: Catalog, linker: Linker) -> None:
    text = "Chang'e-6 carried a Chinese camera and a Swedish ion detector."
    assert _pairs(extract_partners(text, catalog, linker)) == {("change-6", "SE")}


def test_agency_next_to_country(catalog: Catalog, linker: Linker) -> None:
    (cand,) = extract_partners(
        "Italy's INFN will provide a laser retroreflector for Chang'e-7.", catalog, linker
    )
    assert (cand.country_code, cand.agency_abbrev) == ("IT", "INFN")
    (cand,) = extract_partners(
        "The French space agency CNES will supply a camera for Dragonfly.", catalog, linker
    )
    assert (cand.country_code, cand.agency_abbrev) == ("FR", "CNES")


def test_no_mission_no_facts(catalog: Catalog, linker: Linker) -> None:
    assert extract_partners("A Swedish detector will fly next year.", catalog, linker) == []


def test_sentence_split_keeps_abbreviations() -> None:
    text = "The U.S. team met Dr. Smith on Monday. No. 5 was next! Then it rained."
    parts = [text[s:e] for s, e in split_sentences(text)]
    assert parts == ["The U.S. team met Dr. Smith on Monday.", "No. 5 was next!", "Then it rained."]


def _facts(text: str, catalog: Catalog, linker: Linker) -> set[tuple[str, str]]:
    return _pairs(extract_partners(text, catalog, linker))


def test_first_item_and_left_edge_cues_cover_the_whole_list(
    catalog: Catalog, linker: Linker
) -> None:
    text = "Artemis I carried cubesats from Japan, Italy and Germany."
    assert _facts(text, catalog, linker) == {
        ("artemis-i", "JP"), ("artemis-i", "IT"), ("artemis-i", "DE"),
    }  # fmt: skip


def test_capital_counts_only_as_acting_subject(catalog: Catalog, linker: Linker) -> None:
    assert _facts("Beijing and Moscow signed the ILRS roadmap.", catalog, linker) == {
        ("ilrs", "RU")
    }
    text = "Chang'e-6 returned samples, officials in Moscow said after signing a deal."
    assert _facts(text, catalog, linker) == set()


def test_speculation_and_ended_cooperation_are_not_facts(catalog: Catalog, linker: Linker) -> None:
    assert _facts("Chang'e-8 could carry a Turkish rover.", catalog, linker) == set()
    assert _facts("Peru is in talks to join the ILRS.", catalog, linker) == set()
    text = "ESA suspended cooperation with Roscosmos on the Rosalind Franklin rover."
    assert _facts(text, catalog, linker) == set()
    assert _facts("Chang'e-8 will carry a Turkish rover.", catalog, linker) == {("change-8", "TR")}


def test_actor_goes_to_the_mission_of_its_clause(catalog: Catalog, linker: Linker) -> None:
    text = "Chang'e-6 carried a French detector, while a Thai sensor will fly on Chang'e-7."
    assert _facts(text, catalog, linker) == {("change-6", "FR"), ("change-7", "TH")}
    text = "Axiom Mission 4 carried astronauts from India and Poland to the ISS."
    assert _facts(text, catalog, linker) == {("ax-4", "IN"), ("ax-4", "PL")}


def test_fact_stated_before_the_mission_is_named(catalog: Catalog, linker: Linker) -> None:
    text = "Sweden's IRF built a compact ion analyser. The instrument will fly on Chang'e-7."
    (cand,) = extract_partners(text, catalog, linker)
    assert (cand.mission_slug, cand.country_code, cand.agency_abbrev) == ("change-7", "SE", "IRF")
    assert cand.confidence < 0.9
    text = "Sweden's IRF built a compact ion analyser. Chang'e-7 launches in 2026."
    assert extract_partners(text, catalog, linker) == []


def test_articles_without_actor_or_mission_are_skipped(catalog: Catalog, linker: Linker) -> None:
    assert extract_partners("Chang'e-7 will fly in 2026. It has a drill.", catalog, linker) == []


def test_extraction_can_stop_after_max_chars(catalog: Catalog, linker: Linker) -> None:
    early = "Chang'e-6 will carry a Swedish negative ion detector."
    late = " Chang'e-6 will also carry a Pakistani cubesat."
    text = early + " Engineers reviewed the data." * 20 + late
    assert _pairs(extract_partners(text, catalog, linker)) == {
        ("change-6", "SE"),
        ("change-6", "PK"),
    }
    limited = extract_partners(text, catalog, linker, max_chars=len(early) + 10)
    assert _pairs(limited) == {("change-6", "SE")}
    assert split_sentences(text, max_chars=len(early) + 5)[-1][1] <= len(early) + 5
