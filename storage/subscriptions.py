"""Users' subscriptions and preferences, and the bookkeeping that keeps alerts to one per story.

A subscription is (user, kind, target) with kind ``mission`` (slug), ``agency`` (abbrev),
``country`` (ISO code) or ``keyword`` (folded text); the unique constraint makes subscribing
twice a no-op on both backends. Alerts and digests are outbox deliveries to the user's private
chat (``kind="alert"`` / ``"digest"``); which articles a user was already alerted about is read
back from those rows (their ``article_id`` plus the ``article_ids`` a batched alert lists), so
"one alert per user per story" survives restarts and replicas without a table of its own.
Blocked users are handled by :func:`storage.channels.chat_gone` (subscriptions deleted).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from storage.models import Delivery, Subscription, UserPref
from storage.types import utcnow

KINDS = ("mission", "agency", "country", "keyword")
#: A user can follow this many things; beyond it alerts stop being useful and matching slows.
MAX_PER_USER = 50


@dataclass(frozen=True, slots=True)
class SubRow:
    id: int
    user_id: int
    kind: str
    target: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PrefRow:
    user_id: int
    timezone: str
    digest_time: str | None
    last_digest_at: datetime | None
    blocked: bool


def _sub(row: Subscription) -> SubRow:
    assert row.id is not None
    return SubRow(row.id, row.user_id, row.kind, row.target, row.created_at)


def _pref(row: UserPref) -> PrefRow:
    return PrefRow(row.user_id, row.timezone, row.digest_time, row.last_digest_at, row.blocked)


class TooMany(Exception):
    """The user already has :data:`MAX_PER_USER` subscriptions."""


def _insert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(Subscription)
    if dialect == "sqlite":
        return sqlite.insert(Subscription)
    return insert(Subscription)  # pragma: no cover


def _ensure_pref(session: Session, user_id: int, default_tz: str) -> UserPref:
    pref = session.get(UserPref, user_id)
    if pref is None:
        pref = UserPref(user_id=user_id, timezone=default_tz)
        session.add(pref)
        session.flush()
    return pref


def subscribe(
    session: Session, user_id: int, kind: str, target: str, *, default_tz: str = "UTC"
) -> bool:
    """Add a subscription; False when it already existed. A user who writes to us is not
    blocked any more, so the flag is cleared here."""
    if kind not in KINDS:
        raise ValueError(kind)
    count = len(list_for(session, user_id))
    if count >= MAX_PER_USER:
        raise TooMany
    pref = _ensure_pref(session, user_id, default_tz)
    if pref.blocked:
        pref.blocked = False
        session.add(pref)
    stmt = (
        _insert(session)
        .values(user_id=user_id, kind=kind, target=target, created_at=utcnow())
        .on_conflict_do_nothing()
        .returning(Subscription.id)
    )
    return session.execute(stmt).scalar_one_or_none() is not None


def list_for(session: Session, user_id: int) -> list[SubRow]:
    rows = session.execute(
        select(Subscription)
        .where(col(Subscription.user_id) == user_id)
        .order_by(col(Subscription.id))
    ).scalars()
    return [_sub(r) for r in rows]


def unsubscribe_id(session: Session, user_id: int, sub_id: int) -> bool:
    """Remove one subscription *of this user* (a forged id of someone else's removes nothing)."""
    result = session.execute(
        delete(Subscription).where(
            col(Subscription.id) == sub_id, col(Subscription.user_id) == user_id
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def unsubscribe(session: Session, user_id: int, kind: str | None, target: str | None) -> int:
    """Remove matching subscriptions of a user (``kind=None``: all of them)."""
    query = delete(Subscription).where(col(Subscription.user_id) == user_id)
    if kind is not None:
        query = query.where(col(Subscription.kind) == kind, col(Subscription.target) == target)
    return int(session.execute(query).rowcount)  # type: ignore[attr-defined]


def active_subscriptions(session: Session) -> list[SubRow]:
    """Every subscription of users who have not blocked the bot."""
    blocked = select(col(UserPref.user_id)).where(col(UserPref.blocked).is_(True))
    rows = session.execute(
        select(Subscription)
        .where(col(Subscription.user_id).not_in(blocked))
        .order_by(col(Subscription.user_id), col(Subscription.id))
    ).scalars()
    return [_sub(r) for r in rows]


def get_pref(session: Session, user_id: int) -> PrefRow | None:
    pref = session.get(UserPref, user_id)
    return _pref(pref) if pref is not None else None


def set_digest(
    session: Session,
    user_id: int,
    digest_time: str | None,
    *,
    default_tz: str = "UTC",
    now: datetime | None = None,
) -> PrefRow:
    """Set (``"HH:MM"``) or clear the daily digest time."""
    pref = _ensure_pref(session, user_id, default_tz)
    pref.digest_time = digest_time
    pref.blocked = False
    session.add(pref)
    session.flush()
    return _pref(pref)


def set_timezone(session: Session, user_id: int, zone: str) -> PrefRow:
    pref = _ensure_pref(session, user_id, zone)
    pref.timezone = zone
    session.add(pref)
    session.flush()
    return _pref(pref)


def digest_users(session: Session) -> list[PrefRow]:
    """Users with a digest time who have not blocked the bot."""
    rows = session.execute(
        select(UserPref).where(
            col(UserPref.digest_time).is_not(None), col(UserPref.blocked).is_(False)
        )
    ).scalars()
    return [_pref(r) for r in rows]


def claim_digest(session: Session, user_id: int, day_start: datetime, now: datetime) -> bool:
    """Mark today's digest as sent, once: a conditional UPDATE on ``last_digest_at``."""
    result = session.execute(
        update(UserPref)
        .where(
            col(UserPref.user_id) == user_id,
            or_(col(UserPref.last_digest_at).is_(None), col(UserPref.last_digest_at) < day_start),
        )
        .values(last_digest_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def alerted_articles(
    session: Session, user_ids: Sequence[int], since: datetime
) -> dict[int, set[int]]:
    """Per user, every article id an alert since ``since`` already covered."""
    out: dict[int, set[int]] = defaultdict(set)
    if not user_ids:
        return out
    rows = session.execute(
        select(col(Delivery.chat_id), col(Delivery.article_id), col(Delivery.payload)).where(
            col(Delivery.kind) == "alert",
            col(Delivery.chat_id).in_(list(user_ids)),
            col(Delivery.created_at) >= since,
        )
    ).all()
    for chat_id, article_id, payload in rows:
        data = json.loads(payload) if isinstance(payload, str) else (payload or {})
        out[int(chat_id)].add(int(article_id))
        out[int(chat_id)].update(int(i) for i in data.get("article_ids", []))
    return out


def used_article_ids(session: Session, user_id: int, kind: str, ids: Sequence[int]) -> set[int]:
    """Which of ``ids`` already carry a ``kind`` delivery to this user (the unique key)."""
    if not ids:
        return set()
    rows = session.execute(
        select(col(Delivery.article_id)).where(
            col(Delivery.chat_id) == user_id,
            col(Delivery.kind) == kind,
            col(Delivery.article_id).in_(list(ids)),
        )
    ).scalars()
    return {int(r) for r in rows}
