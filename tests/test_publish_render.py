"""Rendering posts: layout, escaping, limits in UTF-16 units, and Telegram's HTML rules.

Every rendered post is checked with the emulator's strict re-implementation of Telegram's
``parse_mode=HTML`` parser, so "it renders" means "Telegram would accept it".
"""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from telegram import Bot, LinkPreviewOptions

from bot.publish.render import (
    FollowLink,
    PostContent,
    RenderedPost,
    hashtag,
    html_to_plain,
    parse_follow_us,
    render_post,
    safe_url,
    sanitize_feed_html,
)
from bot.publish.textlimits import shorten_text, utf16_len
from tests.support.botapi import BotAPIEmulator
from tests.support.html_rules import parse_html
from tests.support.html_rules import utf16_len as reference_utf16_len

FOLLOW = parse_follow_us("Telegram=https://t.me/orbitwire,X=https://x.com/orbitwire")
URL = "https://spacenews.com/change-6-returns-samples"
IMAGE = "https://spacenews.com/img/change6.jpg"
SUMMARY = (
    "China's Chang'e-6 returned the first samples from the far side of the Moon. "
    "The lander carried instruments from ESA, France, Italy and Pakistan."
)


def visible(post: RenderedPost) -> str:
    """What Telegram shows (raises like Telegram would on invalid HTML)."""
    plain, _ = parse_html(post.html, strict=True)
    return plain


def links(html: str) -> list[tuple[str, str]]:
    plain, entities = parse_html(html, strict=True)
    encoded = plain.encode("utf-16-le")
    out = []
    for entity in entities:
        if entity["type"] == "text_link":
            start, end = entity["offset"] * 2, (entity["offset"] + entity["length"]) * 2
            out.append((encoded[start:end].decode("utf-16-le"), entity["url"]))
    return out


def content(**overrides: Any) -> PostContent:
    fields: dict[str, Any] = {
        "title": "Chang'e-6 brings far-side samples home",
        "url": URL,
        "summary": SUMMARY,
        "source_site": "spacenews.com",
        "also_reported": (("space.com", "https://www.space.com/a"), ("SpaceNews", URL)),
        "hashtags": ("Chang'e-6", "CNSA", "ESA", "cnsa"),
    }
    fields.update(overrides)
    return PostContent(**fields)


# --------------------------------------------------------------------------- layout


def test_layout_text_post() -> None:
    post = render_post(content(), FOLLOW)
    assert post.kind == "text"
    assert post.photo_url is None
    assert post.link_preview == {"url": URL, "prefer_large_media": True, "show_above_text": False}
    assert post.html.startswith(
        f'<b><a href="{URL}">Chang\'e-6 brings far-side samples home</a></b>'
    )
    text = visible(post)
    lines = text.split("\n")
    assert lines[0] == "Chang'e-6 brings far-side samples home"
    assert lines[1] == ""
    assert lines[2] == SUMMARY
    assert lines[3] == ""
    assert lines[4] == "According to spacenews.com · Also reported by space.com"
    assert lines[5] == "#ChangE6 #CNSA #ESA"  # "cnsa" deduplicated case-insensitively
    assert lines[6] == "Follow us: Telegram · X"
    assert links(post.html) == [
        ("Chang'e-6 brings far-side samples home", URL),
        ("spacenews.com", URL),
        ("space.com", "https://www.space.com/a"),
        ("Telegram", "https://t.me/orbitwire"),
        ("X", "https://x.com/orbitwire"),
    ]
    _, entities = parse_html(post.html)
    assert {"type": "bold", "offset": 0, "length": len(lines[0])} in entities
    # The plain fallback carries the article URL and fits the same limit.
    assert post.plain.startswith(f"Chang'e-6 brings far-side samples home\n{URL}\n\n")
    assert "Follow us: Telegram · X" in post.plain


def test_photo_post_with_caption() -> None:
    post = render_post(content(image_url=IMAGE), FOLLOW)
    assert post.kind == "photo"
    assert post.photo_url == IMAGE
    assert post.link_preview is None
    assert SUMMARY in visible(post)


