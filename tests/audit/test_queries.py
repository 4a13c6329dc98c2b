"""Reading the trail back: per run, filtered search with a seq cursor, runs of a thread."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from audit import events_for_run, record_now, run_ids_for_thread, search_events
from audit.events import AuditRecord, EventKind
from foundation.errors import InvalidInput


def _seed(engine: Engine) -> list[AuditRecord]:
    plan: list[tuple[EventKind, str, str | None, str | None]] = [
        ("run_started", "alice", "run_b", "thr_1"),
        ("user_message", "alice", "run_b", "thr_1"),
        ("run_started", "bob", "run_a", "thr_2"),
        ("policy_decision", "system", "run_b", "thr_1"),
        ("policy_decision", "system", "run_a", "thr_2"),
        ("run_started", "alice", "run_c", "thr_1"),
        ("approval_decision", "carol", "run_b", "thr_1"),
        ("budget_warning", "system", None, None),
    ]
    return [
        record_now(engine, kind=k, actor=a, data={"i": i}, run_id=r, thread_id=t)
        for i, (k, a, r, t) in enumerate(plan)
    ]


def test_events_for_run_in_order(engine: Engine) -> None:
    _seed(engine)
    with Session(engine) as session:
        run_b = events_for_run(session, "run_b")
        assert [e.seq for e in run_b] == [1, 2, 4, 7]
        assert {e.run_id for e in run_b} == {"run_b"}
        assert events_for_run(session, "run_missing") == []


def test_search_filters(engine: Engine) -> None:
    seeded = _seed(engine)
    with Session(engine) as session:
        policy = search_events(session, kind="policy_decision")
        assert [e.seq for e in policy] == [4, 5]
        assert [e.seq for e in search_events(session, actor="alice")] == [1, 2, 6]
        assert [e.seq for e in search_events(session, thread_id="thr_2")] == [3, 5]
        both = search_events(session, kind="policy_decision", run_id="run_a")
        assert [e.seq for e in both] == [5]
        since = search_events(session, since=seeded[5].ts)
        assert [e.seq for e in since] == [6, 7, 8]
        until = search_events(session, until=seeded[2].ts)
        assert [e.seq for e in until] == [1, 2]
        window = search_events(session, since=seeded[2].ts, until=seeded[4].ts, actor="bob")
        assert [e.seq for e in window] == [3]
        assert search_events(session, since=seeded[-1].ts + timedelta(seconds=1)) == []
    assert policy[0] == seeded[3]


def test_search_paginates_by_seq_cursor(engine: Engine) -> None:
    _seed(engine)
    pages: list[list[int]] = []
    cursor: int | None = None
    with Session(engine) as session:
        while True:
            page = search_events(session, after_seq=cursor, limit=3)
            pages.append([e.seq for e in page])
            if len(page) < 3:
                break
            cursor = page[-1].seq
    assert pages == [[1, 2, 3], [4, 5, 6], [7, 8]]


@pytest.mark.parametrize(
    "kwargs",
    [{"limit": 0}, {"limit": 1001}, {"since": datetime(2024, 1, 1)}],
)
def test_search_rejects_bad_arguments(engine: Engine, kwargs: dict[str, object]) -> None:
    with Session(engine) as session, pytest.raises(InvalidInput):
        search_events(session, **kwargs)  # type: ignore[arg-type]


def test_run_ids_for_thread_in_first_seen_order(engine: Engine) -> None:
    _seed(engine)
    with Session(engine) as session:
        assert run_ids_for_thread(session, "thr_1") == ["run_b", "run_c"]
        assert run_ids_for_thread(session, "thr_2") == ["run_a"]
        assert run_ids_for_thread(session, "thr_none") == []
