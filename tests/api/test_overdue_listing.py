"""A pending request past its deadline is shown as expired at once, not as pending until
a worker sweeps it (issue 14): deciding it is refused, so listing it as pending misleads
the approver."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from sqlmodel import Session

from approvals.models import ApprovalRequest
from approvals.service import expire_overdue, get_request
from foundation.db import session_scope, utcnow
from tests.api.client import Api
from tests.api.conftest import OpenApi
from tests.api.test_metrics import scrape
from tests.approvals.factories import make_request


def listed(api: Api, status: str) -> dict[str, str]:
    response = api.get("/approvals", "aria", params={"status": status})
    assert response.status_code == 200, response.text
    return {item["id"]: item["status"] for item in response.json()["items"]}


def test_a_request_past_its_deadline_is_listed_and_read_as_expired(open_api: OpenApi) -> None:
    with open_api([]) as api:
        engine = api.rt.gov.engine
        overdue = make_request(engine, key="overdue")
        waiting = make_request(engine, key="waiting")
        with session_scope(engine) as session:  # its deadline passed; no sweep has run
            session.execute(
                update(ApprovalRequest)
                .where(ApprovalRequest.id == overdue.id)  # type: ignore[arg-type]
                .values(deadline=utcnow() - timedelta(seconds=1))
            )

        assert listed(api, "pending") == {waiting.id: "pending"}
        assert listed(api, "expired") == {overdue.id: "expired"}
        assert listed(api, "all") == {waiting.id: "pending", overdue.id: "expired"}
        assert api.get(f"/approvals/{overdue.id}", "aria").json()["status"] == "expired"
        assert api.get(f"/approvals/{waiting.id}", "aria").json()["status"] == "pending"
        pending = sum(
            v for (name, _), v in scrape(api).items() if name == "tethra_approvals_pending"
        )
        assert pending == 1  # the overdue one is not counted as waiting for a person
        decided = api.post(f"/approvals/{overdue.id}/decision", "adam", json={"action": "approve"})
        assert decided.status_code == 409

        with Session(engine) as session:  # reading wrote nothing: the sweep records it
            assert get_request(session, overdue.id).status == "pending"
        assert [r.id for r in expire_overdue(engine)] == [overdue.id]
        assert listed(api, "expired") == {overdue.id: "expired"}
        assert listed(api, "pending") == {waiting.id: "pending"}
