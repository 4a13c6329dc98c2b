"""Registering, enabling and disabling tools, and showing how the policy treats each.

The one service behind ``POST /tools`` and ``tethra tools``: only admins change the
catalogue; every change is audited in its own transaction; a new tool starts disabled,
and its classification under the current policy is what an admin looks at before
enabling it. A tool whose effect nobody declared is stored as ``write`` (effect source
``unknown``), so the policy's fallback reviews it unless a rule says otherwise.

A bad definition fails before anything is written: the source is resolved (module
imported, document fetched, server asked) and every tool checked first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from audit.trail import record
from foundation.db import rows_affected, session_scope, utcnow
from foundation.errors import Conflict, Forbidden, InvalidInput, NotFound
from foundation.users import get_user, has_role
from graph.runtime import Runtime
from policies.decision import CallFacts
from policies.engine import PolicyEngine
from policies.schema import PolicyFile
from tools.adapters.definitions import Candidate, Source
from tools.adapters.http import Secrets
from tools.adapters.live import LiveRegistry
from tools.adapters.loading import resolve
from tools.registrations import ToolRegistration
from tools.registry import ToolRegistry, check_name
from tools.spec import RegisteredTool


@dataclass(frozen=True)
class RuleView:
    id: str
    tier: str
    reason: str
    when: str
    approver_role: str | None = None
    approvals_required: int | None = None


@dataclass(frozen=True)
class Classification:
    """How the current policy treats calls to one tool: the rules that look at it, and
    what decides when none of them matches."""

    policy_version: str
    rules: list[RuleView]
    fallback: RuleView

    def summary(self) -> dict[str, Any]:
        return {
            "policy_version": self.policy_version,
            "rules": [f"{r.id}:{r.tier}" for r in self.rules],
            "fallback": f"{self.fallback.id}:{self.fallback.tier}",
        }


@dataclass(frozen=True)
class ToolView:
    """One tool as people see it: built in or registered, enabled or not."""

    name: str
    kind: str  # builtin | python | http | mcp
    description: str
    system: str
    effect: str
    effect_source: str
    idempotent: bool
    owner: str
    args_schema: dict[str, Any]
    enabled: bool
    classification: Classification
    source: str = "built in"
    created_by: str | None = None
    created_at: datetime | None = None
    changed_by: str | None = None
    changed_at: datetime | None = None
    problem: str | None = None
    """Why this process could not load an enabled registration (None: it loaded)."""
    extra: dict[str, Any] = field(default_factory=dict)


def classify(policy: PolicyEngine, tool: str, system: str, effect: str) -> Classification:
    defaults = policy.policy.defaults.review
    rules = []
    for rule in policy.rules_for(tool, system, effect):
        spec = rule.spec
        review = (spec.review or defaults) if spec.tier == "review" else None
        rules.append(
            RuleView(
                id=spec.id,
                tier=spec.tier,
                reason=spec.reason,
                when=spec.when.strip() or "true",
                approver_role=review.role if review else None,
                approvals_required=review.approvals if review else None,
            )
        )
    return Classification(policy.version, rules, _fallback(policy, tool, system, effect))


def _fallback(policy: PolicyEngine, tool: str, system: str, effect: str) -> RuleView:
    """Asked of the engine itself (same defaults, no rules), not re-implemented here."""
    bare = PolicyEngine(
        PolicyFile(version=policy.policy.version, defaults=policy.policy.defaults, rules=()),
        source=policy.source,
        digest="fallback",
    )
    d = bare.decide(
        CallFacts(tool=tool, system=system, effect=effect, args={}, agent="", requester="")
    )
    return RuleView(
        id=d.rule,
        tier=d.tier,
        reason=d.reason,
        when="true",
        approver_role=d.approver_role,
        approvals_required=d.approvals_required if d.tier == "review" else None,
    )


class ToolCatalog:
    def __init__(
        self, engine: Engine, policy: PolicyEngine, registry: ToolRegistry, secrets: Secrets
    ) -> None:
        self.engine, self.policy, self.registry, self.secrets = engine, policy, registry, secrets

    @classmethod
    def of(cls, runtime: Runtime) -> ToolCatalog:
        registry = runtime.gov.registry
        secrets = registry.secrets if isinstance(registry, LiveRegistry) else {}
        return cls(runtime.gov.engine, runtime.gov.policy, registry, secrets)

    # --- reading ----------------------------------------------------------------------
    def tools(self) -> list[ToolView]:
        self.registry.refresh()
        with session_scope(self.engine) as session:
            rows = {r.name: r for r in session.exec(select(ToolRegistration))}
        views = [self._view_builtin(t) for t in self.registry if t.name not in rows]
        views += [self._view_row(r) for r in rows.values()]
        return sorted(views, key=lambda v: v.name)

    def show(self, name: str) -> ToolView:
        self.registry.refresh()
        with session_scope(self.engine) as session:
            row = session.get(ToolRegistration, name)
        if row is not None:
            return self._view_row(row)
        if name in self.registry:
            return self._view_builtin(self.registry.get(name))
        raise NotFound(f"no tool named {name!r} is built in or registered")

    def _view_builtin(self, tool: RegisteredTool) -> ToolView:
        meta = tool.meta
        return ToolView(
            name=tool.name,
            kind="builtin",
            description=tool.description,
            system=meta.system,
            effect=meta.effect,
            effect_source="declared",
            idempotent=meta.idempotent,
            owner=meta.owner,
            args_schema=tool.args_schema.model_json_schema(),
            enabled=True,
            classification=classify(self.policy, tool.name, meta.system, meta.effect),
        )

    def _view_row(self, row: ToolRegistration) -> ToolView:
        problems = self.registry.problems if isinstance(self.registry, LiveRegistry) else {}
        return ToolView(
            name=row.name,
            kind=row.kind,
            description=row.description,
            system=row.system,
            effect=row.effect,
            effect_source=row.effect_source,
            idempotent=row.idempotent,
            owner=row.owner,
            args_schema=row.args_schema,
            enabled=row.enabled,
            classification=classify(self.policy, row.name, row.system, row.effect),
            source=row.source,
            created_by=row.created_by,
            created_at=row.created_at,
            changed_by=row.changed_by,
            changed_at=row.changed_at,
            problem=problems.get(row.name) if row.enabled else None,
        )

    # --- changing ---------------------------------------------------------------------
    def register(self, source: Source, actor: str) -> list[ToolView]:
        """Store the source's tools, disabled; all of them or none."""
        self._require_admin(actor)
        candidates = resolve(source, self.secrets)
        self._check(candidates)
        now = utcnow()
        rows = [
            ToolRegistration(
                name=c.name,
                kind=c.kind,
                description=c.description,
                system=c.meta.system,
                effect=c.meta.effect,
                effect_source=c.effect_source,
                idempotent=c.meta.idempotent,
                owner=c.meta.owner,
                source=c.source[:512],
                definition=c.definition,
                args_schema=c.args_schema,
                enabled=False,
                created_by=actor,
                created_at=now,
                changed_by=actor,
                changed_at=now,
            )
            for c in candidates
        ]
        try:
            with session_scope(self.engine) as session:
                taken = session.exec(
                    select(ToolRegistration).where(
                        col(ToolRegistration.name).in_([r.name for r in rows])
                    )
                ).all()
                if taken:
                    first = taken[0]
                    raise Conflict(
                        f"a tool named {first.name!r} is already registered (by "
                        f"{first.created_by} at {first.created_at:%Y-%m-%d %H:%M} UTC); "
                        "choose another name (an MCP source can take a prefix)"
                    )
                session.add_all(rows)
                session.flush()
                for row in rows:
                    record(session, kind="tool_registered", actor=actor, data=self._audit(row))
        except IntegrityError as exc:  # registered by someone else just now
            raise Conflict(f"a tool named in this request was registered meanwhile: {exc}") from exc
        return [self._view_row(r) for r in rows]

    def enable(self, name: str, actor: str, reviewed_policy: str | None = None) -> ToolView:
        """Enable; ``reviewed_policy``: the policy version the admin saw the
        classification under (refused if the policy changed since)."""
        if reviewed_policy is not None and reviewed_policy != self.policy.version:
            raise Conflict(
                f"the policy is now {self.policy.version}, not {reviewed_policy}: look at the "
                "tool's classification again before enabling it"
            )
        return self._switch(name, actor, enabled=True)

    def disable(self, name: str, actor: str) -> ToolView:
        return self._switch(name, actor, enabled=False)

    def _switch(self, name: str, actor: str, *, enabled: bool) -> ToolView:
        self._require_admin(actor)
        with session_scope(self.engine) as session:
            row = session.get(ToolRegistration, name)
            if row is None:
                if name in self.registry:
                    raise InvalidInput(f"{name!r} is built in; only registered tools can change")
                raise NotFound(f"no registered tool named {name!r}")
            if row.enabled != enabled:
                now = utcnow()
                changed = session.execute(
                    update(ToolRegistration)
                    .where(
                        col(ToolRegistration.name) == name,
                        col(ToolRegistration.revision) == row.revision,
                    )
                    .values(
                        enabled=enabled,
                        revision=row.revision + 1,
                        changed_by=actor,
                        changed_at=now,
                    )
                )
                if rows_affected(changed) != 1:
                    raise Conflict(f"{name!r} changed meanwhile; look again and retry")
                session.refresh(row)
                data = {**self._audit(row), "classification": self._summary(row)}
                record(
                    session,
                    kind="tool_enabled" if enabled else "tool_disabled",
                    actor=actor,
                    data=data,
                )
        self.registry.refresh()
        return self._view_row(row)

    def _check(self, candidates: list[Candidate]) -> None:
        if not candidates:
            raise InvalidInput("the source provides no tools")
        names = [c.name for c in candidates]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise InvalidInput(f"the source names {', '.join(repeated)} more than once")
        for name in names:
            check_name(name)
        self.registry.refresh()
        clash = [n for n in names if n in self.registry]
        if clash:
            raise Conflict(f"a tool named {clash[0]!r} already exists; choose another name")

    def _summary(self, row: ToolRegistration) -> dict[str, Any]:
        return classify(self.policy, row.name, row.system, row.effect).summary()

    @staticmethod
    def _audit(row: ToolRegistration) -> dict[str, Any]:
        return {
            "tool": row.name,
            "kind": row.kind,
            "system": row.system,
            "effect": row.effect,
            "effect_source": row.effect_source,
            "idempotent": row.idempotent,
            "owner": row.owner,
            "source": row.source,
            "enabled": row.enabled,
        }

    def _require_admin(self, actor: str) -> None:
        with Session(self.engine) as session:
            user = get_user(session, actor)
        if not has_role(user, "admin"):
            raise Forbidden(f"only an admin can change the tool catalogue; {actor} is {user.role}")
