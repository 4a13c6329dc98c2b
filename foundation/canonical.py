"""Canonical JSON: one byte sequence per value, so hashes of args and audit events are stable.

Approvals bind to a hash of tool + canonical args + policy version, and the audit
chain hashes canonical events; both depend on this encoding never varying with
key order, whitespace or number formatting.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel


def _default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot encode {type(value).__name__} canonically")


def canonical_json(value: Any) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default
    )


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def call_hash(tool: str, args: Any, policy_version: str) -> str:
    """The hash an approval binds to: exactly this tool, these args, under this policy."""
    return sha256_hex(canonical_json({"tool": tool, "args": args, "policy": policy_version}))
