"""The admin desk's leader-only job: due scheduled posts, review keyboards, admin notices.

One job for the three because they share a cadence and all must run on the leader only (a
scheduled post is enqueued once; an event is told once). Each step takes an explicit ``now``
from :meth:`AppServices.now`, so tests move the clock instead of sleeping.
"""

from __future__ import annotations

import logging

from telegram.ext import ContextTypes

from bot.admin.notifier import key_review_posts, notify_events
from bot.admin.queue import queue_service
from bot.context import AppServices, services_of

log = logging.getLogger(__name__)

ADMIN_JOB_ID = "orbitwire-admin"
ADMIN_TICK_SECONDS = 20.0


async def admin_tick(services: AppServices, bot: object) -> None:
    """One pass (what the job runs; tests call it directly with a moved clock)."""
    now = services.now()
    posted = await queue_service(services).run_due(now)
    if posted:
        log.info("posted %d scheduled queue item(s)", len(posted))
    await key_review_posts(bot, services.db)
    await notify_events(bot, services.db, services.settings, now=now)


async def admin_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    services = services_of(context)
    if not await services.lead():
        return
    await admin_tick(services, context.bot)
