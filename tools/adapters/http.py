"""Calling an HTTP endpoint as a governed tool.

The call carries the governed call's idempotency key as ``Idempotency-Key``, so a server
that honours it applies a repeated request once. Retries happen only for idempotent
operations (a lost answer to a non-idempotent POST must not become two payments), on
connection failures, timeouts, 429 and 5xx. Credentials are looked up by secret name at
call time and never stored with the tool.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx
from langchain_core.runnables import RunnableConfig
from pydantic import SecretStr

from foundation.errors import ToolFailed
from foundation.logging import get_logger
from tools.adapters.definitions import HttpOperation, SecretRef
from tools.adapters.schema import remote_tool
from tools.spec import JSONValue, RegisteredTool, ToolMeta, context_from

log = get_logger(__name__)

Secrets = Mapping[str, SecretStr]
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_BACKOFF_S = 0.2
_SHOWN_BODY = 300


def auth_headers(auth: SecretRef | None, secrets: Secrets) -> dict[str, str]:
    """The header that authenticates; ToolFailed names the missing secret."""
    if auth is None:
        return {}
    secret = secrets.get(auth.secret)
    if secret is None:
        raise ToolFailed(
            f"secret {auth.secret!r} is not configured: add it to TETHRA_SECRETS "
            "in the environment of the API and worker processes"
        )
    value = secret.get_secret_value()
    if auth.scheme == "bearer":
        return {"Authorization": f"Bearer {value}"}
    return {auth.header: value}


def http_tool(
    *,
    name: str,
    description: str,
    operation: HttpOperation,
    meta: ToolMeta,
    args_schema: dict[str, Any],
    secrets: Secrets,
) -> RegisteredTool:
    def run(config: RunnableConfig, **kwargs: Any) -> JSONValue:
        ctx = context_from(config)
        return call(operation, kwargs, ctx.idempotency_key, secrets, retry=meta.idempotent)

    return remote_tool(
        name=name, description=description, meta=meta, args_schema=args_schema, run=run
    )


def call(
    op: HttpOperation,
    args: Mapping[str, Any],
    idempotency_key: str,
    secrets: Secrets,
    *,
    retry: bool,
) -> JSONValue:
    """One governed HTTP call; the JSON (or text) answer, or ToolFailed saying why."""
    url = op.url
    for param in op.path_params:
        url = url.replace("{" + param + "}", quote(str(args.get(param, "")), safe=""))
    query = {p: args[p] for p in op.query_params if args.get(p) is not None}
    body: Any = None
    if op.body_whole is not None:
        body = args.get(op.body_whole)
    elif op.body_params:
        body = {p: args[p] for p in op.body_params if p in args}
    headers = {"Idempotency-Key": idempotency_key, **auth_headers(op.auth, secrets)}
    attempts = 1 + (op.retries if retry else 0)
    for attempt in range(1, attempts + 1):
        try:
            response = httpx.request(
                op.method,
                url,
                params=query or None,
                json=body,
                headers=headers,
                timeout=op.timeout_s,
            )
        except httpx.TransportError as exc:
            if attempt < attempts:
                log.warning("http tool retrying", url=url, attempt=attempt, error=str(exc))
                time.sleep(_BACKOFF_S * attempt)
                continue
            raise ToolFailed(f"{op.method} {url} failed: {type(exc).__name__}: {exc}") from exc
        if response.status_code in _RETRY_STATUSES and attempt < attempts:
            log.warning("http tool retrying", url=url, attempt=attempt, status=response.status_code)
            time.sleep(_BACKOFF_S * attempt)
            continue
        return _answer(op, url, response)
    raise AssertionError("unreachable: the last attempt returns or raises")


def _answer(op: HttpOperation, url: str, response: httpx.Response) -> JSONValue:
    if response.is_success:
        if not response.content:
            return {"status": response.status_code}
        if "json" in response.headers.get("content-type", ""):
            try:
                return response.json()
            except ValueError:
                pass
        return {"status": response.status_code, "text": response.text[:4000]}
    raise ToolFailed(
        f"{op.method} {url} answered {response.status_code}: {response.text[:_SHOWN_BODY]}"
    )
