"""Case files fail loudly when broken; checks say expected vs observed; the model-graded
check is shown but never decides."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.messages import AIMessage

from agents.models.scripted import ScriptedChatModel
from evals.checks import check
from evals.observe import Observation, ObservedCall
from evals.runner import EvalConfig, run_suite
from evals.schema import Case, load_cases
from foundation.errors import ConfigError
from foundation.settings import Settings

CASE = """
cases:
  - id: refund-small
    description: a small refund
    input: {chat: ["refund $40 on order 1043"]}
    expect:
      calls:
        - {tool: refund_order, args: {order_id: 1043, amount: {ge: 10, lt: 100}}, tier: allow}
      outcome: executed
      answer: ["Refunded 40.00"]
    grade: The answer confirms the amount.
"""


def write(folder: Path, text: str, name: str = "cases.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder


def one_case(tmp_path: Path, text: str = CASE) -> Case:
    [case] = load_cases(write(tmp_path / "cases", text))
    return case


def test_a_broken_case_file_names_the_file_and_the_field(tmp_path: Path) -> None:
    folder = write(tmp_path / "c", CASE.replace("{ge: 10, lt: 100}", "{between: [1, 2]}"))
    with pytest.raises(ConfigError, match=r"cases\.yaml.*unknown operator\(s\) between"):
        load_cases(folder)
    folder = write(tmp_path / "d", CASE.replace("outcome: executed", "outcome: sort-of"))
    with pytest.raises(ConfigError, match=r"expect\.outcome"):
        load_cases(folder)
    both = CASE.replace('input: {chat: ["refund $40 on order 1043"]}', "input: {}")
    with pytest.raises(ConfigError, match="exactly one of chat"):
        load_cases(write(tmp_path / "e", both))
    write(tmp_path / "f", CASE, "a.yaml")
    with pytest.raises(ConfigError, match="case id 'refund-small' is also used"):
        load_cases(write(tmp_path / "f", CASE, "b.yaml"))


def test_an_invoice_case_with_held_reasons_is_accepted(tmp_path: Path) -> None:
    case = one_case(
        tmp_path,
        """
cases:
  - id: invoice-price-mismatch
    description: the unit price differs from the purchase order
    input: {invoice: {invoice_number: ACME-9, po_number: PO-1, total: "120.00"}}
    expect: {outcome: held, held: [price-mismatch]}
""",
    )
    seen = Observation(invoice_outcome="held", held=("quantity-mismatch",))
    [failure] = check(case, seen)
    assert failure.check == "held"
    assert failure.expected == "held for price-mismatch"
    assert failure.observed == "quantity-mismatch"
    assert check(case, Observation(invoice_outcome="held", held=("price-mismatch",))) == []


def test_checks_report_expected_against_observed(tmp_path: Path) -> None:
    case = one_case(tmp_path)
    good = Observation(
        calls=[
            ObservedCall(
                "refund_order", {"order_id": 1043, "amount": 40.0}, "allow", "r", "succeeded"
            )
        ],
        answer="Refunded   40.00 on order 1043",
    )
    assert check(case, good) == []
    bad = Observation(
        calls=[
            ObservedCall(
                "refund_order", {"order_id": 1043, "amount": 400.0}, "review", "r", "pending"
            )
        ],
        answer="It waits.",
    )
    failures = {f.check: f for f in check(case, bad)}
    assert (
        "args.amount {'ge': 10, 'lt': 100} (got 400.0)"
        in failures["calls[0] refund_order"].observed
    )
    assert "tier allow (got review)" in failures["calls[0] refund_order"].observed
    assert (failures["outcome"].expected, failures["outcome"].observed) == ("executed", "review")
    assert failures["answer"].expected == "states 'Refunded 40.00'"
    nothing = {f.check for f in check(case, Observation())}
    assert nothing == {"calls[0] refund_order", "outcome", "answer"}


def test_the_model_graded_check_is_advisory_and_never_decides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TETHRA_MODEL", "offline")
    folder = write(tmp_path / "cases", CASE)
    grader = ScriptedChatModel([AIMessage("FAIL: the tone is curt.")])
    config = EvalConfig(settings=Settings(model="offline"), cases_dir=folder, grader=grader)
    [case] = run_suite(config, tmp_path / "work").cases
    assert case.status == "pass"  # the deterministic checks decided
    assert case.advisory is not None
    assert (case.advisory.verdict, case.advisory.note) == ("fail", "FAIL: the tone is curt.")
    assert "Rubric: The answer confirms the amount." in grader.calls[0][1].text

    failing = write(tmp_path / "failing", CASE.replace("Refunded 40.00", "Refunded 41.00"))
    grader = ScriptedChatModel([AIMessage("PASS looks right")])
    config = EvalConfig(settings=Settings(model="offline"), cases_dir=failing, grader=grader)
    [case] = run_suite(config, tmp_path / "work2").cases
    assert case.status == "fail"
    assert case.advisory is not None
    assert case.advisory.verdict == "pass"


def test_an_invoice_case_without_the_invoice_workflow_is_an_error_not_a_pass(
    tmp_path: Path,
) -> None:
    folder = write(
        tmp_path / "cases",
        """
cases:
  - id: invoice-held
    description: needs the invoice workflow
    input: {invoice: {invoice_number: X-1}}
    expect: {outcome: held, held: [no-po]}
""",
    )
    [case] = run_suite(
        EvalConfig(settings=Settings(model="offline"), cases_dir=folder), tmp_path / "w"
    ).cases
    assert case.status == "error"
    assert "invoice" in case.message
