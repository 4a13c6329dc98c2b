"""``tethra policy check``: what the policy would decide for a hypothetical call."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from foundation.errors import InvalidInput
from policies.decision import CallFacts, RunTotals
from policies.engine import PolicyEngine
from tethra.cli import render
from tethra.cli.context import settings
from tools.catalog import default_registry

app = typer.Typer(no_args_is_help=True)


@app.command()
def check(
    tool: str,
    args: Annotated[str, typer.Option(help="Arguments as a JSON object.")] = "{}",
    agent: str = "ops",
    requester: str = "olivia",
    effect: Annotated[str | None, typer.Option(help="For a tool not registered here.")] = None,
    system: Annotated[str | None, typer.Option(help="For a tool not registered here.")] = None,
    run_money_moved: float = 0.0,
) -> None:
    """Print the tier, the rule that decided and its reason."""
    engine = PolicyEngine.from_file(settings().policy_file)
    try:
        raw = json.loads(args)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"--args is not valid JSON: {exc}") from exc
    registry = default_registry()
    if tool in registry:
        registered = registry.get(tool)
        parsed = registered.validate(raw).model_dump(mode="python")
        effect, system = effect or registered.meta.effect, system or registered.meta.system
    elif effect is None:
        raise InvalidInput(f"{tool!r} is not registered; give --effect (and --system)")
    else:
        parsed = raw
    decision = engine.decide(
        CallFacts(
            tool=tool,
            system=system or "unknown",
            effect=effect,
            args=parsed,
            agent=agent,
            requester=requester,
            run=RunTotals(money_moved=run_money_moved),
        )
    )
    render.console.print(f"tier    {decision.tier}")
    render.console.print(f"rule    {decision.rule}")
    render.console.print(f"reason  {decision.reason}")
    if decision.tier == "review":
        render.console.print(
            f"review  {decision.approvals_required} x {decision.approver_role}, "
            f"deadline {decision.deadline}"
        )
    if decision.error:
        render.console.print(f"error   {decision.error}")
    render.console.print(f"policy  {engine.version}")
