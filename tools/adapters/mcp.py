"""MCP servers as tool sources: list their tools at registration, call them per execution.

A server is reached over stdio (a command Tethra starts) or streamable HTTP. Each call
opens its own short session: nothing is kept between calls, so a crashed or restarted
server costs one failed call, never a stuck process, and any API or worker process can
call it. The effect comes from the tool's annotations (``readOnlyHint`` -> read,
``destructiveHint`` -> irreversible, otherwise write); with no annotations it is
unknown and treated as write. The governed call's idempotency key travels in the
request's ``_meta`` as ``tethra/idempotency_key``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, TypeVar

import anyio
import httpx
from langchain_core.runnables import RunnableConfig
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import get_default_environment, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent, Tool

from foundation.errors import InvalidInput, ToolFailed
from tools.adapters.definitions import Candidate, McpServer, McpSource
from tools.adapters.http import Secrets, auth_headers
from tools.adapters.schema import model_from_schema, remote_tool
from tools.registrations import EffectSource
from tools.spec import Effect, JSONValue, RegisteredTool, ToolMeta, context_from

IDEMPOTENCY_META = "tethra/idempotency_key"
T = TypeVar("T")


def discover(source: McpSource, secrets: Secrets) -> list[Candidate]:
    """The server's tools (or the ones picked), each with its schema and effect."""
    try:
        listed = _run(lambda: _list_tools(source.server, secrets), source.server.timeout_s)
    except InvalidInput:
        raise
    except Exception as exc:  # any failure to reach or speak to it: one clear message
        raise InvalidInput(
            f"cannot list the MCP server's tools ({_where(source)}): {_describe(exc)}"
        ) from exc
    by_name = {t.name: t for t in listed}
    wanted = source.tools if source.tools is not None else sorted(by_name)
    missing = [n for n in wanted if n not in by_name]
    if missing:
        raise InvalidInput(
            f"the MCP server has no tool {', '.join(missing)}; it has: "
            f"{', '.join(sorted(by_name)) or '(none)'}"
        )
    return [_candidate(source, by_name[n]) for n in wanted]


def _candidate(source: McpSource, tool: Tool) -> Candidate:
    name = source.prefix + tool.name
    schema = dict(tool.inputSchema)
    model_from_schema(name, schema)  # refuses a schema it cannot enforce
    effect, effect_source = effect_of(tool)
    hints = tool.annotations
    return Candidate(
        name=name,
        kind="mcp",
        description=tool.description or tool.title or tool.name,
        meta=ToolMeta(
            system=source.system,
            effect=effect,
            idempotent=bool(hints and hints.idempotentHint),
            owner=source.owner,
        ),
        effect_source=effect_source,
        source=f"mcp {_where(source)} {tool.name}",
        definition={"server": source.server.model_dump(mode="json"), "tool": tool.name},
        args_schema=schema,
    )


def effect_of(tool: Tool) -> tuple[Effect, EffectSource]:
    hints = tool.annotations
    if hints is None or (hints.readOnlyHint is None and hints.destructiveHint is None):
        return "write", "unknown"
    if hints.readOnlyHint:
        return "read", "inferred"
    if hints.destructiveHint:
        return "irreversible", "inferred"
    return "write", "inferred"


def mcp_tool(
    *,
    name: str,
    description: str,
    server: McpServer,
    remote_name: str,
    meta: ToolMeta,
    args_schema: dict[str, Any],
    secrets: Secrets,
) -> RegisteredTool:
    def run(config: RunnableConfig, **kwargs: Any) -> JSONValue:
        key = context_from(config).idempotency_key
        try:
            result = _run(
                lambda: _call(server, secrets, remote_name, kwargs, key), server.timeout_s
            )
        except ToolFailed:
            raise
        except Exception as exc:  # unreachable, crashed or timed out: the agent is told
            raise ToolFailed(f"MCP server call failed: {_describe(exc)}") from exc
        return _answer(remote_name, result)

    return remote_tool(
        name=name, description=description, meta=meta, args_schema=args_schema, run=run
    )


def _answer(remote_name: str, result: CallToolResult) -> JSONValue:
    texts = [c.text for c in result.content if isinstance(c, TextContent)]
    if result.isError:
        raise ToolFailed(f"{remote_name} failed: {' '.join(texts) or 'no detail given'}")
    if result.structuredContent is not None:
        return result.structuredContent
    return {"text": "\n".join(texts)}


async def _list_tools(server: McpServer, secrets: Secrets) -> list[Tool]:
    async with _session(server, secrets) as session:
        tools: list[Tool] = []
        cursor: str | None = None
        while True:
            page = await session.list_tools(cursor=cursor)
            tools.extend(page.tools)
            cursor = page.nextCursor
            if not cursor:
                return tools


async def _call(
    server: McpServer, secrets: Secrets, tool: str, args: dict[str, Any], key: str
) -> CallToolResult:
    async with _session(server, secrets) as session:
        return await session.call_tool(
            tool,
            args,
            read_timeout_seconds=timedelta(seconds=server.timeout_s),
            meta={IDEMPOTENCY_META: key},
        )


@asynccontextmanager
async def _session(server: McpServer, secrets: Secrets) -> AsyncIterator[ClientSession]:
    if server.transport == "stdio":
        if not server.command:
            raise InvalidInput("an stdio MCP server needs a command")
        env = {**get_default_environment()}
        for variable, secret in server.env_secrets.items():
            value = secrets.get(secret)
            if value is None:
                raise ToolFailed(f"secret {secret!r} is not configured in TETHRA_SECRETS")
            env[variable] = value.get_secret_value()
        params = StdioServerParameters(
            command=server.command, args=server.args, env=env, cwd=os.getcwd()
        )
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            yield session
        return
    if not server.url:
        raise InvalidInput("an http MCP server needs a url")
    headers = auth_headers(server.auth, secrets)
    async with (
        httpx.AsyncClient(headers=headers, timeout=server.timeout_s) as client,
        streamable_http_client(server.url, http_client=client) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def _run(make: Callable[[], Awaitable[T]], timeout_s: float) -> T:
    """Run a coroutine to completion from synchronous code, with a deadline; in a thread
    of its own when this thread already runs an event loop (e.g. inside the API)."""

    async def bounded() -> T:
        with anyio.fail_after(timeout_s):
            return await make()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(bounded())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, bounded()).result()


def _where(source: McpSource) -> str:
    server = source.server
    if server.transport == "stdio":
        return " ".join([server.command or "", *server.args]).strip()
    return server.url or ""


def _describe(exc: BaseException) -> str:
    """The innermost cause: task groups wrap the real error in exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
