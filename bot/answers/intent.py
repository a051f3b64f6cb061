"""Free-text understanding: what does a message ask for?

Deliberately a few readable patterns, not a model: the questions people ask a space-news bot
are few ("who are the partners of X", "which countries fly on X", "what does Pakistan
contribute to") and a wrong guess costs little, because anything unmatched falls back to
full-text search, which always answers something sensible.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from bot.answers.resolve import Resolver, clean_subject

IntentKind = Literal["command", "mission", "partners", "search"]

_VERB = (
    r"(?:contribut\w*|provid\w*|suppl\w*|build\w*|buil[dt]|fl(?:y|ies|ying|ew)|send\w*|sen[dt]"
    r"|bring\w*|brought|give\w*|gave|do(?:es|ing)?|offer\w*|add\w*)"
)
_PARTNERS = [
    re.compile(p, re.I)
    for p in (
        r"^(?:who|what|which)\s+(?:are|is|were|was)\s+(?:the\s+)?(?:\w+\s+)?"
        r"(?:partners?|contributors?|participants?|collaborators?)\s+(?:of|on|in|for|to|with)\s+"
        r"(?P<x>.+)$",
        r"^(?:which|what)\s+(?:countries|nations|agencies|partners|institutes)\b.*?"
        r"\b(?:on|in|to|for|with|aboard)\s+(?P<x>.+)$",
        r"^who\s+(?:flies|fly|contributes?|provides?|builds?|supplies|participates?|partners?|"
        r"collaborates?|works?)\b.*?\b(?:on|to|for|in|with|aboard)\s+(?P<x>.+)$",
        r"^(?:partners?|contributors?|partnerships?)\s+(?:of|on|in|for|to)\s+(?P<x>.+)$",
        rf"^(?:what|which\s+missions?)\s+(?:does|do|did|will|is|are|has|have)\s+(?P<x>.+?)\s+"
        rf"{_VERB}(?:\s+.*)?$",
        r"^(?:what|which)\s+missions?\s+(?:is|are|does|do)\s+(?P<x>.+?)\s+"
        r"(?:involved|part|participating|partnering)\b.*$",
        r"^(?P<x>.+?)\s+(?:partners|contributions|contributors)$",
    )
]
_CARD = re.compile(
    r"^(?:tell\s+me\s+about|what\s+is|what's|whats|info(?:rmation)?\s+(?:on|about)|about|"
    r"show\s+me|show)\s+(?P<x>.+)$",
    re.I,
)
_MENTION = re.compile(r"@\w+")


@dataclass(frozen=True, slots=True)
class Intent:
    kind: IntentKind
    subject: str  # mission/country/agency words, search text, or the command name
    args: str = ""  # command arguments


def parse_command(text: str) -> tuple[str, str] | None:
    """``"/mission@bot chang'e 7"`` → ``("mission", "chang'e 7")``."""
    match = re.match(r"^/([A-Za-z0-9_]{1,32})(?:@\w+)?(?:\s+(.*))?$", text.strip(), re.S)
    if match is None:
        return None
    return match.group(1).lower(), (match.group(2) or "").strip()


def strip_mention(text: str, username: str | None) -> str:
    """Remove ``@bot`` (only the bot's own mention when its username is known)."""
    if username:
        return re.sub(rf"@{re.escape(username)}\b", " ", text, flags=re.I).strip()
    return _MENTION.sub(" ", text).strip()


def parse_intent(text: str, resolver: Resolver) -> Intent:
    """Route a message: a command, a mission card, a partners question, or a search."""
    text = " ".join(text.split())
    if text.startswith("/"):
        command = parse_command(text)
        if command is not None:
            return Intent("command", command[0], command[1])
    sentence = text.rstrip("?!. ")
    for pattern in _PARTNERS:
        match = pattern.match(sentence)
        if match:
            subject = clean_subject(match.group("x"))
            if subject:
                return Intent("partners", subject)
    if resolver.mission(sentence) is not None:
        return Intent("mission", sentence)
    match = _CARD.match(sentence)
    if match and resolver.mission(match.group("x")) is not None:
        return Intent("mission", clean_subject(match.group("x")))
    return Intent("search", text)
