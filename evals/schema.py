"""Golden cases as files: what goes in (chat turns or an invoice) and what must happen.

Cases live in ``evals/cases/*.yaml`` (a ``cases:`` list per file) so they are reviewed
with the prompts and policies they pin down. A broken file fails loudly, naming the
file and the field, because a case that silently does not load is a regression nobody
sees.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from foundation.errors import ConfigError

CASES_DIR = Path(__file__).parent / "cases"
Outcome = Literal["executed", "review", "denied", "refused", "failed", "stopped", "filed", "held"]
"""executed: every governed call ran; review: a call waits for an approver; denied: the
policy refused a call; refused: the agent proposed no governed call; failed/stopped:
the run failed or hit a cost cap; filed/held: an invoice was filed, or held with reasons."""
Tier = Literal["allow", "review", "deny", "handoff"]
CaseId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,79}$")]
_OPS = ("eq", "gt", "ge", "lt", "le", "contains", "matches", "one_of", "present")


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CaseInput(_Strict):
    chat: tuple[Annotated[str, Field(min_length=1)], ...] = ()
    """Operator messages, one run each, on one thread."""
    invoice: dict[str, Any] | None = None
    """An invoice for the invoice workflow (its fields as that workflow accepts them)."""

    @model_validator(mode="after")
    def _one_kind(self) -> CaseInput:
        if bool(self.chat) == (self.invoice is not None):
            raise ValueError("give exactly one of chat (a list of messages) or invoice")
        return self


class ExpectedCall(_Strict):
    """A call that must be proposed: its tool, constraints on its arguments, its tier.

    An argument constraint is a value (equal; numbers compare by value) or a mapping of
    operators: eq, gt, ge, lt, le, contains, matches (regex), one_of, present."""

    tool: Annotated[str, Field(min_length=1)]
    args: dict[str, Any] = Field(default_factory=dict)
    tier: Tier | None = None
    rule: str | None = None
    status: str | None = None
    """Final status of the call: executed, pending, denied, failed, ..."""

    @model_validator(mode="after")
    def _known_operators(self) -> ExpectedCall:
        for name, constraint in self.args.items():
            if isinstance(constraint, dict):
                unknown = sorted(set(constraint) - set(_OPS))
                if unknown:
                    raise ValueError(
                        f"args.{name}: unknown operator(s) {', '.join(unknown)} "
                        f"(known: {', '.join(_OPS)})"
                    )
        return self


class Expectations(_Strict):
    calls: tuple[ExpectedCall, ...] = ()
    """Must appear in this order (other calls may come between, unless ``only_calls``)."""
    only_calls: bool = False
    forbid: tuple[str, ...] = ()
    """Tools that must not be proposed at all."""
    outcome: Outcome
    held: tuple[str, ...] = ()
    """For outcome held: the reasons the invoice must be held for (all of them)."""
    answer: tuple[str, ...] = ()
    """Facts the final answer must state (case-insensitive, whitespace-normalised)."""


class Case(_Strict):
    id: CaseId
    description: Annotated[str, Field(min_length=1)]
    input: CaseInput
    requester: str = Field(default="olivia", alias="as")
    decide: Literal["approve", "deny"] | None = None
    """Decide every approval the case's runs wait on, after the last message."""
    approver: str = "adam"
    expect: Expectations
    grade: str | None = None
    """A rubric for the optional model-graded check: advisory, never decides."""


class _CaseFile(_Strict):
    cases: tuple[Case, ...]


def load_cases(folder: Path | None = None) -> list[Case]:
    """Every case under ``folder`` (default ``evals/cases``), sorted by file then order."""
    root = folder or CASES_DIR
    if not root.is_dir():
        raise ConfigError(f"no golden case folder at {root}")
    found: list[Case] = []
    seen: dict[str, Path] = {}
    for path in sorted(root.glob("*.yaml")):
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
            parsed = _CaseFile.model_validate(raw)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(file)'}: {e['msg']}"
                for e in exc.errors()
            )
            raise ConfigError(f"{path}: {problems}") from exc
        for case in parsed.cases:
            if case.id in seen:
                raise ConfigError(f"{path}: case id {case.id!r} is also used in {seen[case.id]}")
            seen[case.id] = path
            found.append(case)
    if not found:
        raise ConfigError(f"{root}: no golden cases (*.yaml files with a cases: list)")
    return found
