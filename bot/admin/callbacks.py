"""``callback_data`` of admin-queue buttons: compact, ≤ 64 bytes, and never trusted.

Format ``q:<action>:<item id>[:<arg>]``. The data only *names* an item and an action; whether
the presser is an admin and whether the item is still open is decided on the server at press
time (see :mod:`bot.admin.queue`), so a forged or replayed button changes nothing. The review
posts the publisher sends carry ``rv:ok:<article id>:<channel chat id>`` / ``rv:no:…``, decoded
here too so both kinds of button reach the same code.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.replies import Button

PREFIX = "q"
REVIEW_PREFIX = "rv"
#: Matches every button this module emits or accepts (for the CallbackQueryHandler).
PATTERN = r"^(?:q|rv):"
MAX_BYTES = 64

POST, REJECT, SCHEDULE, ASK_TIME, EDIT, CHANNELS, SET_CHANNEL, BACK = (
    "ok",
    "no",
    "s",
    "st",
    "ed",
    "ch",
    "cc",
    "bk",
)
_ACTIONS = {POST, REJECT, SCHEDULE, ASK_TIME, EDIT, CHANNELS, SET_CHANNEL, BACK}


@dataclass(frozen=True, slots=True)
class QueueAction:
    """A decoded press: ``item_id`` for queue buttons; ``article_id``/``chat_id`` for review."""

    action: str
    item_id: int | None = None
    arg: str = ""
    article_id: int | None = None
    chat_id: int | None = None


def encode(action: str, item_id: int, arg: str = "") -> str:
    data = f"{PREFIX}:{action}:{item_id}" + (f":{arg}" if arg else "")
    if len(data.encode()) > MAX_BYTES:
        raise ValueError(f"callback_data too long: {data!r}")
    return data


def _int(text: str) -> int | None:
    body = text[1:] if text.startswith("-") else text
    return int(text) if body.isdigit() and len(body) <= 19 else None


def decode(data: str) -> QueueAction | None:
    """Parse our ``callback_data``; ``None`` for anything malformed."""
    if len(data.encode()) > MAX_BYTES:
        return None
    parts = data.split(":")
    if parts[0] == REVIEW_PREFIX and len(parts) == 4 and parts[1] in (POST, REJECT):
        article_id, chat_id = _int(parts[2]), _int(parts[3])
        if article_id is None or chat_id is None or article_id <= 0:
            return None
        return QueueAction(parts[1], article_id=article_id, chat_id=chat_id)
    if parts[0] != PREFIX or len(parts) not in (3, 4) or parts[1] not in _ACTIONS:
        return None
    item_id = _int(parts[2])
    if item_id is None or item_id <= 0:
        return None
    return QueueAction(parts[1], item_id=item_id, arg=parts[3] if len(parts) == 4 else "")


def item_keyboard(item_id: int) -> tuple[tuple[Button, ...], ...]:
    """The buttons under every preview: post, schedule, edit, change channel, reject."""
    return (
        (
            Button("✅ Post now", encode(POST, item_id)),
            Button("❌ Reject", encode(REJECT, item_id)),
        ),
        (
            Button("⏰ +1 h", encode(SCHEDULE, item_id, "1h")),
            Button("🌙 Tonight", encode(SCHEDULE, item_id, "tn")),
            Button("🌅 Tomorrow 09:00", encode(SCHEDULE, item_id, "tm")),
        ),
        (
            Button("⌨️ Type a time", encode(ASK_TIME, item_id)),
            Button("✏️ Edit summary", encode(EDIT, item_id)),
            Button("📣 Change channel", encode(CHANNELS, item_id)),
        ),
    )


def channel_keyboard(
    item_id: int, channels: list[tuple[int, str]]
) -> tuple[tuple[Button, ...], ...]:
    """One button per channel (``(channel row id, label)``), then Back."""
    rows = [
        (Button(f"📣 {label}"[:60], encode(SET_CHANNEL, item_id, str(cid))),)
        for cid, label in channels
    ]
    rows.append((Button("↩️ Back", encode(BACK, item_id)),))
    return tuple(rows)


def as_payload(rows: tuple[tuple[Button, ...], ...]) -> list[list[dict[str, str]]]:
    """Buttons in the outbox payload format the sender understands."""
    return [
        [
            {"text": b.text, "callback_data": b.callback_data}
            if b.callback_data is not None
            else {"text": b.text, "url": b.url or ""}
            for b in row
        ]
        for row in rows
    ]
