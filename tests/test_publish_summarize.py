"""Summaries: the extractive summarizer, and the LLM path against a loopback fake server.

The fake is a real aiohttp server on 127.0.0.1 speaking the OpenAI ``/chat/completions``
shape, so the tests exercise the actual HTTP client, headers, timeouts and JSON handling.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.publish.summarize import (
    AbstractiveSummarizer,
    Summarizer,
    clean_model_output,
    extractive_summary,
    split_sentences,
)
from bot.publish.textlimits import utf16_len

TITLE = "Chang'e-6 returns first samples from the Moon's far side"
MISSION_SENTENCE = (
    "The Chang'e-6 lander carried the NILS instrument from ESA, built in Sweden, alongside "
    "payloads from France, Italy and Pakistan."
)
ARTICLE = f"""By Andrew Jones, SpaceNews
June 25, 2024

Image credit: CNSA/CLEP

China's Chang'e-6 returns first samples from the Moon's far side.

The return capsule touched down in Inner Mongolia at 2:07 p.m. Beijing time on Tuesday, \
ending a 53-day mission. It brought back an estimated 2 kg of material scooped and drilled \
from the South Pole-Aitken basin (Image: CNSA). {MISSION_SENTENCE}

Officials from the China National Space Administration said the samples would first be \
analysed in Beijing. Dr. Li Chunlai, deputy chief designer, called the landing a historic \
step. The U.S. has no comparable far-side sample return planned before 2030.

The weather at the landing site was clear, with temperatures around 25.5 degrees.

