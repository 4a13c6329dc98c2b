"""Mail table: the outbox. The demo has no SMTP server; a message counts as sent when
it lands here, once per idempotency key, which is what tests and the UI look at."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from foundation.db import UTCDateTime, utcnow


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "mail_outbox"

    id: int | None = Field(default=None, primary_key=True)
    to_address: str = Field(max_length=254)
    customer_id: int | None = Field(default=None, foreign_key="crm_customers.id", index=True)
    subject: str = Field(max_length=200)
    body: str = Field(sa_column=Column(Text(), nullable=False))
    sent_by: str = Field(max_length=64)
    sent_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    idempotency_key: str = Field(max_length=200, unique=True)
