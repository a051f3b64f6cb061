"""Curation: score components, channel filters and picking (synthetic stories)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.publish.cluster import Candidate, Story
from bot.publish.curate import ChannelFilter, explain, pick, score

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
_ids = iter(range(1, 1_000_000))


def cand(
    title: str = "Hera arrives at Didymos",
    *,
    site: str = "a.example",
    hours_ago: float = 1.0,
    summary: str = "",
    weight: float = 1.0,
    missions: frozenset[str] = frozenset(),
    agencies: frozenset[str] = frozenset(),
    image: bool = False,
    language: str = "en",
) -> Candidate:
    aid = next(_ids)
    return Candidate(
        article_id=aid,
        title=title,
        summary=summary,
        url=f"https://{site}/{aid}",
        site=site,
        published_at=NOW - timedelta(hours=hours_ago),
        language=language,
        source_weight=weight,
        missions=missions,
        agencies=agencies,
        countries=frozenset(),
        has_image=image,
    )


def story(*members: Candidate) -> Story:
    return Story(lead=members[0], members=list(members))


# --------------------------------------------------------------------------- score
def test_score_is_in_range_and_explained() -> None:
    s = story(cand(weight=50, hours_ago=0, image=True, missions=frozenset({"a", "b", "c"})))
    parts = explain(s, NOW)
    assert set(parts) == {"source", "freshness", "entities", "coverage", "image", "total"}
    assert parts["total"] == pytest.approx(sum(v for k, v in parts.items() if k != "total"))
    assert 0 <= score(story(cand(weight=0, hours_ago=1000)), NOW) < 1
    assert 80 < score(s, NOW) <= 85  # one site: no coverage points


def test_freshness_decays_with_half_life() -> None:
    fresh, old = story(cand(hours_ago=0)), story(cand(hours_ago=12))
    assert explain(old, NOW)["freshness"] == pytest.approx(explain(fresh, NOW)["freshness"] / 2)
    assert score(fresh, NOW) > score(old, NOW) > score(story(cand(hours_ago=48)), NOW)
    future = story(cand(hours_ago=-3))  # clock skew must not earn more than "now"
    assert explain(future, NOW)["freshness"] == explain(fresh, NOW)["freshness"]


def test_freshness_counts_from_when_the_news_broke() -> None:
    first = cand(hours_ago=20, site="a.example")
    late = cand(hours_ago=0, site="b.example", weight=5)
    s = Story(lead=late, members=[first, late])
    assert explain(s, NOW)["freshness"] == explain(story(first), NOW)["freshness"]


def test_coverage_raises_score() -> None:
    one = story(cand(site="a.example"))
    two = story(cand(site="a.example"), cand(site="b.example"))
    four = story(*(cand(site=f"s{i}.example") for i in range(4)))
    same_site_twice = story(cand(site="a.example"), cand(site="www.a.example"))
    assert score(one, NOW) < score(two, NOW) < score(four, NOW)
    assert explain(one, NOW)["coverage"] == 0
    assert explain(same_site_twice, NOW)["coverage"] == 0


def test_mission_bonus_and_cap() -> None:
    plain = story(cand())
    mission = story(cand(missions=frozenset({"hera"})))
    agency = story(cand(agencies=frozenset({"ESA"})))
    many = story(cand(missions=frozenset({"a", "b", "c", "d"}), agencies=frozenset({"ESA"})))
    assert score(plain, NOW) < score(agency, NOW) < score(mission, NOW) < score(many, NOW)
    assert explain(many, NOW)["entities"] == 15


def test_source_weight_and_image() -> None:
    assert score(story(cand(weight=2)), NOW) > score(story(cand(weight=1)), NOW)
    assert explain(story(cand(weight=1)), NOW)["source"] == pytest.approx(15)
    assert explain(story(cand(weight=-3)), NOW)["source"] == 0
    assert explain(story(cand(image=True)), NOW)["image"] == 5
    assert score(story(cand(image=True)), NOW) > score(story(cand()), NOW)


# --------------------------------------------------------------------------- filters
def test_default_filter_accepts_everything() -> None:
    assert ChannelFilter().matches(story(cand()), 0.0)


def test_language_filter() -> None:
    f = ChannelFilter(languages=frozenset({"en"}))
    assert f.matches(story(cand(language="en-GB")), 50)
    assert not f.matches(story(cand(language="ru")), 50)
    assert ChannelFilter(languages=frozenset({"RU", "en"})).matches(story(cand(language="ru")), 1)


def test_include_keyword_word_boundaries() -> None:
    f = ChannelFilter(include=("ESA",))
    assert f.matches(story(cand("ESA's Hera reaches Didymos")), 50)
    assert f.matches(story(cand("Hera reaches Didymos", agencies=frozenset({"ESA"}))), 50)
    assert not f.matches(story(cand("Rover images a mesa on Mars")), 50)
    assert not f.matches(story(cand("Mesa Verde seen from orbit")), 50)
    assert not f.matches(story(cand("Chinese station resupplied")), 50)  # "chinESE"


def test_include_matches_summary_and_missions() -> None:
    f = ChannelFilter(include=("Artemis 2",))
    assert f.matches(story(cand("Crew named", missions=frozenset({"artemis-2"}))), 1)
    assert f.matches(story(cand("Crew named", summary="The Artemis II... no, Artemis 2 crew")), 1)
    assert not f.matches(story(cand("Artemis 3 lander contract")), 1)


def test_phrase_match() -> None:
    f = ChannelFilter(include=("sample return",))
    assert f.matches(story(cand("Mars Sample Return gets a new plan")), 1)
    assert f.matches(story(cand("A sample-return capsule lands in Utah")), 1)
    assert not f.matches(story(cand("Return of the sample container delayed")), 1)
    assert not f.matches(story(cand("Sample returned")), 1)  # word boundary at the end


def test_prefix_wildcard() -> None:
    f = ChannelFilter(include=("launch*",))
    assert f.matches(story(cand("Starship launches again")), 1)
    assert not f.matches(story(cand("Prelaunch checks done")), 1)


def test_exclude_keyword() -> None:
    f = ChannelFilter(exclude=("Starlink", "rumor"))
    assert f.matches(story(cand("Hera reaches Didymos")), 50)
    assert not f.matches(story(cand("SpaceX launches 23 STARLINK satellites")), 50)
    assert not f.matches(story(cand("Hera", summary="An unconfirmed rumor says...")), 50)
    assert f.matches(story(cand("Rumors... no: rumours are fine")), 50)  # whole words only


def test_include_and_exclude_together() -> None:
    f = ChannelFilter(include=("Moon",), exclude=("Starship",))
    assert f.matches(story(cand("Chang'e-7 heads to the Moon")), 1)
    assert not f.matches(story(cand("Starship Moon lander test")), 1)
    assert not f.matches(story(cand("Mars rover update")), 1)


def test_min_score() -> None:
    f = ChannelFilter(min_score=40)
    assert f.matches(story(cand()), 40)
    assert not f.matches(story(cand()), 39.9)


# --------------------------------------------------------------------------- pick
def test_pick_orders_best_first_and_limits() -> None:
    old = story(cand("Old news", hours_ago=30))
    fresh = story(cand("Fresh news", hours_ago=0))
    covered = story(
        cand("Big news", hours_ago=1, site="a.example"),
        cand("Big news", hours_ago=1, site="b.example"),
        cand("Big news", hours_ago=1, site="c.example"),
    )
    picked = pick([old, fresh, covered], NOW, ChannelFilter(), limit=2)
    assert [s for s, _ in picked] == [covered, fresh]
    assert picked[0][1] >= picked[1][1]
    assert pick([old, fresh], NOW, ChannelFilter(), limit=0) == []
    assert [s for s, _ in pick([old, fresh], NOW, ChannelFilter(), limit=10)] == [fresh, old]


def test_pick_applies_filter_and_min_score() -> None:
    ru = story(cand("Запуск Союза", language="ru", hours_ago=0))
    en = story(cand("Soyuz launch", hours_ago=0))
    weak = story(cand("Soyuz launch recap", hours_ago=100, weight=0.1))
    f = ChannelFilter(languages=frozenset({"en"}), min_score=20)
    assert [s for s, _ in pick([ru, en, weak], NOW, f, limit=5)] == [en]


def test_pick_is_deterministic_on_ties() -> None:
    a, b = story(cand("Same", hours_ago=2)), story(cand("Same", hours_ago=2))
    first = pick([a, b], NOW, ChannelFilter(), limit=2)
    second = pick([b, a], NOW, ChannelFilter(), limit=2)
    assert [s.key for s, _ in first] == [s.key for s, _ in second]
