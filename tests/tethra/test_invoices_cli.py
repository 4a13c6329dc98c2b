"""`tethra invoices`: generate a folder, process it, decide a hold, spot-check, report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlmodel import Session, select

from approvals.holds import decide_hold, get_hold
from foundation.db import create_db_engine
from graph.records import Run
from tests.cli_demo import demo_db, tethra

__all__ = ["demo_db"]


def test_a_batch_from_a_folder_to_a_released_hold(
    demo_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TETHRA_SPOT_CHECK_SHARE", "0.5")
    folder = tmp_path / "inbox"
    made = tethra("invoices", "generate", str(folder), "-n", "20", "--seed", "3")
    assert made.exit_code == 0, made.output
    labels = json.loads((folder / "ground-truth.labels").read_text())
    seeded = {name: kind for name, kind in labels.items() if kind}
    assert len(seeded) == 3
    (folder / "broken.json").write_text("{not json")

    done = tethra("invoices", "process", str(folder), "--as", "olivia")
    assert done.exit_code == 0, done.output
    assert re.search(r"filed automatically[\s│]+17\b", done.output), done.output
    assert re.search(r"held for a person[\s│]+3\b", done.output)
    for kind in seeded.values():
        assert kind in done.output
    assert "amount at stake on hold" in done.output
    assert re.search(r"person-hours saved \(6 min/invoice\)[\s│]+1\.7", done.output)
    assert "broken.json" in done.output  # failed, named, and the batch went on

    listed = tethra("invoices", "holds", "list")
    hold_ids = re.findall(r"(hld_[0-9a-f]+)", listed.output)
    assert len(hold_ids) == 3
    shown = tethra("invoices", "holds", "show", hold_ids[0])
    assert "expected" in shown.output
    assert "found" in shown.output

    engine = create_db_engine(demo_db)
    with Session(engine) as session:
        runs = [session.get(Run, get_hold(session, h).run_id) for h in hold_ids]
    assert {(r.status, r.workflow) for r in runs if r} == {("waiting", "invoices")}
    # Decided where nothing continues the run (its process went away): the next command
    # that opens the workflow drives it on.
    decide_hold(engine, hold_ids[1], person="erin", action="reject", note="not ours")

    own = tethra("invoices", "holds", "release", hold_ids[0], "--as", "olivia", "-r", "ok")
    assert own.exit_code != 0
    released = tethra("invoices", "holds", "release", hold_ids[0], "--as", "adam", "-r", "ok")
    assert released.exit_code == 0, released.output
    assert "invoice is now" in released.output
    with Session(engine) as session:
        recovered = session.get(Run, get_hold(session, hold_ids[1]).run_id)
        assert recovered is not None
        assert recovered.status == "completed"
        assert session.exec(select(Run).where(Run.status == "running")).all() == []
    engine.dispose()

    queue = tethra("invoices", "spot-checks", "list")
    spots = re.findall(r"(spc_[0-9a-f]+)", queue.output)
    assert spots
    marked = tethra(
        "invoices", "spot-checks", "mark", spots[0], "wrong", "--as", "erin", "--note", "x"
    )
    assert marked.exit_code == 0, marked.output
    report = tethra("invoices", "report")
    assert "reviewed 1; wrong 1" in report.output
    assert "observed error rate 100.0%" in report.output
