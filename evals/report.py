"""A suite run's results, as JSON (machines, the baseline) and Markdown (reviewers).

Every report is tagged with what produced it — the model id, each agent's prompt
hash, the policy version and the price table — so a difference between two reports
can be traced to the change that caused it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from foundation.errors import ConfigError

CaseStatus = Literal["pass", "fail", "needs-rerecording", "error"]


class FailureOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    check: str
    expected: str
    observed: str


class Advisory(BaseModel):
    """The model-graded check: shown, never deciding."""

    model_config = ConfigDict(frozen=True)

    verdict: Literal["pass", "fail", "unclear"]
    note: str


class CaseResult(BaseModel):
    id: str
    description: str
    status: CaseStatus
    runs: int
    passes: int
    outcome: str = ""
    answer: str = ""
    failures: list[FailureOut] = Field(default_factory=list)
    """Of the first run that failed."""
    message: str = ""
    """Why a case needs re-recording or errored."""
    advisory: Advisory | None = None

    @property
    def pass_rate(self) -> float:
        return self.passes / self.runs if self.runs else 0.0


class SuiteReport(BaseModel):
    started_at: datetime
    model: str
    mode: Literal["live", "record", "replay"]
    prompt_versions: dict[str, str]
    policy_version: str
    prices_version: str
    repeat: int
    cases: list[CaseResult]

    @property
    def passed(self) -> int:
        return sum(1 for c in self.cases if c.status == "pass")

    def case(self, case_id: str) -> CaseResult | None:
        return next((c for c in self.cases if c.id == case_id), None)

    def tags(self) -> str:
        prompts = ", ".join(f"{a} {v}" for a, v in sorted(self.prompt_versions.items()))
        return (
            f"model {self.model} ({self.mode}); prompts: {prompts}; policy {self.policy_version}; "
            f"prices {self.prices_version}"
        )

    def write(self, folder: Path) -> tuple[Path, Path]:
        folder.mkdir(parents=True, exist_ok=True)
        json_path, md_path = folder / "report.json", folder / "report.md"
        json_path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
        md_path.write_text(markdown(self), encoding="utf-8")
        return json_path, md_path

    @classmethod
    def read(cls, path: Path) -> SuiteReport:
        try:
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(
                f"no eval report at {path} ({exc.strerror}); run `tethra eval`"
            ) from exc
        except ValueError as exc:
            raise ConfigError(f"{path} is not an eval report: {exc}") from exc


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def markdown(report: SuiteReport) -> str:
    lines = [
        f"# Golden cases: {report.passed}/{len(report.cases)} pass",
        "",
        f"- run at {report.started_at:%Y-%m-%d %H:%M:%S} UTC, repeat {report.repeat}",
        f"- model `{report.model}` ({report.mode})",
        f"- policy `{report.policy_version}`, prices `{report.prices_version}`",
        "- prompts: " + ", ".join(f"{a} `{v}`" for a, v in sorted(report.prompt_versions.items())),
        "",
        "| case | status | pass rate | outcome | advisory |",
        "| --- | --- | --- | --- | --- |",
    ]
    for c in report.cases:
        advisory = c.advisory.verdict if c.advisory else "-"
        lines.append(
            f"| {c.id} | {c.status} | {c.passes}/{c.runs} | {c.outcome or '-'} | {advisory} |"
        )
    details = [c for c in report.cases if c.failures or c.message or c.advisory]
    for c in details:
        lines += ["", f"## {c.id}: {c.status}", "", _cell(c.description)]
        if c.message:
            lines += ["", c.message]
        for f in c.failures:
            lines.append(
                f"- **{_cell(f.check)}**: expected {_cell(f.expected)}; "
                f"observed {_cell(f.observed)}"
            )
        if c.advisory:
            lines.append(
                f"- advisory (model-graded, does not decide): {c.advisory.verdict} — "
                f"{_cell(c.advisory.note)}"
            )
    return "\n".join(lines) + "\n"
