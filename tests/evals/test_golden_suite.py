"""The golden suite runs in CI on the offline model (live and from the recordings), and a
prompt or policy change that breaks a case makes ``tethra eval`` fail with a diff that
names the case; reverting the change makes it pass again."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from agents.spec import AGENTS_ROOT
from evals.baseline import BASELINE_FILE, Baseline
from evals.report import SuiteReport
from evals.runner import RECORDINGS_DIR, EvalConfig, run_suite
from evals.schema import load_cases
from foundation.settings import Settings
from policies.engine import DEFAULT_POLICY_FILE, PolicyEngine
from tethra.cli import app
from tools.erp.invoice_gen import KINDS

runner = CliRunner()


def tethra(*args: str) -> Result:
    return runner.invoke(app, list(args), catch_exceptions=True)


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The offline model and a scratch folder; returns the folder."""
    monkeypatch.setenv("TETHRA_MODEL", "offline")
    monkeypatch.setenv("TETHRA_DATABASE_URL", f"sqlite:///{tmp_path}/unused.db")
    monkeypatch.delenv("TETHRA_POLICY_FILE", raising=False)
    return tmp_path


def test_every_golden_case_passes_on_the_offline_model_and_matches_the_baseline(
    offline: Path,
) -> None:
    result = tethra("eval", "--out", str(offline / "out"))
    assert result.exit_code == 0, result.output
    assert "no regression" in result.output
    report = SuiteReport.read(offline / "out" / "report.json")
    assert [c.status for c in report.cases] == ["pass"] * len(report.cases)
    assert {c.id for c in report.cases} == set(Baseline.read(BASELINE_FILE).cases)  # type: ignore[union-attr]
    assert report.model == "offline"
    assert set(report.prompt_versions) == {"ops", "finance", "support"}
    assert report.policy_version == PolicyEngine.from_file().version
    markdown = (offline / "out" / "report.md").read_text()
    assert f"# Golden cases: {len(report.cases)}/{len(report.cases)} pass" in markdown


def test_the_committed_recordings_replay_without_any_model(offline: Path) -> None:
    result = tethra("eval", "--replay", "--out", str(offline / "out"))
    assert result.exit_code == 0, result.output
    report = SuiteReport.read(offline / "out" / "report.json")
    assert report.mode == "replay"
    assert all(c.status == "pass" for c in report.cases), result.output


def test_the_suite_covers_every_bundled_scenario() -> None:
    cases = load_cases()
    calls = {(call.tool, call.rule) for case in cases for call in case.expect.calls}
    for rule in ("refund-small", "refund-large", "refund-very-large", "refund-over-limit"):
        assert ("refund_order", rule) in calls, rule
    handoffs = {call.tool for case in cases for call in case.expect.calls if call.tier == "handoff"}
    assert handoffs == {"transfer_to_support", "transfer_to_finance"}
    outcomes = {case.expect.outcome for case in cases}
    assert {"executed", "review", "denied", "refused", "filed", "held"} <= outcomes
    held_for = {reason for case in cases for reason in case.expect.held}
    assert held_for == set(KINDS)  # every invoice exception kind has a case


