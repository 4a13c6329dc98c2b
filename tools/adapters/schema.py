"""Turn a JSON Schema (from an OpenAPI operation, an MCP tool or an endpoint file) into
the pydantic model the governed node validates arguments with.

The governed node only knows pydantic models: validation errors name every wrong field,
and the validated, canonical arguments are what an approval binds to. So a declared
schema is converted once, at registration and at load, and anything that cannot be
enforced faithfully is refused with a message naming the property, rather than being
accepted loosely. Property names are kept exactly (as aliases), whatever their spelling.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from langchain_core.tools import StructuredTool
from pydantic import BaseModel, ConfigDict, Field, create_model

from foundation.errors import InvalidInput
from tools.spec import RegisteredTool, ToolMeta

_SCALARS: dict[str, Any] = {"string": str, "integer": int, "number": float, "boolean": bool}
_CONSTRAINTS = {
    "minimum": "ge",
    "maximum": "le",
    "exclusiveMinimum": "gt",
    "exclusiveMaximum": "lt",
    "minLength": "min_length",
    "maxLength": "max_length",
    "pattern": "pattern",
    "minItems": "min_length",
    "maxItems": "max_length",
}
_MAX_DEPTH = 8


def model_from_schema(name: str, schema: Any) -> type[BaseModel]:
    """The model for an object schema; InvalidInput says which part is not usable."""
    if not isinstance(schema, dict):
        raise InvalidInput(f"{name}: the args schema must be a JSON object, got {schema!r}")
    if schema.get("type", "object") != "object":
        raise InvalidInput(f"{name}: the args schema must have type 'object'")
    return _object_model(_model_name(name), schema, name, 0)


def remote_tool(
    *,
    name: str,
    description: str,
    meta: ToolMeta,
    args_schema: dict[str, Any],
    run: Callable[..., Any],
) -> RegisteredTool:
    """A tool whose arguments are described by a JSON Schema from elsewhere (an OpenAPI
    operation, an MCP server): validated by a model built from that schema, executed by
    ``run(config, **args)``."""
    model = model_from_schema(name, args_schema)
    tool = StructuredTool.from_function(
        func=run,
        name=name,
        description=description,
        args_schema=args_schema,
        infer_schema=False,
        metadata={"system": meta.system, "effect": meta.effect},
    )
    return RegisteredTool(name=name, tool=tool, meta=meta, args_schema=model)


def _model_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("-", "_").split("_")) + "Args"


def _object_model(model: str, schema: dict[str, Any], where: str, depth: int) -> type[BaseModel]:
    if depth > _MAX_DEPTH:
        raise InvalidInput(f"{where}: nested deeper than {_MAX_DEPTH} levels")
    properties = schema.get("properties", {})
    required = schema.get("required", [])
    if not isinstance(properties, dict):
        raise InvalidInput(f"{where}: 'properties' must be an object")
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise InvalidInput(f"{where}: 'required' must be a list of property names")
    missing = sorted(set(required) - set(properties))
    if missing:
        raise InvalidInput(f"{where}: required but not described: {', '.join(missing)}")
    fields: dict[str, Any] = {}
    for index, (prop, sub) in enumerate(properties.items()):
        place = f"{where}.{prop}"
        if not isinstance(sub, dict):
            raise InvalidInput(f"{place}: a property schema must be an object")
        annotation = _annotation(sub, place, model + f"_{index}", depth)
        kwargs: dict[str, Any] = {"alias": prop}
        if isinstance(sub.get("description"), str):
            kwargs["description"] = sub["description"]
        kwargs.update(_constraints(sub, place))
        if prop in required:
            fields[f"f{index}"] = (annotation, Field(**kwargs))
        else:
            kwargs["default"] = sub.get("default")
            fields[f"f{index}"] = (annotation | None, Field(**kwargs))
    extra = schema.get("additionalProperties", False)
    config = ConfigDict(
        extra="allow" if extra not in (False, None) else "forbid",
        serialize_by_alias=True,
        validate_by_alias=True,
        validate_by_name=False,
    )
    try:
        built: type[BaseModel] = create_model(model, __config__=config, **fields)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{where}: cannot be used as an args schema: {exc}") from exc
    return built


def _annotation(schema: dict[str, Any], where: str, model: str, depth: int) -> Any:
    if "$ref" in schema:
        raise InvalidInput(f"{where}: unresolved $ref {schema['$ref']!r}")
    if "enum" in schema:
        values = schema["enum"]
        if not isinstance(values, list) or not values:
            raise InvalidInput(f"{where}: 'enum' must be a non-empty list")
        return Literal[tuple(values)]
    if any(key in schema for key in ("anyOf", "oneOf", "allOf")):
        return Any  # validated by the system itself; the model still sees the schema
    kind = schema.get("type")
    if isinstance(kind, list):  # e.g. ["string", "null"]
        kinds = [k for k in kind if k != "null"]
        if len(kinds) != 1:
            return Any
        inner = _annotation({**schema, "type": kinds[0]}, where, model, depth)
        return inner | None
    if kind in _SCALARS:
        return _SCALARS[kind]
    if kind == "array":
        items = schema.get("items", {})
        if not isinstance(items, dict):
            raise InvalidInput(f"{where}: 'items' must be a schema object")
        return list[_annotation(items, f"{where}[]", model, depth + 1)]  # type: ignore[misc]
    if kind == "object":
        if "properties" not in schema:
            return dict[str, Any]
        return _object_model(model, schema, where, depth + 1)
    if kind is None:
        return Any
    raise InvalidInput(
        f"{where}: unknown type {kind!r} (use string, integer, number, boolean, array, object)"
    )


def _constraints(schema: dict[str, Any], where: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, pydantic_name in _CONSTRAINTS.items():
        if key not in schema:
            continue
        value = schema[key]
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise InvalidInput(f"{where}: '{key}' must be a number or text, got {value!r}")
        found[pydantic_name] = value
    return found
