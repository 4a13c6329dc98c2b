"""What a fault test reports: counts read back from SQL for one batch of calls.

A batch's refs are ``<batch>-<n>``, its threads ``th-<ref>``: one run per thread, one
``pay_vendor`` call per run, one payment row per business effect (``fault_payments``,
see ``tests.faults.app``). The bad counts must be zero; every test prints all of them
and puts them in its assertion message.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text

from foundation.db import create_db_engine
from graph.records import EXECUTED_CALL_STATUSES, TERMINAL_RUN_STATUSES
from graph.runtime import Runtime

EXECUTED = {s.value for s in EXECUTED_CALL_STATUSES}
TERMINAL = {s.value for s in TERMINAL_RUN_STATUSES}


@dataclass(frozen=True)
class Counts:
    requested: int
    """Approval requests (one per call)."""
    approved: int
    executed: int
    """Calls with a business effect (a payment row)."""
    adapter_runs: dict[int, int]
    """Adapter runs per call -> how many calls (an idempotent adapter may run twice with
    one key after a crash between the adapter and the record; the effect counts once)."""
    executed_twice: int
    """Refs with more than one business effect."""
    not_executed: int
    """Approved calls without a business effect."""
    stranded: int
    """Approved calls with no outcome (succeeded, failed, in doubt) recorded."""
    missing_audit: int
    """Calls that ran (or say they did) without exactly one tool_executed/tool_failed."""
    decisions_not_once: int
    """Approved requests without exactly one approval_decision event (an API that died
    mid-decision and a retry must not record it twice)."""
    wrong_runs: int
    """Runs not in the state that matches what happened: completed once the call has an
    outcome, waiting while its approval is pending."""
    outcomes: dict[str, int] = field(default_factory=dict)
    call_states: dict[str, int] = field(default_factory=dict)
    run_states: dict[str, int] = field(default_factory=dict)
    run_errors: list[str] = field(default_factory=list)
    """The reasons of runs in a wrong state (a few)."""

    @property
    def bad(self) -> dict[str, int]:
        return {
            "executed twice": self.executed_twice,
            "approved, never executed": self.not_executed,
            "stranded": self.stranded,
            "missing audit events": self.missing_audit,
            "decisions not recorded once": self.decisions_not_once,
            "runs in a wrong state": self.wrong_runs,
        }

    @property
    def settled(self) -> bool:
        """Every approved call has an outcome and every run is terminal."""
        terminal = all(state in TERMINAL for state in self.run_states)
        return self.approved > 0 and self.stranded == 0 and terminal

    def __str__(self) -> str:
        runs = ", ".join(f"{k}: {v}" for k, v in sorted(self.adapter_runs.items()))
        return (
            f"requested {self.requested}, approved {self.approved}, executed {self.executed}, "
            f"adapter runs per call {{{runs}}}, executed twice {self.executed_twice}, "
            f"approved but never executed {self.not_executed}, stranded {self.stranded}, "
            f"missing audit events {self.missing_audit}, decisions not recorded once "
            f"{self.decisions_not_once}, runs in a wrong state "
            f"{self.wrong_runs}; outcomes {self.outcomes}, calls {self.call_states}, "
            f"runs {self.run_states}"
            + (f"; wrong runs' reasons {self.run_errors}" if self.run_errors else "")
        )


def count(db_url: str, batch: str) -> Counts:
    threads = f"th-{batch}-%"
    engine = create_db_engine(db_url)
    try:
        with engine.connect() as conn:
            requests = conn.execute(
                text(
                    "SELECT thread_id, status, outcome, id FROM approval_requests "
                    "WHERE thread_id LIKE :t"
                ),
                {"t": threads},
            ).all()
            calls = conn.execute(
                text(
                    "SELECT thread_id, tool_call_id, status FROM tool_calls WHERE thread_id LIKE :t"
                ),
                {"t": threads},
            ).all()
            runs = conn.execute(
                text("SELECT thread_id, status, error FROM runs WHERE thread_id LIKE :t"),
                {"t": threads},
            ).all()
            events = conn.execute(
                text(
                    "SELECT thread_id, data FROM audit_events WHERE thread_id LIKE :t "
                    "AND kind IN ('tool_executed', 'tool_failed')"
                ),
                {"t": threads},
            ).all()
            decisions = conn.execute(
                text(
                    "SELECT data FROM audit_events WHERE thread_id LIKE :t "
                    "AND kind = 'approval_decision'"
                ),
                {"t": threads},
            ).all()
            paid = conn.execute(
                text(
                    "SELECT ref, count(*), sum(invocations) FROM fault_payments "
                    "WHERE ref LIKE :r GROUP BY ref"
                ),
                {"r": f"{batch}-%"},
            ).all()
    finally:
        engine.dispose()
    effects = {str(r[0]): (int(r[1]), int(r[2])) for r in paid}
    approved = {str(r[0]) for r in requests if r[1] == "approved"}
    effected = {f"th-{ref}" for ref in effects}
    call_status = {str(c[0]): str(c[2]) for c in calls}
    per_call = Counter((str(e[0]), str((e[1] or {}).get("tool_call_id"))) for e in events)
    ran = {str(c[0]): str(c[1]) for c in calls if str(c[2]) in EXECUTED or c[0] in effected}
    for thread in effected - set(ran):  # an effect without a call record: count it too
        ran[thread] = "?"
    missing = sum(1 for thread, call_id in ran.items() if per_call[(thread, call_id)] != 1)
    decided = Counter(str((d[0] or {}).get("approval_id")) for d in decisions)
    approved_ids = [str(r[3]) for r in requests if r[1] == "approved"]
    wrong: list[tuple[str, str | None]] = []
    for thread, status, error in runs:
        call = call_status.get(str(thread))
        expected = "completed" if call in EXECUTED else "waiting"
        if status != expected:
            wrong.append((str(status), error))
    return Counts(
        requested=len(requests),
        approved=len(approved),
        executed=len(effects),
        adapter_runs=dict(Counter(invocations for _, invocations in effects.values())),
        executed_twice=sum(1 for rows, _ in effects.values() if rows > 1),
        not_executed=len(approved - effected),
        stranded=sum(1 for r in requests if r[1] == "approved" and r[2] is None),
        missing_audit=missing,
        decisions_not_once=sum(1 for a in approved_ids if decided[a] != 1),
        wrong_runs=len(wrong),
        outcomes=dict(Counter(str(r[2]) for r in requests)),
        call_states=dict(Counter(call_status.values())),
        run_states=dict(Counter(str(r[1]) for r in runs)),
        run_errors=[f"{s}: {(e or '')[:160]}" for s, e in wrong[:5]],
    )


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    what: str,
    counts: Callable[[], object] = lambda: "",
) -> None:
    """Generous timeouts: speed belongs in bench/. A timeout says where things stood."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; {counts()}")


