"""The optional model-graded check: a second opinion on the answer, advisory only.

A grader model can judge things a substring cannot (tone, whether the answer is
misleading), but it drifts like any model, so its verdict is shown next to the
deterministic result and never changes a case's status.
"""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from evals.report import Advisory

INSTRUCTIONS = (
    "You grade an operations agent's final answer against a rubric. Reply with PASS or "
    "FAIL as the first word, then one sentence saying why."
)


def grade(model: BaseChatModel, rubric: str, request: str, answer: str) -> Advisory:
    prompt = f"Rubric: {rubric}\n\nOperator's request: {request}\n\nAgent's answer: {answer}"
    try:
        reply = model.invoke([SystemMessage(INSTRUCTIONS), HumanMessage(prompt)])
    except Exception as exc:  # advisory: a grader failure is reported, never raised
        return Advisory(verdict="unclear", note=f"grader failed: {type(exc).__name__}: {exc}")
    text = " ".join(str(reply.content).split())
    first = text.split(" ", 1)[0].strip(".:,!").upper() if text else ""
    verdict = {"PASS": "pass", "FAIL": "fail"}.get(first, "unclear")
    return Advisory(verdict=verdict, note=text[:300] or "(empty reply)")
