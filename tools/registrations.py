"""Stored tool registrations: the adapters engineers added after installation.

One row per tool, so each is enabled, disabled and classified on its own (an MCP server
or an OpenAPI document usually yields several). ``definition`` holds everything needed
to rebuild the tool in any process without reaching the source again (the args schema,
the endpoint, the server command), and only the *names* of secrets, never their values.

``revision`` grows on every change to a row and rows are never deleted, so the sum of
revisions is a version that strictly increases with any change: a process compares it
before each run to pick up tools enabled or disabled elsewhere.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import JSON, Column, ScalarSelect, func
from sqlmodel import Field, Session, SQLModel, select

from foundation.db import UTCDateTime, utcnow

AdapterKind = Literal["python", "http", "mcp"]
EffectSource = Literal["declared", "inferred", "unknown"]
"""Where the effect came from: the definition said so, it was inferred (HTTP method, MCP
annotations), or nothing said (treated as ``write``, so an unmatched call is reviewed)."""


class ToolRegistration(SQLModel, table=True):
    __tablename__ = "tool_registrations"

    name: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=16)
    description: str = ""
    system: str = Field(max_length=64)
    effect: str = Field(max_length=32)
    effect_source: str = Field(max_length=16)
    idempotent: bool = False
    owner: str = Field(max_length=64)
    source: str = Field(max_length=512)
    """Where it came from, for people: a module path, an OpenAPI URL, an MCP command."""
    definition: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    args_schema: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    enabled: bool = False
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime()))
    changed_by: str = Field(max_length=64)
    changed_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime()))
    revision: int = 1


def registrations_version(session: Session) -> int:
    """Changes whenever any registration is added, enabled or disabled (see module doc)."""
    return int(session.execute(select(registrations_version_query())).scalar_one())


def registrations_version_query() -> ScalarSelect[Any]:
    """The version as SQL, to read inside another statement (one object, so statements
    built around it are built once)."""
    return _VERSION_QUERY


_VERSION_QUERY = select(func.coalesce(func.sum(ToolRegistration.revision), 0)).scalar_subquery()
