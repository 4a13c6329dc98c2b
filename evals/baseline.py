"""The baseline in the repo, and the diff that makes ``tethra eval`` fail.

A regression is a case that passed in the baseline and does not pass now, or a
baseline case that is missing from the run. A case that fails in both is reported but
not a regression (it is a known failure someone chose to promote); a new case is
listed. Promoting is always an explicit command: a run never rewrites the baseline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

from evals.report import CaseResult, SuiteReport
from foundation.errors import ConfigError

BASELINE_FILE = Path(__file__).parent / "baseline.json"


class BaselineCase(BaseModel):
    status: str
    pass_rate: float


class Baseline(BaseModel):
    model: str
    prompt_versions: dict[str, str]
    policy_version: str
    cases: dict[str, BaselineCase]

    @classmethod
    def of(cls, report: SuiteReport) -> Baseline:
        return cls(
            model=report.model,
            prompt_versions=report.prompt_versions,
            policy_version=report.policy_version,
            cases={
                c.id: BaselineCase(status=c.status, pass_rate=round(c.pass_rate, 4))
                for c in report.cases
            },
        )

    @classmethod
    def read(cls, path: Path) -> Baseline | None:
        if not path.exists():
            return None
        try:
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ConfigError(f"{path} is not a golden-case baseline: {exc}") from exc

    def write(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")


@dataclass
class Comparison:
    regressions: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    still_failing: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.regressions


def _explain(result: CaseResult) -> list[str]:
    lines = [
        f"    {f.check}: expected {f.expected}; observed {f.observed}" for f in result.failures
    ]
    if result.message:
        lines.append(f"    {result.message}")
    return lines


def _changes(baseline: Baseline, report: SuiteReport) -> list[str]:
    """What differs in the tags: the usual suspects for a regression."""
    found = []
    if baseline.model != report.model:
        found.append(f"model {baseline.model} -> {report.model}")
    if baseline.policy_version != report.policy_version:
        found.append(f"policy {baseline.policy_version} -> {report.policy_version}")
    for agent in sorted(set(baseline.prompt_versions) | set(report.prompt_versions)):
        before, after = baseline.prompt_versions.get(agent), report.prompt_versions.get(agent)
        if before != after:
            found.append(f"prompt of {agent} {before or '(none)'} -> {after or '(none)'}")
    return found


def compare(
    baseline: Baseline, report: SuiteReport, *, selected: set[str] | None = None
) -> Comparison:
    """``selected``: the case ids asked for (None = all); others are not 'missing'."""
    result = Comparison()
    for case_id, was in sorted(baseline.cases.items()):
        now = report.case(case_id)
        if now is None:
            if selected is None or case_id in selected:
                result.regressions.append(
                    f"REGRESSION {case_id}: in the baseline ({was.status}) but missing from this "
                    "run (deleted or renamed? promote a new baseline if intended)"
                )
            continue
        if was.status == "pass" and now.status != "pass":
            rate = f", pass rate {now.passes}/{now.runs}" if now.runs > 1 else ""
            result.regressions.append(
                "\n".join([f"REGRESSION {case_id}: pass -> {now.status}{rate}", *_explain(now)])
            )
        elif was.status != "pass" and now.status == "pass":
            result.fixed.append(f"fixed {case_id}: {was.status} -> pass")
        elif now.status != "pass":
            result.still_failing.append(
                "\n".join([f"still {now.status} {case_id} (as in the baseline)", *_explain(now)])
            )
    for case in report.cases:
        if case.id not in baseline.cases:
            result.new.append(f"new {case.id}: {case.status} (not in the baseline)")
    if result.regressions:
        changes = _changes(baseline, report)
        if changes:
            result.regressions.append("changed since the baseline: " + "; ".join(changes))
    return result
