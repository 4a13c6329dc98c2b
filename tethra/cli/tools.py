"""``tethra tools``: list and show tools; register, enable and disable (admins).

``add`` takes a YAML (or JSON) file describing the source, exactly the body of ``POST
/tools``; ``--module`` and ``--entry-point`` are shortcuts for Python adapters.
``enable`` prints the tool's classification under the current policy and asks before
enabling it (``--yes`` to skip the question, e.g. in scripts).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import TypeAdapter, ValidationError

from foundation.errors import InvalidInput
from graph.tool_catalog import Classification, ToolCatalog, ToolView
from policies.engine import PolicyEngine
from tethra.cli import render
from tethra.cli.context import engine_only, settings
from tools.adapters.definitions import PythonSource, Source
from tools.adapters.live import LiveRegistry
from tools.catalog import builtin_tools

app = typer.Typer(no_args_is_help=True)
AdminOpt = Annotated[
    str, typer.Option("--as", envvar="TETHRA_USER", help="The admin making the change.")
]
_SOURCE: TypeAdapter[Source] = TypeAdapter(Source)


@contextmanager
def _catalog() -> Iterator[ToolCatalog]:
    s = settings()
    with engine_only() as engine:
        registry = LiveRegistry(builtin_tools(), engine, s.secrets)
        yield ToolCatalog(engine, PolicyEngine.from_file(s.policy_file), registry, s.secrets)


@app.command("list")
def list_() -> None:
    """Every tool: built in or registered, enabled or not, and its fallback tier."""
    with _catalog() as catalog:
        views = catalog.tools()
    for v in views:
        state = "enabled" if v.enabled else "DISABLED"
        fallback = v.classification.fallback.tier
        rules = len(v.classification.rules)
        render.console.print(
            f"{v.name:<24} {v.kind:<7} {state:<8} {v.system:<10} {_effect(v):<18} "
            f"rules {rules}, otherwise {fallback}",
            soft_wrap=True,
        )


@app.command()
def show(name: str) -> None:
    """One tool with its args and how the current policy classifies it."""
    with _catalog() as catalog:
        _print(catalog.show(name))


@app.command()
def add(
    user: AdminOpt,
    file: Annotated[
        Path | None, typer.Argument(help="YAML/JSON source, as the body of POST /tools.")
    ] = None,
    module: Annotated[str | None, typer.Option(help="Python: 'package.module:attr'.")] = None,
    entry_point: Annotated[
        str | None, typer.Option(help="Python: an entry point in 'tethra.tools'.")
    ] = None,
) -> None:
    """Register the tools of a source; each starts disabled."""
    source = _source(file, module, entry_point)
    with _catalog() as catalog:
        views = catalog.register(source, user)
    for view in views:
        render.console.print(f"registered {view.name} (disabled)")
        _print(view)
    names = " ".join(v.name for v in views)
    render.console.print(f"enable with: tethra tools enable {names.split()[0]} --as {user}")


@app.command()
def enable(
    name: str,
    user: AdminOpt,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
) -> None:
    """Show the classification, then enable the tool for agents whose spec allows it."""
    with _catalog() as catalog:
        view = catalog.show(name)
        _print(view)
        if view.enabled:
            render.console.print(f"{name} is already enabled")
            return
        if not yes and not typer.confirm(f"enable {name} under this policy?"):
            raise typer.Exit(1)
        catalog.enable(name, user, view.classification.policy_version)
    render.console.print(f"enabled {name}: agents get it from their next run")


@app.command()
def disable(name: str, user: AdminOpt) -> None:
    """Stop offering the tool; calls already approved for it fail instead of running."""
    with _catalog() as catalog:
        catalog.disable(name, user)
    render.console.print(f"disabled {name}")


def _source(file: Path | None, module: str | None, entry_point: str | None) -> Source:
    given = [x for x in (file, module, entry_point) if x is not None]
    if len(given) != 1:
        raise InvalidInput("give one of: a source FILE, --module or --entry-point")
    if file is None:
        return PythonSource(module=module, entry_point=entry_point)
    try:
        raw: Any = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"{file}: cannot read it as YAML or JSON: {exc}") from exc
    try:
        return _SOURCE.validate_python(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(file)'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidInput(f"{file}: {problems}") from exc


def _effect(view: ToolView) -> str:
    return (
        view.effect if view.effect_source == "declared" else f"{view.effect} ({view.effect_source})"
    )


def _print(view: ToolView) -> None:
    out = render.console.print
    out(f"[bold]{view.name}[/]  {view.kind}, {'enabled' if view.enabled else 'DISABLED'}")
    out(f"  {view.description}")
    out(f"  system {view.system}, effect {_effect(view)}, idempotent {view.idempotent}")
    out(f"  owner {view.owner}, source {view.source}")
    if view.created_by:
        out(f"  registered by {view.created_by} at {view.created_at:%Y-%m-%d %H:%M} UTC")
    if view.effect_source == "unknown":
        out("  [yellow]effect unknown: treated as write, so unmatched calls are reviewed[/]")
    if view.problem:
        out(f"  [red]not loaded here: {view.problem}[/]")
    out(f"  args {json.dumps(view.args_schema.get('properties', {}), sort_keys=True)}")
    _classification(view.classification)


def _classification(c: Classification) -> None:
    out = render.console.print
    out(f"  policy {c.policy_version}:")
    for rule in c.rules:
        out(f"    rule {rule.id}: {rule.tier} when {rule.when} ({rule.reason})")
    fb = c.fallback
    out(f"    otherwise {fb.id}: {fb.tier} ({fb.reason})")
