"""What an engineer hands in to register tools, and what is stored for each tool.

A *source* (``PythonSource``, ``OpenApiSource``, ``EndpointSource``, ``McpSource``) is
the request: where the tools are and how to reach them. Resolving it (``resolve``)
yields one ``Candidate`` per tool, carrying a self-contained stored definition so that
every process can rebuild the tool later without the source being reachable.

Secrets appear only by name (``SecretRef``); their values come from ``TETHRA_SECRETS``
at call time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.registrations import AdapterKind, EffectSource
from tools.spec import Effect, ToolMeta

ToolName = Annotated[str, Field(pattern=r"^[a-zA-Z][a-zA-Z0-9_-]{0,63}$")]
Label = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-zA-Z0-9_.-]+$")]
Method = Literal["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"]
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
IDEMPOTENT_METHODS = (*SAFE_METHODS, "PUT", "DELETE")
"""Idempotent by HTTP's own definition (RFC 9110), so safe to retry; others only if declared."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(_Strict):
    """Authenticate with the secret called ``secret`` in TETHRA_SECRETS."""

    secret: Label
    scheme: Literal["bearer", "header"] = Field(
        default="bearer",
        description="bearer: 'Authorization: Bearer <value>'; header: '<header>: <value>'.",
    )
    header: str = Field(default="Authorization", min_length=1, max_length=64)


class PythonSource(_Strict):
    kind: Literal["python"] = "python"
    module: str | None = Field(
        default=None,
        description="'package.module:attribute' (or 'package.module' exporting TOOLS): an "
        "adapter, a BaseTool with metadata, or a list of them.",
        max_length=256,
    )
    entry_point: str | None = Field(
        default=None,
        description="Name of an entry point in the 'tethra.tools' group of an installed "
        "package (alternative to module).",
        max_length=128,
    )
    tools: list[ToolName] | None = Field(
        default=None, description="Register only these (default: every tool found)."
    )


class OpenApiSource(_Strict):
    kind: Literal["openapi"] = "openapi"
    spec: str = Field(min_length=1, max_length=512, description="URL or file of the document.")
    operations: list[str] = Field(
        min_length=1, description="operationIds to expose (or 'METHOD /path')."
    )
    base_url: str | None = Field(default=None, description="Default: the document's servers.")
    system: Label
    owner: Label
    auth: SecretRef | None = None
    effects: dict[str, Effect] = Field(
        default_factory=dict, description="operationId -> declared effect (default: by method)."
    )
    idempotent: dict[str, bool] = Field(
        default_factory=dict,
        description="operationId -> safe to retry (default: GET, HEAD, OPTIONS, PUT, DELETE).",
    )
    timeout_s: float = Field(default=10.0, gt=0, le=300)
    retries: int = Field(default=2, ge=0, le=5, description="For idempotent operations only.")


class EndpointSource(_Strict):
    kind: Literal["http"] = "http"
    name: ToolName
    description: str = Field(min_length=1, max_length=2000)
    method: Method
    url: str = Field(min_length=1, max_length=512, description="May hold {path} parameters.")
    args: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}},
        description="JSON Schema of the arguments.",
    )
    system: Label
    owner: Label
    effect: Effect | None = None
    idempotent: bool | None = None
    auth: SecretRef | None = None
    timeout_s: float = Field(default=10.0, gt=0, le=300)
    retries: int = Field(default=2, ge=0, le=5)


class McpServer(_Strict):
    transport: Literal["stdio", "http"]
    command: str | None = Field(default=None, max_length=512, description="stdio: program.")
    args: list[str] = Field(default_factory=list, description="stdio: its arguments.")
    env_secrets: dict[str, Label] = Field(
        default_factory=dict,
        description="stdio: environment variable -> secret name, set for the server.",
    )
    url: str | None = Field(default=None, max_length=512, description="http: the MCP endpoint.")
    auth: SecretRef | None = None
    timeout_s: float = Field(default=30.0, gt=0, le=600)


class McpSource(_Strict):
    kind: Literal["mcp"] = "mcp"
    server: McpServer
    tools: list[str] | None = Field(default=None, description="Default: every tool it lists.")
    prefix: str = Field(
        default="", max_length=32, description="Prepended to each tool's name, e.g. 'wiki_'."
    )
    system: Label
    owner: Label


Source = Annotated[
    PythonSource | OpenApiSource | EndpointSource | McpSource, Field(discriminator="kind")
]


class HttpOperation(_Strict):
    """One HTTP call, fully described: what is stored for an HTTP tool."""

    method: Method
    url: str
    path_params: list[str] = Field(default_factory=list)
    query_params: list[str] = Field(default_factory=list)
    body_params: list[str] = Field(default_factory=list)
    body_whole: str | None = None
    """The argument that is the whole JSON body (when the body is not an object)."""
    auth: SecretRef | None = None
    timeout_s: float = 10.0
    retries: int = 2


@dataclass(frozen=True)
class Candidate:
    """A tool ready to be stored: everything a registration row holds."""

    name: str
    kind: AdapterKind
    description: str
    meta: ToolMeta
    effect_source: EffectSource
    source: str
    definition: dict[str, Any]
    args_schema: dict[str, Any]
