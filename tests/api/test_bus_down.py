"""Redis away when an approver decides: the decision commits, the answer is 200, and the
outbox relay delivers the message later (issue 14, "Committed decision, HTTP 500")."""

from __future__ import annotations

import pytest
import redis
from sqlmodel import Session, col, select

from approvals.events import BusEvent
from approvals.outbox import OutboxMessage, relay
from tests.api.conftest import OpenApi
from tests.approvals.factories import make_request
from tests.approvals.test_outbox import RecordingBus


def test_a_decision_is_answered_when_the_bus_is_down(
    open_api: OpenApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_api([]) as api:
        engine = api.rt.gov.engine
        request = make_request(engine)
        relay(engine, RecordingBus())  # the request's own message

        def down(event: BusEvent) -> str:
            raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379")

        monkeypatch.setattr(api.rt.bus, "publish", down)
        body = {"action": "approve", "comment": "ok"}
        response = api.post(f"/approvals/{request.id}/decision", "adam", json=body)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "approved"
        assert api.get(f"/approvals/{request.id}", "aria").json()["status"] == "approved"
        # A retry is told the truth (already decided), not a second error.
        again = api.post(f"/approvals/{request.id}/decision", "adam", json=body)
        assert again.status_code == 409
        assert "already approved by adam" in again.json()["error"]["message"]

        with Session(engine) as session:
            [left] = session.exec(
                select(OutboxMessage).where(col(OutboxMessage.published_at).is_(None))
            ).all()
        assert left.kind == "approval.decided"
        bus = RecordingBus()
        assert relay(engine, bus) == 1
        assert [e.kind for e in bus.events] == ["approval.decided"]
