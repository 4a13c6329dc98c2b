"""A spot-check round: sample auto-filed invoices, mark them, report the error rate."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from approvals.spot_checks import error_rate, list_spot_checks, mark, sampled
from foundation.errors import Conflict, Forbidden, InvalidInput
from tests.graph.ap_harness import invoices, open_ap


def test_sampling_takes_about_the_configured_share() -> None:
    runs = [f"run_{i:06d}" for i in range(4000)]
    share = sum(sampled(r, 0.05) for r in runs) / len(runs)
    assert 0.04 < share < 0.06
    assert [sampled(r, 0.05) for r in runs[:50]] == [sampled(r, 0.05) for r in runs[:50]]
    assert not any(sampled(r, 0.0) for r in runs)


def test_a_spot_check_round(engine: Engine, tmp_path: Path) -> None:
    with open_ap(engine, tmp_path, share=0.5) as wf:
        batch = invoices(engine, 12, seed=31)
        outcomes = [wf.process(g.invoice, fmt="json", requester="olivia") for g in batch]
    filed = [o for o in outcomes if o.status == "filed"]
    assert len(filed) == 12
    picked = [o.spot_check_id for o in filed if o.spot_check_id]
    assert 1 <= len(picked) < 12
    with Session(engine) as session:
        queue = list_spot_checks(session)
        before = error_rate(session)
    assert sorted(s.id for s in queue) == sorted(picked)
    assert (before.auto_filed, before.sampled, before.reviewed, before.rate) == (
        12,
        len(picked),
        0,
        None,
    )

    first, *rest = queue
    with pytest.raises(InvalidInput, match="what was wrong"):
        mark(engine, first.id, reviewer="adam", verdict="wrong")
    with pytest.raises(Forbidden):
        mark(engine, first.id, reviewer="aria", verdict="correct")
    mark(engine, first.id, reviewer="adam", verdict="wrong", note="freight billed twice")
    with pytest.raises(Conflict):
        mark(engine, first.id, reviewer="erin", verdict="correct")
    for spot in rest:
        mark(engine, spot.id, reviewer="erin", verdict="correct")
    with Session(engine) as session:
        report = error_rate(session)
        assert list_spot_checks(session) == []
    assert report.reviewed == len(picked)
    assert report.wrong == 1
    assert report.rate == pytest.approx(1 / len(picked))
    assert report.estimated_wrong == round(12 / len(picked), 1)
