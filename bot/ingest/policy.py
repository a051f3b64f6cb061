"""When to poll a feed next, and when to give up on it: pure functions, no I/O.

The numbers follow mature feed readers (see docs/ingestion.md): Miniflux and reader honour
Retry-After and Cache-Control; NewsBlur backs off by error count with jitter, capped; Tiny Tiny
RSS disables feeds that keep failing; 410 Gone means the publisher removed the feed for good.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """Tunable bounds of the schedule (defaults are what ``orbitwire run`` uses)."""

    interval: timedelta = timedelta(minutes=15)  # normal polling interval
    min_interval: timedelta = timedelta(minutes=5)  # never poll faster, whatever headers say
    max_cache_age: timedelta = timedelta(hours=6)  # honour max-age only up to this
    max_retry_after: timedelta = timedelta(days=1)  # a server can ask us to wait this long at most
    backoff_cap: timedelta = timedelta(days=1)  # error backoff never exceeds this
    jitter: float = 0.25  # ±25 % spread so failing feeds do not retry in lockstep
    disable_after_errors: int = 50  # consecutive failures …
    disable_after_failing_for: timedelta = timedelta(days=7)  # … over at least this long
    disable_after_parse_errors: int = 5  # consecutive "this is not a feed" answers
    redirect_confirmations: int = 3  # consistent 301/308s before the stored URL changes


class Verdict(Enum):
    """What the outcome of one fetch means for the feed."""

    OK = "ok"  # parsed; schedule normally
    NOT_MODIFIED = "not_modified"
    ERROR = "error"  # transient; back off
    DISABLE = "disable"  # stop polling and tell the admins


def _jittered(delay: timedelta, jitter: float, rng: random.Random) -> timedelta:
    if jitter <= 0:
        return delay
    factor = 1 + rng.uniform(-jitter, jitter)
    return timedelta(seconds=delay.total_seconds() * factor)


def next_check_ok(
    now: datetime,
    policy: PollPolicy,
    *,
    max_age: float | None = None,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> datetime:
    """After a successful (or 304) fetch: the interval, stretched by max-age / Retry-After."""
    rng = rng or random.Random()  # noqa: S311 - jitter, not security
    delay = policy.interval
    if max_age is not None and max_age > 0:
        delay = max(delay, min(timedelta(seconds=max_age), policy.max_cache_age))
    if retry_after is not None and retry_after > 0:
        delay = max(delay, min(timedelta(seconds=retry_after), policy.max_retry_after))
    delay = max(delay, policy.min_interval)
    # A small jitter (≤10 %) spreads feeds added together across the interval.
    return now + _jittered(delay, min(policy.jitter, 0.1), rng)


def backoff_delay(
    error_count: int, policy: PollPolicy, rng: random.Random | None = None
) -> timedelta:
    """Exponential backoff: interval × 2^(errors-1), capped, with jitter (never above the cap)."""
    rng = rng or random.Random()  # noqa: S311 - jitter, not security
    exponent = max(0, min(error_count - 1, 16))
    base = policy.interval * (2**exponent)
    delay = min(base, policy.backoff_cap)
    return min(_jittered(delay, policy.jitter, rng), policy.backoff_cap)


def next_check_error(
    now: datetime,
    error_count: int,
    policy: PollPolicy,
    *,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> datetime:
    """After a failure: back off, but never sooner than the server's Retry-After asks."""
    delay = backoff_delay(error_count, policy, rng)
    if retry_after is not None and retry_after > 0:
        delay = max(delay, min(timedelta(seconds=retry_after), policy.max_retry_after))
    return now + max(delay, policy.min_interval)


def classify_status(status: int | None) -> Verdict:
    """Map an HTTP status (None: no response) to what it means for scheduling."""
    if status is None:
        return Verdict.ERROR
    if status == 304:
        return Verdict.NOT_MODIFIED
    if 200 <= status < 300:
        return Verdict.OK
    if status == 410:
        return Verdict.DISABLE
    return Verdict.ERROR


def should_disable(
    *,
    error_count: int,
    parse_error_count: int,
    failing_since: datetime | None,
    now: datetime,
    policy: PollPolicy,
) -> str | None:
    """A reason to stop polling a feed that keeps failing, or None to keep trying."""
    if parse_error_count >= policy.disable_after_parse_errors:
        return f"not a valid feed {parse_error_count} times in a row"
    if (
        error_count >= policy.disable_after_errors
        and failing_since is not None
        and now - failing_since >= policy.disable_after_failing_for
    ):
        days = (now - failing_since).days
        return f"failing for {days} days ({error_count} errors in a row)"
    return None


def redirect_step(
    current_candidate: str | None, hits: int, new_target: str | None, policy: PollPolicy
) -> tuple[str | None, int, bool]:
    """Track permanent redirects; returns (candidate, hits, adopt_now).

    The stored URL changes only after ``redirect_confirmations`` consistent 301/308 answers
    (NewsBlur and reader do the same), so a misconfigured server for an hour cannot move a feed.
    """
    if new_target is None:
        return None, 0, False
    hits = hits + 1 if new_target == current_candidate else 1
    return new_target, hits, hits >= policy.redirect_confirmations
