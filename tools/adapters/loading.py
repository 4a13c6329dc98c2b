"""The two directions between adapters and stored registrations.

``resolve`` reads a source (imports the module, fetches the OpenAPI document, asks the
MCP server) and returns one candidate per tool, or fails with a message saying what is
wrong with the definition. ``build`` turns a stored registration into a callable tool
from what was stored alone.
"""

from __future__ import annotations

from tools.adapters import mcp, openapi, python
from tools.adapters.definitions import (
    Candidate,
    EndpointSource,
    HttpOperation,
    McpServer,
    OpenApiSource,
    PythonSource,
    Source,
)
from tools.adapters.http import Secrets, http_tool
from tools.registrations import ToolRegistration
from tools.spec import RegisteredTool, ToolMeta


def resolve(source: Source, secrets: Secrets) -> list[Candidate]:
    if isinstance(source, PythonSource):
        return python.from_python(source)
    if isinstance(source, OpenApiSource):
        return openapi.from_openapi(source)
    if isinstance(source, EndpointSource):
        return [openapi.from_endpoint(source)]
    return mcp.discover(source, secrets)


def meta_of(row: ToolRegistration) -> ToolMeta:
    return ToolMeta(
        system=row.system,
        effect=row.effect,  # type: ignore[arg-type]  # checked by ToolMeta itself
        idempotent=row.idempotent,
        owner=row.owner,
    )


def build(row: ToolRegistration, secrets: Secrets) -> RegisteredTool:
    meta = meta_of(row)
    if row.kind == "python":
        return python.python_tool(row.definition, meta)
    if row.kind == "http":
        return http_tool(
            name=row.name,
            description=row.description,
            operation=HttpOperation.model_validate(row.definition["operation"]),
            meta=meta,
            args_schema=row.args_schema,
            secrets=secrets,
        )
    return mcp.mcp_tool(
        name=row.name,
        description=row.description,
        server=McpServer.model_validate(row.definition["server"]),
        remote_name=row.definition["tool"],
        meta=meta,
        args_schema=row.args_schema,
        secrets=secrets,
    )
