"""The tool catalogue: what each tool touches and how the current policy treats it; admins
register new tools (they start disabled) and enable or disable them."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path
from pydantic import BaseModel, Field

from api.deps import Admin, CurrentUser, IdempotencyDep, RuntimeDep
from api.errors import error_responses
from api.schemas import StrictBody
from api.schemas_admin import Classification, RuleOut, ToolOut
from graph.tool_catalog import ToolCatalog, ToolView
from tools.adapters.definitions import Source

router = APIRouter(prefix="/tools", tags=["tools"])

ToolName = Annotated[str, Path(min_length=1, max_length=64, description="The tool's name.")]

_EXAMPLES: dict[str, Any] = {
    "python": {
        "summary": "A Python adapter by module path",
        "value": {"kind": "python", "module": "tools.examples.parcels:TOOLS"},
    },
    "openapi": {
        "summary": "Operations from an OpenAPI document",
        "value": {
            "kind": "openapi",
            "spec": "https://tickets.example.com/openapi.json",
            "operations": ["getTicket", "createTicket"],
            "system": "tickets",
            "owner": "support-platform",
            "auth": {"secret": "TICKETS_TOKEN"},
        },
    },
    "http": {
        "summary": "One endpoint described by hand",
        "value": {
            "kind": "http",
            "name": "close_ticket",
            "description": "Close a support ticket.",
            "method": "POST",
            "url": "https://tickets.example.com/tickets/{ticket_id}/close",
            "args": {
                "type": "object",
                "properties": {"ticket_id": {"type": "integer"}},
                "required": ["ticket_id"],
            },
            "system": "tickets",
            "owner": "support-platform",
        },
    },
    "mcp": {
        "summary": "Every tool of an MCP server over stdio",
        "value": {
            "kind": "mcp",
            "server": {"transport": "stdio", "command": "wiki-mcp", "args": ["--read-only"]},
            "prefix": "wiki_",
            "system": "wiki",
            "owner": "docs-team",
        },
    },
}


class Registered(BaseModel):
    tools: list[ToolOut] = Field(description="The tools registered, each disabled for now.")


class EnableIn(StrictBody):
    policy_version: str | None = Field(
        default=None,
        max_length=64,
        description="The policy version whose classification you reviewed (from GET "
        "/tools/{name}); refused with 409 if the policy changed since.",
    )


def tool_out(view: ToolView) -> ToolOut:
    c = view.classification
    return ToolOut(
        name=view.name,
        description=view.description,
        system=view.system,
        effect=view.effect,
        idempotent=view.idempotent,
        owner=view.owner,
        args_schema=view.args_schema,
        policy=Classification(
            rules=[RuleOut(**asdict(r)) for r in c.rules],
            fallback=RuleOut(**asdict(c.fallback)),
            policy_version=c.policy_version,
        ),
        kind=view.kind,
        enabled=view.enabled,
        effect_source=view.effect_source,
        source=view.source,
        created_by=view.created_by,
        created_at=view.created_at,
        changed_by=view.changed_by,
        changed_at=view.changed_at,
        problem=view.problem,
    )


@router.get(
    "",
    summary="List tools",
    description="Every built-in and registered tool (registered ones may be disabled) with "
    "its system, effect, owner, argument schema and the policy rules that look at it "
    "(plus the fallback when none matches).",
    responses=error_responses(401),
)
def list_tools(user: CurrentUser, rt: RuntimeDep) -> list[ToolOut]:
    return [tool_out(v) for v in ToolCatalog.of(rt).tools()]


@router.get(
    "/{name}",
    summary="Show a tool",
    description="One tool and its classification under the current policy: what an admin "
    "looks at before enabling a registered tool.",
    responses=error_responses(401, 404),
)
def show_tool(name: ToolName, user: CurrentUser, rt: RuntimeDep) -> ToolOut:
    return tool_out(ToolCatalog.of(rt).show(name))


@router.post(
    "",
    status_code=201,
    summary="Register tools (admin)",
    description="Register the tools of a Python module or entry point, of operations in an "
    "OpenAPI document, of one HTTP endpoint, or of an MCP server. The source is read now "
    "and every tool checked before anything is stored; each starts **disabled**. "
    "Credentials are named secrets (TETHRA_SECRETS), never sent here.",
    responses=error_responses(401, 403, 409, 422),
)
def register_tools(
    body: Annotated[Source, Body(openapi_examples=_EXAMPLES)],
    user: Admin,
    rt: RuntimeDep,
    idem: IdempotencyDep,
) -> Registered:
    def make() -> Registered:
        views = ToolCatalog.of(rt).register(body, user.name)
        return Registered(tools=[tool_out(v) for v in views])

    return idem.run(body, Registered, make)


@router.post(
    "/{name}/enable",
    summary="Enable a registered tool (admin)",
    description="From the next run on, agents whose spec allows it are offered the tool, "
    "in every API and worker process.",
    responses=error_responses(401, 403, 404, 409, 422),
)
def enable_tool(
    name: ToolName, user: Admin, rt: RuntimeDep, body: EnableIn | None = None
) -> ToolOut:
    reviewed = body.policy_version if body is not None else None
    return tool_out(ToolCatalog.of(rt).enable(name, user.name, reviewed))


@router.post(
    "/{name}/disable",
    summary="Disable a registered tool (admin)",
    description="Agents stop being offered it from their next run; a call already "
    "approved for it fails instead of running.",
    responses=error_responses(401, 403, 404, 422),
)
def disable_tool(name: ToolName, user: Admin, rt: RuntimeDep) -> ToolOut:
    return tool_out(ToolCatalog.of(rt).disable(name, user.name))
