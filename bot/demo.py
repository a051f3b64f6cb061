"""``orbitwire demo``: show a newcomer what the bot does, offline and without a token.

The demo renders the bot's answers through the very functions the Telegram handlers call, so
what it prints is what a user would read in the chat.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from bot.htmltext import html_to_text
from bot.texts import help_text, start_text
from config.settings import Settings


@dataclass(frozen=True, slots=True)
class DemoExchange:
    """One message a user sends and what the bot answers (HTML as sent, and as read)."""

    user: str
    html: str

    @property
    def text(self) -> str:
        return html_to_text(self.html)


def demo_exchanges(settings: Settings) -> list[DemoExchange]:
    return [
        DemoExchange("/start", start_text("Ada")),
        DemoExchange("/help", help_text(is_admin=False)),
    ]


def run_demo(settings: Settings, *, json_output: bool = False) -> None:
    exchanges = demo_exchanges(settings)
    if json_output:
        payload = [{**asdict(ex), "text": ex.text} for ex in exchanges]
        print(json.dumps({"exchanges": payload}, indent=2, ensure_ascii=False))
        return
    print("orbitwire demo — offline, no token needed.\n")
    for ex in exchanges:
        print(f"you › {ex.user}")
        for line in ex.text.splitlines():
            print(f"bot › {line}" if line else "bot ›")
        print()
    print(
        "Next steps: get a token from @BotFather, export ORBITWIRE_BOT_TOKEN=..., "
        "and run `make run`."
    )
