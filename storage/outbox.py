"""The outbox: durable, exactly-one-row-per-(article, chat, kind) deliveries.

Life of a delivery::

    queued ──claim──► claimed ──begin_send──► sending ──► sent (message_id)
       ▲                 │                       │
       └── retry (5xx, network before the request left, 429 for that chat) ◄──┘
                                                 ├──► failed   (permanent: kicked, bad request)
                                                 └──► unknown  (the request may have been delivered)

Why two in-flight states: ``claimed`` means "picked, request not sent yet" and is safe to put back
after a crash; ``sending`` is committed at the last moment *before* the HTTP request leaves (the
sender does it from inside the flood control, after any pacing wait), so after a crash a
``sending`` row means the outcome is unknown. Telegram has no idempotency key, so orbitwire
never re-sends those blindly (at-most-once for ambiguous sends): they become ``unknown``, are
counted, and are shown to admins, who may re-queue them by hand.

Claiming is one atomic statement on both backends — ``UPDATE … WHERE id IN (SELECT … FOR UPDATE
SKIP LOCKED) RETURNING`` on PostgreSQL, ``UPDATE … RETURNING`` on SQLite (the whole statement
holds the write lock) — so two processes never claim the same row. Only the *head* of each chat's
queue is claimable (no earlier unfinished delivery to that chat), which keeps per-chat order and
means one chat's backoff never blocks other chats.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from storage.models import Delivery
from storage.types import UTCDateTime, utcnow

QUEUED, CLAIMED, SENDING, SENT, FAILED, SKIPPED, UNKNOWN = (
    "queued",
    "claimed",
    "sending",
    "sent",
    "failed",
    "skipped",
    "unknown",
)
OPEN_STATES = (QUEUED, CLAIMED, SENDING)
FINAL_STATES = (SENT, FAILED, SKIPPED, UNKNOWN)


@dataclass(frozen=True, slots=True)
class Claimed:
    """A claimed delivery: everything the sender needs, detached from the session."""

    id: int
    article_id: int
    chat_id: int
    kind: str
    attempts: int
    payload: dict[str, Any]


def enqueue(
    session: Session,
    article_id: int,
    chat_id: int,
    *,
    kind: str = "post",
    payload: dict[str, Any] | None = None,
    priority: int = 0,
    not_before: datetime | None = None,
) -> int | None:
    """Queue a delivery; returns its id, or None when (article, chat, kind) already exists."""
    dialect = session.get_bind().dialect.name
    values = {
        "article_id": article_id,
        "chat_id": chat_id,
        "kind": kind,
        "state": QUEUED,
        "priority": priority,
        "attempts": 0,
        "next_attempt_at": not_before or utcnow(),
        "payload": payload or {},
        "created_at": utcnow(),
    }
    stmt: Any
    if dialect == "postgresql":
        stmt = postgresql.insert(Delivery)
    elif dialect == "sqlite":
        stmt = sqlite.insert(Delivery)
    else:  # pragma: no cover
        stmt = insert(Delivery)
    stmt = stmt.values(**values).on_conflict_do_nothing().returning(Delivery.id)
    return session.execute(stmt).scalar_one_or_none()


def already_delivered(session: Session, article_ids: Sequence[int], chat_id: int) -> set[int]:
    """Which of ``article_ids`` have any delivery (any state) to ``chat_id`` as a post."""
    if not article_ids:
        return set()
    rows = session.execute(
        select(col(Delivery.article_id)).where(
            col(Delivery.chat_id) == chat_id,
            col(Delivery.kind).in_(("post", "review")),
            col(Delivery.article_id).in_(list(article_ids)),
        )
    ).scalars()
    return set(rows)


_CLAIM_SQL = """
UPDATE delivery SET state = 'claimed', claimed_by = :worker, claimed_at = :now,
       attempts = attempts + 1
