"""A registry that follows the stored registrations: the built-in tools plus every
enabled registered tool, refreshed when the registrations version moves.

API and worker processes each hold one. ``refresh`` costs one small query when nothing
changed and is called before each run, so a tool an admin enables in one process is
offered by every other from its next run on, and a disabled one is gone. A registration
that no longer loads (its module was removed, say) is left out and logged, and the
reason is kept in ``problems`` for ``tethra tools show``; the rest still load.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ScalarSelect
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from foundation.db import session_scope
from foundation.logging import get_logger
from tools.adapters.http import Secrets
from tools.adapters.loading import build
from tools.registrations import (
    ToolRegistration,
    registrations_version,
    registrations_version_query,
)
from tools.registry import ToolRegistry
from tools.spec import RegisteredTool

log = get_logger(__name__)


class LiveRegistry(ToolRegistry):
    def __init__(
        self, builtins: Iterable[RegisteredTool], engine: Engine, secrets: Secrets
    ) -> None:
        """Nothing is read here (the schema may not exist yet): the first ``refresh``
        loads the registrations."""
        super().__init__(builtins)
        self._builtins = dict(self._tools)
        self._engine = engine
        self._secrets = secrets
        self._version = -1
        self._generation = 0
        self._built: dict[str, tuple[int, RegisteredTool]] = {}
        self._lock = threading.Lock()
        self.problems: dict[str, str] = {}
        """Registered tool name -> why it could not be loaded in this process."""

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def secrets(self) -> Secrets:
        """The named secrets its tools authenticate with (from TETHRA_SECRETS)."""
        return self._secrets

    def version_query(self) -> ScalarSelect[Any]:
        return registrations_version_query()

    def is_current(self, version: object) -> bool:
        return isinstance(version, int) and version == self._version

    def refresh(self) -> bool:
        with self._lock:
            with session_scope(self._engine) as session:
                version = registrations_version(session)
                if version == self._version:
                    return False
                rows = list(
                    session.exec(select(ToolRegistration).where(col(ToolRegistration.enabled)))
                )
            tools = dict(self._builtins)
            built: dict[str, tuple[int, RegisteredTool]] = {}
            problems: dict[str, str] = {}
            for row in rows:
                if row.name in tools:
                    problems[row.name] = "a built-in tool has this name"
                    continue
                try:
                    tool = self._build(row)
                except Exception as exc:  # one broken registration must not hide the rest
                    problems[row.name] = f"{type(exc).__name__}: {exc}"
                    log.error("registered tool not loaded", tool=row.name, error=str(exc))
                    continue
                built[row.name] = (row.revision, tool)
                tools[row.name] = tool
            self._tools, self._built, self.problems = tools, built, problems
            self._version = version
            self._generation += 1
            log.info("tool registrations loaded", version=version, enabled=len(built))
            return True

    def _build(self, row: ToolRegistration) -> RegisteredTool:
        known = self._built.get(row.name)
        if known is not None and known[0] == row.revision:
            return known[1]
        return build(row, self._secrets)
