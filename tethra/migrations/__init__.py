"""Alembic migrations and the list of every module that defines tables."""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData
from sqlmodel import SQLModel

MODEL_MODULES = (
    "tethra.users",
    "tools.erp.models",
    "tools.crm.models",
    "tools.payments.models",
    "tools.mail.models",
    "audit.models",
    "approvals.models",
    "graph.records",
)


def load_all_models() -> MetaData:
    """Import every table module so ``SQLModel.metadata`` is complete, and return it."""
    for name in MODEL_MODULES:
        importlib.import_module(name)
    return SQLModel.metadata
