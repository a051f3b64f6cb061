"""What a service answers, independent of Telegram: HTML text plus optional buttons.

Handlers turn a :class:`Reply` into a Telegram message; ``orbitwire ask`` prints it; the demo
shows it. One type for all three keeps "prints exactly what the bot would answer" true.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.htmltext import html_to_text


@dataclass(frozen=True, slots=True)
class Button:
    """An inline button: either ``callback_data`` (≤64 bytes) or a ``url``."""

    text: str
    callback_data: str | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        if (self.callback_data is None) == (self.url is None):
            raise ValueError("a button needs exactly one of callback_data or url")
        if self.callback_data is not None and not 1 <= len(self.callback_data.encode()) <= 64:
            raise ValueError(f"callback_data must be 1-64 bytes: {self.callback_data!r}")


@dataclass(frozen=True, slots=True)
class Reply:
    """One message: Telegram HTML (already escaped/sanitized), buttons in rows."""

    html: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    disable_preview: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The reply as a person reads it (tags stripped, entities decoded)."""
        return html_to_text(self.html)

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "html": self.html,
            "buttons": [
                [
                    {
                        k: v
                        for k, v in (
                            ("text", b.text),
                            ("callback_data", b.callback_data),
                            ("url", b.url),
                        )
                        if v is not None
                    }
                    for b in row
                ]
                for row in self.buttons
            ],
        }
