"""Registering webhooks and queueing one delivery per subscriber of each event.

``enqueue`` runs in the transaction that relays an outbox message (it is an outbox
observer), so a delivery row exists exactly when the event committed. Delivering
the rows is ``approvals.webhooks.delivery``, re-exported here. The queue is the
delivery log.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import get_args
from urllib.parse import urlsplit

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from approvals.events import BusEvent
from approvals.models import ApprovalRequest
from approvals.webhooks.delivery import MAX_ATTEMPTS, DeliveryReport, backoff, deliver_due
from approvals.webhooks.models import DELIVERY_STATUSES, FORMATS, Webhook, WebhookDelivery
from approvals.webhooks.payloads import build_payload, summary
from foundation.db import session_scope, utcnow
from foundation.errors import Forbidden, InvalidInput, NotFound
from foundation.ids import new_id
from foundation.users import get_user, has_role

__all__ = [
    "EVENT_KINDS",
    "MAX_ATTEMPTS",
    "DeliveryReport",
    "backoff",
    "create_webhook",
    "deliver_due",
    "disable_webhook",
    "enqueue",
    "list_deliveries",
    "list_webhooks",
    "rotate_secret",
    "summary",
]

EVENT_KINDS: tuple[str, ...] = tuple(
    str(cls.model_fields["kind"].default) for cls in get_args(get_args(BusEvent)[0])
)


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _check_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"a webhook URL must be http:// or https:// with a host, not {url!r}")
    if parts.username or parts.password:
        raise InvalidInput("put no credentials in a webhook URL; requests are signed instead")
    if len(url) > 2048:
        raise InvalidInput("a webhook URL is at most 2048 characters")
    return url.strip()


def _check_kinds(kinds: list[str]) -> list[str]:
    unknown = sorted(set(kinds) - set(EVENT_KINDS))
    if unknown:
        raise InvalidInput(
            f"unknown event kind(s) {', '.join(unknown)}; known: {', '.join(EVENT_KINDS)}"
        )
    return sorted(set(kinds))


def create_webhook(
    engine: Engine, url: str, kinds: list[str], created_by: str, fmt: str = "tethra"
) -> tuple[Webhook, str]:
    """Register a webhook and return its signing secret (shown to the caller once).

    Only admins register webhooks: a webhook sends approval arguments off the host.
    """
    if fmt not in FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    hook = Webhook(
        id=new_id("whk"),
        url=_check_url(url),
        kinds=_check_kinds(kinds),
        secret=new_secret(),
        format=fmt,
        created_by=created_by,
    )
    with session_scope(engine) as session:
        if not has_role(get_user(session, created_by), "admin"):
            raise Forbidden("registering a webhook needs the admin role")
        session.add(hook)
    return hook, hook.secret


def list_webhooks(engine: Engine, include_inactive: bool = True) -> list[Webhook]:
    with Session(engine) as session:
        query = select(Webhook).order_by(col(Webhook.id))
        if not include_inactive:
            query = query.where(col(Webhook.active).is_(True))
        return list(session.exec(query))


def _get(session: Session, webhook_id: str) -> Webhook:
    hook = session.get(Webhook, webhook_id)
    if hook is None:
        raise NotFound(f"no webhook {webhook_id!r}")
    return hook


def disable_webhook(engine: Engine, webhook_id: str) -> Webhook:
    """Stop sending; its undelivered rows are marked dead so the log says what was dropped."""
    with session_scope(engine) as session:
        hook = _get(session, webhook_id)
        hook.active = False
        session.add(hook)
        session.execute(
            update(WebhookDelivery)
            .where(
                col(WebhookDelivery.webhook_id) == webhook_id,
                col(WebhookDelivery.status) == "pending",
            )
            .values(status="dead", last_error="webhook disabled")
        )
    return hook


def rotate_secret(engine: Engine, webhook_id: str) -> str:
    """A new secret at once; retries still pending are signed with it when sent."""
    secret = new_secret()
    with session_scope(engine) as session:
        hook = _get(session, webhook_id)
        hook.secret = secret
        session.add(hook)
    return secret


def list_deliveries(
    engine: Engine, status: str | None = None, webhook_id: str | None = None, limit: int = 50
) -> list[WebhookDelivery]:
    """The delivery log, newest first."""
    if status is not None and status not in DELIVERY_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(DELIVERY_STATUSES)}")
    query = select(WebhookDelivery).order_by(col(WebhookDelivery.id).desc()).limit(limit)
    if status is not None:
        query = query.where(col(WebhookDelivery.status) == status)
    if webhook_id is not None:
        query = query.where(col(WebhookDelivery.webhook_id) == webhook_id)
    with Session(engine) as session:
        return list(session.exec(query))


def enqueue(session: Session, event: BusEvent, event_id: str, now: datetime | None = None) -> int:
    """Queue ``event`` for every active webhook that wants its kind, in the caller's
    transaction; returns how many rows were new. Safe to call again for the same
    event: ``ON CONFLICT DO NOTHING`` keeps the transaction usable on PostgreSQL."""
    hooks = [h for h in session.exec(select(Webhook)) if h.wants(event.kind)]
    if not hooks:
        return 0
    now = now or utcnow()
    approval_id = getattr(event, "approval_id", None)
    request = session.get(ApprovalRequest, approval_id) if approval_id else None
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    created = 0
    for hook in hooks:
        stmt = (
            insert(WebhookDelivery)
            .values(
                webhook_id=hook.id,
                event_id=event_id,
                kind=event.kind,
                payload=build_payload(hook.format, event, event_id, now, request),
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["webhook_id", "event_id"])
            .returning(col(WebhookDelivery.id))
        )
        # RETURNING, not rowcount: psycopg reports -1 for this statement.
        created += len(session.execute(stmt).all())
    return created
