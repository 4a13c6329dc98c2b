"""The tool catalogue: what each tool touches and how the current policy treats it."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CurrentUser, RuntimeDep
from api.errors import error_responses
from api.schemas_admin import Classification, RuleOut, ToolOut
from policies.decision import CallFacts
from policies.engine import PolicyEngine
from policies.schema import PolicyFile

router = APIRouter(prefix="/tools", tags=["tools"])


def fallback(policy: PolicyEngine, tool: str, system: str, effect: str) -> RuleOut:
    """What decides a call no rule matches, asked of the engine itself (same policy
    defaults, no rules) rather than re-implemented here."""
    bare = PolicyEngine(
        PolicyFile(version=policy.policy.version, defaults=policy.policy.defaults, rules=()),
        source=policy.source,
        digest="fallback",
    )
    d = bare.decide(
        CallFacts(tool=tool, system=system, effect=effect, args={}, agent="", requester="")
    )
    return RuleOut(
        id=d.rule,
        tier=d.tier,
        reason=d.reason,
        when="true",
        approver_role=d.approver_role,
        approvals_required=d.approvals_required if d.tier == "review" else None,
    )


def classification(policy: PolicyEngine, tool: str, system: str, effect: str) -> Classification:
    defaults = policy.policy.defaults.review
    rules = [
        RuleOut(
            id=r.spec.id,
            tier=r.spec.tier,
            reason=r.spec.reason,
            when=r.spec.when.strip() or "true",
            approver_role=(r.spec.review or defaults).role if r.spec.tier == "review" else None,
            approvals_required=(
                (r.spec.review or defaults).approvals if r.spec.tier == "review" else None
            ),
        )
        for r in policy.rules_for(tool, system, effect)
    ]
    return Classification(rules=rules, fallback=fallback(policy, tool, system, effect))


@router.get(
    "",
    summary="List tools",
    description="Each registered tool with its system, effect, owner, argument schema and "
    "the policy rules that look at it (plus the fallback when none matches).",
    responses=error_responses(401),
)
def list_tools(user: CurrentUser, rt: RuntimeDep) -> list[ToolOut]:
    policy = rt.gov.policy
    return [
        ToolOut(
            name=t.name,
            description=t.description,
            system=t.meta.system,
            effect=t.meta.effect,
            idempotent=t.meta.idempotent,
            owner=t.meta.owner,
            args_schema=t.args_schema.model_json_schema(),
            policy=classification(policy, t.name, t.meta.system, t.meta.effect),
        )
        for t in sorted(rt.gov.registry, key=lambda t: t.name)
    ]
