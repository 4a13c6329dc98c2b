"""What the platform must know about a tool before an agent may call it.

A tool is a langchain-core ``BaseTool`` (so any model can bind it) plus ``ToolMeta``:
which system it touches, what effect it has, whether re-running it with the same
idempotency key is safe, and who owns it. Policy decides on this metadata, never on
anything the model says about the tool.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar, cast, get_args

from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, StructuredTool
from pydantic import AfterValidator, BaseModel, Field, ValidationError
from sqlalchemy.engine import Engine

from foundation.errors import InvalidInput, UserError

Effect = Literal["read", "write", "money", "external_message", "irreversible"]
EFFECTS: tuple[str, ...] = get_args(Effect)

CENT = Decimal("0.01")


def _to_cents(value: Decimal) -> Decimal:
    return value.quantize(CENT)


Money = Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=2), AfterValidator(_to_cents)]
"""A positive amount with exactly two decimals, so 250, 250.0 and 250.00 are one value
(and canonicalise, hash and bind an approval identically)."""

JSONValue = Any
"""A JSON-serialisable result (dicts, lists, str, numbers, bools, None)."""

CONTEXT_KEY = "tethra_tool_context"


@dataclass(frozen=True)
class ToolMeta:
    system: str
    effect: Effect
    idempotent: bool
    owner: str

    def __post_init__(self) -> None:
        if self.effect not in EFFECTS:
            raise UserError(f"effect must be one of {', '.join(EFFECTS)}, got {self.effect!r}")


@dataclass(frozen=True)
class ToolContext:
    """Handed to an adapter for one execution. ``idempotency_key`` is stable across retries:
    an adapter that writes must use it so a repeated execution changes nothing."""

    idempotency_key: str
    engine: Engine
    run_id: str
    thread_id: str
    tool_call_id: str
    agent: str
    requester: str


ArgsT = TypeVar("ArgsT", bound=BaseModel)


@dataclass(frozen=True)
class RegisteredTool:
    name: str
    tool: BaseTool
    meta: ToolMeta
    args_schema: type[BaseModel]
    direct: Callable[[BaseModel, ToolContext], JSONValue] | None = None
    """The typed adapter function itself, when there is one (``@adapter``): executing
    calls it with the validated args, skipping the LangChain tool's own machinery
    (callbacks, signature inspection, validating the args again)."""

    @property
    def description(self) -> str:
        return self.tool.description

    def validate(self, args: dict[str, Any]) -> BaseModel:
        """Parse args against the schema; the error lists every field that is wrong."""
        try:
            return self.args_schema.model_validate(args)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(args)'}: {e['msg']}"
                for e in exc.errors()
            )
            raise InvalidInput(f"invalid arguments for {self.name}: {problems}") from exc

    def canonical_args(self, args: BaseModel) -> dict[str, Any]:
        return args.model_dump(mode="json")

    def execute(self, args: BaseModel, ctx: ToolContext) -> JSONValue:
        if self.direct is not None:
            return self.direct(args, ctx)
        config: RunnableConfig = {"configurable": {CONTEXT_KEY: ctx}}
        return self.tool.invoke(args.model_dump(mode="python"), config=config)


def context_from(config: RunnableConfig) -> ToolContext:
    ctx = (config.get("configurable") or {}).get(CONTEXT_KEY)
    if not isinstance(ctx, ToolContext):
        raise UserError(
            "this tool must be executed through the governed tool node (no ToolContext given)"
        )
    return ctx


@dataclass(frozen=True)
class Adapter(Generic[ArgsT]):
    """Decorator for typed adapters: ``fn(args: ArgsModel, ctx: ToolContext) -> JSON``."""

    name: str
    description: str
    args: type[ArgsT]
    meta: ToolMeta

    def __call__(self, fn: Callable[[ArgsT, ToolContext], JSONValue]) -> RegisteredTool:
        schema = self.args

        def run(config: RunnableConfig, **kwargs: Any) -> JSONValue:
            return fn(schema.model_validate(kwargs), context_from(config))

        tool = StructuredTool.from_function(
            func=run,
            name=self.name,
            description=self.description,
            args_schema=schema,
            infer_schema=False,
            metadata={"system": self.meta.system, "effect": self.meta.effect},
        )
        return RegisteredTool(
            name=self.name,
            tool=tool,
            meta=self.meta,
            args_schema=schema,
            direct=cast(Callable[[BaseModel, ToolContext], JSONValue], fn),
        )


def adapter(
    *,
    name: str,
    description: str,
    args: type[ArgsT],
    system: str,
    effect: Effect,
    idempotent: bool,
    owner: str,
) -> Adapter[ArgsT]:
    return Adapter(
        name=name,
        description=description,
        args=args,
        meta=ToolMeta(system=system, effect=effect, idempotent=idempotent, owner=owner),
    )
