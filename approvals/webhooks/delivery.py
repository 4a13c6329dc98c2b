"""Delivering queued webhook rows: claim, POST, record, with retries and a dead-letter.

``deliver_due`` never holds a transaction open during an HTTP call. It claims due
rows in one short transaction by pushing ``next_attempt_at`` forward (a lease;
``FOR UPDATE SKIP LOCKED`` on PostgreSQL lets several workers share the queue), POSTs
without a transaction, then records each outcome with a compare-and-set on
``attempts``. A worker that dies mid-batch leaves its rows to come due again when
the lease runs out. Delivery is therefore at least once, and receivers deduplicate
by event id (the verifier does so within its window).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from approvals.webhooks.models import Webhook, WebhookDelivery
from approvals.webhooks.signing import signed_headers
from foundation.canonical import canonical_json
from foundation.db import rows_affected, session_scope, utcnow
from foundation.logging import get_logger

log = get_logger(__name__)

BACKOFF = (10, 30, 120, 600, 1800, 3600, 7200)
"""Seconds before retry n (the last repeats), each with ±20% jitter so that failed
deliveries spread out instead of returning at the same moment."""
MAX_ATTEMPTS = 8
TIMEOUT_S = 10.0


@dataclass(frozen=True)
class DeliveryReport:
    delivered: int = 0
    retried: int = 0
    dead: int = 0


def backoff(attempt: int) -> timedelta:
    """Delay after failed attempt number ``attempt`` (1-based)."""
    base = BACKOFF[min(attempt, len(BACKOFF)) - 1]
    return timedelta(seconds=base * random.uniform(0.8, 1.2))


@dataclass(frozen=True)
class _Claim:
    id: int
    attempts: int
    event_id: str
    body: str
    url: str
    secret: str = field(repr=False)


def _claim(engine: Engine, now: datetime, batch: int, lease: timedelta) -> list[_Claim]:
    active = select(Webhook.id).where(col(Webhook.active).is_(True))
    query = (
        select(WebhookDelivery)
        .where(
            col(WebhookDelivery.status) == "pending",
            col(WebhookDelivery.next_attempt_at) <= now,
            col(WebhookDelivery.webhook_id).in_(active),
        )
        .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.id))
        .limit(batch)
    )
    if engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    claims: list[_Claim] = []
    with session_scope(engine) as session:
        for position, row in enumerate(list(session.exec(query))):
            assert row.id is not None
            hook = session.get(Webhook, row.webhook_id)
            assert hook is not None  # a foreign key
            # Rows are sent in order, so each lease covers the calls queued before it.
            row.next_attempt_at = now + lease * (position + 1)
            row.attempts += 1
            session.add(row)
            body = canonical_json(row.payload)
            claims.append(_Claim(row.id, row.attempts, row.event_id, body, hook.url, hook.secret))
    return claims


def _post(client: httpx.Client, claim: _Claim, now: datetime) -> tuple[int | None, str | None]:
    """(status code, error); error is None on a 2xx. Never follows redirects."""
    headers = {"Content-Type": "application/json", "User-Agent": "tethra-webhooks/1"}
    headers |= signed_headers(claim.secret, claim.event_id, claim.body, now.timestamp())
    try:
        with client.stream(
            "POST", claim.url, content=claim.body.encode(), headers=headers, timeout=TIMEOUT_S
        ) as response:
            if response.is_success:
                return response.status_code, None
            head = next(response.iter_text(), "")[:200]
            return response.status_code, f"HTTP {response.status_code}: {head}".strip()
    except Exception as exc:  # any failure to reach the receiver is a failed attempt
        return None, f"{type(exc).__name__}: {exc}"[:500]


def deliver_due(
    engine: Engine,
    client: httpx.Client,
    now: datetime | None = None,
    batch: int = 50,
    max_attempts: int = MAX_ATTEMPTS,
) -> DeliveryReport:
    """Send due deliveries once each: 2xx is delivered; any other answer or error is
    retried with backoff until ``max_attempts``, then the row is dead (dead-letter)."""
    started = now or utcnow()
    claims = _claim(engine, started, batch, lease=timedelta(seconds=2 * TIMEOUT_S + 5))
    counts = {"delivered": 0, "retried": 0, "dead": 0}
    for claim in claims:
        at = now or utcnow()
        code, error = _post(client, claim, at)
        values: dict[str, object] = {"last_status_code": code, "last_error": error}
        if error is None:
            outcome = "delivered"
            values |= {"status": "delivered", "delivered_at": at}
        elif claim.attempts >= max_attempts:
            outcome = "dead"
            values |= {"status": "dead"}
            log.warning("webhook delivery dead", delivery_id=claim.id, error=error)
        else:
            outcome = "retried"
            values |= {"next_attempt_at": at + backoff(claim.attempts)}
        with session_scope(engine) as session:
            # Only the holder of this attempt records it; a late worker changes nothing.
            result = session.execute(
                update(WebhookDelivery)
                .where(
                    col(WebhookDelivery.id) == claim.id,
                    col(WebhookDelivery.attempts) == claim.attempts,
                    col(WebhookDelivery.status) == "pending",
                )
                .values(**values)
            )
            counts[outcome] += rows_affected(result)
    return DeliveryReport(**counts)