Follow us on X and Telegram for more launch news.
Source: China National Space Administration.
Read more: Chang'e-7 will target the lunar south pole in 2026.
Subscribe to our newsletter for weekly updates.
© 2024 SpaceNews. All rights reserved.
The post Chang'e-6 returns samples appeared first on SpaceNews.
"""
KEYWORDS = ("Chang'e-6", "ESA", "NILS", "Sweden", "France", "Italy", "Pakistan", "CNSA")

BOILERPLATE = re.compile(
    r"Follow us|Source:|Image credit|\(Image|By Andrew|Read more|Subscribe|©|appeared first",
    re.IGNORECASE,
)


# --------------------------------------------------------------------------- extractive


def test_split_sentences_handles_abbreviations_and_decimals() -> None:
    text = (
        "The U.S. Space Force paid $3.5 billion. Dr. Smith said pad No. 5 was ready at "
        "2:07 p.m. on Friday. John F. Kennedy set the goal! Was it worth it? 嫦娥六号着陆。它很好。"
    )
    assert split_sentences(text) == [
        "The U.S. Space Force paid $3.5 billion.",
        "Dr. Smith said pad No. 5 was ready at 2:07 p.m. on Friday.",
        "John F. Kennedy set the goal!",
        "Was it worth it?",
        "嫦娥六号着陆。",
        "它很好。",
    ]


def test_extractive_summary_of_a_realistic_article() -> None:
    summary = extractive_summary(TITLE, ARTICLE, keywords=KEYWORDS)
    sentences = split_sentences(summary)
    assert 2 <= len(sentences) <= 3
    assert len(summary) <= 600
    assert MISSION_SENTENCE in summary
    assert not BOILERPLATE.search(summary)
    assert "China's Chang'e-6 returns first samples" not in summary  # the title, repeated
    assert summary.startswith("The return capsule touched down")  # the lead, not the dateline
    assert "weather" not in summary  # low-value sentence loses
    # Sentences keep their original order.
    positions = [ARTICLE.replace("\\\n", "").find(s[:30]) for s in sentences]
    assert positions == sorted(positions)


def test_keywords_steer_the_choice() -> None:
    text = (
        "The launch window opens next week after weeks of delays at the spaceport. "
        "Engineers completed a final review of the rocket's upper stage on Monday. "
        "Weather forecasts show a 70 percent chance of acceptable conditions. "
        "The rocket will also carry a small cubesat built by students in Kenya. "
        "The range has been cleared for the attempt by local authorities."
    )
    without = extractive_summary("Launch set for next week", text, max_sentences=2)
    with_kw = extractive_summary(
        "Launch set for next week", text, keywords=["Kenya"], max_sentences=2
    )
    assert "Kenya" not in without
    assert "Kenya" in with_kw


def test_keyword_matching_ignores_apostrophe_and_hyphen_variants() -> None:
    text = (
        "Officials spoke at length about the program budget for next year. "
        "Schedules for several projects remain under review by the agency. "
        "Chang’e 6 samples were handed to scientists in Beijing on Wednesday."
    )
    summary = extractive_summary("Budget news", text, keywords=["Chang'e-6"], max_sentences=1)
    assert summary.startswith("Chang’e 6 samples")


def test_length_limit_drops_sentences_rather_than_cutting() -> None:
    sentences = [
        f"Sentence {i} talks about the lunar mission in some detail here." for i in range(8)
    ]
    summary = extractive_summary("Lunar mission", " ".join(sentences), max_chars=150)
    assert len(summary) <= 150
    assert summary.endswith(".")
    assert all(part in sentences for part in split_sentences(summary))


def test_single_overlong_sentence_is_cut_at_a_word_with_ellipsis() -> None:
    long_sentence = "The spacecraft " + "performed another careful manoeuvre " * 40 + "today."
    summary = extractive_summary("Manoeuvres", long_sentence, max_chars=200)
    assert utf16_len(summary) <= 200
    assert summary.endswith("manoeuvre…") or summary.endswith("careful…")


def test_limit_counts_utf16_units() -> None:
    text = " ".join(f"Rocket 🚀 number {i} lifted off from the pad 🚀 today." for i in range(10))
    summary = extractive_summary("Rockets", text, max_chars=120)
    assert utf16_len(summary) <= 120


def test_extractive_accepts_html_and_empty_input() -> None:
    html = (
        "<p>By Jane Doe</p><p>NASA&nbsp;selected <b>SpaceX</b> for the deorbit vehicle.</p>"
        "<figure><img src='x.jpg'><figcaption>Credit: NASA</figcaption></figure>"
        "<p>The contract is worth $843 million over several years of work.</p>"
    )
    summary = extractive_summary("NASA picks deorbit vehicle", html)
    assert summary == (
        "NASA selected SpaceX for the deorbit vehicle. "
        "The contract is worth $843 million over several years of work."
    )
    assert extractive_summary("Title", "") == ""
    assert extractive_summary("Title", "Follow us on X. Source: NASA.") == ""


@settings(max_examples=200, deadline=None)
@given(
    text=st.lists(
        st.one_of(
            st.text(max_size=40), st.sampled_from([". ", "! ", "\n", "U.S. ", "🚀", "By Jo Li\n"])
        ),
        max_size=60,
    ).map("".join),
    max_chars=st.integers(1, 600),
    keywords=st.lists(st.text(max_size=10), max_size=4),
)
def test_property_extractive_respects_the_limit(
    text: str, max_chars: int, keywords: list[str]
) -> None:
    summary = extractive_summary("Title", text, keywords=keywords, max_chars=max_chars)
    assert utf16_len(summary) <= max_chars
    assert summary == summary.strip()
    summary.encode("utf-8")  # no lone surrogates


def test_clean_model_output() -> None:
    assert clean_model_output("**Summary:** The *rover* landed. It works.") == (
        "The rover landed. It works."
    )
    assert clean_model_output("## Summary\n- The probe launched on time. #NASA") == (
        "The probe launched on time."
    )
    cut = clean_model_output("The probe launched on time today. It then reached orbit and")
    assert cut == "The probe launched on time today."
    assert clean_model_output("   ") is None
    long = " ".join(["The mission succeeded beyond all expectations today."] * 20)
    out = clean_model_output(long)
    assert out is not None
    assert len(out) <= 600
    assert out.endswith(".")


# --------------------------------------------------------------------------- abstractive

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FakeLLM:
    """A loopback OpenAI-compatible server whose behaviour each test sets."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.mode = "ok"
        self.answer = (
            "China's Chang'e-6 returned about 2 kg of far-side samples. "
            "ESA's NILS instrument, built in Sweden, flew on the lander."
        )
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append((dict(request.headers), body))
        if self.mode == "error":
            return web.json_response({"error": {"message": "boom"}}, status=500)
        if self.mode == "slow":
            await asyncio.sleep(1.0)  # longer than the 0.3 s client timeout
        if self.mode == "malformed":
            return web.Response(text="{not json", content_type="application/json")
        if self.mode == "wrong_shape":
            return web.json_response({"choices": []})
        return web.json_response(
            {
                "id": "x",
                "object": "chat.completion",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": f"  {self.answer}\n"},
                        "finish_reason": "stop",
                    }
                ],
            }
        )


@pytest.fixture
async def fake_llm() -> AsyncIterator[FakeLLM]:
    fake = FakeLLM()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.url = f"http://127.0.0.1:{port}/v1"
    try:
        yield fake
    finally:
        await runner.cleanup()


SECRET = "sk-test-SECRET-key-123"


