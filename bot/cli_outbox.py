"""``orbitwire outbox``: look into the delivery queue, and re-queue what an admin decides to.

Deliveries whose outcome is unknown (the request left, the answer never came) are never re-sent
automatically; this is where an operator checks the channel and decides.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from sqlmodel import Session, col, select

from config.settings import Settings
from storage import outbox
from storage.db import Database
from storage.models import Delivery

OpenDb = Callable[[Settings], Database]


def _problems(session: Session, limit: int) -> list[dict[str, Any]]:
    rows = session.exec(
        select(Delivery)
        .where(col(Delivery.state).in_((outbox.UNKNOWN, outbox.FAILED)))
        .order_by(col(Delivery.id).desc())
        .limit(limit)
    ).all()
    return [
        {
            "id": d.id,
            "state": d.state,
            "kind": d.kind,
            "chat_id": d.chat_id,
            "article_id": d.article_id,
            "attempts": d.attempts,
            "error": d.last_error,
            "created_at": d.created_at.isoformat(),
        }
        for d in rows
    ]


def cmd_outbox(
    settings: Settings,
    args: argparse.Namespace,
    open_db: OpenDb,
    error: Callable[[str, int], Exception],
) -> int:
    db = open_db(settings)
    try:
        if args.action == "requeue":
            if args.id is None:
                raise error("orbitwire: outbox requeue needs a delivery id", 2)
            if not db.call(outbox.requeue, args.id):
                raise error(f"orbitwire: delivery {args.id} is not unknown or failed", 1)
            print(f"delivery {args.id} queued again; the sender will post it on its next tick")
            return 0
        counts = db.call(outbox.counts)
        problems = db.call(_problems, args.limit)
    finally:
        db.close()
    if args.json:
        print(json.dumps({"counts": counts, "problems": problems}, indent=2))
        return 0
    print("outbox: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "empty"))
    for p in problems:
        print(f"#{p['id']} {p['state']} {p['kind']} → chat {p['chat_id']}: {p['error']}")
    if any(p["state"] == outbox.UNKNOWN for p in problems):
        print(
            "unknown: the post may be in the channel already; check, then "
            "`orbitwire outbox requeue ID` to send it again"
        )
    return 0


def register(
    add: Callable[..., argparse.ArgumentParser],
    open_db: OpenDb,
    error: Callable[[str, int], Exception],
) -> None:
    parser = add(
        "outbox",
        lambda settings, args: cmd_outbox(settings, args, open_db, error),
        "delivery queue: counts, failed and unknown deliveries, requeue",
        listing=True,
    )
    parser.add_argument("action", nargs="?", choices=["list", "requeue"], default="list")
    parser.add_argument("id", nargs="?", type=int, help="delivery id (requeue)")
    parser.add_argument("--limit", type=int, default=20)
