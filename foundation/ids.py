"""Readable, prefixed identifiers (``run_…``, ``apr_…``) that sort by creation time.

Sortable ids make cursor pagination a plain ``id > cursor`` on an index.
"""

from __future__ import annotations

import secrets
import time


def new_id(prefix: str) -> str:
    return f"{prefix}_{time.time_ns():016x}{secrets.token_hex(4)}"
