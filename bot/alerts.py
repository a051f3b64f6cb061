"""Alerts and daily digests for users' subscriptions.

Alerts: a leader-only job looks at articles stored recently (``ALERT_WINDOW``), clusters the
last two days into stories with the publisher's :func:`~bot.publish.cluster.cluster` (so a second
report of a story the user already heard about does not alert again), and matches each user's
subscriptions — mission, agency or country links made by the knowledge linker, or a keyword
matched on word boundaries in title and summary (the publisher's include-filter matcher). Only
articles stored after the subscription count, so subscribing never replays the backlog. All of a
user's new stories in one pass become *one* message (up to ``MAX_STORIES`` listed), queued in the
outbox as ``kind="alert"`` under the first story's article id with every covered article id in
the payload; the sender paces them with the same flood control as channel posts (and after them:
lower priority). A user who blocked the bot is unsubscribed by the sender's ``chat_gone``.

Digests: a leader-only job finds users whose local time has passed their ``/digest`` time and
who had no digest since local midnight, claims the day with a conditional UPDATE (so replicas and
restarts send one), and queues the day's top stories for their subscriptions (scored by
:func:`~bot.publish.curate.score`), or the top stories overall for users who follow nothing.
"""

from __future__ import annotations

import html
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session
from telegram.ext import ContextTypes

from bot.knowledge.catalog import Catalog
from bot.publish.cluster import Candidate, Story, cluster
from bot.publish.curate import ChannelFilter, score
from bot.publish.publisher import _to_candidate
from storage import outbox
from storage import subscriptions as subs
from storage.candidates import CandidateRow, recent_candidates
from storage.db import Database

log = logging.getLogger(__name__)

ALERT_WINDOW = timedelta(hours=6)
STORY_WINDOW = timedelta(hours=48)
DIGEST_WINDOW = timedelta(hours=24)
ALERTED_MEMORY = timedelta(days=7)
MAX_STORIES = 5
ALERT_PRIORITY = -5  # channel posts first, then alerts
SUBSCRIPTIONS_JOB_ID = "orbitwire-subscriptions"
SUBSCRIPTIONS_TICK_SECONDS = 60.0
MANAGE_BUTTON = {"text": "⚙️ My subscriptions", "callback_data": "sb:l"}


def label(kind: str, target: str, catalog: Catalog | None) -> str:
    """How a subscription is shown: the mission's name, the agency, the country with its flag."""
    if catalog is not None:
        if kind == "mission" and (m := catalog.mission_by_slug(target)):
            return m.name
        if kind == "country" and (c := catalog.country(target)):
            return f"{c.flag} {c.name}".strip()
    if kind == "keyword":
        return f"“{target}”"
    return target


def matches(sub: subs.SubRow, row: CandidateRow) -> bool:
    """Does one article match one subscription?"""
    if sub.kind == "mission":
        return sub.target in row.missions
    if sub.kind == "agency":
        return sub.target in row.agencies
    if sub.kind == "country":
        return sub.target in row.countries
    candidate = _to_candidate(row)
    return ChannelFilter(include=(sub.target,)).matches(Story(lead=candidate), 0.0)


@dataclass(frozen=True, slots=True)
class Hit:
    """A story for a user, and what made it match."""

    story: Story
    reasons: tuple[str, ...]


def _entry(hit: Hit, rows: dict[int, CandidateRow]) -> tuple[str, str]:
    lead = rows[hit.story.lead.article_id]
    title = html.escape(lead.title[:200] or lead.url)
    site = html.escape(lead.site or "")
    why = f" · {html.escape(', '.join(hit.reasons))}" if hit.reasons else ""
    html_line = f'• <a href="{html.escape(lead.url, quote=True)}">{title}</a> — {site}{why}'
    plain_line = f"• {lead.title[:200]} — {lead.site}\n  {lead.url}"
    return html_line, plain_line


