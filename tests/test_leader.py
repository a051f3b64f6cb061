"""Scheduler leadership: exactly one leader per database, failover when it goes away."""

from __future__ import annotations

from bot.leader import Leadership
from storage.db import Database


def test_one_leader_and_failover(db: Database) -> None:
    other_db = Database(db.url)
    first, second = Leadership(db), Leadership(other_db)
    try:
        assert first.refresh() is True
        assert second.refresh() is False
        assert first.refresh() is True  # keeps it
        first.release()  # the leader stops (or dies: its connection/lock goes with it)
        assert second.refresh() is True
        assert first.refresh() is False
    finally:
        first.release()
        second.release()
        other_db.close()
