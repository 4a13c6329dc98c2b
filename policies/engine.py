"""Compile a policy file once; decide a call in microseconds.

Rules are compiled to CEL programs at load and indexed by tool name; the rules that
apply to a (tool, system, effect) triple are computed on first use and cached, as is
the set of variables they read, so a decision builds only the context it needs and
evaluates a handful of programs.

Failure is never permissive: a rule that errors while evaluating, or a condition that
does not return a bool, decides ``deny`` and the error is recorded with the decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import cel
import yaml
from pydantic import ValidationError

from foundation.canonical import sha256_hex
from foundation.errors import ConfigError
from policies.decision import CallFacts, Decision
from policies.schema import PolicyFile, ReviewSpec, RuleSpec, parse_duration

DEFAULT_POLICY_FILE = Path(__file__).parent / "default.yaml"
_RANK = {"allow": 0, "review": 1, "deny": 2}
_VARIABLES = ("tool", "system", "effect", "args", "agent", "requester", "run")


@dataclass(frozen=True)
class CompiledRule:
    spec: RuleSpec
    program: Any  # cel.Program, or None for an unconditional rule
    variables: frozenset[str]

    def applies_to(self, tool: str, system: str, effect: str) -> bool:
        m = self.spec.match
        return (
            (not m.tools or tool in m.tools)
            and (not m.systems or system in m.systems)
            and (not m.effects or effect in m.effects)
        )


@dataclass(frozen=True)
class _Plan:
    rules: tuple[CompiledRule, ...]
    variables: frozenset[str]


def _cel_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {str(k): _cel_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_cel_value(v) for v in value]
    return value


class PolicyEngine:
    def __init__(self, policy: PolicyFile, *, source: str, digest: str) -> None:
        self.policy = policy
        self.source = source
        self.version = f"{policy.version}+{digest[:12]}"
        self._rules = tuple(_compile(rule, source) for rule in policy.rules)
        self._plans: dict[tuple[str, str, str], _Plan] = {}

    @classmethod
    def from_file(cls, path: Path | None = None) -> PolicyEngine:
        path = path or DEFAULT_POLICY_FILE
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read policy file ({exc.strerror})") from exc
        return cls.from_text(raw.decode("utf-8"), source=str(path))

    @classmethod
    def from_text(cls, text: str, *, source: str = "<policy>") -> PolicyEngine:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a mapping with 'version' and 'rules'")
        try:
            policy = PolicyFile.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(_explain(source, data, exc)) from exc
        return cls(policy, source=source, digest=sha256_hex(text))

    @property
    def rules(self) -> tuple[CompiledRule, ...]:
        return self._rules

    def rules_for(self, tool: str, system: str, effect: str) -> tuple[CompiledRule, ...]:
        return self._plan(tool, system, effect).rules

    def _plan(self, tool: str, system: str, effect: str) -> _Plan:
        key = (tool, system, effect)
        plan = self._plans.get(key)
        if plan is None:
            rules = tuple(r for r in self._rules if r.applies_to(tool, system, effect))
            variables = frozenset().union(*(r.variables for r in rules)) if rules else frozenset()
            plan = self._plans[key] = _Plan(rules, variables)
        return plan

    def reads_run_totals(self, tool: str, system: str, effect: str) -> bool:
        """Whether any rule for this tool looks at ``run``; callers skip the query if not."""
        return "run" in self._plan(tool, system, effect).variables

    def decide(self, facts: CallFacts) -> Decision:
        try:
            return self._decide(facts)
        except Exception as exc:  # the classifier failing must never allow
            return Decision(
                tier="deny",
                rule="classifier-error",
                reason="The policy could not classify this call, so it is denied.",
                policy_version=self.version,
                error=f"{type(exc).__name__}: {exc}",
            )

    def _decide(self, facts: CallFacts) -> Decision:
        plan = self._plan(facts.tool, facts.system, facts.effect)
        context = cel.Context(self._variables(facts, plan.variables)) if plan.variables else None
        best: RuleSpec | None = None
        for rule in plan.rules:
            if rule.program is not None:
                try:
                    hit = rule.program.execute(context)
                except Exception as exc:
                    return self._errored(rule.spec, f"{type(exc).__name__}: {exc}")
                if not isinstance(hit, bool):
                    return self._errored(rule.spec, f"condition returned {hit!r}, not true/false")
                if not hit:
                    continue
            if best is None or self._strictness(rule.spec) > self._strictness(best):
                best = rule.spec
                if best.tier == "deny":
                    break
        if best is None:
            return self._fallback(facts)
        return self._from_rule(best)

    def _strictness(self, rule: RuleSpec) -> tuple[int, int]:
        """Deny beats review beats allow; of two review rules the one asking more approvals."""
        approvals = (rule.review or self.policy.defaults.review).approvals
        return (_RANK[rule.tier], approvals if rule.tier == "review" else 0)

    def _variables(self, facts: CallFacts, needed: frozenset[str]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in needed:
            if name == "args":
                values["args"] = _cel_value(facts.args)
            elif name == "run":
                values["run"] = {
                    "tool_calls": facts.run.tool_calls,
                    "money_moved": facts.run.money_moved,
                    "cost_usd": facts.run.cost_usd,
                }
            elif name in _VARIABLES:
                values[name] = getattr(facts, name)
        return values

    def _from_rule(self, rule: RuleSpec) -> Decision:
        if rule.tier != "review":
            return Decision(
                tier=rule.tier, rule=rule.id, reason=rule.reason, policy_version=self.version
            )
        return self._review(rule.id, rule.reason, rule.review or self.policy.defaults.review)

    def _review(self, rule: str, reason: str, spec: ReviewSpec) -> Decision:
        return Decision(
            tier="review",
            rule=rule,
            reason=reason,
            policy_version=self.version,
            approver_role=spec.role,
            approvals_required=spec.approvals,
            deadline=parse_duration(spec.deadline),
        )

    def _fallback(self, facts: CallFacts) -> Decision:
        if facts.effect == "read":
            return Decision(
                tier="allow",
                rule="default-read",
                reason="No rule matched; reading data changes nothing.",
                policy_version=self.version,
            )
        return self._review(
            "default-review",
            f"No rule classifies this {facts.effect} call, so a person reviews it.",
            self.policy.defaults.review,
        )

    def _errored(self, rule: RuleSpec, error: str) -> Decision:
        return Decision(
            tier="deny",
            rule=rule.id,
            reason=f"Rule {rule.id} could not be evaluated, so the call is denied.",
            policy_version=self.version,
            error=error,
        )


def _compile(rule: RuleSpec, source: str) -> CompiledRule:
    text = rule.when.strip()
    if text in ("", "true"):
        return CompiledRule(rule, None, frozenset())
    try:
        program = cel.compile(text)
    except Exception as exc:
        raise ConfigError(f"{source}: rule {rule.id!r}: condition does not compile: {exc}") from exc
    return CompiledRule(rule, program, frozenset(program.variables()))


def _explain(source: str, data: dict[str, Any], exc: ValidationError) -> str:
    lines = [f"{source}: invalid policy:"]
    rules = data.get("rules") if isinstance(data.get("rules"), list) else []
    for err in exc.errors():
        loc = list(err["loc"])
        where = ".".join(str(p) for p in loc) or "(file)"
        if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int) and rules:
            index = loc[1]
            entry = rules[index] if index < len(rules) else None
            rule_id = entry.get("id") if isinstance(entry, dict) else None
            field = ".".join(str(p) for p in loc[2:]) or "(rule)"
            where = f"rule {rule_id!r} (rules[{index}]) {field}"
        lines.append(f"  {where}: {err['msg']}")
    return "\n".join(lines)
