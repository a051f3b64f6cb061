"""The outbox on both databases: one row per story and chat, atomic claims, crash recovery."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlmodel import select

from storage import outbox
from storage.articles import ArticleDraft, store_articles
from storage.db import Database
from storage.models import Delivery
from storage.types import utcnow

CHANNEL = -1001000000001
OTHER = -1001000000002


def articles(db: Database, n: int) -> list[int]:
    drafts = [
        ArticleDraft(
            identity=f"i{i}",
            canonical_url=f"https://x.example/{i}",
            url="",
            title=f"t{i}",
            summary="",
            content_hash=f"h{i}",
        )
        for i in range(n)
    ]
    return db.call(store_articles, None, drafts).new_ids


def test_enqueue_is_idempotent(db: Database) -> None:
    (a,) = articles(db, 1)
    first = db.call(outbox.enqueue, a, CHANNEL, payload={"html": "x"})
    again = db.call(outbox.enqueue, a, CHANNEL, payload={"html": "y"})
    assert first is not None
    assert again is None
    assert db.call(outbox.already_delivered, [a], CHANNEL) == {a}


def test_claim_takes_one_head_per_chat_in_order(db: Database) -> None:
    ids = articles(db, 4)
    for a in ids[:3]:
        db.call(outbox.enqueue, a, CHANNEL)
    db.call(outbox.enqueue, ids[3], OTHER)
    batch = db.call(outbox.claim, "w1")
    assert [(c.chat_id, c.article_id) for c in batch] == [(CHANNEL, ids[0]), (OTHER, ids[3])]
    assert db.call(outbox.claim, "w1") == []  # next items wait for their head to finish
    db.call(outbox.mark_sent, batch[0].id, 11)
    (nxt,) = db.call(outbox.claim, "w1")
    assert nxt.article_id == ids[1]


def test_retry_keeps_order_and_waits(db: Database) -> None:
    ids = articles(db, 2)
    for a in ids:
        db.call(outbox.enqueue, a, CHANNEL)
    (head,) = db.call(outbox.claim, "w")
    db.call(outbox.mark_retry, head.id, "HTTP 502", utcnow() + timedelta(minutes=5))
    assert db.call(outbox.claim, "w") == []  # the second must not overtake the first
    later = utcnow() + timedelta(minutes=6)
    (again,) = db.call(outbox.claim, "w", now=later)
    assert again.id == head.id
    assert again.attempts == 2


def test_payload_round_trips(db: Database) -> None:
    (a,) = articles(db, 1)
    payload = {"kind": "photo", "html": "<b>Chang’e-7</b> 🚀", "link_preview": None}
    db.call(outbox.enqueue, a, CHANNEL, payload=payload)
    (c,) = db.call(outbox.claim, "w")
    assert c.payload == payload


def test_concurrent_claimers_never_share_a_row(db: Database) -> None:
    ids = articles(db, 60)
    for i, a in enumerate(ids):
        db.call(outbox.enqueue, a, -1002000000000 - i)  # 60 chats: all claimable at once
    seen: list[int] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        other = Database(db.url)
        try:
            while True:
                batch = other.call(outbox.claim, name, limit=7)
                if not batch:
                    return
                with lock:
                    seen.extend(c.id for c in batch)
        finally:
            other.close()

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 60
    assert len(set(seen)) == 60


def test_recover_requeues_claimed_and_parks_ambiguous_sends(db: Database) -> None:
    ids = articles(db, 2)
    db.call(outbox.enqueue, ids[0], CHANNEL)
    db.call(outbox.enqueue, ids[1], OTHER)
    claimed = db.call(outbox.claim, "dead-worker")
    by_chat = {c.chat_id: c for c in claimed}
    db.call(outbox.begin_send, by_chat[OTHER].id)  # the request to OTHER had left
    assert db.call(outbox.recover, lease=timedelta(0)) == (1, 1)
    with db.session() as s:
        states = {d.chat_id: d.state for d in s.exec(select(Delivery)).all()}
    assert states == {CHANNEL: "queued", OTHER: "unknown"}
    assert db.call(outbox.requeue, by_chat[OTHER].id)
    assert db.call(outbox.counts) == {"queued": 2}


def test_kicked_chat_is_skipped_and_migration_moves_deliveries(db: Database) -> None:
    ids = articles(db, 3)
    for a in ids:
        db.call(outbox.enqueue, a, CHANNEL)
    db.call(outbox.enqueue, ids[0], OTHER)
    assert db.call(outbox.skip_chat, CHANNEL, "bot was kicked") == 3
    assert db.call(outbox.move_chat, OTHER, -1009999) == 1
    (c,) = db.call(outbox.claim, "w")
    assert c.chat_id == -1009999
