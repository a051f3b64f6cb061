"""The publisher: decide what each channel gets next, render it, put it in the outbox.

One tick, per channel: respect the schedule (quiet hours, posts per day, spacing), cluster the
recent articles into stories, drop stories any of whose articles this chat already got (so a
story is never posted twice, even when a later report joins it), filter and score, render the
best one and enqueue it — to the channel in ``auto`` mode, to the review chat in ``review`` mode.
Sending is the :mod:`~bot.publish.sender`'s job; planning never talks to Telegram.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.publish.cluster import Candidate, Story, cluster
from bot.publish.curate import ChannelFilter, explain, pick
from bot.publish.render import PostContent, RenderedPost, parse_follow_us, render_post
from bot.publish.summarize import Summarizer
from config.channels import ChannelSchedule
from config.settings import Settings
from storage import outbox
from storage.candidates import (
    CandidateRow,
    add_review_item,
    channel_activity,
    offered_to,
    recent_candidates,
)
from storage.channels import ChannelInfo, sync_channels
from storage.db import Database
from storage.types import utcnow

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PlannedPost:
    """One post the publisher decided on (enqueued, or only shown in a dry run)."""

    channel: str
    chat_id: int
    target_chat_id: int  # the channel, or the review chat in review mode
    mode: str
    article_id: int
    member_ids: list[int]
    score: float
    score_parts: dict[str, float]
    summary_method: str
    post: RenderedPost
    delivery_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "chat_id": self.chat_id,
            "target_chat_id": self.target_chat_id,
            "mode": self.mode,
            "article_id": self.article_id,
            "member_ids": self.member_ids,
            "score": round(self.score, 2),
            "score_parts": {k: round(v, 2) for k, v in self.score_parts.items()},
            "summary_method": self.summary_method,
            "kind": self.post.kind,
            "html": self.post.html,
            "plain": self.post.plain,
            "photo_url": self.post.photo_url,
            "delivery_id": self.delivery_id,
        }


@dataclass(slots=True)
class PlanReport:
    planned: list[PlannedPost] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # channel → why nothing was planned


def _to_candidate(row: CandidateRow) -> Candidate:
    return Candidate(
        article_id=row.article_id,
        title=row.title,
        summary=row.summary,
        url=row.url,
        site=row.site,
        published_at=row.published_at,
        language=row.language,
        source_weight=row.source_weight,
        missions=frozenset(row.missions),
        agencies=frozenset(row.agencies),
        countries=frozenset(row.countries),
        has_image=bool(row.image_url),
    )


def _channel_filter(schedule: ChannelSchedule) -> ChannelFilter:
    return ChannelFilter(
        languages=frozenset(schedule.languages),
        include=tuple(schedule.include),
        exclude=tuple(schedule.exclude),
        min_score=schedule.min_score,
    )


def review_buttons(article_id: int, chat_id: int) -> list[list[dict[str, str]]]:
    """Approve/reject buttons for review mode (handled by the admin queue)."""
    return [
        [
            {"text": "✅ Post now", "callback_data": f"rv:ok:{article_id}:{chat_id}"},
            {"text": "❌ Reject", "callback_data": f"rv:no:{article_id}:{chat_id}"},
        ]
    ]


class Publisher:
    """Plans and enqueues channel posts (see the module docstring)."""

    def __init__(
        self, settings: Settings, db: Database, summarizer: Summarizer | None = None
    ) -> None:
        self.settings = settings
        self.db = db
        self.summarizer = summarizer or Summarizer()
        self.follow = parse_follow_us(settings.follow_us)

    async def plan(self, *, now: datetime | None = None, dry_run: bool = False) -> PlanReport:
        """One tick over every configured channel; ``dry_run`` renders but enqueues nothing."""
        now = now or utcnow()
        report = PlanReport()
        channels = await self.db.run(sync_channels, self.settings.channels)
        rows: list[CandidateRow] | None = None
        for channel in channels:
            why = await self._blocked(channel, now)
            if why is not None:
                report.skipped[channel.chat_ref] = why
                continue
            assert channel.chat_id is not None
            if rows is None:
                since = now - timedelta(hours=self.settings.backlog_hours)
                rows = await self.db.run(recent_candidates, since)
            planned = await self._plan_channel(channel, rows, now, dry_run=dry_run)
            if planned is None:
                report.skipped[channel.chat_ref] = "no new story passes the channel's filters"
            else:
                report.planned.append(planned)
        return report

    async def _blocked(self, channel: ChannelInfo, now: datetime) -> str | None:
        if channel.chat_id is None:
            return "channel id not resolved yet (the bot must be a member; see getChat)"
        if not channel.enabled:
            return f"disabled: {channel.disabled_reason or 'unknown reason'}"
        if channel.paused:
            return "paused by an admin"
        schedule = self.settings.schedule_for(channel.chat_ref)
        if schedule.is_quiet(now):
            return f"quiet hours ({schedule.quiet_hours} {schedule.timezone})"
        zone = ZoneInfo(schedule.timezone)
        midnight = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
        activity = await self.db.run(channel_activity, channel.chat_id, midnight)
        if activity.posts_since >= schedule.max_posts_per_day:
            return f"daily limit reached ({schedule.max_posts_per_day})"
        spacing = timedelta(minutes=schedule.min_spacing_minutes)
        if activity.last_post_at is not None and now - activity.last_post_at < spacing:
            return f"spacing: next post after {(activity.last_post_at + spacing):%H:%M} UTC"
        return None

    async def _plan_channel(
        self, channel: ChannelInfo, rows: list[CandidateRow], now: datetime, *, dry_run: bool
    ) -> PlannedPost | None:
        assert channel.chat_id is not None
        schedule = self.settings.schedule_for(channel.chat_ref)
        by_id = {r.article_id: r for r in rows}
        stories = cluster([_to_candidate(r) for r in rows])
        all_ids = [i for s in stories for i in s.member_ids]
        done = await self.db.run(offered_to, all_ids, channel.chat_id)
        fresh = [s for s in stories if not done.intersection(s.member_ids)]
        best = pick(fresh, now, _channel_filter(schedule), limit=1)
        if not best:
            return None
        story, score = best[0]
        post, method = await self.render(story, by_id)
        target = channel.chat_id
        mode = schedule.publish_mode
        if mode == "review":
            if schedule.review_chat is None:
                log.warning("%s is in review mode but has no review chat", channel.chat_ref)
                return None
            target = schedule.review_chat
        planned = PlannedPost(
            channel=channel.chat_ref,
            chat_id=channel.chat_id,
            target_chat_id=target,
            mode=mode,
            article_id=story.lead.article_id,
            member_ids=sorted(story.member_ids),
            score=score,
            score_parts=explain(story, now),
            summary_method=method,
            post=post,
        )
        if not dry_run:
            planned.delivery_id = await self._enqueue(planned, story)
        return planned

    async def render(self, story: Story, rows: dict[int, CandidateRow]) -> tuple[RenderedPost, str]:
        """Summarize the lead article and render the post (pure apart from the summarizer)."""
        lead = rows[story.lead.article_id]
        missions = {
            slug: name for m in story.members for slug, name in rows[m.article_id].missions.items()
        }
        agencies = {a: n for m in story.members for a, n in rows[m.article_id].agencies.items()}
        countries = {c: n for m in story.members for c, n in rows[m.article_id].countries.items()}
        keywords = [*missions.values(), *agencies, *agencies.values(), *countries.values()]
        text = lead.content or lead.summary
        summary, method = await self.summarizer.summarize(lead.title, text, keywords=keywords)
        content = PostContent(
            title=lead.title,
            url=lead.url,
            summary=summary,
            source_site=lead.site,
            also_reported=tuple(story.also_reported),
            hashtags=(*missions.values(), *agencies),
            image_url=lead.image_url,
            published_at=lead.published_at,
        )
        return render_post(content, self.follow), method

    async def _enqueue(self, planned: PlannedPost, story: Story) -> int | None:
        payload: dict[str, Any] = {
            "kind": planned.post.kind,
            "html": planned.post.html,
            "plain": planned.post.plain,
            "photo_url": planned.post.photo_url,
            "link_preview": planned.post.link_preview,
            "channel": planned.channel,
            "member_ids": planned.member_ids,
        }
        kind = "post"
        if planned.mode == "review":
            kind = "review"
            payload["buttons"] = review_buttons(planned.article_id, planned.chat_id)
            payload["for_chat_id"] = planned.chat_id
        delivery_id = await self.db.run(
            outbox.enqueue, planned.article_id, planned.target_chat_id, kind=kind, payload=payload
        )
        if planned.mode == "review" and delivery_id is not None:
            # the pending decision lives in the admin queue, so the story is not offered again
            await self.db.run(
                add_review_item, planned.article_id, planned.chat_id, planned.target_chat_id
            )
        return delivery_id