def wait_settled(db_url: str, batch: str, timeout: float, what: str) -> Counts:
    """Wait until every approved call has an outcome and every run ended; the counts."""
    latest: list[Counts] = []

    def settled() -> bool:
        latest[:] = [count(db_url, batch)]
        return latest[0].settled

    wait_until(settled, timeout, what, lambda: latest[0] if latest else "no counts yet")
    return latest[0]


def report(name: str, counts: Counts) -> None:
    print(f"\n{name}: {counts}")


class WrongRunStates(AssertionError):
    """Every call is right, but runs ended in a state that does not match what happened
    (a test expecting only that may say ``xfail(raises=WrongRunStates)``)."""


def assert_clean(name: str, counts: Counts, calls: int) -> None:
    """Nothing bad happened to ``calls`` approved calls; runs in a wrong state are
    checked last, on their own (``WrongRunStates``)."""
    report(name, counts)
    bad = {k: v for k, v in counts.bad.items() if v}
    assert (counts.requested, counts.approved) == (calls, calls), f"{name}: {counts}"
    runs = bad.pop("runs in a wrong state", 0)
    assert not bad, f"{name}: {bad}; {counts}"
    if runs:
        raise WrongRunStates(f"{name}: runs in a wrong state {runs}; {counts}")


def one_waiting(rt: Runtime, ref: str) -> str:
    """Start a run whose call waits for approval; its approval id."""
    out = rt.start_run(f"th-{ref}", "olivia", f"pay {ref} 250")
    assert out.status == "waiting", out
    return str(out.pending[0]["approval_id"])


def process_state(pid: int) -> str:
    """The state letter of ``/proc/<pid>/stat`` (T: stopped), "" if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[0]
