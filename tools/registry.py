"""The set of tools an installation offers, looked up by name on every governed call."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from langchain_core.tools import BaseTool
from sqlalchemy import ScalarSelect

from foundation.errors import InvalidInput, NotFound, UserError
from tools.spec import RegisteredTool

_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_-]{0,63}$")


def check_name(name: str) -> None:
    """Names models can call on every provider: the one rule for built-in and registered."""
    if not _NAME.match(name):
        raise InvalidInput(
            f"tool name {name!r} must be letters, digits, '_' or '-' (max 64), "
            "starting with a letter"
        )


class ToolRegistry:
    def __init__(self, tools: Iterable[RegisteredTool] = ()) -> None:
        self._tools: dict[str, RegisteredTool] = {}
        for tool in tools:
            self.register(tool)

    def register(self, tool: RegisteredTool) -> RegisteredTool:
        check_name(tool.name)
        if tool.name in self._tools:
            raise UserError(f"a tool named {tool.name!r} is already registered")
        self._tools[tool.name] = tool
        return tool

    def get(self, name: str) -> RegisteredTool:
        try:
            return self._tools[name]
        except KeyError:
            raise NotFound(f"no tool named {name!r} is registered") from None

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[RegisteredTool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def names(self) -> list[str]:
        return sorted(self._tools)

    def langchain_tools(self, names: Iterable[str] | None = None) -> list[BaseTool]:
        chosen = self.names() if names is None else list(names)
        return [self.get(n).tool for n in chosen]

    @property
    def generation(self) -> int:
        """Changes whenever the set of tools changes; a fixed registry never changes."""
        return 0

    def version_query(self) -> ScalarSelect[Any] | None:
        """The version of what the registry follows, as SQL to read inside another
        statement (then ``is_current`` says whether to refresh); None: nothing to follow."""
        return None

    def is_current(self, version: object) -> bool:
        return True

    def refresh(self) -> bool:
        """Pick up tools registered, enabled or disabled elsewhere; True if any changed.

        Called before each run, and before an approved call runs. A fixed registry has
        nothing to pick up (see ``tools.adapters.live`` for the one that follows stored
        registrations)."""
        return False

    def for_agent(self, names: Sequence[str], systems: Sequence[str]) -> list[RegisteredTool]:
        """The tools an agent spec allows: those it names (in its order), then every tool
        of a system it lists (by name)."""
        chosen = [self._tools[n] for n in names if n in self._tools]
        picked = {t.name for t in chosen}
        if systems:
            chosen += [
                t
                for t in sorted(self._tools.values(), key=lambda t: t.name)
                if t.meta.system in systems and t.name not in picked
            ]
        return chosen


class AgentToolScopes(Mapping[str, frozenset[str]]):
    """Agent -> the tool names it may call, computed from the registry as it is now, so
    a tool enabled after start reaches exactly the agents whose spec allows it."""

    def __init__(
        self, registry: ToolRegistry, allowances: Mapping[str, tuple[Sequence[str], Sequence[str]]]
    ) -> None:
        """``allowances``: agent -> (tool names, systems) from its spec."""
        self._registry = registry
        self._allowances = dict(allowances)
        self._cache: tuple[int, dict[str, frozenset[str]]] = (-1, {})

    def __getitem__(self, agent: str) -> frozenset[str]:
        generation, cached = self._cache
        if generation != self._registry.generation:
            generation, cached = self._registry.generation, {}
            self._cache = (generation, cached)
        if agent not in cached:
            names, systems = self._allowances[agent]
            cached[agent] = frozenset(names) | {
                t.name for t in self._registry.for_agent(names, systems)
            }
        return cached[agent]

    def __iter__(self) -> Iterator[str]:
        return iter(self._allowances)

    def __len__(self) -> int:
        return len(self._allowances)
