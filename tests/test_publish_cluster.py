"""Story clustering on synthetic headlines (written for these tests, no real articles).

The labelled set ``LABELLED`` mixes several reports of the same events with hard distractors:
other events of the same mission inside the window, unrelated stories of the same agency on the
same day, a site's second article on the same mission, two launches on the same day. Pairwise
precision must be perfect (a wrong merge hides news) and recall high (a miss only costs a
duplicate-looking post).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.publish.cluster import Candidate, Story, cluster, similarity, tokens

T0 = datetime(2024, 6, 25, 6, 0, tzinfo=UTC)


class _Ids:
    def __init__(self) -> None:
        self.next = 1

    def __call__(self) -> int:
        self.next += 1
        return self.next - 1


_new_id = _Ids()


def cand(
    title: str,
    site: str,
    hours: float = 0.0,
    summary: str = "",
    missions: Iterable[str] = (),
    agencies: Iterable[str] = (),
    *,
    weight: float = 1.0,
    image: bool = False,
    article_id: int | None = None,
    url: str | None = None,
    language: str = "en",
) -> Candidate:
    aid = _new_id() if article_id is None else article_id
    return Candidate(
        article_id=aid,
        title=title,
        summary=summary,
        url=url or f"https://{site}/news/{aid}",
        site=site,
        published_at=T0 + timedelta(hours=hours),
        language=language,
        source_weight=weight,
        missions=frozenset(missions),
        agencies=frozenset(agencies),
        countries=frozenset(),
        has_image=image,
    )


def change6_return() -> list[Candidate]:
    return [
        cand(
            "China's Chang'e-6 returns first far-side samples",
            "spacenews.com",
            0,
            "The return capsule of China's Chang'e-6 mission touched down in Inner Mongolia on "
            "Tuesday carrying the first samples ever collected from the far side of the Moon.",
            ["change-6"],
            ["CNSA"],
        ),
        cand(
            "Chang'e 6 capsule lands in Inner Mongolia with lunar far side samples",
            "space.com",
            2,
            "China's Chang'e 6 probe has brought samples from the far side of the moon back to "
            "Earth, landing in the Siziwang Banner of Inner Mongolia.",
            ["change-6"],
            ["CNSA"],
        ),
        cand(
            "Far side of the Moon samples arrive on Earth aboard Chang'e-6",
            "nasaspaceflight.com",
            5,
            "Chang'e-6 completed its 53-day mission as the reentry module parachuted to a "
            "landing site in Inner Mongolia.",
            ["change-6"],
            ["CNSA"],
        ),
    ]


# (event label, candidate): candidates with the same label report the same news.
def labelled() -> list[tuple[str, Candidate]]:
    out: list[tuple[str, Candidate]] = [("change6-return", c) for c in change6_return()]
    d = -25 * 24.0  # three weeks earlier: Chang'e-6 on the Moon
    out += [
        (
            "change6-landing",
            cand(
                "Chang'e-6 lands on the far side of the Moon",
                "space.com",
                d,
                "China's Chang'e-6 touched down in the Apollo crater.",
                ["change-6"],
                ["CNSA"],
            ),
        ),
        (
            "change6-landing",
            cand(
                "Chang'e-6 lander touches down in Apollo crater on lunar far side",
                "spacenews.com",
                d + 2,
                "The lander set down in the South Pole-Aitken basin.",
                ["change-6"],
                ["CNSA"],
            ),
        ),
        (
            "change6-ascent",
            cand(
                "Chang'e-6 ascender lifts off from lunar far side with samples",
                "space.com",
                d + 44,
                "The ascent vehicle fired its engine to leave the far side.",
                ["change-6"],
                ["CNSA"],
            ),
        ),
        (
            "change6-ascent",
            cand(
                "Chang'e-6 sample container launched from the Moon's far side",
                "spacenews.com",
                d + 45,
                "After two days of drilling and scooping, the ascender lifted off.",
                ["change-6"],
                ["CNSA"],
            ),
        ),
        # a site's second, different article about the same mission, next day
        (
            "change6-sharing",
            cand(
                "Chang'e-6 samples to be shared with international researchers",
                "spacenews.com",
                20,
                "CNSA said foreign scientists may apply for far-side samples.",
                ["change-6"],
                ["CNSA"],
            ),
        ),
    ]
    h = 30 * 24.0  # a busy launch day: two Falcon launches, different missions
    out += [
        (
            "hera",
            cand(
                "ESA's Hera mission launches to study asteroid Dimorphos",
                "esa.int",
                h,
                "Hera lifted off on a Falcon 9 from Cape Canaveral.",
                ["hera"],
                ["ESA"],
            ),
        ),
        (
            "hera",
            cand(
                "Hera lifts off on Falcon 9 to revisit DART impact site",
                "spacenews.com",
                h + 1,
                "The ESA spacecraft will reach the Didymos system in 2026.",
                ["hera", "dart"],
                ["ESA", "NASA"],
            ),
        ),
        (
            "hera",
            cand(
                "Europe's Hera probe heads for the Didymos asteroid system after launch",
                "space.com",
                h + 3,
                "ESA's planetary defence mission Hera is on its way.",
                ["hera"],
                ["ESA"],
            ),
        ),
        (
            "clipper",
            cand(
                "NASA's Europa Clipper launches on mission to Jupiter's icy moon",
                "nasa.gov",
                h + 6,
                "A Falcon Heavy launched Europa Clipper.",
                ["europa-clipper"],
                ["NASA"],
            ),
        ),
        (
            "clipper",
            cand(
                "Europa Clipper lifts off aboard Falcon Heavy bound for Jupiter",
                "space.com",
                h + 7,
                "The largest planetary spacecraft NASA has built.",
                ["europa-clipper"],
                ["NASA"],
            ),
        ),
    ]
    n = 40 * 24.0  # an ordinary NASA day: unrelated stories sharing only the agency
    out += [
        (
            "spacewalk",
            cand(
                "NASA astronauts complete spacewalk outside the ISS",
                "nasa.gov",
                n,
                "Two NASA astronauts spent six hours outside the station.",
                ["iss"],
                ["NASA"],
            ),
        ),
        (
            "clps",
            cand(
                "NASA selects companies for commercial lunar payload services",
                "nasa.gov",
                n + 2,
                "Three companies join the CLPS contract pool.",
                ["clps"],
                ["NASA"],
            ),
        ),
        (
            "perseverance",
            cand(
                "NASA's Perseverance rover finds intriguing rock at Jezero crater",
                "space.com",
                n + 3,
                "The rock shows leopard-spot patterns.",
                ["perseverance"],
                ["NASA"],
            ),
        ),
        (
            "budget",
            cand(
                "White House budget proposal would cut NASA science by a quarter",
                "spacepolicyonline.com",
                n + 4,
                "The proposal reduces science mission directorate funding by 24 percent.",
                (),
                ["NASA"],
            ),
        ),
        (
            "budget",
            cand(
                "Proposed budget slashes NASA science funding by 24 percent",
                "arstechnica.com",
                n + 6,
                "Planetary science and astrophysics would take the deepest cuts.",
                (),
                ["NASA"],
            ),
        ),
        (
            "iss-cargo",
            cand(
                "Cygnus cargo ship arrives at the space station",
                "spaceflightnow.com",
                n + 5,
                "Northrop Grumman's Cygnus was captured by the robotic arm.",
                ["iss"],
                ["NASA"],
            ),
        ),
    ]
    j = 50 * 24.0  # no mission linked at all: text alone has to carry it
    out += [
        (
            "slim",
            cand(
                "Japan's moon lander touches down but solar cells fail to generate power",
                "space.com",
                j,
                "JAXA's SLIM reached the lunar surface near Shioli crater.",
                (),
                ["JAXA"],
            ),
        ),
        (
            "slim",
            cand(
                "JAXA confirms moon landing; solar cell power problem threatens mission",
                "spacenews.com",
                j + 3,
                "The SLIM lander is running on battery power.",
                (),
                ["JAXA"],
            ),
        ),
        (
            "slim",
            cand(
                "SLIM makes Japan the fifth nation to land on the Moon",
                "nature.com",
                j + 8,
                "JAXA's precision lander touched down on the lunar surface.",
                (),
                ["JAXA"],
            ),
        ),
        (
            "gaganyaan",
            cand(
                "ISRO's Gaganyaan crew module passes parachute drop test",
                "thehindu.com",
                j + 4,
                "The test vehicle splashed down off Sriharikota.",
                ["gaganyaan"],
                ["ISRO"],
            ),
        ),
    ]
    u = 60 * 24.0  # the same site updating its own article
    out += [
        (
            "electron",
            cand(
                "Rocket Lab launches Electron with NASA cubesat",
                "spacenews.com",
                u,
                "An Electron lifted off from Mahia.",
                (),
                ["NASA"],
            ),
        ),
        (
            "electron",
            cand(
                "Rocket Lab launches Electron with NASA CubeSat (updated)",
                "spacenews.com",
                u + 3,
                "An Electron lifted off from Mahia; the cubesat was deployed.",
                (),
                ["NASA"],
            ),
        ),
        (
            "electron",
            cand(
                "Electron rocket launches NASA cubesat from New Zealand",
                "space.com",
                u + 4,
                "Rocket Lab's Electron launched from Mahia.",
                (),
                ["NASA"],
            ),
        ),
    ]
    return out


def _pairs(groups: Iterable[Iterable[int]]) -> set[frozenset[int]]:
    return {frozenset(p) for g in groups for p in combinations(sorted(g), 2)}


def _by_title(stories: list[Story], fragment: str) -> Story:
    hits = [s for s in stories if any(fragment in m.title for m in s.members)]
    assert len(hits) == 1, fragment
    return hits[0]


# --------------------------------------------------------------------------- tokens
def test_tokens_meet_across_spellings() -> None:
    assert tokens("Chang'e-6") == tokens("Chang’e 6") == tokens("CHANG'E6") == ["chang6"]
    assert tokens("lands") == tokens("landing") == tokens("landed") == ["land"]
    assert tokens("The launches of the year") == tokens("launched") == ["launch"]


# --------------------------------------------------------------------------- cases
def test_same_event_three_sites_one_story() -> None:
    cands = change6_return()
    stories = cluster(cands)
    assert len(stories) == 1
    assert stories[0].member_ids == {c.article_id for c in cands}


def test_same_event_titles_and_missions_only_still_cluster() -> None:
    """Many feeds have no summary: titles plus the linked mission must be enough."""
    bare = [
        cand(c.title, c.site, (c.published_at - T0).total_seconds() / 3600, "", c.missions)
        for c in change6_return()
    ]
    assert len(cluster(bare)) == 1


def test_same_mission_different_events_30_days_apart_stay_separate() -> None:
    launch = cand(
        "Chang'e-6 launches on Long March 5 toward the lunar far side",
        "spacenews.com",
        -30 * 24,
        "A Long March 5 launched Chang'e-6 from Wenchang.",
        ["change-6"],
    )
    stories = cluster([*change6_return(), launch])
    assert len(stories) == 2
    assert _by_title(stories, "Long March 5").members == [launch]


def test_launch_and_landing_inside_window_stay_separate() -> None:
    """Time alone is not enough: the event kind must agree too."""
    landing = cand(
        "Chang'e-6 lands on the far side of the Moon",
        "space.com",
        0,
        "China's Chang'e-6 touched down.",
        ["change-6"],
    )
    liftoff = cand(
        "Chang'e-6 ascender lifts off from the far side of the Moon",
        "spacenews.com",
        40,
        "The ascender left the lunar surface.",
        ["change-6"],
    )
    assert len(cluster([landing, liftoff])) == 2


def test_unrelated_nasa_stories_same_day_stay_separate() -> None:
    a = cand("NASA astronauts complete spacewalk outside the ISS", "nasa.gov", 0, "", [], ["NASA"])
    b = cand(
        "NASA selects companies for commercial lunar payload services",
        "space.com",
        1,
        "",
        [],
        ["NASA"],
    )
    c = cand(
        "NASA's Perseverance rover finds intriguing rock at Jezero crater",
        "spacenews.com",
        2,
        "",
        [],
        ["NASA"],
    )
    assert len(cluster([a, b, c])) == 3
    assert similarity(a, b) < 0.2


def test_same_site_update_merges_but_same_site_other_story_does_not() -> None:
    first = cand("Rocket Lab launches Electron with NASA cubesat", "spacenews.com", 0)
    update = cand("Rocket Lab launches Electron with NASA CubeSat - update", "spacenews.com", 3)
    other = cand("Rocket Lab Electron launch: NASA cubesat will study storms", "spacenews.com", 4)
    stories = cluster([first, update, other])
    assert sorted(len(s.members) for s in stories) == [1, 2]
    assert _by_title(stories, "update").member_ids == {first.article_id, update.article_id}


def test_same_url_twice_merges() -> None:
    a = cand("Starship flies again", "spacex.com", 0, url="https://spacex.com/updates/flight5")
    b = cand("Starship flight 5 recap", "spacex.com", 5, url="https://spacex.com/updates/flight5")
    assert len(cluster([a, b])) == 1


def test_window_boundary() -> None:
    title = "Japan's SLIM lander touches down on the Moon"
    a = cand(title, "space.com", 0)
    inside = cand(title, "spacenews.com", 47.9)
    outside = cand(title, "spacenews.com", 49)
    assert len(cluster([a, inside])) == 1
    assert len(cluster([a, outside])) == 2
    assert len(cluster([a, outside], window=timedelta(hours=50))) == 1


def test_story_span_never_exceeds_window_even_through_a_chain() -> None:
    title = "Japan's SLIM lander touches down on the Moon"
    chain = [cand(title, f"site{i}.example", 30.0 * i) for i in range(4)]
    stories = cluster(chain)
    for s in stories:
        times = [m.published_at for m in s.members]
        assert max(times) - min(times) <= timedelta(hours=48)
    assert len(stories) >= 2


def test_lead_selection() -> None:
    title = "Europa Clipper lifts off aboard Falcon Heavy"
    early = cand(title, "a.example", 0, weight=1.0)
    heavy = cand(title, "b.example", 2, weight=2.0)
    heavy_img = cand(title, "c.example", 3, weight=2.0, image=True)
    heavy_img_later = cand(title, "d.example", 4, weight=2.0, image=True)
    (story,) = cluster([early, heavy, heavy_img, heavy_img_later])
    assert story.lead == heavy_img
    (story,) = cluster([early, heavy])
    assert story.lead == heavy
    (story,) = cluster([early, cand(title, "e.example", 1)])
    assert story.lead == early  # equal weight, no images: earliest


def test_also_reported_and_story_fields() -> None:
    cands = change6_return()
    dup = cand(
        "Chang'e 6 capsule lands in Inner Mongolia with lunar far side samples (update)",
        "space.com",
        3,
        "",
        ["change-6"],
        ["CNSA"],
    )
    lead = cand(
        "China's Chang'e-6 returns first far-side samples",
        "xinhuanet.com",
        1,
        "",
        ["change-6", "queqiao-2"],
        ["CNSA"],
        weight=3.0,
    )
    (story,) = cluster([*cands, dup, lead])
    assert story.lead == lead
    sites = [site for site, _ in story.also_reported]
    assert sorted(sites) == ["nasaspaceflight.com", "space.com", "spacenews.com"]
    assert dict(story.also_reported)["space.com"] == cands[1].url  # one url per site
    assert story.missions == {"change-6", "queqiao-2"}
    assert story.agencies == {"CNSA"}
    assert story.key == min(story.member_ids)
    assert story.first_published == T0


def test_key_is_stable_as_later_articles_join() -> None:
    cands = change6_return()
    (before,) = cluster(cands[:2])
    (after,) = cluster(cands)
    assert before.key == after.key
    assert before.member_ids < after.member_ids


def test_duplicate_ids_and_naive_datetimes_are_rejected() -> None:
    a = cand("x", "a.example", article_id=10**6)
    b = cand("y", "b.example", article_id=10**6)
    with pytest.raises(ValueError, match="unique"):
        cluster([a, b])
    naive = Candidate(1, "t", "", "u", "s", datetime(2024, 1, 1), "en", 1.0)
    with pytest.raises(ValueError, match="timezone"):
        cluster([naive])


def test_labelled_set_precision_and_recall() -> None:
    data = labelled()
    label = {c.article_id: lab for lab, c in data}
    truth: dict[str, list[int]] = {}
    for lab, c in data:
        truth.setdefault(lab, []).append(c.article_id)
    stories = cluster([c for _, c in data])
    predicted = _pairs(s.member_ids for s in stories)
    expected = _pairs(truth.values())
    wrong = predicted - expected
    assert not wrong, [sorted(label[i] for i in p) for p in wrong]
    recall = len(predicted & expected) / len(expected)
    # Known miss: the SLIM reports carry no linked mission and share little wording, so the
    # conservative threshold keeps them apart (a duplicate-looking post, not lost news).
    missed = {label[next(iter(p))] for p in expected - predicted}
    assert missed <= {"slim"}, missed
    assert recall >= 0.8


def test_empty_input() -> None:
    assert cluster([]) == []


# --------------------------------------------------------------------------- properties
_TITLES = [t for _, c in labelled() for t in [c.title]]
_SITES = ["a.example", "b.example", "c.example", "d.example"]


@st.composite
def _candidates(draw: st.DrawFn) -> list[Candidate]:
    n = draw(st.integers(min_value=0, max_value=25))
    ids = draw(st.lists(st.integers(1, 10**6), min_size=n, max_size=n, unique=True))
    out = []
    for aid in ids:
        out.append(
            cand(
                draw(st.sampled_from(_TITLES)),
                draw(st.sampled_from(_SITES)),
                draw(st.floats(min_value=0, max_value=24 * 6, allow_nan=False)),
                missions=draw(st.sets(st.sampled_from(["change-6", "hera", "iss"]), max_size=2)),
                weight=draw(st.sampled_from([0.5, 1.0, 2.0])),
                image=draw(st.booleans()),
                article_id=aid,
            )
        )
    return out


@settings(max_examples=150, deadline=None)
@given(_candidates(), st.randoms(use_true_random=False))
def test_partition_and_order_independence(cands: list[Candidate], rnd: random.Random) -> None:
    stories = cluster(cands)
    seen = [m.article_id for s in stories for m in s.members]
    assert sorted(seen) == sorted(c.article_id for c in cands)  # every candidate exactly once
    for s in stories:
        assert s.lead in s.members
        times = [m.published_at for m in s.members]
        assert max(times) - min(times) <= timedelta(hours=48)
    shuffled = list(cands)
    rnd.shuffle(shuffled)
    again = cluster(shuffled)
    assert [(s.lead.article_id, [m.article_id for m in s.members]) for s in again] == [
        (s.lead.article_id, [m.article_id for m in s.members]) for s in stories
    ]