def render_list(
    heading: str, hits: Sequence[Hit], rows: dict[int, CandidateRow], more: int = 0
) -> dict[str, Any]:
    """An alert or digest message in the outbox payload format."""
    lines = [_entry(h, rows) for h in hits]
    tail = f"\n…and {more} more" if more else ""
    html_text = f"<b>{html.escape(heading)}</b>\n\n" + "\n".join(h for h, _ in lines) + tail
    plain = f"{heading}\n\n" + "\n".join(p for _, p in lines) + tail
    preview: dict[str, Any] = {"is_disabled": True}
    if len(hits) == 1:
        preview = {"url": rows[hits[0].story.lead.article_id].url, "prefer_small_media": True}
    return {
        "kind": "text",
        "html": html_text,
        "plain": plain,
        "link_preview": preview,
        "buttons": [[MANAGE_BUTTON]],
    }


def _stories(rows: list[CandidateRow]) -> list[Story]:
    return cluster([_to_candidate(r) for r in rows])


def _enqueue_first_free(
    session: Session,
    user_id: int,
    kind: str,
    ids: Sequence[int],
    payload: dict[str, Any],
) -> int | None:
    """Queue under the first article id this user has no ``kind`` delivery for yet."""
    used = subs.used_article_ids(session, user_id, kind, ids)
    for article_id in ids:
        if article_id in used:
            continue
        delivery = outbox.enqueue(
            session, article_id, user_id, kind=kind, payload=payload, priority=ALERT_PRIORITY
        )
        if delivery is not None:
            return delivery
    return None


# --------------------------------------------------------------------------- alerts
def _alert_hits(
    user_subs: Sequence[subs.SubRow],
    stories: Iterable[Story],
    rows: dict[int, CandidateRow],
    already: set[int],
    fresh_since: datetime,
    catalog: Catalog | None,
) -> list[Hit]:
    hits = []
    for story in stories:
        if already & story.member_ids:
            continue
        reasons: list[str] = []
        for member in story.members:
            row = rows[member.article_id]
            if row.fetched_at < fresh_since:
                continue
            for sub in user_subs:
                if row.fetched_at >= sub.created_at and matches(sub, row):
                    name = label(sub.kind, sub.target, catalog)
                    if name not in reasons:
                        reasons.append(name)
        if reasons:
            hits.append(Hit(story, tuple(reasons)))
    hits.sort(key=lambda h: h.story.first_published, reverse=True)
    return hits


def plan_alerts(
    session: Session, now: datetime, catalog: Catalog | None = None
) -> dict[int, int | None]:
    """One alert pass in one transaction; returns user → delivery id of the alert queued."""
    all_subs = subs.active_subscriptions(session)
    if not all_subs:
        return {}
    rows_list = recent_candidates(session, now - STORY_WINDOW)
    fresh_since = now - ALERT_WINDOW
    if not any(r.fetched_at >= fresh_since for r in rows_list):
        return {}
    rows = {r.article_id: r for r in rows_list}
    stories = _stories(rows_list)
    by_user: dict[int, list[subs.SubRow]] = defaultdict(list)
    for sub in all_subs:
        by_user[sub.user_id].append(sub)
    alerted = subs.alerted_articles(session, list(by_user), now - ALERTED_MEMORY)
    queued: dict[int, int | None] = {}
    for user_id, user_subs in by_user.items():
        hits = _alert_hits(user_subs, stories, rows, alerted[user_id], fresh_since, catalog)
        if not hits:
            continue
        shown, rest = hits[:MAX_STORIES], hits[MAX_STORIES:]
        if len(shown) == 1:
            heading = f"🔔 New on {', '.join(shown[0].reasons)}"
        else:
            heading = f"🔔 {len(hits)} new stories for your subscriptions"
        payload = render_list(heading, shown, rows, more=len(rest))
        covered = sorted({i for h in hits for i in h.story.member_ids})
        payload["article_ids"] = covered
        leads = [h.story.lead.article_id for h in shown]
        queued[user_id] = _enqueue_first_free(
            session, user_id, "alert", leads + [i for i in covered if i not in leads], payload
        )
    return queued


async def run_alerts(db: Database, now: datetime, catalog: Catalog | None = None) -> int:
    """Queue this pass's alerts; returns how many users got one."""
    queued = await db.run(plan_alerts, now, catalog)
    return sum(1 for d in queued.values() if d is not None)


