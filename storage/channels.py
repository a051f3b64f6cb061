"""Channels we publish to, and what happens when a chat goes away or moves."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete
from sqlmodel import Session, col, select

from storage import outbox
from storage.feeds import record_event
from storage.models import Channel, Subscription, UserPref
from storage.types import utcnow


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    id: int
    chat_ref: str
    chat_id: int | None
    title: str | None
    enabled: bool
    paused: bool
    disabled_reason: str | None
    settings: dict[str, object]

    @property
    def label(self) -> str:
        return self.title or self.chat_ref


def _info(channel: Channel) -> ChannelInfo:
    assert channel.id is not None
    return ChannelInfo(
        id=channel.id,
        chat_ref=channel.chat_ref,
        chat_id=channel.chat_id,
        title=channel.title,
        enabled=channel.enabled,
        paused=channel.paused,
        disabled_reason=channel.disabled_reason,
        settings=dict(channel.settings or {}),
    )


def sync_channels(session: Session, refs: Sequence[str]) -> list[ChannelInfo]:
    """Make sure every configured channel (``@name`` or id) has a row; returns them all.

    A numeric ref is its own chat id; an ``@name`` gets its id when the publisher resolves it
    through ``getChat``. Channels removed from the settings are kept (history) but not used.
    """
    existing = {c.chat_ref: c for c in session.exec(select(Channel)).all()}
    for ref in refs:
        if ref in existing:
            continue
        channel = Channel(chat_ref=ref, chat_id=int(ref) if ref.lstrip("-").isdigit() else None)
        session.add(channel)
        existing[ref] = channel
    session.flush()
    return [_info(existing[ref]) for ref in refs]


def set_chat_id(session: Session, chat_ref: str, chat_id: int, title: str | None) -> None:
    channel = session.exec(select(Channel).where(Channel.chat_ref == chat_ref)).first()
    if channel is not None:
        channel.chat_id = chat_id
        channel.title = title
        session.add(channel)


def set_paused(session: Session, chat_ref: str, paused: bool) -> bool:
    channel = session.exec(select(Channel).where(Channel.chat_ref == chat_ref)).first()
    if channel is None:
        return False
    channel.paused = paused
    session.add(channel)
    return True


def chat_gone(session: Session, chat_id: int, reason: str) -> None:
    """The bot was kicked from a channel or blocked by a user: stop, clean up, tell admins."""
    outbox.skip_chat(session, chat_id, reason)
    channel = session.exec(select(Channel).where(Channel.chat_id == chat_id)).first()
    if channel is not None:
        if channel.enabled:
            channel.enabled = False
            channel.disabled_reason = reason[:512]
            session.add(channel)
            record_event(
                session,
                "channel_gone",
                channel.title or channel.chat_ref,
                f"cannot post to {channel.chat_ref}: {reason}",
                chat_id=chat_id,
            )
        return
    if chat_id > 0:  # a private chat: the user blocked the bot
        pref = session.get(UserPref, chat_id) or UserPref(user_id=chat_id)
        pref.blocked = True
        session.add(pref)
        session.execute(delete(Subscription).where(col(Subscription.user_id) == chat_id))


def chat_migrated(session: Session, old_chat_id: int, new_chat_id: int) -> None:
    """A group became a supergroup with a new id: remember it and move open deliveries."""
    channel = session.exec(select(Channel).where(Channel.chat_id == old_chat_id)).first()
    if channel is not None:
        channel.chat_id = new_chat_id
        channel.migrated_from = old_chat_id
        session.add(channel)
        record_event(
            session,
            "channel_migrated",
            channel.title or channel.chat_ref,
            f"chat {old_chat_id} migrated to {new_chat_id}",
            old=old_chat_id,
            new=new_chat_id,
            at=utcnow().isoformat(),
        )
    outbox.move_chat(session, old_chat_id, new_chat_id)