def test_no_footer_no_summary_no_site() -> None:
    post = render_post(
        content(
            summary="", source_site="", also_reported=(), hashtags=(), url="https://www.nasa.gov/x"
        )
    )
    assert visible(post) == "Chang'e-6 brings far-side samples home\n\nAccording to nasa.gov"


def test_empty_title_falls_back_to_site() -> None:
    post = render_post(content(title="   \n ", summary=""))
    assert visible(post).startswith("spacenews.com\n")


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("AT&T <script>alert(1)</script>", "AT&T <script>alert(1)</script>"),
        ('Chang\'e & "friends"', 'Chang\'e & "friends"'),
        ("&nbsp; &amp; &#x1F680; &#0;", "&nbsp; &amp; &#x1F680; &#0;"),
        ("a\x00b\x1bc", "abc"),
    ],
)
def test_feed_text_is_escaped(title: str, expected: str) -> None:
    post = render_post(content(title=title, summary=title), FOLLOW)
    text = visible(post)
    assert text.split("\n")[0] == expected
    assert text.split("\n")[2] == expected


def test_quotes_in_urls_are_escaped_in_attributes() -> None:
    url = 'https://example.com/a"b<c>&d=1'
    post = render_post(content(url=url, summary=""))
    assert links(post.html)[0] == ("Chang'e-6 brings far-side samples home", url)
    assert '"b<c>' not in post.html


@pytest.mark.parametrize(
    "bad",
    [
        "javascript:alert(1)",
        "JAVASCRIPT:alert(1)",
        "data:text/html,<b>x</b>",
        "mailto:someone@example.com",
        "ftp://example.com/x",
        "/relative/path",
        "https://user:pass@evil.example/",
        "http://[::1]/x",
        "https://exa mple.com/",
        "https://example.com:99999/",
        "",
    ],
)
def test_non_http_links_are_dropped(bad: str) -> None:
    assert safe_url(bad) is None
    post = render_post(
        content(url=bad, also_reported=(("space.com", bad),), summary=""), [FollowLink("X", bad)]
    )
    assert links(post.html) == []
    assert "<a" not in post.html
    text = visible(post)
    assert "Chang'e-6 brings far-side samples home" in text
    assert "space.com" in text
    assert post.link_preview == {"is_disabled": True}


def test_idn_host_becomes_punycode() -> None:
    assert safe_url("https://пример.рф/новости") == "https://xn--e1afmkfd.xn--p1ai/новости"


def test_feed_html_summary_is_sanitized() -> None:
    summary_html = (
        "<p>The <strong>Chang&#39;e-6</strong> lander&nbsp;returned samples.</p>"
        '<p><img src="x.jpg"><a href="javascript:alert(1)">Click</a> '
        '<a href="https://esa.int/nils">ESA&#8217;s NILS</a> <script>evil()</script></p>'
        "<figure><figcaption>Image credit: CNSA</figcaption></figure>"
        "<ul><li>one</li><li>two</li></ul><span class='x'>AT&T</span>"
    )
    post = render_post(content(summary_html=summary_html))
    text = visible(post)
    assert "The Chang'e-6 lander\u00a0returned samples.\n\nClick ESA’s NILS" in text
    assert "• one\n• two" in text
    assert "AT&T" in text
    assert "evil" not in text
    assert "Image credit" not in text
    assert "<b>Chang'e-6</b>" in post.html
    assert ("ESA’s NILS", "https://esa.int/nils") in links(post.html)


