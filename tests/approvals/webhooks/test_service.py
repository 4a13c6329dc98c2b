"""Registering webhooks and queueing deliveries (contract suite: SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from approvals.events import ToolExecuted
from approvals.models import ApprovalRequest
from approvals.outbox import relay
from approvals.webhooks.models import Webhook
from approvals.webhooks.payloads import slack_payload, summary
from approvals.webhooks.service import (
    EVENT_KINDS,
    create_webhook,
    disable_webhook,
    enqueue,
    list_webhooks,
)
from foundation.db import session_scope
from foundation.errors import Forbidden, InvalidInput, NotFound
from tests.approvals.factories import make_request
from tests.approvals.webhooks.conftest import NullBus, deliveries, queue_event, requested

URL = "https://hooks.example.test/tethra"


def test_create_returns_the_secret_once_and_validates(people: Engine) -> None:
    hook, secret = create_webhook(people, URL, ["approval.requested"], created_by="root")
    assert secret.startswith("whsec_")
    assert len(secret) > 40
    assert hook.kinds == ["approval.requested"]
    assert hook.format == "tethra"
    assert hook.active
    other, other_secret = create_webhook(people, URL, [], created_by="root", fmt="slack")
    assert other_secret != secret
    assert other.id != hook.id
    assert [h.id for h in list_webhooks(people)] == [hook.id, other.id]
    for bad_url in ("ftp://example.test/x", "example.test/x", "https://", "http://u:p@h.test/"):
        with pytest.raises(InvalidInput):
            create_webhook(people, bad_url, [], created_by="root")
    with pytest.raises(InvalidInput, match=r"approval\.requestd"):
        create_webhook(people, URL, ["approval.requestd"], created_by="root")
    with pytest.raises(InvalidInput, match="format"):
        create_webhook(people, URL, [], created_by="root", fmt="teams")
    with pytest.raises(Forbidden):
        create_webhook(people, URL, [], created_by="adam")  # an approver, not an admin
    with pytest.raises(NotFound):
        create_webhook(people, URL, [], created_by="nobody")
    with pytest.raises(NotFound):
        disable_webhook(people, "whk_missing")
    assert len(list_webhooks(people)) == 2


def test_known_kinds_are_every_bus_event() -> None:
    assert set(EVENT_KINDS) == {
        "approval.requested",
        "approval.decided",
        "approval.expiring",
        "approval.expired",
        "run.resume",
        "tool.executed",
        "budget.warning",
        "budget.exceeded",
    }


def test_enqueue_one_delivery_per_matching_webhook_and_never_twice(people: Engine) -> None:
    everything, _ = create_webhook(people, URL, [], created_by="root")
    approvals, _ = create_webhook(people, URL, ["approval.requested"], created_by="root")
    tools, _ = create_webhook(people, URL, ["tool.executed"], created_by="root")
    off, _ = create_webhook(people, URL, [], created_by="root")
    disable_webhook(people, off.id)
    request = make_request(people)

    assert queue_event(people, request, "evt-1") == 2
    assert queue_event(people, request, "evt-1") == 0  # the same event again: no duplicate
    rows = deliveries(people)
    assert sorted(r.webhook_id for r in rows) == sorted([everything.id, approvals.id])
    assert {(r.event_id, r.kind, r.status, r.attempts) for r in rows} == {
        ("evt-1", "approval.requested", "pending", 0)
    }

    executed = ToolExecuted(run_id="run_1", thread_id="th_1", tool="x", tool_call_id="c", ok=True)
    with session_scope(people) as session:
        assert enqueue(session, executed, "evt-2") == 2
    assert sorted(r.webhook_id for r in deliveries(people) if r.event_id == "evt-2") == sorted(
        [everything.id, tools.id]
    )


def test_the_outbox_relay_enqueues_each_event_once(people: Engine) -> None:
    hook, _ = create_webhook(people, URL, [], created_by="root", fmt="slack")
    request = make_request(people)
    relay(people, NullBus(), observers=(enqueue,))
    relay(people, NullBus(), observers=(enqueue,))
    [row] = deliveries(people)
    assert row.webhook_id == hook.id
    assert row.kind == "approval.requested"
    text = row.payload["text"]
    assert text.startswith("Approval needed: refund_order {order_id: 1042, amount: 250.00")
    assert "rule refund-large: Refunds over $100 need an approver." in text
    assert ".." not in text
    assert request.id in text
    assert "Deadline " in text
    assert "UTC" in text


def test_tethra_payload_carries_the_event_and_the_request(people: Engine) -> None:
    create_webhook(people, URL, ["approval.requested"], created_by="root")
    request = make_request(people)
    queue_event(people, request, "evt-7")
    [row] = deliveries(people)
    body = row.payload
    assert body["id"] == "evt-7"
    assert body["kind"] == "approval.requested"
    assert body["event"]["approval_id"] == request.id
    assert body["approval"]["args"] == request.args
    assert body["approval"]["rule"] == "refund-large"
    assert body["text"] == summary_of(people, request)
    datetime.fromisoformat(body["created_at"])


def summary_of(engine: Engine, request: ApprovalRequest) -> str:
    with Session(engine) as session:
        return summary(requested(request), session.get(ApprovalRequest, request.id))


def test_slack_text_escapes_model_chosen_arguments() -> None:
    request = ApprovalRequest(
        id="apr_1",
        call_key="k",
        run_id="run_1",
        thread_id="th_1",
        tool_call_id="c",
        agent="ops",
        requester="olivia",
        tool="send_email",
        args={"to": "a@b.test", "body": "<!channel> see <http://evil.test|your invoice>"},
        args_hash="h",
        policy_version="v",
        rule="mail-external",
        reason="External mail & attachments need review.",
        approver_role="approver",
        deadline=datetime(2030, 1, 2, 19, 43, tzinfo=UTC),
    )
    body = slack_payload(requested(request), "evt-1", request.deadline, request)
    assert "<!channel>" not in body["text"]
    assert "<http" not in body["text"]
    assert "&lt;!channel&gt;" in body["text"]
    assert "mail &amp; attachments" in body["text"]
    assert "Deadline 2030-01-02 19:43 UTC" in body["text"]
    assert body["blocks"][0]["text"] == {"type": "mrkdwn", "text": body["text"]}


def test_disabling_marks_pending_deliveries_dead(people: Engine) -> None:
    hook, _ = create_webhook(people, URL, [], created_by="root")
    queue_event(people, make_request(people))
    disable_webhook(people, hook.id)
    [row] = deliveries(people)
    assert (row.status, row.last_error) == ("dead", "webhook disabled")
    with Session(people) as session:
        stored = session.get(Webhook, hook.id)
        assert stored is not None
        assert not stored.active


def test_a_call_in_doubt_is_announced_as_in_doubt_not_as_failed() -> None:
    from approvals.webhooks.payloads import summary

    doubt = ToolExecuted(
        run_id="run_1", thread_id="th_1", tool="pay", tool_call_id="c", ok=False, outcome="in_doubt"
    )
    assert "in doubt" in summary(doubt)
    failed = ToolExecuted(
        run_id="run_1", thread_id="th_1", tool="pay", tool_call_id="c", ok=False, outcome="failed"
    )
    assert "pay failed" in summary(failed)
