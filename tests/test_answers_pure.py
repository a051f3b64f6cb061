"""Pure parts of the answers: query parsing, callback data, intents, HTML rendering, splitting."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.answers import callbacks, render
from bot.answers.intent import parse_intent
from bot.answers.resolve import Resolver
from bot.knowledge.catalog import load_catalog
from storage.queries import ArticleBrief, PartnerRow
from storage.search import canonical_query, fts5_expression, parse_query
from tests.support.html_rules import parse_html


@pytest.fixture(scope="module")
def resolver() -> Resolver:
    return Resolver(load_catalog())


def test_fts_expression_quotes_everything() -> None:
    expr = fts5_expression(parse_query('"negative ion" -russia chang\'e-7 NEAR( x"'))
    assert expr == '(("negative ion") AND ("chang e 7") AND ("near") AND ("x")) NOT ("russia")'
    assert fts5_expression(parse_query("the of -x")) == ""
    assert canonical_query("when does Tianwen-2 launch?") == '"tianwen 2" launch'


def test_search_callback_fits_and_round_trips() -> None:
    query = callbacks.fit_query("lunar " * 40 + "ice")
    data = callbacks.search(99, query)
    assert data is not None
    assert len(data.encode()) <= 64
    action = callbacks.decode(data)
    assert action is not None
    assert action.kind == "s"
    assert action.page == 99
    assert action.key == query
    assert callbacks.fit_query("ракета " * 20)  # multi-byte text is cut at term boundaries
    assert callbacks.decode("nonsense") is None
    assert callbacks.decode("s:x:q") is None


@pytest.mark.parametrize(
    ("text", "kind", "subject"),
    [
        ("who are the partners of Chang'e-7?", "partners", "Chang'e-7"),
        ("which countries fly on Tianwen-2", "partners", "Tianwen-2"),
        ("what does Pakistan contribute to", "partners", "Pakistan"),
        ("CE-7", "mission", "CE-7"),
        ("tell me about the Hera mission", "mission", "Hera"),
        ("/mission@orbitwire_bot change 7", "command", "mission"),
        ("water ice on the moon", "search", "water ice on the moon"),
    ],
)
def test_intents(resolver: Resolver, text: str, kind: str, subject: str) -> None:
    intent = parse_intent(text, resolver)
    assert (intent.kind, intent.subject) == (kind, subject)


def test_resolver_names(resolver: Resolver) -> None:
    assert [resolver.country(x).code for x in ("pakistani", "PK", "UAE", "the PRC", "PAK")] == [  # type: ignore[union-attr]
        "PK",
        "PK",
        "AE",
        "CN",
        "PK",
    ]
    assert resolver.agency("esa") is not None
    assert resolver.suggest("chnage 7")[0].key == "change-7"


def test_snippet_is_escaped_and_balanced() -> None:
    html = render.snippet_html("<script>\x02x & y\x03 \x03 \x02open")
    assert html == "&lt;script&gt;<b>x &amp; y</b>  <b>open</b>"
    parse_html(html)


def test_links_only_for_http() -> None:
    assert render.link("javascript:alert(1)", "x") == "x"
    assert (
        render.link('https://a.example/?q="', "t") == '<a href="https://a.example/?q=&quot;">t</a>'
    )


def test_partner_line_cites_catalog_source_and_articles() -> None:
    when = datetime(2026, 11, 20, tzinfo=UTC)
    base = dict(
        mission_slug="change-6", mission_name="Chang'e-6", country_code="SE",
        country_name="Sweden", flag="🇸🇪", agency="IRF", agency_name="IRF", institution=None,
        payload="NILS", role="instrument", confidence=1.0,
    )  # fmt: skip
    facts = [
        PartnerRow(**base, origin="catalog", source_url="https://www.src.example/x", article=None),
        PartnerRow(
            **base,
            origin="article",
            source_url=None,
            article=ArticleBrief(1, "t", "https://news.example/1", "news.example", "N", when),
        ),
        PartnerRow(
            **{**base, "country_code": "CN", "country_name": "China"},
            origin="catalog",
            source_url=None,
            article=None,
        ),
    ]
    lines = render.partner_lines(facts, lead_country="CN")
    assert lines[0].startswith("🇸🇪 <b>Sweden</b> — NILS")
    assert "src.example" in lines[0]
    assert "news.example" in lines[1]
    assert "20 Nov 2026" in lines[1]
    assert not any("China" in line for line in lines)


def test_split_lines_keeps_every_part_valid() -> None:
    lines = [f"<b>line {i}</b> 🇸🇪 {'x' * 90} &amp;" for i in range(200)]
    parts = render.split_lines(lines)
    assert len(parts) > 1
    for part in parts:
        assert render.utf16_len(part) <= 4096
        parse_html(part)
    assert sum(p.count("<b>line") for p in parts) == 200
    (one,) = render.split_lines(["<i>" + "y" * 5000 + "</i>"])
    assert render.utf16_len(one) <= 4096