@pytest.mark.parametrize(
    ("feed", "html", "plain"),
    [
        ("A&nbsp;B", "A\u00a0B", "A\u00a0B"),
        ("<b>x</b><b></b><a href='https://e.com'> </a>", "<b>x</b>", "x"),
        ("<a href='https://a.com'><a href='https://b.com'>in</a></a>", None, "in"),
        ("<b>unclosed <i>tags", "<b>unclosed <i>tags</i></b>", "unclosed tags"),
        ("x<br>y<br/><br>z", "x\ny\nz", "x\ny\nz"),
        ("<pre>a <b>b</b>\n  c</pre>", "<pre>a b\n  c</pre>", "a b\n  c"),
        ("<blockquote><blockquote>q</blockquote></blockquote>", "<blockquote>q</blockquote>", "q"),
        ("1 < 2 & 3 > 2", "1 &lt; 2 &amp; 3 &gt; 2", "1 < 2 & 3 > 2"),
        ("<tg-spoiler>s</tg-spoiler><!-- c --><style>p{}</style>", "s", "s"),
    ],
)
def test_sanitize_feed_html(feed: str, html: str | None, plain: str) -> None:
    out = sanitize_feed_html(feed)
    if html is not None:
        assert out == html
    assert parse_html(out, strict=True)[0] == plain
    assert html_to_plain(feed) == plain


# --------------------------------------------------------------------------- hashtags


@pytest.mark.parametrize(
    ("name", "tag"),
    [
        ("Chang'e-6", "#ChangE6"),
        ("Chang’e 6", "#ChangE6"),
        ("Tianwen-2", "#Tianwen2"),
        ("ESA", "#ESA"),
        ("CNSA", "#CNSA"),
        ("嫦娥六号", "#嫦娥六号"),
        ("James Webb Space Telescope", "#JamesWebbSpaceTelescope"),
        ("eROSITA", "#eROSITA"),
        ("2024 YR4", "#_2024YR4"),
        ("Roscosmos (Роскосмос)", "#RoscosmosРоскосмос"),
        ("चंद्रयान-3", "#चंद्रयान3"),
        ("--- 42 ---", None),
        ("", None),
    ],
)
def test_hashtag(name: str, tag: str | None) -> None:
    assert hashtag(name) == tag


# --------------------------------------------------------------------------- FOLLOW_US


