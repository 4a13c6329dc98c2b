"""CRM tables: the customers support talks to, what they ordered, and what staff noted.

Notes are free text written by people and agents, so they are untrusted input when
read back into a model's context (the seed plants a prompt injection in one on
purpose). Customer and order ids are the numbers people quote and are set by the seed.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Column, Numeric
from sqlmodel import Field, SQLModel

from foundation.db import UTCDateTime, utcnow


class Customer(SQLModel, table=True):
    __tablename__ = "crm_customers"

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    name: str = Field(max_length=200, index=True)
    email: str = Field(max_length=254)
    tier: str = Field(default="standard", max_length=16)  # standard | plus | enterprise
    country: str = Field(max_length=2)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class Order(SQLModel, table=True):
    __tablename__ = "crm_orders"

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    customer_id: int = Field(foreign_key="crm_customers.id", index=True)
    invoice_number: str = Field(max_length=32, unique=True)
    total: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    currency: str = Field(max_length=3)
    # paid | shipped | delivered | cancelled | refunded
    status: str = Field(default="paid", max_length=16)
    placed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class CustomerNote(SQLModel, table=True):
    __tablename__ = "crm_customer_notes"

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="crm_customers.id", index=True)
    author: str = Field(max_length=64)
    text: str = Field(max_length=4000)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    # Set when an agent wrote the note; seeded and human notes have none.
    idempotency_key: str | None = Field(default=None, max_length=200, unique=True)
