"""Delivering to a real HTTP server on 127.0.0.1: signed, retried, dead-lettered, shared.

Contract suite: every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import socket
import threading
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import text, update
from sqlalchemy.engine import Engine
from sqlmodel import col

from approvals.events import RunResume
from approvals.webhooks.models import WebhookDelivery
from approvals.webhooks.service import (
    MAX_ATTEMPTS,
    DeliveryReport,
    create_webhook,
    deliver_due,
    enqueue,
    rotate_secret,
)
from approvals.webhooks.signing import BadSignature, Verifier
from foundation.db import session_scope, utcnow
from tests.approvals.factories import make_request
from tests.approvals.webhooks.conftest import Received, Receiver, deliveries, queue_event


def test_success_is_recorded_and_the_body_verifies(
    people: Engine, receiver: Receiver, client: httpx.Client
) -> None:
    _hook, secret = create_webhook(people, receiver.url, [], created_by="root")
    request = make_request(people)
    queue_event(people, request, "evt-1")

    assert deliver_due(people, client) == DeliveryReport(delivered=1)
    assert deliver_due(people, client) == DeliveryReport()  # nothing left to send
    [row] = deliveries(people)
    assert (row.status, row.attempts, row.last_status_code, row.last_error) == (
        "delivered",
        1,
        200,
        None,
    )
    assert row.delivered_at is not None
    [got] = receiver.requests
    assert Verifier(secret).verify(got.headers, got.body) == "evt-1"
    body = json.loads(got.body)
    assert body == row.payload
    assert body["kind"] == "approval.requested"
    assert body["event"]["approval_id"] == request.id
    assert body["text"].startswith("Approval needed: refund_order")
    assert got.headers["Content-Type"] == "application/json"


def test_a_failing_receiver_is_retried_with_growing_delays_then_dead(
    people: Engine, receiver: Receiver, client: httpx.Client
) -> None:
    receiver.status, receiver.reply = 500, b"database is down"
    create_webhook(people, receiver.url, [], created_by="root")
    queue_event(people, make_request(people))

    now = utcnow()
    delays: list[timedelta] = []
    for attempt in range(1, MAX_ATTEMPTS):
        assert deliver_due(people, client, now=now) == DeliveryReport(retried=1)
        [row] = deliveries(people)
        assert (row.status, row.attempts, row.last_status_code) == ("pending", attempt, 500)
        assert row.last_error == "HTTP 500: database is down"
        delays.append(row.next_attempt_at - now)
        # Not due before its time, even though it failed.
        assert deliver_due(people, client, now=row.next_attempt_at - timedelta(seconds=1)) == (
            DeliveryReport()
        )
        now = row.next_attempt_at
    assert delays == sorted(delays)
    assert len(set(delays)) == len(delays)
    assert timedelta(seconds=8) <= delays[0] <= timedelta(seconds=12)

    assert deliver_due(people, client, now=now) == DeliveryReport(dead=1)
    [row] = deliveries(people)
    assert (row.status, row.attempts, row.last_error) == ("dead", MAX_ATTEMPTS, row.last_error)
    assert row.last_error == "HTTP 500: database is down"
    assert len(receiver.requests) == MAX_ATTEMPTS
    assert deliver_due(people, client, now=now + timedelta(days=30)) == DeliveryReport()


def test_an_unreachable_receiver_is_a_failed_attempt(people: Engine, client: httpx.Client) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    create_webhook(people, f"http://127.0.0.1:{port}/x", [], created_by="root")
    queue_event(people, make_request(people))
    assert deliver_due(people, client, max_attempts=1) == DeliveryReport(dead=1)
    [row] = deliveries(people)
    assert row.last_status_code is None
    assert row.last_error is not None
    assert row.last_error.startswith("ConnectError")


def test_slack_format_posts_readable_text(
    people: Engine, receiver: Receiver, client: httpx.Client
) -> None:
    create_webhook(people, receiver.url, ["approval.requested"], created_by="root", fmt="slack")
    request = make_request(people)
    queue_event(people, request)
    assert deliver_due(people, client).delivered == 1
    body = json.loads(receiver.requests[0].body)
    assert body["text"].startswith("Approval needed: refund_order {order_id: 1042")
    assert "rule refund-large: Refunds over $100 need an approver." in body["text"]
    assert body["text"].endswith(request.id)
    assert body["blocks"][0]["text"]["text"] == body["text"]


def test_rotating_the_secret_makes_the_old_one_fail(
    people: Engine, receiver: Receiver, client: httpx.Client
) -> None:
    hook, old = create_webhook(people, receiver.url, [], created_by="root")
    new = rotate_secret(people, hook.id)
    assert new != old
    queue_event(people, make_request(people))
    deliver_due(people, client)
    [got] = receiver.requests
    with pytest.raises(BadSignature):
        Verifier(old).verify(got.headers, got.body)
    assert Verifier(new).verify(got.headers, got.body) == "evt-1"


def test_no_transaction_is_held_during_the_call_and_a_late_outcome_is_ignored(
    people: Engine, receiver: Receiver, client: httpx.Client
) -> None:
    """While the POST is in flight the receiver writes the row, as a second worker would
    after the lease ran out. That must not block (no lock is held), and the first
    worker's late outcome must not overwrite the second worker's claim."""
    create_webhook(people, receiver.url, [], created_by="root")
    queue_event(people, make_request(people))

    def second_worker_claims(_: Received) -> None:
        with session_scope(people) as session:
            if people.dialect.name == "postgresql":
                session.execute(text("SET LOCAL lock_timeout = '2s'"))
            session.execute(
                update(WebhookDelivery).values(attempts=col(WebhookDelivery.attempts) + 1)
            )

    receiver.on_request = second_worker_claims
    assert deliver_due(people, client) == DeliveryReport()
    assert receiver.errors == []
    [row] = deliveries(people)
    assert (row.status, row.attempts, row.delivered_at) == ("pending", 2, None)


def test_two_workers_deliver_each_event_exactly_once(people: Engine, receiver: Receiver) -> None:
    create_webhook(people, receiver.url, ["run.resume"], created_by="root")
    with session_scope(people) as session:
        for i in range(40):
            enqueue(session, RunResume(run_id=f"run_{i}", thread_id=f"t{i}"), f"evt-{i}")
    reports: list[DeliveryReport] = []

    def work() -> None:
        with httpx.Client() as own:
            while (report := deliver_due(people, own, batch=3)) != DeliveryReport():
                reports.append(report)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    ids = [r.headers["X-Tethra-Event-Id"] for r in receiver.requests]
    assert sorted(ids) == sorted(f"evt-{i}" for i in range(40))  # none twice, none lost
    assert sum(r.delivered for r in reports) == 40
    assert {r.status for r in deliveries(people)} == {"delivered"}