def test_parse_follow_us_valid() -> None:
    assert parse_follow_us(
        " Telegram = https://t.me/orbitwire , Mastodon=https://mastodon.social/@orbitwire,"
        "Bluesky=https://bsky.app/profile/orbitwire.bsky.social?x=1,"
    ) == [
        FollowLink("Telegram", "https://t.me/orbitwire"),
        FollowLink("Mastodon", "https://mastodon.social/@orbitwire"),
        FollowLink("Bluesky", "https://bsky.app/profile/orbitwire.bsky.social?x=1"),
    ]
    assert parse_follow_us("") == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("Telegram", "must look like"),
        ("=https://t.me/x", "must look like"),
        ("Telegram=", "must look like"),
        ("X=javascript:alert(1)", "not an absolute http"),
        ("X=t.me/orbitwire", "not an absolute http"),
        ("X=https://x.com/a,x=https://x.com/b", "appears twice"),
        ("A very very very long label indeed=https://x.com", "longer than 32"),
    ],
)
def test_parse_follow_us_invalid(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_follow_us(value)


# --------------------------------------------------------------------------- limits


def test_shorten_text_prefers_sentences_then_words() -> None:
    text = "First sentence is here. Second one follows it closely. Third."
    assert shorten_text(text, 40) == "First sentence is here."
    assert shorten_text("alpha beta gamma delta epsilon", 15) == "alpha beta…"
    assert shorten_text("🚀🚀🚀🚀", 5) == "🚀🚀…"
    assert utf16_len("🚀a") == reference_utf16_len("🚀a") == 3


def _caption_overhead(post_content: PostContent) -> int:
    """Visible size of the caption without the summary (title, blank lines, meta, footer)."""
    post = render_post(replace(post_content, summary=""), FOLLOW)
    return utf16_len(visible(post)) + 2  # + the blank line before the summary


def test_photo_vs_text_at_caption_boundary_counts_utf16() -> None:
    """A caption of exactly 1,024 UTF-16 units is a photo; one unit more is not.

    The summary is made of astral emoji (2 units each) plus ASCII, so a renderer that counted
    ``len()`` would believe the 1,025-unit caption fits.
    """
    base = content(image_url=IMAGE, summary="")
    overhead = _caption_overhead(base)
    room = 1024 - overhead
    fitting = "🚀" * ((room - 1) // 2) + "x" * ((room - 1) % 2 + 1)
    assert utf16_len(fitting) == room
    post = render_post(content(image_url=IMAGE, summary=fitting), FOLLOW)
    assert post.kind == "photo"
    assert reference_utf16_len(visible(post)) == 1024

    # One unit over: the astral summary cannot be shortened "usefully" (it is one word), so
    # the renderer shortens at a character boundary with an ellipsis and keeps the photo.
    over = fitting + "x"
    post = render_post(content(image_url=IMAGE, summary=over), FOLLOW)
    assert len(visible(post)) < 1024  # in characters it would always have "fit"
    assert reference_utf16_len(visible(post)) <= 1024
    assert post.kind == "photo"
    assert visible(post).split("\n")[2].endswith("…")


def test_caption_too_long_becomes_text_with_large_image_preview() -> None:
    # A long title and many hashtags leave less than a useful summary in a caption.
    long_title = "Orbit " * 49
    tags = tuple(f"Mission {chr(65 + i)}{'x' * 40}" for i in range(12))
    summary = ("The mission returned samples. " * 40).strip()
    post = render_post(
        content(title=long_title, hashtags=tags, summary=summary, image_url=IMAGE), FOLLOW
    )
    assert post.kind == "text"
    assert post.photo_url is None
    assert post.link_preview == {"url": IMAGE, "prefer_large_media": True, "show_above_text": True}
    assert summary in visible(post)  # a text message has room for the whole summary


def test_long_caption_summary_is_shortened_when_useful() -> None:
    summary = " ".join(
        f"Sentence number {i} describes the far-side landing site." for i in range(40)
    )
    post = render_post(content(summary=summary, image_url=IMAGE), FOLLOW)
    assert post.kind == "photo"
    text = visible(post)
    assert reference_utf16_len(text) <= 1024
    shown = text.split("\n")[2]
    assert shown.endswith("site.")  # cut after a whole sentence
    assert len(shown) > 500
    assert text.endswith("Follow us: Telegram · X")


def test_long_text_summary_is_shortened_with_ellipsis() -> None:
    word = "🛰️satellite "
    summary = word * 1000
    post = render_post(content(summary=summary), FOLLOW)
    assert post.kind == "text"
    text = visible(post)
    assert reference_utf16_len(text) <= 4096
    assert text.split("\n")[2].endswith("satellite…")
    assert text.endswith("Follow us: Telegram · X")
    assert reference_utf16_len(post.plain) <= 4096


def test_huge_summary_html_is_flattened_and_shortened() -> None:
    summary_html = "<p>" + "<b>Bold &amp; brave</b> words. " * 800 + "</p>"
    post = render_post(content(summary_html=summary_html, image_url=IMAGE), FOLLOW)
    assert post.kind == "photo"
    assert reference_utf16_len(visible(post)) <= 1024


def test_tiny_limits_still_produce_valid_text() -> None:
    post = render_post(content(title="T" * 500), FOLLOW, max_text=50)
    text = visible(post)
    assert 0 < reference_utf16_len(text) <= 50


# --------------------------------------------------------------------------- properties

ASTRAL = st.sampled_from(["🚀", "🛰️", "𝕏", "👩‍🚀", "\U0001f1e8\U0001f1f3"])
SPECIAL = st.sampled_from(
    ["\u200f", "\u200e", "\u202e", "\u2066", "\u00a0", "\x00", "\ufeff", "\u0301", "\r\n", "\t"]
)
TEXT = st.lists(
    st.one_of(st.text(max_size=20), ASTRAL, SPECIAL, st.sampled_from(["&", "<", ">", '"', "'"])),
    max_size=12,
).map("".join)
TAG_NAMES = st.sampled_from(
    [
        "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "code", "pre", "a",
        "blockquote", "p", "br", "li", "ul", "div", "img", "script", "style", "span",
        "tg-spoiler", "tg-emoji", "iframe", "figcaption", "h1", "table", "td", "x-custom",
        "svg", "math", "textarea", "title",
    ]
)  # fmt: skip
HREFS = st.sampled_from(
    [
        "https://example.com/a?b=1&c=2",
        "http://example.com",
        "javascript:alert(1)",
        "data:text/html,<b>x</b>",
        "/relative",
        "//proto.relative/x",
        "http://[::1]/",
        "https://пример.рф/",
        "https://user@evil.com/",
        "mailto:a@b.c",
        'https://x.com/"><b>',
        " https://x.com ",
        "tg://user?id=1",
        "",
    ]
)
ATTRS = st.one_of(
    st.builds(lambda v: f' href="{v}"', HREFS),
    st.builds(lambda v: f" href='{v}'", HREFS),
    st.builds(lambda v: f" href={v}", HREFS),
    st.sampled_from(
        [' class="tg-spoiler"', " title='x'", " onclick=alert(1)", " expandable", " src=x"]
    ),
)
ENTITIES = st.sampled_from(
    ["&nbsp;", "&amp;", "&#x1F680;", "&#128640;", "&copy;", "&lt;", "&gt;", "&quot;", "&#0;",
     "&#xD800;", "&#x110000;", "&", "&amp", "&#39;", "&apos;", "&bogus;", "&#x;"]
)  # fmt: skip
HTML_PIECES = st.one_of(
    st.builds(lambda t, a, c: f"<{t}{''.join(a)}{c}>", TAG_NAMES, st.lists(ATTRS, max_size=2),
              st.sampled_from(["", "/", " /"])),
    st.builds(lambda t: f"</{t}>", TAG_NAMES),
    ENTITIES,
    TEXT,
    ASTRAL,
    SPECIAL,
    st.sampled_from(["<", ">", "<!--", "-->", "<![CDATA[x]]>", "<!DOCTYPE html>", "</", "<a"]),
)  # fmt: skip
HTMLISH = st.lists(HTML_PIECES, max_size=25).map("".join)
# Long texts cheaply: a short text repeated.
LONG_TEXT = st.builds(lambda t, n: t * n, TEXT, st.integers(0, 400))
URLS = st.one_of(HREFS, TEXT)
REPEATED_HTML = st.builds(lambda h, n: h * n, HTMLISH, st.integers(0, 60))

PROPERTY_SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def check_post(post: RenderedPost, max_text: int = 4096, max_caption: int = 1024) -> None:
    plain, _ = parse_html(post.html, strict=True)  # raises HTMLParseError like Telegram would
    limit = max_caption if post.kind == "photo" else max_text
    assert plain.strip(), "Telegram refuses an empty message"
    assert reference_utf16_len(plain) <= limit
    assert reference_utf16_len(post.plain) <= limit
    assert (post.kind == "photo") == (post.photo_url is not None)
    if post.kind == "text":
        assert post.link_preview is not None
        LinkPreviewOptions(**post.link_preview)


@PROPERTY_SETTINGS
@given(feed=HTMLISH)
def test_property_sanitize_feed_html_is_always_valid(feed: str) -> None:
    out = sanitize_feed_html(feed)
    plain, entities = parse_html(out, strict=True)
    assert plain == html_to_plain(feed)
    assert all(e["type"] != "text_link" or e["url"].startswith("http") for e in entities)


@PROPERTY_SETTINGS
@given(
    title=st.one_of(TEXT, HTMLISH, LONG_TEXT),
    url=URLS,
    summary=st.one_of(TEXT, LONG_TEXT),
    summary_html=st.one_of(st.none(), HTMLISH, REPEATED_HTML),
    site=st.one_of(TEXT, HTMLISH),
    also=st.lists(st.tuples(st.one_of(TEXT, HTMLISH), URLS), max_size=8),
    tags=st.lists(st.one_of(TEXT, HTMLISH), max_size=15),
    image=st.one_of(st.none(), st.just(IMAGE), URLS),
    follow=st.lists(st.builds(FollowLink, TEXT, URLS), max_size=4),
)  # fmt: skip
def test_property_render_post_is_always_accepted(
    title: str,
    url: str,
    summary: str,
    summary_html: str | None,
    site: str,
    also: list[tuple[str, str]],
    tags: list[str],
    image: str | None,
    follow: list[FollowLink],
) -> None:
    post = render_post(
        PostContent(
            title=title,
            url=url,
            summary=summary,
            source_site=site,
            also_reported=tuple(also),
            hashtags=tuple(tags),
            image_url=image,
            summary_html=summary_html,
        ),
        follow,
    )
    check_post(post)


@PROPERTY_SETTINGS
@given(name=st.one_of(TEXT, HTMLISH))
def test_property_hashtags_are_valid(name: str) -> None:
    tag = hashtag(name)
    if tag is not None:
        body = tag[1:]
        assert body
        assert not body[0].isdigit()
        assert all(
            ch == "_" or unicodedata.category(ch) in {"Nd", "Mn", "Mc"} or ch.isalpha()
            for ch in body
        )


# --------------------------------------------------------------------------- end to end

CHANNEL = -100123


async def send(bot: Bot, post: RenderedPost) -> None:
    if post.kind == "photo":
        assert post.photo_url is not None
        await bot.send_photo(CHANNEL, photo=post.photo_url, caption=post.html, parse_mode="HTML")
    else:
        assert post.link_preview is not None
        await bot.send_message(
            CHANNEL,
            post.html,
            parse_mode="HTML",
            link_preview_options=LinkPreviewOptions(**post.link_preview),
        )


async def test_rendered_posts_are_accepted_by_the_bot_api(
    botapi: BotAPIEmulator, botapi_bot: Bot
) -> None:
    botapi.add_channel(CHANNEL, username="orbitwire")
    long_summary = "🚀 " + "The far-side samples are unique & precious. " * 120
    posts = [
        render_post(content(image_url=IMAGE), FOLLOW),
        render_post(content(title='AT&T <script> Chang\'e & "friends"'), FOLLOW),
        render_post(content(summary=long_summary, image_url=IMAGE, title="Orbit " * 60), FOLLOW),
        render_post(content(summary=long_summary * 3), FOLLOW),
        render_post(content(summary_html="<p>A&nbsp;<b>bold</b> <img src=x> claim</p>")),
    ]
    kinds = [p.kind for p in posts]
    assert "photo" in kinds
    assert "text" in kinds
    for post in posts:
        await send(botapi_bot, post)

    stored = botapi.messages(CHANNEL)
    assert len(stored) == len(posts)
    for post, message in zip(posts, stored, strict=True):
        assert message.html == post.html
        assert message.content == visible(post).strip()
        if post.kind == "photo":
            assert message.method == "sendPhoto"
            assert message.photo
        else:
            assert message.method == "sendMessage"
            assert message.link_preview_options == post.link_preview
    assert stored[0].caption is not None
    assert "Follow us: Telegram · X" in stored[0].caption
    assert stored[1].text is not None
    assert stored[1].text.startswith('AT&T <script> Chang\'e & "friends"')


@PROPERTY_SETTINGS
@given(
    title=st.one_of(TEXT, LONG_TEXT),
    summary=LONG_TEXT,
    summary_html=st.one_of(st.none(), REPEATED_HTML),
    tags=st.lists(TEXT, max_size=15),
    image=st.one_of(st.none(), st.just(IMAGE)),
    max_text=st.integers(20, 4096),
    max_caption=st.integers(20, 1024),
)
def test_property_any_limits_are_respected(
    title: str,
    summary: str,
    summary_html: str | None,
    tags: list[str],
    image: str | None,
    max_text: int,
    max_caption: int,
) -> None:
    post = render_post(
        content(title=title, summary=summary, summary_html=summary_html, hashtags=tuple(tags),
                image_url=image),
        FOLLOW,
        max_text=max_text,
        max_caption=max_caption,
    )  # fmt: skip
    check_post(post, max_text=max_text, max_caption=max_caption)