# --------------------------------------------------------------------------- digests
def parse_hhmm(text: str) -> str | None:
    """``"9:05"`` → ``"09:05"``; None when it is not a time of day."""
    hours, sep, minutes = text.strip().partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit() or len(minutes) != 2:
        return None
    h, m = int(hours), int(minutes)
    if not (0 <= h <= 23 and 0 <= m <= 59):
        return None
    return f"{h:02d}:{m:02d}"


def digest_due(pref: subs.PrefRow, now: datetime) -> datetime | None:
    """The start of the user's local day (UTC) if a digest is due now, else None."""
    if pref.digest_time is None:
        return None
    try:
        zone = ZoneInfo(pref.timezone or "UTC")
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    local = now.astimezone(zone)
    hh, mm = (int(p) for p in pref.digest_time.split(":"))
    if local.time() < time(hh, mm):
        return None
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if pref.last_digest_at is not None and pref.last_digest_at >= day_start:
        return None
    return day_start


def digest_hits(
    user_subs: Sequence[subs.SubRow],
    stories: Iterable[Story],
    rows: dict[int, CandidateRow],
    now: datetime,
    catalog: Catalog | None,
) -> list[Hit]:
    """The user's top stories of the last day, best first."""
    scored: list[tuple[float, Hit]] = []
    for story in stories:
        reasons: list[str] = []
        for sub in user_subs:
            if any(matches(sub, rows[m.article_id]) for m in story.members):
                name = label(sub.kind, sub.target, catalog)
                if name not in reasons:
                    reasons.append(name)
        if reasons or not user_subs:
            scored.append((score(story, now), Hit(story, tuple(reasons))))
    scored.sort(key=lambda p: (-p[0], -p[1].story.first_published.timestamp()))
    return [hit for _, hit in scored[:MAX_STORIES]]


def plan_digests(
    session: Session, now: datetime, catalog: Catalog | None = None
) -> dict[int, int | None]:
    """One digest pass; returns user → delivery id (None: nothing to send today)."""
    due = [(p, start) for p in subs.digest_users(session) if (start := digest_due(p, now))]
    if not due:
        return {}
    rows_list = recent_candidates(session, now - DIGEST_WINDOW)
    rows = {r.article_id: r for r in rows_list}
    stories = _stories(rows_list)
    by_user: dict[int, list[subs.SubRow]] = defaultdict(list)
    for sub in subs.active_subscriptions(session):
        by_user[sub.user_id].append(sub)
    out: dict[int, int | None] = {}
    for pref, day_start in due:
        if not subs.claim_digest(session, pref.user_id, day_start, now):
            continue
        hits = digest_hits(by_user.get(pref.user_id, []), stories, rows, now, catalog)
        if not hits:
            out[pref.user_id] = None
            continue
        local = now.astimezone(ZoneInfo(pref.timezone or "UTC"))
        payload = render_list(f"🗞 Your space-news digest, {local:%a %d %b}", hits, rows)
        payload["article_ids"] = sorted({i for h in hits for i in h.story.member_ids})
        leads = [h.story.lead.article_id for h in hits]
        out[pref.user_id] = _enqueue_first_free(
            session, pref.user_id, "digest", leads + payload["article_ids"], payload
        )
    return out


async def run_digests(db: Database, now: datetime, catalog: Catalog | None = None) -> int:
    queued = await db.run(plan_digests, now, catalog)
    return sum(1 for d in queued.values() if d is not None)


# --------------------------------------------------------------------------- the job
async def subscriptions_tick(db: Database, now: datetime, catalog: Catalog | None) -> None:
    """One pass of alerts then digests (what the job runs; tests call it with a moved clock)."""
    alerts = await run_alerts(db, now, catalog)
    digests = await run_digests(db, now, catalog)
    if alerts or digests:
        log.info("queued %d alert(s) and %d digest(s)", alerts, digests)


async def subscriptions_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Leader-only: alerts and digests."""
    from bot.context import services_of

    services = services_of(context)
    if not await services.lead():
        return
    catalog = services.knowledge.catalog if services.knowledge else None
    await subscriptions_tick(services.db, services.now(), catalog)


__all__ = ["Candidate", "plan_alerts", "plan_digests", "subscriptions_job"]
