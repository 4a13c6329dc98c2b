"""Paths into structured data: ``invoice.lines.*.qty`` names every line's quantity.

A check names the values it looks at by path, so one rule covers a list without a loop
in YAML. Resolving yields ``(where, value)`` pairs; ``MISSING`` marks an absent key so
"not given" and "given as null" can both be reported as missing.
"""

from __future__ import annotations

from typing import Any, Final


class _Missing:
    def __repr__(self) -> str:
        return "nothing"


MISSING: Final = _Missing()


def resolve(root: Any, path: str) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = [("", root)]
    for key in path.split("."):
        step: list[tuple[str, Any]] = []
        for where, value in found:
            if key == "*":
                if isinstance(value, list):
                    step.extend((f"{where}[{i}]", item) for i, item in enumerate(value))
                else:
                    step.append((where, MISSING))
                continue
            here = f"{where}.{key}" if where else key
            step.append((here, value.get(key, MISSING) if isinstance(value, dict) else MISSING))
        found = step
    return found


def absent(value: Any) -> bool:
    return value is MISSING or value is None or value in ("", [])


def shown(value: Any) -> str:
    """A value as a person reads it in a hold."""
    if value is MISSING or value is None:
        return "nothing"
    if isinstance(value, list):
        return "[" + ", ".join(shown(v) for v in value) + "]" if value else "none"
    return str(value)
