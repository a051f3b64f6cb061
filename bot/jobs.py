"""Scheduler jobs, run by PTB's JobQueue (APScheduler 3 underneath).

APScheduler's defaults silently drop a run that starts more than one second late
(``misfire_grace_time=1``). A busy event loop or a suspended laptop would then skip ingestion
without a word, so every job here sets ``misfire_grace_time=None`` (run however late),
``coalesce=True`` (one catch-up run, not a burst) and ``max_instances=1``, and uses an explicit
id with ``replace_existing`` so re-registering on restart never duplicates a job.
The schedule of each *feed* lives in the database (``feed.next_check_at``); the job is only the
heartbeat that picks due feeds.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from telegram.ext import ContextTypes

from bot.context import services_of
from bot.health import HEARTBEAT_SECONDS
from storage import outbox

log = logging.getLogger(__name__)

INGEST_JOB_ID = "orbitwire-ingest"
INGEST_TICK_SECONDS = 60.0
PUBLISH_JOB_ID = "orbitwire-publish"
SEND_JOB_ID = "orbitwire-send"
SEND_TICK_SECONDS = 2.0
SEND_MAX_SECONDS = 30.0


def job_kwargs(job_id: str) -> dict[str, Any]:
    """APScheduler options every orbitwire job uses (see the module docstring)."""
    return {
        "id": job_id,
        "replace_existing": True,
        "misfire_grace_time": None,
        "coalesce": True,
        "max_instances": 1,
    }


async def ingest_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Fetch every due feed once (only on the leader replica)."""
    services = services_of(context)
    if services.updater is None or not await services.lead():
        return
    report = await services.updater.run_pass()
    metrics = services.metrics
    for outcome in report.outcomes:
        metrics.feeds_fetched.labels(outcome.result).inc()
    metrics.articles_stored.inc(report.new)
    metrics.articles_updated.inc(report.updated)
    if any(o.result in ("ok", "not_modified") for o in report.outcomes):
        services.health.last_fetch_success_at = time.time()
        metrics.last_fetch_success.set(services.health.last_fetch_success_at)


async def publish_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Plan the next post of every channel (leader only); the send job delivers it."""
    services = services_of(context)
    if services.publisher is None or not await services.lead():
        return
    await resolve_channels(context.bot, services)
    report = await services.publisher.plan()
    for planned in report.planned:
        log.info(
            "planned %s for %s (score %.1f)", planned.article_id, planned.channel, planned.score
        )


async def send_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Drain the outbox, paced by the flood control (leader only)."""
    services = services_of(context)
    leading = await services.lead() if services.sender is not None else False
    services.metrics.is_leader.set(1 if leading else 0)
    if services.sender is None or not leading:
        return
    assert services.leader is not None
    if services.sender.recovered_term != services.leader.term:
        # newly elected: whatever is still in flight belongs to a process that is gone
        await services.sender.recover()
        services.sender.recovered_term = services.leader.term
    before = services.flood.retry_after_count
    report = await services.sender.drain(max_seconds=SEND_MAX_SECONDS)
    metrics = services.metrics
    if report.sent:
        metrics.posts_sent.labels("all").inc(report.sent)
    for outcome, count in report.outcomes.items():
        if outcome != "sent":
            metrics.posts_failed.labels(outcome).inc(count)
    metrics.telegram_429.inc(services.flood.retry_after_count - before)
    depth = await services.db.run(outbox.counts)
    for state in outbox.OPEN_STATES:
        metrics.queue_depth.labels(state).set(depth.get(state, 0))


async def heartbeat_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Proves the scheduler is alive (read by /healthz)."""
    services_of(context).health.beat()


async def resolve_channels(bot: Any, services: Any) -> None:
    """Give ``@name`` channels their numeric id (``getChat``); unresolved ones are retried."""
    from telegram.error import TelegramError

    from storage.channels import set_chat_id, sync_channels

    channels = await services.db.run(sync_channels, services.settings.channels)
    for channel in channels:
        if channel.chat_id is not None:
            continue
        try:
            chat = await bot.get_chat(channel.chat_ref)
        except TelegramError as exc:
            log.warning("cannot resolve channel %s: %s", channel.chat_ref, exc)
            continue
        await services.db.run(set_chat_id, channel.chat_ref, chat.id, chat.title)


HEARTBEAT_JOB_ID = "orbitwire-heartbeat"


def schedule_jobs(app: Any, *, first: float = 1.0) -> None:
    """Register the repeating jobs on the application's JobQueue (each with a stable id)."""
    from bot.admin.jobs import ADMIN_JOB_ID, ADMIN_TICK_SECONDS, admin_job
    from bot.alerts import SUBSCRIPTIONS_JOB_ID, SUBSCRIPTIONS_TICK_SECONDS, subscriptions_job

    queue = app.job_queue
    if queue is None:  # pragma: no cover - the job-queue extra is a hard dependency
        raise RuntimeError("python-telegram-bot was installed without the job-queue extra")
    publish_every = services_of(app).settings.publish_tick_seconds
    # (callback, id, interval in seconds, first run after start): staggered so they do not
    # all hit the database in the same second
    jobs: list[tuple[Any, str, float, float]] = [
        (heartbeat_job, HEARTBEAT_JOB_ID, HEARTBEAT_SECONDS, 0.1),
        (ingest_job, INGEST_JOB_ID, INGEST_TICK_SECONDS, first),
        (publish_job, PUBLISH_JOB_ID, publish_every, first + 2),
        (send_job, SEND_JOB_ID, SEND_TICK_SECONDS, first + 3),
        (admin_job, ADMIN_JOB_ID, ADMIN_TICK_SECONDS, first + 4),
        (subscriptions_job, SUBSCRIPTIONS_JOB_ID, SUBSCRIPTIONS_TICK_SECONDS, first + 5),
    ]
    for callback, job_id, interval, start in jobs:
        queue.run_repeating(
            callback, interval=interval, first=start, name=job_id, job_kwargs=job_kwargs(job_id)
        )
