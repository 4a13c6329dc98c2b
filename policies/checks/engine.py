"""Evaluating a check file against one piece of structured data.

The data is a mapping of namespaces (for invoices: ``invoice`` as received and ``facts``
from the ERP), so field rules, cross-field arithmetic and reference checks against live
data are all the same kind of rule. Evaluation never raises on bad data: a value that
cannot be read as a number or a date is itself a finding.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from policies.checks.paths import MISSING, absent, resolve, shown
from policies.checks.results import Finding
from policies.checks.schema import CheckDef, CheckFile, Compare, Equation, Format, Range, Required

CURRENCIES = frozenset(
    [
        "AUD",
        "BRL",
        "CAD",
        "CHF",
        "CNY",
        "CZK",
        "DKK",
        "EUR",
        "GBP",
        "HKD",
        "HUF",
        "INR",
        "JPY",
        "KRW",
        "MXN",
        "NOK",
        "NZD",
        "PLN",
        "SEK",
        "SGD",
        "USD",
        "ZAR",
    ]
)
_AMOUNT = re.compile(r"^-?\d{1,12}(\.\d{1,2})?$")


@dataclass
class CheckReport:
    findings: list[Finding] = field(default_factory=list)
    """One per failed value, plus one passing finding per check that passed."""
    skipped: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[Finding]:
        return [f for f in self.findings if not f.passed]


def number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or absent(value):
        return None
    try:
        result = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return result if result.is_finite() else None


def run_checks(checks: CheckFile, data: Mapping[str, Any], stake: Decimal) -> CheckReport:
    """Every check in file order; ``stake`` is the money a failure puts at risk."""
    report = CheckReport()
    failed: set[str] = set()
    for check in checks.checks:
        if any(r in failed for r in check.requires):
            report.skipped.append(check.name)
            continue
        problems = _evaluate(check, dict(data))
        if problems is None:
            report.skipped.append(check.name)
            continue
        if not problems:
            report.findings.append(Finding(check=check.name, reason=check.reason, passed=True))
            continue
        failed.add(check.name)
        for where, expected, found, tolerance in problems:
            text = check.message.format(
                name=check.name, expected=expected, found=found, where=where
            )
            report.findings.append(
                Finding(
                    check=check.name,
                    reason=check.reason,
                    passed=False,
                    severity=check.severity,
                    expected=expected,
                    found=found,
                    tolerance=tolerance,
                    amount_at_stake=stake,
                    message=f"{where}: {text}" if where else text,
                    where=where,
                )
            )
    return report


Problem = tuple[str, str, str, str]
"""(where, expected, found, tolerance applied)."""


def _evaluate(check: CheckDef, data: dict[str, Any]) -> list[Problem] | None:
    """Problems found, or None when the check does not apply (nothing to look at)."""
    if isinstance(check, Required):
        return [
            (where, "a value", "nothing", "none")
            for path in check.fields
            for where, value in resolve(data, path)
            if absent(value)
        ]
    if isinstance(check, Format):
        return [
            (where, _format_name(check), shown(value), "none")
            for path in check.fields
            for where, value in resolve(data, path)
            if not absent(value) and not _has_format(check, value)
        ]
    if isinstance(check, Range):
        return _range(check, data)
    if isinstance(check, Equation):
        return _equation(check, data)
    return _compare(check, data)


def _format_name(check: Format) -> str:
    return {
        "date": "a date (YYYY-MM-DD)",
        "currency": "an ISO 4217 currency code",
        "amount": "an amount with at most 2 decimals",
        "integer": "a whole number",
        "pattern": f"text matching {check.pattern}",
    }[check.format]


def _has_format(check: Format, value: Any) -> bool:
    text = str(value).strip()
    if check.format == "date":
        try:
            date.fromisoformat(text)
        except ValueError:
            return False
        return len(text) == 10
    if check.format == "currency":
        return text in CURRENCIES
    if check.format == "amount":
        return not isinstance(value, bool) and bool(_AMOUNT.match(text))
    if check.format == "integer":
        return not isinstance(value, bool) and re.fullmatch(r"-?\d+", text) is not None
    return re.fullmatch(check.pattern or "", text) is not None


def _range(check: Range, data: dict[str, Any]) -> list[Problem]:
    low = "-inf" if check.min is None else str(check.min)
    high = "inf" if check.max is None else str(check.max)
    problems = []
    for path in check.fields:
        for where, value in resolve(data, path):
            n = number(value)
            if absent(value):
                continue
            if (
                n is None
                or (check.min is not None and n < check.min)
                or (check.max is not None and n > check.max)
            ):
                problems.append((where, f"between {low} and {high}", shown(value), "none"))
    return problems


def _equation(check: Equation, data: dict[str, Any]) -> list[Problem] | None:
    scopes = [("", data)] if check.each is None else resolve(data, check.each)
    scopes = [(w, s) for w, s in scopes if isinstance(s, dict)]
    if not scopes:
        return None
    problems = []
    for where, scope in scopes:
        (vwhere, raw), *_ = resolve(scope, check.value)
        value = number(raw)
        operands = [
            number(v) for path in (check.sum or check.product) for _, v in resolve(scope, path)
        ]
        if value is None or any(o is None for o in operands):
            continue  # unreadable numbers are the format checks' findings
        nums = [o for o in operands if o is not None]
        if check.sum:
            computed = sum(nums, Decimal(0))
            how = " + ".join(check.sum)
        else:
            computed = Decimal(1)
            for n in nums:
                computed *= n
            how = " x ".join(check.product)
        if abs(value - computed) > check.rounding:
            place = where or vwhere
            tolerance = f"±{check.rounding}" if check.rounding else "none"
            expected = f"{check.value} = {how} = {computed}"
            problems.append((place or check.value, expected, f"{check.value} = {raw}", tolerance))
    return problems


def _compare(check: Compare, data: dict[str, Any]) -> list[Problem] | None:
    problems: list[Problem] = []
    for where, value in resolve(data, check.value):
        if check.op == "present":
            if absent(value):
                problems.append((where, check.describe or "a known record", "nothing", "none"))
            continue
        if check.op == "empty":
            if not absent(value):
                problems.append((where, check.describe or "none", shown(value), "none"))
            continue
        if value is MISSING or value is None:
            if check.optional:
                continue
            return None  # what it would compare is missing: an earlier check says why
        if check.op == "is_false":
            if value is not False:
                problems.append((where, check.describe or "false", shown(value), "none"))
        elif check.op == "in":
            if str(value) not in check.values:
                expected = check.describe or "one of " + ", ".join(check.values)
                problems.append((where, expected, shown(value), "none"))
        else:
            (_, other), *_ = resolve(data, check.to or "")
            if other is MISSING or other is None:
                return None
            if str(value) != str(other):
                problems.append(
                    (where, check.describe or f"{check.to} = {other}", shown(value), "none")
                )
    return problems
