"""Appending: contiguous seqs, atomic with the caller's transaction, safe under concurrency."""

from __future__ import annotations

import itertools
import threading
from decimal import Decimal

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from audit import record, record_now, verify_chain
from audit.models import GENESIS_HASH, AuditChainHead, AuditEvent
from foundation.db import session_scope
from foundation.errors import InvalidInput
from tests.audit.helpers import append


def _seqs(engine: Engine) -> list[int]:
    with Session(engine) as session:
        return list(session.exec(select(AuditEvent.seq).order_by(col(AuditEvent.seq))))


def test_appends_are_contiguous_and_chained(engine: Engine) -> None:
    records = append(engine, 20)

    assert [r.seq for r in records] == list(range(1, 21))
    assert records[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(records):
        assert after.prev_hash == before.hash
    assert len({r.id for r in records}) == 20
    report = verify_chain(engine, batch_size=7)  # several batches, one partial
    assert report.ok, report.problems
    assert report.checked == 20
    assert report.last_seq == 20
    assert report.last_hash == records[-1].hash
    with Session(engine) as session:
        head = session.get(AuditChainHead, 1)
    assert head is not None
    assert (head.last_seq, head.last_hash) == (20, records[-1].hash)


def test_empty_trail_verifies(engine: Engine) -> None:
    report = verify_chain(engine)
    assert report.ok
    assert report.checked == 0


def test_event_rolls_back_with_the_callers_transaction(engine: Engine) -> None:
    first = record_now(engine, kind="run_started", actor="alice", data={}, run_id="run_a")

    def change_that_fails() -> None:
        with session_scope(engine) as session:
            record(session, kind="user_message", actor="alice", data={"text": "hi"}, run_id="run_a")
            raise RuntimeError("the state change failed")

    with pytest.raises(RuntimeError):
        change_that_fails()

    after = record_now(engine, kind="run_failed", actor="system", data={}, run_id="run_a")
    assert _seqs(engine) == [1, 2]
    assert after.prev_hash == first.hash
    assert verify_chain(engine).ok


def test_data_is_stored_exactly_as_hashed(engine: Engine) -> None:
    rec = record_now(
        engine,
        kind="tool_proposed",
        actor="finance",
        data={"tool": "refund_order", "args": {"amount": Decimal("150.50"), "ids": (1, 2)}},
    )

    assert rec.data == {"tool": "refund_order", "args": {"amount": "150.50", "ids": [1, 2]}}
    with Session(engine) as session:
        stored = session.exec(select(AuditEvent).where(AuditEvent.seq == rec.seq)).one()
    assert stored.data == rec.data
    assert stored.ts == rec.ts
    assert verify_chain(engine).ok


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "made_up", "actor": "x", "data": {}}, "unknown audit event kind"),
        ({"kind": "error", "actor": "", "data": {}}, "actor"),
        ({"kind": "error", "actor": "x", "data": {"v": float("nan")}}, "JSON"),
        ({"kind": "error", "actor": "x", "data": {"v": object()}}, "JSON"),
        ({"kind": "error", "actor": "x", "data": {}, "run_id": "r" * 65}, "run_id"),
    ],
)
def test_rejects_bad_events(engine: Engine, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        record_now(engine, **kwargs)  # type: ignore[arg-type]
    assert _seqs(engine) == []


def test_concurrent_appenders_get_one_contiguous_chain(engine: Engine) -> None:
    """4 writers x 25 events, starting together on an empty trail (racing to create the head)."""
    threads, per_thread = 4, 25
    barrier = threading.Barrier(threads)
    seen: dict[int, list[int]] = {}
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            barrier.wait()
            seqs = []
            for i in range(per_thread):
                with session_scope(engine) as session:
                    rec = record(session, kind="agent_message", actor=f"agent{n}", data={"i": i})
                seqs.append(rec.seq)
            seen[n] = seqs
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=120)

    assert not errors, errors
    assert _seqs(engine) == list(range(1, threads * per_thread + 1))
    for seqs in seen.values():  # each writer's events are in its own order
        assert seqs == sorted(seqs)
    report = verify_chain(engine)
    assert report.ok, report.problems
    assert report.checked == threads * per_thread


def test_several_events_in_one_transaction(engine: Engine) -> None:
    with session_scope(engine) as session:
        recs = [
            record(session, kind="check_result", actor="system", data={"passed": True, "n": n})
            for n in range(3)
        ]
    assert [r.seq for r in recs] == [1, 2, 3]
    assert verify_chain(engine).ok


def test_verify_while_appending_reports_no_false_alarm(engine: Engine) -> None:
    """Appends committed during a verification are not mistaken for a truncated tail."""
    done = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for i in range(150):
                record_now(engine, kind="agent_message", actor="ops", data={"i": i})
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    reports = []
    while not done.is_set():
        reports.append(verify_chain(engine, batch_size=4))
    thread.join(timeout=120)

    assert not errors, errors
    assert reports
    assert all(r.ok for r in reports), [r.problems for r in reports if not r.ok]
    assert verify_chain(engine).checked == 150
