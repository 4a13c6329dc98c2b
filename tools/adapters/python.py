"""Python adapters, found by module path or by a package's ``tethra.tools`` entry point.

What is found may be an ``adapter(...)``-decorated function (a ``RegisteredTool``), a
langchain ``BaseTool`` whose ``metadata`` says ``system``, ``owner`` and optionally
``effect`` and ``idempotent``, a list of these, or a module exporting ``TOOLS``. The
code is imported again in every process that loads the tool; the metadata that governs
it is the one stored at registration, so editing the code cannot quietly change how
the policy treats a tool that was already reviewed.
"""

from __future__ import annotations

import dataclasses
import importlib
from importlib.metadata import entry_points
from typing import Any

from langchain_core.tools import BaseTool
from pydantic import BaseModel

from foundation.errors import InvalidInput
from tools.adapters.definitions import Candidate, PythonSource
from tools.registrations import EffectSource
from tools.spec import EFFECTS, RegisteredTool, ToolMeta

ENTRY_POINT_GROUP = "tethra.tools"


def from_python(source: PythonSource) -> list[Candidate]:
    where = _where(source.module, source.entry_point)
    found = load(source.module, source.entry_point)
    if source.tools is not None:
        names = {tool.name for tool, _ in found}
        missing = [n for n in source.tools if n not in names]
        if missing:
            raise InvalidInput(
                f"{where} has no tool {', '.join(missing)}; it has: {', '.join(sorted(names))}"
            )
        found = [(tool, how) for tool, how in found if tool.name in source.tools]
    return [
        Candidate(
            name=tool.name,
            kind="python",
            description=tool.description,
            meta=tool.meta,
            effect_source=how,
            source=where,
            definition={
                "module": source.module,
                "entry_point": source.entry_point,
                "tool": tool.name,
            },
            args_schema=tool.args_schema.model_json_schema(),
        )
        for tool, how in found
    ]


def python_tool(definition: dict[str, Any], meta: ToolMeta) -> RegisteredTool:
    """Import the tool again and govern it with the stored ``meta``."""
    name = definition["tool"]
    for tool, _ in load(definition.get("module"), definition.get("entry_point")):
        if tool.name == name:
            return dataclasses.replace(tool, meta=meta)
    where = _where(definition.get("module"), definition.get("entry_point"))
    raise InvalidInput(f"{where} no longer provides the tool {name!r}")


def load(module: str | None, entry_point: str | None) -> list[tuple[RegisteredTool, EffectSource]]:
    if (module is None) == (entry_point is None):
        raise InvalidInput("give exactly one of module ('package.module:attribute') or entry_point")
    where = _where(module, entry_point)
    target = _import(module) if module is not None else _entry_point(entry_point or "")
    items = target if isinstance(target, list | tuple) else [target]
    if not items:
        raise InvalidInput(f"{where} provides no tools")
    tools = [_as_registered(item, where) for item in items]
    names = [t.name for t, _ in tools]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InvalidInput(f"{where} provides {', '.join(repeated)} more than once")
    return tools


def _import(path: str) -> Any:
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidInput(f"cannot import {module_name!r}: {exc}") from exc
    except Exception as exc:  # the module's own code failed while importing
        problem = f"{type(exc).__name__}: {exc}"
        raise InvalidInput(f"importing {module_name!r} failed: {problem}") from exc
    attribute = attribute or "TOOLS"
    if not hasattr(module, attribute):
        raise InvalidInput(f"{module_name!r} has no attribute {attribute!r}")
    return getattr(module, attribute)


def _entry_point(name: str) -> Any:
    found = entry_points(group=ENTRY_POINT_GROUP, name=name)
    if not found:
        raise InvalidInput(f"no installed package has a {ENTRY_POINT_GROUP!r} entry point {name!r}")
    try:
        return next(iter(found)).load()
    except Exception as exc:
        raise InvalidInput(f"loading entry point {name!r} failed: {exc}") from exc


def _as_registered(item: Any, where: str) -> tuple[RegisteredTool, EffectSource]:
    if isinstance(item, RegisteredTool):
        return item, "declared"
    if not isinstance(item, BaseTool):
        raise InvalidInput(
            f"{where}: {item!r} is not a tool; decorate a function with tools.spec.adapter "
            "or give a BaseTool with metadata"
        )
    metadata = item.metadata or {}
    missing = [key for key in ("system", "owner") if not isinstance(metadata.get(key), str)]
    if missing:
        raise InvalidInput(f"{where}: tool {item.name!r} needs metadata {', '.join(missing)}")
    schema = item.args_schema
    if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
        raise InvalidInput(f"{where}: tool {item.name!r} needs a pydantic args_schema")
    effect = metadata.get("effect")
    if effect is not None and effect not in EFFECTS:
        raise InvalidInput(f"{where}: tool {item.name!r} effect must be one of {EFFECTS}")
    meta = ToolMeta(
        system=metadata["system"],
        effect=effect or "write",
        idempotent=bool(metadata.get("idempotent", False)),
        owner=metadata["owner"],
    )
    how: EffectSource = "declared" if effect else "unknown"
    return RegisteredTool(name=item.name, tool=item, meta=meta, args_schema=schema), how


def _where(module: str | None, entry_point: str | None) -> str:
    return f"module {module}" if module else f"entry point {entry_point}"
