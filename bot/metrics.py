"""Prometheus metrics: what an operator graphs and alerts on.

A private :class:`~prometheus_client.CollectorRegistry` (not the global one) so tests and several
applications in one process do not collide. The bot updates these in place; the HTTP endpoint
(:mod:`bot.health`) renders them on scrape.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    """Every metric orbitwire exports (names documented in the README)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.feeds_fetched = Counter(
            "orbitwire_feeds_fetched_total", "Feed fetches by result", ["result"], registry=r
        )
        self.articles_stored = Counter(
            "orbitwire_articles_stored_total", "New articles stored", registry=r
        )
        self.articles_updated = Counter(
            "orbitwire_articles_updated_total", "Articles updated after an edit", registry=r
        )
        self.posts_sent = Counter(
            "orbitwire_posts_sent_total", "Messages delivered from the outbox", ["kind"], registry=r
        )
        self.posts_failed = Counter(
            "orbitwire_posts_failed_total", "Outbox deliveries that failed", ["outcome"], registry=r
        )
        self.telegram_429 = Counter(
            "orbitwire_telegram_429_total", "Flood-control answers (429) from Telegram", registry=r
        )
        self.queue_depth = Gauge(
            "orbitwire_outbox_depth", "Deliveries waiting in the outbox", ["state"], registry=r
        )
        self.is_leader = Gauge(
            "orbitwire_scheduler_leader", "1 when this process runs the scheduled jobs", registry=r
        )
        self.last_fetch_success = Gauge(
            "orbitwire_last_fetch_success_timestamp_seconds",
            "Unix time of the last update pass with at least one successful feed",
            registry=r,
        )
        self.handler_latency = Histogram(
            "orbitwire_handler_seconds",
            "Time to handle one Telegram update",
            ["handler"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
