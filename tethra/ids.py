"""Readable, prefixed identifiers (``run_…``, ``apr_…``) so an id says what it names."""

from __future__ import annotations

import uuid


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"
