"""Demo data for the built-in business systems, so the platform is useful on first start.

Seeding is all-or-nothing in one transaction and happens once: a database that already
has the demo suppliers is left untouched, so the CLI, the API start-up and tests can
all call it without coordinating.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from foundation.db import session_scope, utcnow
from tools.crm.demo_data import seed_crm
from tools.erp.demo_seed import seed_erp
from tools.erp.models import Supplier


def seed_demo_data(engine: Engine, now: datetime | None = None) -> bool:
    """Seed ERP, CRM and payments data; False when it was already there.

    ``now`` anchors every relative date ("changed six days ago"); tests pass a fixed one.
    The mail outbox stays empty: everything in it was sent by an agent."""
    anchor = now or utcnow()
    try:
        with session_scope(engine) as session:
            if session.exec(select(Supplier.id).limit(1)).first() is not None:
                return False
            seed_erp(session, anchor)
            seed_crm(session, anchor)
    except IntegrityError:
        # Another process seeded concurrently and committed first; its data stands.
        with session_scope(engine) as session:
            if session.exec(select(Supplier.id).limit(1)).first() is not None:
                return False
        raise
    return True