WHERE id IN (
    SELECT d.id FROM delivery AS d
    WHERE d.state = 'queued' AND d.next_attempt_at <= :now
      {skip}
      AND NOT EXISTS (
          SELECT 1 FROM delivery AS e
          WHERE e.chat_id = d.chat_id AND e.id < d.id AND e.state IN ('queued','claimed','sending')
      )
    ORDER BY d.priority DESC, d.next_attempt_at, d.id
    LIMIT :limit
    {lock}
)
RETURNING id, article_id, chat_id, kind, attempts, payload
"""


def claim(
    session: Session,
    worker: str,
    *,
    limit: int = 50,
    now: datetime | None = None,
    skip_chats: Sequence[int] = (),
) -> list[Claimed]:
    """Atomically claim up to ``limit`` due queue heads (one per chat), oldest first."""
    now = now or utcnow()
    dialect = session.get_bind().dialect.name
    skip = ""
    if skip_chats:  # ints only: safe to inline
        skip = "AND d.chat_id NOT IN ({})".format(", ".join(str(int(c)) for c in skip_chats))
    lock = "FOR UPDATE SKIP LOCKED" if dialect == "postgresql" else ""
    statement = text(_CLAIM_SQL.format(skip=skip, lock=lock)).bindparams(
        bindparam("now", now, type_=UTCDateTime()), worker=worker, limit=limit
    )
    rows = session.execute(statement).all()
    claimed = []
    for row in rows:
        payload = row.payload
        if isinstance(payload, str):  # SQLite hands JSON back as text from raw SQL
            payload = json.loads(payload)
        claimed.append(
            Claimed(
                id=row.id,
                article_id=row.article_id,
                chat_id=row.chat_id,
                kind=row.kind,
                attempts=row.attempts,
                payload=payload or {},
            )
        )
    claimed.sort(key=lambda c: c.id)
    return claimed


def _set(session: Session, delivery_id: int, expected: Sequence[str], **values: Any) -> bool:
    result = session.execute(
        update(Delivery)
        .where(col(Delivery.id) == delivery_id, col(Delivery.state).in_(list(expected)))
        .values(**values)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def begin_send(session: Session, delivery_id: int) -> bool:
    """Commit "the request is about to leave" (see the module docstring)."""
    return _set(session, delivery_id, (CLAIMED,), state=SENDING)


def refused(session: Session, delivery_id: int) -> bool:
    """Telegram refused the request (a 400): nothing was delivered, so it may be sent again."""
    return _set(session, delivery_id, (SENDING,), state=CLAIMED)


def mark_sent(session: Session, delivery_id: int, message_id: int | None) -> bool:
    return _set(
        session,
        delivery_id,
        (CLAIMED, SENDING, UNKNOWN),
        state=SENT,
        message_id=message_id,
        sent_at=utcnow(),
        last_error=None,
    )


def mark_retry(session: Session, delivery_id: int, error: str, retry_at: datetime) -> bool:
    """Back to the queue (the request certainly did not deliver)."""
    return _set(
        session,
        delivery_id,
        (CLAIMED, SENDING),
        state=QUEUED,
        next_attempt_at=retry_at,
        last_error=error[:2000],
        claimed_by=None,
    )


def mark_failed(session: Session, delivery_id: int, error: str) -> bool:
    return _set(session, delivery_id, (CLAIMED, SENDING), state=FAILED, last_error=error[:2000])


def mark_unknown(session: Session, delivery_id: int, error: str) -> bool:
    return _set(session, delivery_id, (CLAIMED, SENDING), state=UNKNOWN, last_error=error[:2000])


def skip_chat(session: Session, chat_id: int, reason: str) -> int:
    """Skip every open delivery to a chat we can no longer post to (kicked, blocked)."""
    result = session.execute(
        update(Delivery)
        .where(col(Delivery.chat_id) == chat_id, col(Delivery.state).in_((QUEUED, CLAIMED)))
        .values(state=SKIPPED, last_error=reason[:2000])
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def move_chat(session: Session, old_chat_id: int, new_chat_id: int) -> int:
    """A group became a supergroup: open deliveries follow it to the new id."""
    result = session.execute(
        update(Delivery)
        .where(col(Delivery.chat_id) == old_chat_id, col(Delivery.state).in_(OPEN_STATES))
        .values(chat_id=new_chat_id)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def recover(session: Session, *, lease: timedelta = timedelta(minutes=2)) -> tuple[int, int]:
    """After a crash: stale ``claimed`` rows go back to the queue; stale ``sending`` → unknown.

    Returns (requeued, unknown). Run it when the (leader) sender starts, before claiming.
    """
    cutoff = utcnow() - lease
    requeued = session.execute(
        update(Delivery)
        .where(col(Delivery.state) == CLAIMED, col(Delivery.claimed_at) < cutoff)
        .values(state=QUEUED, claimed_by=None, attempts=Delivery.attempts - 1)
    ).rowcount  # type: ignore[attr-defined]
    unknown = session.execute(
        update(Delivery)
        .where(col(Delivery.state) == SENDING, col(Delivery.claimed_at) < cutoff)
        .values(
            state=UNKNOWN,
            last_error="process stopped after the request left; delivery unknown (not re-sent)",
        )
    ).rowcount  # type: ignore[attr-defined]
    return int(requeued), int(unknown)


def requeue(session: Session, delivery_id: int) -> bool:
    """An admin decided to re-send an ``unknown`` (or ``failed``) delivery."""
    return _set(
        session,
        delivery_id,
        (UNKNOWN, FAILED),
        state=QUEUED,
        next_attempt_at=utcnow(),
        claimed_by=None,
    )


def counts(session: Session) -> dict[str, int]:
    """Deliveries per state (for /stats and metrics)."""
    query = select(col(Delivery.state), func.count()).group_by(col(Delivery.state))
    rows = session.execute(query).all()
    return {state: int(n) for state, n in rows}
