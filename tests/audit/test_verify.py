"""Tampering of every kind is found and the report names the seq where the chain breaks."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from audit import verify_chain
from audit.trail import event_hash
from tests.audit.helpers import EVENTS, HEAD, append, json_param, raw_row, raw_sql, raw_update


def _problems_naming(engine: Engine, seq: int) -> list[str]:
    report = verify_chain(engine)
    assert not report.ok
    assert report.problems
    return [p for p in report.problems if p.startswith(f"seq {seq}:")]


def test_changed_data_via_raw_sql(engine: Engine) -> None:
    append(engine, 5)
    raw_sql(
        engine,
        f"UPDATE audit_events SET data = {json_param(engine)} WHERE seq = 3",
        d='{"tool": "refund_order", "result": {"n": 999}, "latency_ms": 2}',
    )
    assert any("altered" in p for p in _problems_naming(engine, 3))


def test_changed_fields_are_each_detected(engine: Engine) -> None:
    records = append(engine, 4)
    original = raw_row(engine, 2)
    changes = {
        "actor": "someone_else",
        "kind": "tool_denied",
        "run_id": "run_other",
        "thread_id": None,
        "ts": original["ts"].replace(microsecond=(original["ts"].microsecond + 1) % 1_000_000),
        "id": "evt_forged",
        "hash": records[1].hash[::-1],
        "prev_hash": records[1].hash,
    }
    for column, value in changes.items():
        raw_update(engine, 2, **{column: value})
        assert _problems_naming(engine, 2), column
        raw_update(engine, 2, **{column: original[column]})
        assert verify_chain(engine).ok, column


def test_deleted_middle_event(engine: Engine) -> None:
    append(engine, 5)
    raw_sql(engine, "DELETE FROM audit_events WHERE seq = 3")

    assert any("missing" in p for p in _problems_naming(engine, 3))
    assert any("prev_hash" in p for p in _problems_naming(engine, 4))


def test_deleted_first_event(engine: Engine) -> None:
    append(engine, 3)
    raw_sql(engine, "DELETE FROM audit_events WHERE seq = 1")
    assert any("missing" in p for p in _problems_naming(engine, 1))


def test_truncated_tail(engine: Engine) -> None:
    append(engine, 5)
    raw_sql(engine, "DELETE FROM audit_events WHERE seq >= 4")

    report = verify_chain(engine)
    assert not report.ok
    assert report.checked == 3
    assert any(p.startswith("seq 4:") and "truncated" in p for p in report.problems)


def test_replaced_tail_with_matching_seq(engine: Engine) -> None:
    """Drop the last event and forge a consistent replacement, but leave the head alone."""
    records = append(engine, 3)
    forged = raw_row(engine, 3)
    forged["data"] = {"tool": "refund_order", "result": "forged", "latency_ms": 0}
    forged["hash"] = event_hash(**{k: v for k, v in forged.items() if k != "hash"})
    raw_sql(engine, "DELETE FROM audit_events WHERE seq = 3")
    with engine.begin() as conn:
        conn.execute(EVENTS.insert().values(**forged))

    assert forged["hash"] != records[2].hash
    assert any("head" in p for p in _problems_naming(engine, 3))


def test_forged_event_appended_with_valid_looking_hash(engine: Engine) -> None:
    records = append(engine, 3)
    forged = raw_row(engine, 3)
    forged.update(seq=4, id="evt_forged", prev_hash=records[2].hash, data={"tool": "wire"})
    forged["hash"] = event_hash(**{k: v for k, v in forged.items() if k != "hash"})
    with engine.begin() as conn:
        conn.execute(EVENTS.insert().values(**forged))

    assert any("beyond the chain head" in p for p in _problems_naming(engine, 4))


def test_forged_event_inserted_mid_chain(engine: Engine) -> None:
    """Renumber the tail, slip a perfectly hashed event in at seq 3, even fix the head."""
    records = append(engine, 5)
    for seq in range(5, 2, -1):  # one row at a time so the primary key never collides
        raw_update(engine, seq, seq=seq + 1)
    forged = raw_row(engine, 2)
    forged.update(seq=3, id="evt_forged", prev_hash=records[1].hash, data={"tool": "wire"})
    forged["hash"] = event_hash(**{k: v for k, v in forged.items() if k != "hash"})
    with engine.begin() as conn:
        conn.execute(EVENTS.insert().values(**forged))
        conn.execute(HEAD.update().values(last_seq=6))

    assert not _problems_naming(engine, 3)  # the forgery itself links correctly...
    problems = _problems_naming(engine, 4)  # ...but the event after it does not
    assert any("prev_hash" in p for p in problems)
    assert any("altered" in p for p in problems)


def test_swapped_events(engine: Engine) -> None:
    append(engine, 5)
    two, four = raw_row(engine, 2), raw_row(engine, 4)
    raw_update(engine, 2, id="evt_tmp")
    raw_update(engine, 4, **{k: v for k, v in two.items() if k != "seq"})
    raw_update(engine, 2, **{k: v for k, v in four.items() if k != "seq"})

    for seq in (2, 3, 4, 5):
        assert _problems_naming(engine, seq), seq


def test_swapped_data_only(engine: Engine) -> None:
    append(engine, 3)
    one, three = raw_row(engine, 1), raw_row(engine, 3)
    raw_update(engine, 1, data=three["data"])
    raw_update(engine, 3, data=one["data"])

    assert _problems_naming(engine, 1)
    assert _problems_naming(engine, 3)
    assert not _problems_naming(engine, 2)


def test_missing_head_row(engine: Engine) -> None:
    append(engine, 2)
    raw_sql(engine, "DELETE FROM audit_chain_head")
    assert any("head row is missing" in p for p in _problems_naming(engine, 2))


def test_problem_list_is_capped(engine: Engine) -> None:
    append(engine, 6)
    raw_sql(engine, "UPDATE audit_events SET actor = 'x'")
    report = verify_chain(engine, max_problems=2, batch_size=2)
    assert not report.ok
    assert report.checked == 6
    assert len(report.problems) == 3
    assert report.problems[-1].startswith("... and 4 more")
