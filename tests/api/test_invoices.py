"""The AP endpoints: upload one and many, decide holds, spot checks, the report."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from api.main import create_app
from approvals.bus import InProcessBus
from foundation.users import create_user
from graph.records import ToolCallRecord
from policies.engine import PolicyEngine
from tests.api.client import Api
from tests.api.conftest import FAST
from tests.graph.ap_harness import clean_invoice, invoices, open_ap

USERS = [("olivia", "operator"), ("adam", "approver"), ("erin", "approver"), ("aria", "auditor")]


@pytest.fixture
def api(engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.setenv("TETHRA_SPOT_CHECK_SHARE", "1.0")
    keys = {name: create_user(engine, name, role)[1] for name, role in USERS}
    with (
        open_ap(engine, tmp_path, with_people=False) as wf,
        TestClient(create_app(runtime=wf.runtime, options=FAST)) as client,
    ):
        yield Api(client, wf.runtime, keys)


def test_upload_one_clean_and_one_held(api: Api, engine: Engine) -> None:
    good = api.post(
        "/invoices", "olivia", json={"name": "a.json", "invoice": clean_invoice(engine, 51)}
    )
    assert good.status_code == 200, good.text
    assert good.json()["status"] == "filed"
    assert good.json()["spot_check_id"]  # share 1.0: every auto-filed invoice is sampled

    bad_doc = clean_invoice(engine, 52)
    bad_doc["po_number"] = "PO-NOPE"
    held = api.post("/invoices", "olivia", json={"invoice": bad_doc}).json()
    assert (held["status"], held["reasons"]) == ("held", ["missing_po"])
    assert held["findings"][0]["expected"] == "a purchase order on file with this number"

    page = api.get("/invoices/holds", "aria").json()
    assert [h["id"] for h in page["items"]] == [held["hold_id"]]
    assert api.get(f"/invoices/holds/{held['hold_id']}", "aria").json()["reasons"] == ["missing_po"]


def test_bad_uploads_are_4xx_and_change_nothing(api: Api) -> None:
    assert api.post("/invoices", "olivia", json={"format": "csv", "content": ""}).status_code == 422
    assert api.post("/invoices", "olivia", json={"content": "{nope"}).status_code == 422
    assert api.post("/invoices", "olivia", json={}).status_code == 422
    assert api.post("/invoices", "aria", json={"invoice": {}}).status_code == 403
    assert api.post("/invoices", None, json={"invoice": {}}).status_code == 401
    assert api.get("/invoices/holds", "aria").json()["items"] == []
    assert api.get("/invoices/holds/hld_nope", "aria").status_code == 404


def test_batch_then_release_correct_reject(api: Api, engine: Engine) -> None:
    batch = invoices(engine, 12, seed=61, share=0.25)
    body = {"items": [{"name": g.name, "invoice": g.invoice} for g in batch]}
    out = api.post("/invoices/batch", "olivia", json=body).json()
    assert out["filed_automatically"] == 9
    assert out["held"] == 3
    assert sum(out["held_by_reason"].values()) >= 3
    assert out["person_hours_saved"] == pytest.approx(0.9)
    held = [o for o in out["outcomes"] if o["status"] == "held"]
    assert sum(Decimal(v) for v in out["amount_at_stake"].values()) == sum(
        Decimal(o["amount_at_stake"]) for o in held
    )

    first, second, third = (o["hold_id"] for o in held)
    own = api.post(f"/invoices/holds/{first}/release", "olivia", json={"reason": "x"})
    assert own.status_code == 403
    no_reason = api.post(f"/invoices/holds/{first}/release", "adam", json={"reason": ""})
    assert no_reason.status_code == 422
    released = api.post(f"/invoices/holds/{first}/release", "adam", json={"reason": "agreed"})
    assert released.json()["status"] == "filed", released.text
    again = api.post(f"/invoices/holds/{first}/reject", "adam", json={"reason": "late"})
    assert again.status_code == 409

    corrected = api.post(
        f"/invoices/holds/{second}/correct", "adam", json={"values": {"total": "0"}}
    )
    assert corrected.json()["status"] == "held"  # re-checked: still wrong
    rejected = api.post(f"/invoices/holds/{third}/reject", "adam", json={"reason": "not ours"})
    assert rejected.json()["status"] == "rejected"


def test_spot_checks_and_the_report(api: Api, engine: Engine) -> None:
    api.post("/invoices", "olivia", json={"invoice": clean_invoice(engine, 71)})
    [spot] = api.get("/invoices/spot-checks", "aria").json()
    assert (
        api.post(
            f"/invoices/spot-checks/{spot['id']}", "aria", json={"verdict": "correct"}
        ).status_code
        == 403
    )
    done = api.post(f"/invoices/spot-checks/{spot['id']}", "adam", json={"verdict": "correct"})
    assert done.json()["status"] == "correct"
    report = api.get("/invoices/report", "aria").json()
    assert (report["auto_filed"], report["reviewed"], report["error_rate"]) == (1, 1, 0.0)


REVIEW_FILING = """
version: review-filing
rules:
  - {id: file-review, match: {tools: [file_invoice]}, tier: review,
     reason: This company has a person confirm every filing.}
"""


def test_a_filing_approval_decided_before_any_invoice_request_files_the_invoice(
    engine: Engine, tmp_path: Path
) -> None:
    """Without Redis the app's invoice workflow listens on the bus from start-up, not
    from the first ``/invoices`` request: the decision is the app's first request."""
    keys = {name: create_user(engine, name, role)[1] for name, role in USERS}
    policy = PolicyEngine.from_text(REVIEW_FILING)
    doc = clean_invoice(engine, 81)
    bus = InProcessBus()  # this harness's own workflow does not listen on it
    with open_ap(engine, tmp_path, with_people=False, policy=policy, bus=bus) as wf:
        waiting = wf.process(doc, fmt="json", requester="olivia")  # e.g. from the CLI
        assert waiting.status == "waiting"
        with Session(engine) as session:
            [rec] = session.exec(
                select(ToolCallRecord).where(ToolCallRecord.run_id == waiting.run_id)
            )
        with TestClient(create_app(runtime=wf.runtime, options=FAST)) as client:
            api = Api(client, wf.runtime, keys)
            url = f"/approvals/{rec.approval_id}/decision"
            assert api.post(url, "adam", json={"action": "approve"}).status_code == 200
            deadline = time.monotonic() + 10
            while wf.runtime.run(waiting.run_id).status != "completed":
                assert time.monotonic() < deadline, wf.runtime.run(waiting.run_id)
                time.sleep(0.05)
