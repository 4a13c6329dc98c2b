"""Webhook tables: who is subscribed, and the delivery log (one row per event and webhook).

The delivery log is the queue: a row is created in the transaction that relays the
event, and workers deliver due rows. The unique pair (webhook_id, event_id) is what
makes an event reach a webhook at most once however often it is enqueued.

The signing secret is stored as given, not hashed: unlike an API key, it must be read
back to sign every request. Anyone who can read this table can forge deliveries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from foundation.db import UTCDateTime, utcnow

Format = Literal["tethra", "slack"]
FORMATS: tuple[str, ...] = get_args(Format)
DeliveryStatus = Literal["pending", "delivered", "dead"]
DELIVERY_STATUSES: tuple[str, ...] = get_args(DeliveryStatus)


class Webhook(SQLModel, table=True):
    __tablename__ = "webhooks"

    id: str = Field(primary_key=True, max_length=32)
    url: str = Field(max_length=2048)
    kinds: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    """Event kinds this webhook receives; an empty list means every kind."""
    secret: str = Field(max_length=128)
    format: str = Field(default="tethra", max_length=16)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime()))
    created_by: str = Field(max_length=64)

    def wants(self, kind: str) -> bool:
        return self.active and (not self.kinds or kind in self.kinds)


class WebhookDelivery(SQLModel, table=True):
    """One event for one webhook; ``payload`` is exactly the JSON body that is POSTed."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("webhook_id", "event_id"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    webhook_id: str = Field(foreign_key="webhooks.id", max_length=32)  # led by the unique pair
    event_id: str = Field(max_length=64)
    kind: str = Field(max_length=32)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    """When the row is next due; a worker that claims it pushes this forward (its lease)."""
    last_error: str | None = None
    last_status_code: int | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime()))
    delivered_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
