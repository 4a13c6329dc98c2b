"""``tethra eval``: run the golden cases, compare with the baseline, promote a new one.

Exit codes: 0 no regression; 1 a regression (a baseline pass that no longer passes,
or a baseline case that is missing), with the diff printed; 2 bad configuration.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from agents.models.factory import make_chat_model
from evals.baseline import BASELINE_FILE, Baseline, compare
from evals.invoices import process_invoice
from evals.report import SuiteReport
from evals.runner import RECORDINGS_DIR, EvalConfig, Mode, run_suite
from foundation.errors import ConfigError
from tethra.cli import render
from tethra.cli.context import settings

app = typer.Typer(no_args_is_help=False, invoke_without_command=True)
console = render.console
DEFAULT_OUT = Path(".tethra/evals")
_STYLE = {"pass": "green", "fail": "red", "needs-rerecording": "yellow", "error": "red"}


@app.callback()
def run(
    ctx: typer.Context,
    case: Annotated[
        list[str] | None, typer.Option("--case", help="Run only this case (repeatable).")
    ] = None,
    repeat: Annotated[int, typer.Option(min=1, help="Run each case n times.")] = 1,
    record: Annotated[
        bool, typer.Option(help="Call the configured model and store its answers.")
    ] = False,
    replay: Annotated[
        bool, typer.Option(help="Answer only from stored recordings (no network).")
    ] = False,
    cases_dir: Annotated[Path | None, typer.Option("--cases", help="Case folder.")] = None,
    agents_dir: Annotated[Path | None, typer.Option("--agents", help="Agents folder.")] = None,
    policy: Annotated[
        Path | None, typer.Option(help="Policy file (default TETHRA_POLICY_FILE).")
    ] = None,
    recordings: Annotated[Path, typer.Option(help="Recordings folder.")] = RECORDINGS_DIR,
    baseline: Annotated[Path, typer.Option(help="Baseline to compare with.")] = BASELINE_FILE,
    out: Annotated[Path, typer.Option(help="Where report.json and report.md go.")] = DEFAULT_OUT,
    grader: Annotated[
        str | None,
        typer.Option(help="Model spec for the advisory model-graded check (never decides)."),
    ] = None,
) -> None:
    """Run the golden cases; exit 1 on a regression against the baseline."""
    if ctx.invoked_subcommand is not None:
        return
    if record and replay:
        raise ConfigError("choose one of --record and --replay")
    mode: Mode = "record" if record else "replay" if replay else "live"
    config = EvalConfig(
        settings=settings(),
        cases_dir=cases_dir,
        agents_dir=agents_dir,
        policy_file=policy,
        recordings_dir=recordings,
        mode=mode,
        repeat=repeat,
        only=tuple(case or ()),
        grader=make_chat_model(grader) if grader else None,
        invoice_processor=process_invoice,
    )
    with tempfile.TemporaryDirectory(prefix="tethra-eval-") as work:
        report = run_suite(config, Path(work))
    json_path, md_path = report.write(out)
    _table(report)
    console.print(f"[dim]{report.tags()}[/]")
    console.print(f"reports: {json_path} {md_path}")
    known = Baseline.read(baseline)
    if known is None:
        console.print(f"[yellow]no baseline at {baseline}[/]: run `tethra eval promote`")
        raise typer.Exit(0 if report.passed == len(report.cases) else 1)
    result = compare(known, report, selected=set(case) if case else None)
    for line in [*result.fixed, *result.new, *result.still_failing]:
        console.print(line)
    if not result.ok:
        for line in result.regressions:
            console.print(f"[red]{line}[/]")
        raise typer.Exit(1)
    console.print(f"[green]no regression[/] against {baseline}")


def _table(report: SuiteReport) -> None:
    width = max((len(c.id) for c in report.cases), default=4)
    console.print(f"{'case':<{width}}  {'status':<17}  rate  outcome")
    for c in report.cases:
        style = _STYLE[c.status]
        console.print(
            f"{c.id:<{width}}  [{style}]{c.status:<17}[/]  {c.passes}/{c.runs}  {c.outcome or '-'}"
        )
        if c.advisory is not None:
            console.print(f"{'':<{width}}  advisory ({c.advisory.verdict}): {c.advisory.note}")
    console.print(f"{report.passed}/{len(report.cases)} cases pass")


@app.command()
def promote(
    report: Annotated[Path, typer.Option(help="The report to promote.")] = DEFAULT_OUT
    / "report.json",
    baseline: Annotated[Path, typer.Option(help="The baseline file to write.")] = BASELINE_FILE,
) -> None:
    """Make a report the new baseline (explicit: a run never changes the baseline)."""
    suite = SuiteReport.read(report)
    Baseline.of(suite).write(baseline)
    console.print(
        f"baseline {baseline} now holds {len(suite.cases)} cases "
        f"({suite.passed} passing) from {suite.tags()}"
    )
