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
from typing import Any

from telegram.ext import ContextTypes

from bot.context import services_of

log = logging.getLogger(__name__)

INGEST_JOB_ID = "orbitwire-ingest"
INGEST_TICK_SECONDS = 60.0


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
    await services.updater.run_pass()


def schedule_jobs(app: Any, *, first: float = 1.0) -> None:
    """Register the repeating jobs on the application's JobQueue."""
    queue = app.job_queue
    if queue is None:  # pragma: no cover - the job-queue extra is a hard dependency
        raise RuntimeError("python-telegram-bot was installed without the job-queue extra")
    queue.run_repeating(
        ingest_job,
        interval=INGEST_TICK_SECONDS,
        first=first,
        name=INGEST_JOB_ID,
        job_kwargs=job_kwargs(INGEST_JOB_ID),
    )