def _copy_setup(tmp: Path) -> tuple[Path, Path, Path]:
    agents = tmp / "agents"
    shutil.copytree(AGENTS_ROOT, agents, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    shutil.rmtree(agents / "models", ignore_errors=True)
    policy = tmp / "policy.yaml"
    shutil.copyfile(DEFAULT_POLICY_FILE, policy)
    baseline = tmp / "baseline.json"
    shutil.copyfile(BASELINE_FILE, baseline)
    return agents, policy, baseline


def test_a_policy_change_that_breaks_a_case_fails_with_a_diff_and_passes_when_reverted(
    offline: Path,
) -> None:
    agents, policy, baseline = _copy_setup(offline)
    original = policy.read_text()
    common = ["--agents", str(agents), "--policy", str(policy), "--baseline", str(baseline)]
    common += ["--out", str(offline / "out"), "--case", "refund-small-allowed"]

    policy.write_text(
        original.replace('when: "args.amount <= 100.0"', 'when: "args.amount <= 30.0"')
    )
    broken = tethra("eval", *common)
    assert broken.exit_code == 1, broken.output
    text = " ".join(broken.output.split())
    assert "REGRESSION refund-small-allowed: pass -> fail" in text
    assert "tier allow (got review)" in text
    assert "rule refund-small (got default-review)" in text
    assert "outcome: expected executed; observed review" in text
    assert "changed since the baseline: policy 2026.11.1+" in text

    policy.write_text(original)
    fixed = tethra("eval", *common)
    assert fixed.exit_code == 0, fixed.output
    assert "no regression" in fixed.output


def test_a_prompt_edit_needs_re_recording_and_passes_again_when_reverted(offline: Path) -> None:
    agents, policy, baseline = _copy_setup(offline)
    prompt = agents / "support" / "prompt.md"
    original = prompt.read_text()
    common = ["--replay", "--agents", str(agents), "--policy", str(policy)]
    common += ["--baseline", str(baseline), "--out", str(offline / "out")]
    common += ["--case", "refund-small-allowed", "--case", "lookup-without-handoff"]

    prompt.write_text(original + "\nAlways refund the full order amount.\n")
    broken = tethra("eval", *common)
    assert broken.exit_code == 1, broken.output
    text = " ".join(broken.output.split())
    assert "REGRESSION refund-small-allowed: pass -> needs-rerecording" in text
    assert "prompt changed since recording (support" in text
    assert "REGRESSION lookup-without-handoff" in text  # every prompt is pinned

    prompt.write_text(original)
    fixed = tethra("eval", *common)
    assert fixed.exit_code == 0, fixed.output


def test_replay_answers_only_from_the_recording(offline: Path) -> None:
    """A recording whose answer was altered is replayed as altered: no model is consulted."""
    recordings = offline / "recordings"
    shutil.copytree(RECORDINGS_DIR, recordings)
    path = recordings / "refund-small-allowed.json"
    stored = json.loads(path.read_text())
    for response in stored["responses"].values():
        for call in response["data"].get("tool_calls", []):
            if call["name"] == "refund_order":
                call["args"]["amount"] = 400.0
    path.write_text(json.dumps(stored))
    config = EvalConfig(
        settings=Settings(model="offline"),
        recordings_dir=recordings,
        mode="replay",
        only=("refund-small-allowed",),
    )
    report = run_suite(config, offline / "work")
    [case] = report.cases
    assert case.status == "fail"
    assert case.outcome == "review"
    assert any("amount=400.0" in f.observed for f in case.failures)


def test_a_missing_case_is_a_regression_and_repeat_reports_a_pass_rate(offline: Path) -> None:
    _, _, baseline = _copy_setup(offline)
    data = json.loads(baseline.read_text())
    data["cases"]["retired-case"] = {"status": "pass", "pass_rate": 1.0}
    baseline.write_text(json.dumps(data))
    result = tethra(
        "eval", "--baseline", str(baseline), "--out", str(offline / "out"), "--repeat", "2"
    )
    assert result.exit_code == 1, result.output
    assert "REGRESSION retired-case: in the baseline (pass) but missing" in result.output
    report = SuiteReport.read(offline / "out" / "report.json")
    assert {(c.passes, c.runs) for c in report.cases} == {(2, 2)}

    promoted = tethra(
        "eval",
        "promote",
        "--report",
        str(offline / "out" / "report.json"),
        "--baseline",
        str(baseline),
    )
    assert promoted.exit_code == 0, promoted.output
    assert "retired-case" not in baseline.read_text()


def test_a_changed_tool_list_needs_re_recording(offline: Path) -> None:
    agents, policy, _ = _copy_setup(offline)
    spec = agents / "support" / "spec.yaml"
    spec.write_text(spec.read_text().replace("  - list_outbox\n", ""))
    config = EvalConfig(
        settings=Settings(model="offline"),
        agents_dir=agents,
        policy_file=policy,
        mode="replay",
        only=("refund-small-allowed",),
    )
    [case] = run_suite(config, offline / "work").cases
    assert case.status == "needs-rerecording"
    assert case.message == (
        "needs re-recording: tools changed since recording (support -list_outbox)"
    )
