"""Alembic migrations and the list of every module that defines tables."""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData
from sqlmodel import SQLModel

MODEL_MODULES = (
    "foundation.users",
    "tools.erp.models",
    "tools.crm.models",
    "tools.payments.models",
    "tools.mail.models",
    "tools.registrations",
    "audit.models",
    "approvals.models",
    "approvals.outbox",
    "approvals.webhooks.models",
    "graph.records",
    "api.idempotency",
    "audit.costs",
    "policies.budgets",
    "approvals.ap_models",
)


def load_all_models() -> MetaData:
    """Import every table module so ``SQLModel.metadata`` is complete, and return it."""
    for name in MODEL_MODULES:
        importlib.import_module(name)
    return SQLModel.metadata


def owned_by_tethra(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic filter: compare only Tethra's tables. LangGraph's checkpointer keeps its
    own tables in the same PostgreSQL database; autogenerate must never drop them."""
    if type_ != "table":
        return True
    return name in load_all_models().tables
