"""Declarative HTTP tools: operations picked from an OpenAPI document, or one endpoint
described by hand.

Each picked operation becomes one tool whose args are its path and query parameters
plus its JSON body's properties (or one ``body`` argument when the body is not an
object). The effect follows the method (GET, HEAD, OPTIONS read; anything else writes)
unless declared. The document is read once, at registration: what is stored is the
resolved operation, so later calls never depend on the document being reachable.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import yaml

from foundation.errors import InvalidInput
from tools.adapters.definitions import (
    IDEMPOTENT_METHODS,
    SAFE_METHODS,
    Candidate,
    EndpointSource,
    HttpOperation,
    OpenApiSource,
)
from tools.adapters.schema import model_from_schema
from tools.registrations import EffectSource
from tools.spec import Effect, ToolMeta

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")
_FETCH_TIMEOUT_S = 10.0
_MAX_REF_DEPTH = 32


def from_endpoint(source: EndpointSource) -> Candidate:
    """One hand-described endpoint: path parameters come from ``{name}`` in the URL, the
    other args go in the query for GET/HEAD/OPTIONS and in a JSON body otherwise."""
    model_from_schema(source.name, source.args)  # refuses a schema it cannot enforce
    properties = list(source.args.get("properties", {}))
    in_path = re.findall(r"{([^}/]+)}", source.url)
    unknown = [p for p in in_path if p not in properties]
    if unknown:
        raise InvalidInput(f"{source.name}: url names {', '.join(unknown)}, not among args")
    rest = [p for p in properties if p not in in_path]
    safe = source.method in SAFE_METHODS
    operation = HttpOperation(
        method=source.method,
        url=source.url,
        path_params=in_path,
        query_params=rest if safe else [],
        body_params=[] if safe else rest,
        auth=source.auth,
        timeout_s=source.timeout_s,
        retries=source.retries,
    )
    effect, effect_source = _effect(source.method, source.effect)
    return Candidate(
        name=source.name,
        kind="http",
        description=source.description,
        meta=ToolMeta(
            system=source.system,
            effect=effect,
            idempotent=_idempotent(source.method, source.idempotent),
            owner=source.owner,
        ),
        effect_source=effect_source,
        source=f"{source.method} {source.url}",
        definition={"operation": operation.model_dump(mode="json")},
        args_schema=source.args,
    )


def from_openapi(source: OpenApiSource) -> list[Candidate]:
    document = _load(source.spec)
    paths = document.get("paths")
    if not isinstance(paths, dict) or not paths:
        raise InvalidInput(f"{source.spec}: not an OpenAPI document (no 'paths')")
    base = _base_url(source, document)
    found = _operations(document)
    candidates = []
    for wanted in source.operations:
        if wanted not in found:
            known = ", ".join(sorted(k for k in found if " " not in k)) or "(none named)"
            raise InvalidInput(f"{source.spec}: no operation {wanted!r}; it has: {known}")
        method, path, op, shared = found[wanted]
        candidates.append(_candidate(source, document, base, wanted, method, path, op, shared))
    return candidates


def _load(spec: str) -> dict[str, Any]:
    if spec.startswith(("http://", "https://")):
        try:
            response = httpx.get(spec, timeout=_FETCH_TIMEOUT_S, follow_redirects=True)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise InvalidInput(f"cannot fetch the OpenAPI document at {spec}: {exc}") from exc
        text = response.text
    else:
        try:
            text = Path(spec).read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(f"cannot read the OpenAPI document {spec}: {exc}") from exc
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{spec}: not valid JSON or YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise InvalidInput(f"{spec}: not an OpenAPI document (expected a mapping)")
    return document


def _base_url(source: OpenApiSource, document: dict[str, Any]) -> str:
    if source.base_url:
        return source.base_url.rstrip("/")
    servers = document.get("servers") or []
    url = servers[0].get("url") if servers and isinstance(servers[0], dict) else None
    if isinstance(url, str) and url.startswith(("http://", "https://")):
        return url.rstrip("/")
    if source.spec.startswith(("http://", "https://")):
        return str(urljoin(source.spec, url or "/")).rstrip("/")
    raise InvalidInput(f"{source.spec}: has no absolute server URL; give base_url")


Found = tuple[str, str, dict[str, Any], list[Any]]


def _operations(document: dict[str, Any]) -> dict[str, Found]:
    """operationId (and 'METHOD /path') -> (method, path, operation, path-level params)."""
    found: dict[str, Found] = {}
    for path, item in document["paths"].items():
        if not isinstance(item, dict):
            continue
        shared = item.get("parameters", [])
        for method in _METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            entry = (method.upper(), str(path), op, shared if isinstance(shared, list) else [])
            found[f"{method.upper()} {path}"] = entry
            if isinstance(op.get("operationId"), str):
                found[op["operationId"]] = entry
    return found


def _candidate(
    source: OpenApiSource,
    document: dict[str, Any],
    base: str,
    wanted: str,
    method: str,
    path: str,
    op: dict[str, Any],
    shared: list[Any],
) -> Candidate:
    name = op.get("operationId") or re.sub(r"[^a-zA-Z0-9_]+", "_", f"{method} {path}").strip("_")
    name = str(name)
    properties: dict[str, Any] = {}
    required: list[str] = []
    where: dict[str, list[str]] = {"path": [], "query": []}
    for raw in [*shared, *op.get("parameters", [])]:
        param = _resolve(document, raw, name)
        place, pname = param.get("in"), param.get("name")
        if place not in where:
            if param.get("required"):
                raise InvalidInput(f"{name}: required {place} parameter {pname!r} unsupported")
            continue
        properties[pname] = _resolve(document, param.get("schema", {}), name)
        if param.get("description"):
            properties[pname] = {**properties[pname], "description": param["description"]}
        where[place].append(pname)
        if param.get("required") or place == "path":
            required.append(pname)
    body_params, body_whole = _body(document, op, name, properties, required)
    args_schema = {"type": "object", "properties": properties, "required": required}
    model_from_schema(name, args_schema)  # refuses a schema it cannot enforce
    declared = source.effects.get(wanted) or source.effects.get(name)
    effect, effect_source = _effect(method, declared)
    idempotent = source.idempotent.get(wanted, source.idempotent.get(name))
    operation = HttpOperation(
        method=method,
        url=base + path,
        path_params=where["path"],
        query_params=where["query"],
        body_params=body_params,
        body_whole=body_whole,
        auth=source.auth,
        timeout_s=source.timeout_s,
        retries=source.retries,
    )
    return Candidate(
        name=name,
        kind="http",
        description=str(op.get("summary") or op.get("description") or f"{method} {path}"),
        meta=ToolMeta(
            system=source.system,
            effect=effect,
            idempotent=_idempotent(method, idempotent),
            owner=source.owner,
        ),
        effect_source=effect_source,
        source=f"{source.spec} {method} {path}",
        definition={"operation": operation.model_dump(mode="json")},
        args_schema=args_schema,
    )


def _body(
    document: dict[str, Any],
    op: dict[str, Any],
    name: str,
    properties: dict[str, Any],
    required: list[str],
) -> tuple[list[str], str | None]:
    """Flatten an object body into the args; anything else becomes one ``body`` arg."""
    body = _resolve(document, op.get("requestBody") or {}, name)
    content = body.get("content") or {}
    if not content:
        return [], None
    media = content.get("application/json")
    if not isinstance(media, dict):
        raise InvalidInput(f"{name}: only application/json request bodies are supported")
    schema = _resolve(document, media.get("schema", {}), name)
    fields = schema.get("properties")
    if schema.get("type", "object") == "object" and isinstance(fields, dict):
        clash = sorted(set(fields) & set(properties))
        if not clash:
            properties.update(fields)
            required.extend(r for r in schema.get("required", []) if r in fields)
            return list(fields), None
    properties["body"] = schema
    if body.get("required"):
        required.append("body")
    return [], "body"


def _resolve(document: dict[str, Any], node: Any, name: str, depth: int = 0) -> Any:
    """Inline every local ``$ref`` (``#/components/...``) beneath ``node``."""
    if depth > _MAX_REF_DEPTH:
        raise InvalidInput(f"{name}: $ref nesting too deep (a recursive schema?)")
    if isinstance(node, list):
        return [_resolve(document, item, name, depth + 1) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#/"):
            raise InvalidInput(f"{name}: only local $ref are supported, got {ref!r}")
        target: Any = document
        for raw in ref[2:].split("/"):
            part = raw.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, dict) or part not in target:
                raise InvalidInput(f"{name}: $ref {ref!r} points nowhere")
            target = target[part]
        return _resolve(document, target, name, depth + 1)
    return {key: _resolve(document, value, name, depth + 1) for key, value in node.items()}


def _effect(method: str, declared: Effect | None) -> tuple[Effect, EffectSource]:
    if declared is not None:
        return declared, "declared"
    return ("read" if method in SAFE_METHODS else "write"), "inferred"


def _idempotent(method: str, declared: bool | None) -> bool:
    return declared if declared is not None else method in IDEMPOTENT_METHODS
