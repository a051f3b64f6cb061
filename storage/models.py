"""SQLModel tables: the whole persistent state of orbitwire.

The pipeline reads top to bottom here too: feeds → articles → knowledge (countries, agencies,
missions, links, partner facts) → publishing (channels, deliveries, admin queue) → users
(subscriptions) → events for admins.

Design rules:
- Telegram chat and user ids are 64-bit (``BigInteger``): migrated supergroups exceed 2^32.
- Every timestamp is :class:`~storage.types.UTCDateTime` (aware UTC in Python).
- Dedup lives in unique constraints, not in application checks, so two processes sharing
  PostgreSQL cannot both insert the same article or send the same delivery.
- Schema changes go through Alembic (``storage/migrations``); never ``create_all`` in production.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, utcnow


def _ts(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


def _created() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


# --------------------------------------------------------------------------- ingestion
class Feed(SQLModel, table=True):
    """A source we poll. Scheduling state lives here so a restart loses nothing."""

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(max_length=2048, unique=True)
    title: str = Field(default="", max_length=512)
    homepage: str | None = Field(default=None, max_length=2048)
    language: str = Field(default="en", max_length=16)
    weight: float = 1.0
    full_text: bool = False
    origin: str = Field(default="cli", max_length=16)  # file | chat | cli | opml
    enabled: bool = True
    disabled_reason: str | None = Field(default=None, max_length=512)
    etag: str | None = Field(default=None, max_length=512)
    last_modified: str | None = Field(default=None, max_length=128)
    last_status: int | None = None
    last_error: str | None = Field(default=None, sa_type=Text)
    error_count: int = 0
    parse_error_count: int = 0
    last_fetched_at: datetime | None = _ts()
    last_success_at: datetime | None = _ts()
    next_check_at: datetime | None = _ts(index=True)
    redirect_url: str | None = Field(default=None, max_length=2048)
    redirect_hits: int = 0
    created_at: datetime = _created()
    updated_at: datetime = _created()


class Article(SQLModel, table=True):
    """One story from one feed, deduplicated by ``identity`` and by ``canonical_url``."""

    __table_args__ = (Index("ix_article_feed_published", "feed_id", "published_at"),)

    id: int | None = Field(default=None, primary_key=True)
    feed_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("feed.id", ondelete="SET NULL"), index=True),
    )
    identity: str = Field(max_length=64, unique=True)  # sha256 of guid | canonical link | content
    guid: str | None = Field(default=None, max_length=2048)
    url: str = Field(default="", max_length=2048)
    canonical_url: str | None = Field(default=None, max_length=2048, unique=True)
    title: str = Field(default="", max_length=1024)
    author: str | None = Field(default=None, max_length=512)
    summary: str = Field(default="", sa_type=Text)
    content: str | None = Field(default=None, sa_type=Text)
    image_url: str | None = Field(default=None, max_length=2048)
    language: str = Field(default="en", max_length=16)
    source_name: str = Field(default="", max_length=512)
    source_site: str = Field(default="", max_length=255)
    published_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    updated_at: datetime | None = _ts()
    fetched_at: datetime = _created()
    content_hash: str = Field(default="", max_length=64)
    update_count: int = 0
    linked_at: datetime | None = _ts()


# --------------------------------------------------------------------------- knowledge
class Country(SQLModel, table=True):
    """ISO 3166-1 countries (seeded from pycountry plus our demonym table)."""

    code: str = Field(primary_key=True, max_length=2)  # alpha-2
    name: str = Field(max_length=128)
    flag: str = Field(default="", max_length=8)


class Agency(SQLModel, table=True):
    """A space agency, institute or company. Multinational bodies (ESA) have no country."""

    id: int | None = Field(default=None, primary_key=True)
    abbrev: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=255)
    kind: str = Field(default="space agency", max_length=64)
    country_code: str | None = Field(default=None, foreign_key="country.code", max_length=2)
    multinational: bool = False
    members: list[str] = Field(default_factory=list, sa_type=JSON)
    aliases: list[str] = Field(default_factory=list, sa_type=JSON)
    homepage: str | None = Field(default=None, max_length=2048)


class Mission(SQLModel, table=True):
    """A mission or programme from the catalog (admins may add more)."""

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=128, unique=True)
    name: str = Field(max_length=255)
    aliases: list[str] = Field(default_factory=list, sa_type=JSON)
    ambiguous_aliases: list[str] = Field(default_factory=list, sa_type=JSON)
    program: str | None = Field(default=None, max_length=128)
    lead_agency_id: int | None = Field(default=None, foreign_key="agency.id")
    countries: list[str] = Field(default_factory=list, sa_type=JSON)
    target: str | None = Field(default=None, max_length=128)
    type: str | None = Field(default=None, max_length=64)
    status: str | None = Field(default=None, max_length=32)
    launch_date: date | None = None
    launch_window: str | None = Field(default=None, max_length=64)
    description: str = Field(default="", sa_type=Text)
    wikipedia: str | None = Field(default=None, max_length=2048)
    origin: str = Field(default="catalog", max_length=16)  # catalog | admin


class ArticleMission(SQLModel, table=True):
    """Article ↔ mission mention (many-to-many)."""

    __tablename__ = "article_mission"

    article_id: int = Field(
        sa_column=Column(Integer, ForeignKey("article.id", ondelete="CASCADE"), primary_key=True)
    )
    mission_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("mission.id", ondelete="CASCADE"), primary_key=True, index=True
        )
    )
    mentions: int = 1


class ArticleAgency(SQLModel, table=True):
    """Article ↔ agency mention."""

    __tablename__ = "article_agency"

    article_id: int = Field(
        sa_column=Column(Integer, ForeignKey("article.id", ondelete="CASCADE"), primary_key=True)
    )
    agency_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("agency.id", ondelete="CASCADE"), primary_key=True, index=True
        )
    )
    mentions: int = 1


class ArticleCountry(SQLModel, table=True):
    """Article ↔ country mention."""

    __tablename__ = "article_country"

    article_id: int = Field(
        sa_column=Column(Integer, ForeignKey("article.id", ondelete="CASCADE"), primary_key=True)
    )
    country_code: str = Field(
        sa_column=Column(
            String(2),
            ForeignKey("country.code", ondelete="CASCADE"),
            primary_key=True,
            index=True,
        )
    )
    mentions: int = 1


class PartnerFact(SQLModel, table=True):
    """ "Country X (agency Y) contributes payload Z to mission M", with its evidence.

    ``fact_key`` is a hash of the normalized (mission, country, agency, payload, article) so the
    same fact extracted twice is stored once.
    """

    __tablename__ = "partner_fact"

    id: int | None = Field(default=None, primary_key=True)
    fact_key: str = Field(max_length=64, unique=True)
    mission_id: int = Field(
        sa_column=Column(Integer, ForeignKey("mission.id", ondelete="CASCADE"), index=True)
    )
    country_code: str | None = Field(default=None, foreign_key="country.code", max_length=2)
    agency_id: int | None = Field(default=None, foreign_key="agency.id")
    institution: str | None = Field(default=None, max_length=255)
    payload: str | None = Field(default=None, max_length=512)
    role: str | None = Field(default=None, max_length=64)
    evidence: str | None = Field(default=None, sa_type=Text)
    article_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("article.id", ondelete="CASCADE"), index=True),
    )
    source_url: str | None = Field(default=None, max_length=2048)
    confidence: float = 1.0
    origin: str = Field(default="catalog", max_length=16)  # catalog | article
    created_at: datetime = _created()


# --------------------------------------------------------------------------- publishing
class Channel(SQLModel, table=True):
    """A chat we publish to. ``chat_ref`` is what the operator configured (@name or id)."""

    id: int | None = Field(default=None, primary_key=True)
    chat_ref: str = Field(max_length=64, unique=True)
    chat_id: int | None = Field(default=None, sa_type=BigInteger, unique=True)
    title: str | None = Field(default=None, max_length=255)
    enabled: bool = True
    paused: bool = False
    disabled_reason: str | None = Field(default=None, max_length=512)
    migrated_from: int | None = Field(default=None, sa_type=BigInteger)
    settings: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    created_at: datetime = _created()


class Delivery(SQLModel, table=True):
    """The outbox: one row per (article, chat, kind). The unique key is the no-repost guarantee.

    States: queued → sending → sent | failed | skipped. ``sending`` rows whose outcome is
    unknown after a crash are resolved by the publisher's documented policy, never re-sent blindly.
    """

    __table_args__ = (
        UniqueConstraint("article_id", "chat_id", "kind", name="uq_delivery_article_chat_kind"),
        Index("ix_delivery_state_next", "state", "next_attempt_at"),
        # the claim's "nothing earlier in flight for this chat" probe, kicks and migrations
        Index("ix_delivery_chat_state", "chat_id", "state", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    article_id: int = Field(
        sa_column=Column(Integer, ForeignKey("article.id", ondelete="CASCADE"), nullable=False)
    )
    chat_id: int = Field(sa_type=BigInteger)
    kind: str = Field(default="post", max_length=16)  # post | alert | review | digest
    state: str = Field(default="queued", max_length=16)
    priority: int = 0
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_at: datetime | None = _ts()
    message_id: int | None = Field(default=None, sa_type=BigInteger)
    last_error: str | None = Field(default=None, sa_type=Text)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    created_at: datetime = _created()
    sent_at: datetime | None = _ts()


class QueueItem(SQLModel, table=True):
    """A post an admin queued (or a publisher pick awaiting review)."""

    __tablename__ = "queue_item"

    id: int | None = Field(default=None, primary_key=True)
    article_id: int = Field(
        sa_column=Column(Integer, ForeignKey("article.id", ondelete="CASCADE"), nullable=False)
    )
    chat_id: int | None = Field(default=None, sa_type=BigInteger)
    state: str = Field(default="pending", max_length=16, index=True)
    # pending | scheduled | posted | rejected | cancelled
    scheduled_at: datetime | None = _ts(index=True)
    summary_override: str | None = Field(default=None, sa_type=Text)
    created_by: int | None = Field(default=None, sa_type=BigInteger)
    decided_by: int | None = Field(default=None, sa_type=BigInteger)
    decided_at: datetime | None = _ts()
    review_chat_id: int | None = Field(default=None, sa_type=BigInteger)
    review_message_id: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime = _created()


# --------------------------------------------------------------------------- users
class Subscription(SQLModel, table=True):
    """A user's alert subscription to a mission, agency, country or keyword."""

    __table_args__ = (
        UniqueConstraint("user_id", "kind", "target", name="uq_subscription_user_kind_target"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_type=BigInteger, index=True)
    kind: str = Field(max_length=16)  # mission | agency | country | keyword
    target: str = Field(max_length=255)
    created_at: datetime = _created()


class UserPref(SQLModel, table=True):
    """Per-user preferences: time zone and daily digest time."""

    __tablename__ = "user_pref"

    user_id: int = Field(sa_type=BigInteger, primary_key=True)
    timezone: str = Field(default="UTC", max_length=64)
    digest_time: str | None = Field(default=None, max_length=5)  # "HH:MM" or None
    last_digest_at: datetime | None = _ts()
    blocked: bool = False
    created_at: datetime = _created()


# --------------------------------------------------------------------------- operations
class Event(SQLModel, table=True):
    """Something admins should hear about (feed disabled, channel kicked...).

    Recorded first, delivered later, so nothing is lost if the notifier is down.
    """

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32, index=True)
    subject: str = Field(default="", max_length=255)
    message: str = Field(default="", sa_type=Text)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    created_at: datetime = _created()
    notified_at: datetime | None = _ts(index=True)


metadata = SQLModel.metadata
