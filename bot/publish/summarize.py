"""Story summaries: an extractive summarizer that always works, plus an optional LLM.

Why extractive first: it is pure, instant, deterministic and cannot invent facts, so the channel
keeps posting when no model is configured or the model endpoint is down.  The abstractive path
(any OpenAI-compatible ``/chat/completions`` endpoint: OpenAI, vLLM, Ollama, llama.cpp…) reads
better, but every failure — timeout, HTTP error, malformed JSON, an empty or rambling answer —
silently falls back to the extractive summary; a summary must never block a post.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from bot.lifecycle import AsyncClosing

from .render import html_to_plain
from .textlimits import clean_text, collapse_spaces, shorten_text, utf16_len

__all__ = [
    "MAX_SUMMARY_CHARS",
    "AbstractiveSummarizer",
    "Summarizer",
    "extractive_summary",
    "split_sentences",
]

logger = logging.getLogger(__name__)

MAX_SUMMARY_CHARS = 600
#: Sentences considered by the extractive summarizer (news is front-loaded; bounds the work).
MAX_CANDIDATES = 40
#: Article text sent to the model; more costs tokens without improving a 3-sentence summary.
MAX_PROMPT_CHARS = 12_000

# --------------------------------------------------------------------------- sentences

# Lower-cased tokens that end with a period without ending a sentence.
# fmt: off
_ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "ft", "no", "nos", "vs", "etc",
    "inc", "ltd", "corp", "co", "gen", "lt", "col", "maj", "capt", "cmdr", "adm", "sgt", "rep",
    "sen", "gov", "pres", "rev", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept",
    "oct", "nov", "dec", "approx", "est", "fig", "figs", "vol", "dept", "univ", "e.g", "i.e",
    "al", "cf", "ca", "op", "ph.d", "u.s", "u.k", "u.n", "e.u"
})
# fmt: on
_BOUNDARY_RE = re.compile(r"[.!?…]+[\"'”’»)\]]*\s+|[。！？]+")
_LAST_WORD_RE = re.compile(r"(\S+)$")
_INITIALISM_RE = re.compile(r"^(?:[A-Za-z]\.)+[A-Za-z]?$")
_HTML_RE = re.compile(r"<[A-Za-z/!][^>]*>|&[#A-Za-z0-9]+;")


def _is_real_boundary(text: str, match: re.Match[str]) -> bool:
    punct = match.group()[0]
    if punct != ".":
        return True
    word_match = _LAST_WORD_RE.search(text, 0, match.start())
    word = word_match.group(1).lstrip("(\"'“‘[") if word_match else ""
    following = text[match.end() : match.end() + 1]
    if following and following.islower():
        return False  # "approx. three", "the U.S. space agency"
    lowered = word.lower()
    if lowered in _ABBREVIATIONS or lowered.rstrip(".") in _ABBREVIATIONS:
        return False
    if len(word) == 1 and word.isupper():
        return False  # an initial: "John F. Kennedy"
    return bool(not _INITIALISM_RE.match(word))  # "U.S.", "U.K." before a name


def split_sentences(text: str) -> list[str]:
    """Split into sentences, robust to "U.S.", "Dr.", "No. 5", initials and decimals ("3.5").

    Line breaks always end a sentence (paragraphs, list items, captions on their own line).
    """
    sentences: list[str] = []
    for line in text.splitlines():
        start = 0
        for match in _BOUNDARY_RE.finditer(line):
            if _is_real_boundary(line, match):
                sentence = line[start : match.end()].strip()
                if sentence:
                    sentences.append(sentence)
                start = match.end()
        rest = line[start:].strip()
        if rest:
            sentences.append(rest)
    return sentences


# --------------------------------------------------------------------------- boilerplate

_BOILERPLATE_START_RE = re.compile(
    r"""^\W*(?:
        follow\s+us\b | source\s*: | sources\s*: | via\s*: |
        (?:image|photo|video|featured\s+image|header\s+image|top\s+image)\s+credits?\s*: |
        credits?\s*: | photo\s*: | photos\s*: | image\s*: | images\s*: | video\s*: |
        caption\s*: | pictured\s*: | illustration\s*: | editor'?s\s+note\s*: |
        read\s+more\b | related\s*: | more\s*: | see\s+also\b | subscribe\b | sign\s+up\b |
        click\s+here\b | advertisement\b | share\s+this\b | join\s+(?:us|our)\b |
        copyright\b | listen\s+to\s+this\b | (?:updated|published|posted)\s*(?:on|at)?\s*:
    )""",
    re.IGNORECASE | re.VERBOSE,
)
_BOILERPLATE_ANYWHERE_RE = re.compile(
    r"""appeared\s+first\s+on | © | \(c\)\s*\d{4} | all\s+rights\s+reserved |
        subscribe\s+to\s+(?:our|the) | sign\s+up\s+for | follow\s+us\s+on |
        \bfollow\s+\S+\s+on\s+(?:twitter|x|facebook|instagram|mastodon|bluesky|threads)\b |
        newsletter | this\s+(?:article|story)\s+(?:was\s+)?(?:originally\s+)?
        (?:published|appeared) | click\s+here | \bpodcast\s+episode\b""",
    re.IGNORECASE | re.VERBOSE,
)
# "By Jeff Foust", "By Andrew Jones, SpaceNews", "By Jane Doe | March 3" — a name of 2–4
# capitalised words, then the end or a separator (so "By 2030 NASA will…" is a sentence).
_BYLINE_RE = re.compile(
    r"^\W*[Bb][Yy]\s+[A-Z][\w.'’-]*(?:\s+(?:[A-Z][\w.'’-]*|van|de|der|von|da)){1,3}"
    r"\s*(?:$|[,|•·—–-]|\s+and\s+[A-Z]|\s+for\s+[A-Z]|\s+on\s+[A-Z])"
)
_INLINE_CREDIT_RE = re.compile(
    r"\s*[(\[](?:image|photo|video|credit|credits|pictured|illustration)s?"
    r"(?:\s+credits?)?\s*:[^)\]]*[)\]]",
    re.IGNORECASE,
)


def _is_boilerplate(sentence: str) -> bool:
    return bool(
        _BOILERPLATE_START_RE.match(sentence)
        or _BOILERPLATE_ANYWHERE_RE.search(sentence)
        or _BYLINE_RE.match(sentence)
    )


# --------------------------------------------------------------------------- scoring

# fmt: off
_STOPWORDS = frozenset({
    "a", "an", "the", "and", "or", "but", "of", "to", "in", "on", "at", "by", "for", "with",
    "from", "as", "is", "are", "was", "were", "be", "been", "being", "it", "its", "this",
    "that", "these", "those", "has", "have", "had", "will", "would", "can", "could", "may",
    "might", "into", "over", "after", "before", "about", "than", "then", "their", "his", "her",
    "they", "them", "he", "she", "we", "our", "you", "your", "not", "no", "new", "says", "said",
    "also", "more", "most", "up", "out", "it's"
})
# fmt: on
_WORD_RE = re.compile(r"\w+")
_APOSTROPHES_RE = re.compile(r"['’ʼ`]")


def _words(text: str) -> set[str]:
    """Content words, crudely stemmed (first 6 letters: "samples" ~ "sample")."""
    return {w[:6] for w in _WORD_RE.findall(text.casefold()) if w not in _STOPWORDS and len(w) > 1}


def _is_substantive(sentence: str) -> bool:
    """A real sentence, not a dateline, a label or a stray fragment ("June 25, 2024")."""
    if " " not in sentence.strip():  # scripts written without spaces (Chinese, Japanese)
        return len(sentence) >= 10
    return len(sentence) >= 30 and len(_WORD_RE.findall(sentence)) >= 5


def _norm(text: str) -> str:
    """Fold for keyword matching: "Chang’e-6" and "Chang'e 6" both become " chang e 6 "."""
    folded = _APOSTROPHES_RE.sub(" ", text.casefold())
    return " " + " ".join(_WORD_RE.findall(folded)).replace("_", " ") + " "


def _repeats_title(sentence: str, title_words: set[str]) -> bool:
    words = _words(sentence)
    if not words or not title_words:
        return False
    shared = len(words & title_words)
    return shared / len(words) >= 0.8 or shared / len(words | title_words) >= 0.7


@dataclass(frozen=True)
class _Candidate:
    index: int
    text: str
    score: float


def _score(index: int, sentence: str, title_words: set[str], keywords: Sequence[str]) -> float:
    # Position: news is written lead-first.
    score = 2.0 if index == 0 else 1.0 / (1 + 0.3 * index)
    words = _words(sentence)
    if title_words:
        score += 2.0 * len(words & title_words) / len(title_words)
    # The story's missions, agencies and countries: a strong, saturating bonus.
    normalised = _norm(sentence)
    hits = sum(1 for keyword in keywords if keyword.strip() != "" and keyword in normalised)
    if hits:
        score += 3.0 + min(hits - 1, 3) * 1.0
    length = len(sentence)
    if length < 40 or len(words) < 4:
        score -= 1.5
    elif length > 400:
        score -= 1.0
    if sentence.endswith("?") or sentence.endswith(":"):
        score -= 1.0
    return score


def _join(picked: Sequence[_Candidate]) -> str:
    return " ".join(c.text for c in sorted(picked, key=lambda c: c.index))


def _fits(picked: Sequence[_Candidate], max_chars: int) -> bool:
    return utf16_len(_join(picked)) <= max_chars


def _select(
    candidates: list[_Candidate], max_sentences: int, min_sentences: int, max_chars: int
) -> list[_Candidate]:
    """Best-scoring sentences within ``max_chars`` — whole sentences, never cut ones."""
    ranked = sorted(candidates, key=lambda c: (-c.score, c.index))
    picked: list[_Candidate] = []
    for candidate in ranked:
        if len(picked) >= max_sentences:
            break
        if _fits([*picked, candidate], max_chars):
            picked.append(candidate)
    if len(picked) < min_sentences:
        # A long top sentence crowded the others out: the best-scoring set that fits instead.
        best: tuple[_Candidate, ...] = ()
        for size in range(min(max_sentences, len(ranked)), len(picked), -1):
            for combo in combinations(ranked[:10], size):
                if _fits(combo, max_chars) and sum(c.score for c in combo) > sum(
                    c.score for c in best
                ):
                    best = combo
            if best:
                break
        if len(best) > len(picked):
            picked = list(best)
    return picked


def _prepare_text(text: str) -> str:
    text = clean_text(text)
    if _HTML_RE.search(text):
        text = html_to_plain(text)
    text = _INLINE_CREDIT_RE.sub("", text)
    return collapse_spaces(text)


def extractive_summary(
    title: str,
    text: str,
    *,
    keywords: Sequence[str] = (),
    max_sentences: int = 3,
    min_sentences: int = 2,
    max_chars: int = MAX_SUMMARY_CHARS,
) -> str:
    """Pick the 2–3 most informative sentences of ``text``, in their original order.

    Boilerplate ("Follow us on…", "Source:", "Image credit:", bylines, "The post … appeared
    first on …", copyright lines) and sentences that merely repeat the title are dropped.
    Scores favour the lead, overlap with the title, and above all ``keywords`` — the mission,
    agency and country names linked to the story — so partner sentences win.  The result is
    at most ``max_chars`` UTF-16 units: low-scoring sentences are dropped rather than cut; a
    single over-long sentence is cut at a word boundary with "…".  ``text`` may be HTML.
    """
    body = _prepare_text(text)
    if not body:
        return ""
    title_words = _words(collapse_spaces(title, keep_newlines=False))
    folded_keywords = [k for k in dict.fromkeys(_norm(k) for k in keywords) if k.strip()]
    sentences = [
        sentence
        for sentence in split_sentences(body)[: MAX_CANDIDATES * 2]
        if _WORD_RE.search(sentence)
        and not _is_boilerplate(sentence)
        and not _repeats_title(sentence, title_words)
    ]
    substantive = [sentence for sentence in sentences if _is_substantive(sentence)]
    if len(substantive) >= min_sentences:
        sentences = substantive  # datelines and fragments only when nothing better exists
    candidates = [
        _Candidate(index, sentence, _score(index, sentence, title_words, folded_keywords))
        for index, sentence in enumerate(sentences[:MAX_CANDIDATES])
    ]
    if not candidates:
        return ""
    picked = _select(candidates, max_sentences, min_sentences, max_chars)
    if not picked:
        best = max(candidates, key=lambda c: (c.score, -c.index))
        return shorten_text(best.text, max_chars)
    return _join(picked)


# --------------------------------------------------------------------------- abstractive

SYSTEM_PROMPT = (
    "You summarize space-industry news for a Telegram channel. Write a factual summary of the "
    "article in 2 or 3 plain sentences, at most 600 characters in total. Name the missions, "
    "agencies, companies and countries involved. Use only facts stated in the article; never "
    "speculate. No headline, no hashtags, no emoji, no Markdown, no HTML, no lists, no links, "
    "no preamble such as 'Summary:'. Answer in the language of the article."
)

_MARKDOWN_RES = (
    (re.compile(r"^\s*#{1,6}\s.*$", re.MULTILINE), ""),  # headings: "## Summary"
    (re.compile(r"^\s*(?:[-*+•]\s+|\d+[.)]\s+|>\s*)", re.MULTILINE), ""),
    (re.compile(r"(\*\*|__|\*|`{1,3}|~~)"), ""),
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),
    (re.compile(r"(?<!\w)#(\w)"), r"\1"),
    (re.compile(r"^\s*(?:summary|tl;?dr)\s*[:\-–]\s*", re.IGNORECASE), ""),
)


def clean_model_output(content: str, max_chars: int = MAX_SUMMARY_CHARS) -> str | None:
    """Normalise a model's answer into one plain paragraph ≤ ``max_chars``, or ``None``.

    Models ignore instructions: strip Markdown, HTML, hashtags and "Summary:" preambles; cut at
    a sentence boundary (dropping a trailing half sentence when the answer hit ``max_tokens``).
    """
    text = clean_text(content).strip()
    if _HTML_RE.search(text):
        text = html_to_plain(text)
    for pattern, replacement in _MARKDOWN_RES:
        text = pattern.sub(replacement, text)
    text = collapse_spaces(text, keep_newlines=False).strip("\"“”' ")
    if len(text) < 20 or not _WORD_RE.search(text):
        return None
    sentences = split_sentences(text)
    if len(sentences) > 1 and not re.search(r"[.!?…。！？][\"'”’»)\]]*$", sentences[-1]):
        sentences = sentences[:-1]  # truncated mid-sentence
    kept: list[str] = []
    for sentence in sentences:
        if utf16_len(" ".join([*kept, sentence])) > max_chars:
            break
        kept.append(sentence)
    if not kept:
        return shorten_text(text, max_chars) or None
    return " ".join(kept)


_BEARER_RE = re.compile(r"Bearer\s+[^\s'\"]+", re.IGNORECASE)


def _redacted_host(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    return f"{parts.scheme}://{parts.hostname or ''}{parts.path}"


class AbstractiveSummarizer(AsyncClosing):
    """Summaries from an OpenAI-compatible ``POST {url}/chat/completions`` endpoint.

    :meth:`summarize` never raises (except for cancellation): any failure is logged at WARNING
    — without the API key — and returns ``None`` so the caller falls back to extractive.  The
    whole call is bounded by ``timeout`` (httpx timeouts are per read, a slow-dripping server
    could otherwise hold a post for minutes).
    """

    def __init__(
        self,
        url: str,
        model: str,
        api_key: str | None,
        *,
        timeout: float = 20.0,
        client: httpx.AsyncClient | None = None,
        max_tokens: int = 300,
    ) -> None:
        self.endpoint = url.rstrip("/") + "/chat/completions"
        self.model = model
        self._api_key = (api_key or "").strip() or None
        self.timeout = timeout
        self.max_tokens = max_tokens
        self._client = client
        self._owns_client = client is None

    def __repr__(self) -> str:
        return f"AbstractiveSummarizer({_redacted_host(self.endpoint)!r}, model={self.model!r})"

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        return self._client

    def _payload(self, title: str, text: str, keywords: Sequence[str]) -> dict[str, Any]:
        article = shorten_text(text, MAX_PROMPT_CHARS)
        names = ", ".join(k for k in dict.fromkeys(keywords) if k.strip())
        user = f"Title: {title}\n"
        if names:
            user += f"Key names: {names}\n"
        user += f"\nArticle:\n{article}"
        return {
            "model": self.model,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": user},
            ],
            "temperature": 0.2,
            "max_tokens": self.max_tokens,
        }

    def _redact(self, message: str) -> str:
        """Remove the key from an error message, also in its repr()/bytes forms (h11 quotes
        an illegal header value verbatim), and any bearer token whatsoever."""
        if self._api_key:
            for form in (
                self._api_key,
                repr(self._api_key)[1:-1],
                repr(self._api_key.encode())[2:-1],
            ):
                message = message.replace(form, "***")
        return _BEARER_RE.sub("Bearer ***", message)

    async def _request(self, payload: dict[str, Any]) -> str | None:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        response = await self._http().post(
            self.endpoint, json=payload, headers=headers, timeout=self.timeout
        )
        if response.status_code != 200:
            logger.warning(
                "summarizer %s answered HTTP %d; using the extractive summary",
                _redacted_host(self.endpoint),
                response.status_code,
            )
            return None
        data = response.json()
        content = data["choices"][0]["message"]["content"]
        if not isinstance(content, str):
            raise TypeError("choices[0].message.content is not a string")
        return content

    async def summarize(self, title: str, text: str, *, keywords: Sequence[str] = ()) -> str | None:
        """A validated summary ≤ 600 characters, or ``None`` on any error or timeout."""
        body = _prepare_text(text)
        if not body:
            return None
        payload = self._payload(collapse_spaces(title, keep_newlines=False), body, keywords)
        try:
            async with asyncio.timeout(self.timeout):
                content = await self._request(payload)
        except Exception as exc:  # any failure means "use the extractive summary"
            logger.warning(
                "summarizer %s failed (%s: %s); using the extractive summary",
                _redacted_host(self.endpoint),
                type(exc).__name__,
                self._redact(str(exc))[:200],
            )
            return None
        if content is None:
            return None
        summary = clean_model_output(content)
        if summary is None:
            logger.warning(
                "summarizer %s returned an unusable answer; using the extractive summary",
                _redacted_host(self.endpoint),
            )
        return summary


SummaryMethod = Literal["abstractive", "extractive"]


class Summarizer:
    """The summarizer the publisher uses: abstractive when configured, extractive otherwise."""

    def __init__(self, abstractive: AbstractiveSummarizer | None = None) -> None:
        self.abstractive = abstractive

    @classmethod
    def from_settings(
        cls,
        url: str | None,
        model: str,
        api_key: str | None,
        *,
        timeout: float = 20.0,
    ) -> Summarizer:
        """Build from the ``SUMMARIZER_*`` settings; no URL means extractive only."""
        if not url:
            return cls()
        return cls(AbstractiveSummarizer(url, model, api_key, timeout=timeout))

    async def aclose(self) -> None:
        if self.abstractive is not None:
            await self.abstractive.aclose()

    async def summarize(
        self, title: str, text: str, *, keywords: Sequence[str] = ()
    ) -> tuple[str, SummaryMethod]:
        """``(summary, method)``; the summary may be ``""`` when the text has nothing usable."""
        if self.abstractive is not None:
            summary = await self.abstractive.summarize(title, text, keywords=keywords)
            if summary:
                return summary, "abstractive"
        return extractive_summary(title, text, keywords=keywords), "extractive"