async def test_abstractive_success_sends_model_and_bearer_key(fake_llm: FakeLLM) -> None:
    async with AbstractiveSummarizer(fake_llm.url, "tiny-model", SECRET, timeout=5) as llm:
        summary = await llm.summarize(TITLE, ARTICLE, keywords=KEYWORDS)
    assert summary == fake_llm.answer
    headers, body = fake_llm.requests[0]
    assert headers["Authorization"] == f"Bearer {SECRET}"
    assert body["model"] == "tiny-model"
    assert body["temperature"] == 0.2
    assert body["max_tokens"] > 0
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert "600" in body["messages"][0]["content"]
    assert "Chang'e-6" in body["messages"][1]["content"]
    assert SECRET not in repr(llm)


async def test_summarizer_uses_abstractive_when_it_works(fake_llm: FakeLLM) -> None:
    summarizer = Summarizer.from_settings(fake_llm.url, "tiny-model", None, timeout=5)
    try:
        summary, method = await summarizer.summarize(TITLE, ARTICLE, keywords=KEYWORDS)
    finally:
        await summarizer.aclose()
    assert (summary, method) == (fake_llm.answer, "abstractive")
    headers, _ = fake_llm.requests[0]
    assert "Authorization" not in headers  # no key configured, none sent


@pytest.mark.parametrize("mode", ["error", "slow", "malformed", "wrong_shape", "empty"])
async def test_fallback_to_extractive(
    fake_llm: FakeLLM, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    fake_llm.mode = mode
    if mode == "empty":
        fake_llm.mode, fake_llm.answer = "ok", "   "
    summarizer = Summarizer(AbstractiveSummarizer(fake_llm.url, "m", SECRET, timeout=0.3))
    caplog.set_level(logging.WARNING, logger="bot.publish.summarize")
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        summary, method = await summarizer.summarize(TITLE, ARTICLE, keywords=KEYWORDS)
    finally:
        await summarizer.aclose()
    assert loop.time() - started < 1.5  # the timeout bounds the whole call
    assert method == "extractive"
    assert summary == extractive_summary(TITLE, ARTICLE, keywords=KEYWORDS)
    assert len(fake_llm.requests) == 1
    assert caplog.records
    assert all(r.levelno == logging.WARNING for r in caplog.records)
    assert SECRET not in caplog.text


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_fallback_on_connection_refused(caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    caplog.set_level(logging.WARNING, logger="bot.publish.summarize")
    summarizer = Summarizer.from_settings(url, "m", SECRET, timeout=2)
    try:
        summary, method = await summarizer.summarize(TITLE, ARTICLE, keywords=KEYWORDS)
    finally:
        await summarizer.aclose()
    assert method == "extractive"
    assert MISSION_SENTENCE in summary
    assert "ConnectError" in caplog.text
    assert SECRET not in caplog.text


async def test_key_never_logged_even_when_it_breaks_the_request(
    caplog: pytest.LogCaptureFixture, fake_llm: FakeLLM
) -> None:
    bad_key = "sk-bad\nkey-SECRET"  # an illegal header value; h11 quotes it in its error
    caplog.set_level(logging.DEBUG, logger="bot.publish.summarize")
    async with AbstractiveSummarizer(fake_llm.url, "m", bad_key, timeout=2) as llm:
        assert await llm.summarize(TITLE, ARTICLE) is None
    assert "SECRET" not in caplog.text


async def test_shared_client_is_not_closed(fake_llm: FakeLLM) -> None:
    async with httpx.AsyncClient() as client:
        llm = AbstractiveSummarizer(fake_llm.url + "/", "m", None, client=client)
        assert await llm.summarize(TITLE, ARTICLE) == fake_llm.answer
        await llm.aclose()
        assert not client.is_closed


async def test_overlong_model_answer_is_cut_at_a_sentence(fake_llm: FakeLLM) -> None:
    fake_llm.answer = " ".join(f"Sentence {i} about the lunar samples is here." for i in range(40))
    async with AbstractiveSummarizer(fake_llm.url, "m", None, timeout=5) as llm:
        summary = await llm.summarize(TITLE, ARTICLE)
    assert summary is not None
    assert len(summary) <= 600
    assert summary.endswith("here.")


async def test_no_text_means_no_request(fake_llm: FakeLLM) -> None:
    summary, method = await Summarizer(AbstractiveSummarizer(fake_llm.url, "m", None)).summarize(
        TITLE, "   "
    )
    assert (summary, method) == ("", "extractive")
    assert fake_llm.requests == []
