"""The deterministic checks that decide whether a case passed.

Each failed check says what was expected and what was observed, in words a reviewer
can act on without re-running the case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from evals.observe import Observation, ObservedCall
from evals.schema import Case, ExpectedCall


@dataclass(frozen=True)
class Failure:
    check: str
    expected: str
    observed: str

    def line(self) -> str:
        return f"{self.check}: expected {self.expected}; observed {self.observed}"


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        return Decimal(str(value)) if isinstance(value, int | float | str | Decimal) else None
    except InvalidOperation:
        return None


def _equal(observed: Any, expected: Any) -> bool:
    a, b = _number(observed), _number(expected)
    if a is not None and b is not None and not isinstance(expected, str):
        return a == b
    return bool(observed == expected)


def _satisfies(observed: Any, constraint: Any) -> bool:
    if not isinstance(constraint, dict):
        return _equal(observed, constraint)
    for op, want in constraint.items():
        if op == "present":
            if (observed is not None) != bool(want):
                return False
            continue
        if observed is None:
            return False
        if op == "eq":
            ok = _equal(observed, want)
        elif op in ("gt", "ge", "lt", "le"):
            a, b = _number(observed), _number(want)
            ok = (
                a is not None
                and b is not None
                and {"gt": a > b, "ge": a >= b, "lt": a < b, "le": a <= b}[op]
            )
        elif op == "contains":
            ok = str(want).lower() in str(observed).lower()
        elif op == "matches":
            ok = re.search(str(want), str(observed)) is not None
        else:  # one_of
            ok = any(_equal(observed, option) for option in want)
        if not ok:
            return False
    return True


def _mismatches(expected: ExpectedCall, call: ObservedCall) -> list[str]:
    found = [
        f"args.{name} {constraint!r} (got {call.args.get(name)!r})"
        for name, constraint in expected.args.items()
        if not _satisfies(call.args.get(name), constraint)
    ]
    for attr in ("tier", "rule", "status"):
        want = getattr(expected, attr)
        if want is not None and getattr(call, attr) != want:
            found.append(f"{attr} {want} (got {getattr(call, attr)})")
    return found


def _describe(expected: ExpectedCall) -> str:
    parts = [expected.tool]
    if expected.args:
        parts.append(f"args {expected.args}")
    parts += [
        f"{a} {getattr(expected, a)}" for a in ("tier", "rule", "status") if getattr(expected, a)
    ]
    return " ".join(parts)


def check_calls(case: Case, seen: Observation) -> list[Failure]:
    """Expected calls in order (as a subsequence); the closest miss is reported."""
    failures: list[Failure] = []
    position = 0
    observed = "; ".join(c.describe() for c in seen.calls) or "no calls"
    for index, expected in enumerate(case.expect.calls):
        candidates = [
            (i, c) for i, c in enumerate(seen.calls) if i >= position and c.tool == expected.tool
        ]
        match = next((i for i, c in candidates if not _mismatches(expected, c)), None)
        if match is not None:
            position = match + 1
            continue
        if candidates:
            near = candidates[0][1]
            detail = f"{near.describe()} — differs in " + ", ".join(_mismatches(expected, near))
        else:
            detail = f"no {expected.tool} call (calls: {observed})"
        failures.append(Failure(f"calls[{index}] {expected.tool}", _describe(expected), detail))
    if case.expect.only_calls and len(seen.calls) != len(case.expect.calls):
        failures.append(
            Failure(
                "only_calls",
                f"exactly {len(case.expect.calls)} call(s)",
                f"{len(seen.calls)}: {observed}",
            )
        )
    for tool in case.expect.forbid:
        hits = [c for c in seen.calls if c.tool == tool]
        if hits:
            failures.append(Failure(f"forbid {tool}", "no such call", hits[0].describe()))
    return failures


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def check(case: Case, seen: Observation) -> list[Failure]:
    failures = check_calls(case, seen)
    expect = case.expect
    if seen.outcome != expect.outcome:
        errors = f" ({'; '.join(seen.run_errors)})" if seen.run_errors else ""
        failures.append(Failure("outcome", expect.outcome, seen.outcome + errors))
    missing_reasons = [r for r in expect.held if r not in seen.held]
    if missing_reasons:
        failures.append(
            Failure("held", f"held for {', '.join(expect.held)}", ", ".join(seen.held) or "none")
        )
    answer = _normal(seen.answer)
    for fact in expect.answer:
        if _normal(fact) not in answer:
            failures.append(Failure("answer", f"states {fact!r}", repr(seen.answer) or "no answer"))
    return failures
