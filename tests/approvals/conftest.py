from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from foundation.users import create_user


@pytest.fixture
def people(engine: Engine) -> Engine:
    for name, role in [
        ("olivia", "operator"),
        ("adam", "approver"),
        ("erin", "approver"),
        ("aria", "auditor"),
        ("root", "admin"),
    ]:
        create_user(engine, name, role)
    return engine
