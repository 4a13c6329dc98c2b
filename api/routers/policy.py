"""A dry-run of the policy: what would it decide for this call? Nothing is recorded."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CurrentUser, RuntimeDep
from api.errors import error_responses
from api.schemas_admin import PolicyCheckIn, PolicyCheckOut
from foundation.errors import InvalidInput
from policies.decision import CallFacts, RunTotals
from tools.spec import EFFECTS

router = APIRouter(prefix="/policy", tags=["policy"])


@router.post(
    "/check",
    summary="Classify a hypothetical call",
    description="Validates the args against the tool's schema when the tool is registered; "
    "an unregistered tool needs `effect` (and `system`), and is classified as such.",
    responses=error_responses(401, 422),
)
def check(body: PolicyCheckIn, user: CurrentUser, rt: RuntimeDep) -> PolicyCheckOut:
    registry, policy = rt.gov.registry, rt.gov.policy
    if body.tool in registry:
        registered = registry.get(body.tool)
        args = registered.validate(body.args).model_dump(mode="python")
        effect = body.effect or registered.meta.effect
        system = body.system or registered.meta.system
    elif body.effect is None:
        raise InvalidInput(
            f"tool {body.tool!r} is not registered; give 'effect' (and 'system') to classify "
            f"it anyway. Registered: {', '.join(registry.names())}"
        )
    else:
        args, effect, system = body.args, body.effect, body.system or "unknown"
    if effect not in EFFECTS:
        raise InvalidInput(f"effect must be one of {', '.join(EFFECTS)}, got {effect!r}")
    d = policy.decide(
        CallFacts(
            tool=body.tool,
            system=system,
            effect=effect,
            args=args,
            agent=body.agent,
            requester=body.requester or user.name,
            run=RunTotals(money_moved=body.run_money_moved),
        )
    )
    return PolicyCheckOut(
        tool=body.tool,
        registered=body.tool in registry,
        effect=effect,
        system=system,
        tier=d.tier,
        rule=d.rule,
        reason=d.reason,
        approver_role=d.approver_role,
        approvals_required=d.approvals_required,
        deadline_s=d.deadline.total_seconds() if d.deadline else None,
        error=d.error,
        policy_version=d.policy_version,
    )
