"""The set of tools an installation offers, looked up by name on every governed call."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from langchain_core.tools import BaseTool

from tethra.errors import NotFound, UserError
from tools.spec import RegisteredTool

_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_-]{0,63}$")


class ToolRegistry:
    def __init__(self, tools: Iterable[RegisteredTool] = ()) -> None:
        self._tools: dict[str, RegisteredTool] = {}
        for tool in tools:
            self.register(tool)

    def register(self, tool: RegisteredTool) -> RegisteredTool:
        if not _NAME.match(tool.name):
            raise UserError(
                f"tool name {tool.name!r} must be letters, digits, '_' or '-' (max 64), "
                "starting with a letter"
            )
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
