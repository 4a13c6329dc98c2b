"""Mail tools: send a message to a customer (into the outbox) and see what was sent.

Sending is an external message — once it leaves it cannot be taken back — so the
outbox row is keyed by the tool call's idempotency key and a retry never mails twice.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field, field_validator
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from foundation.db import session_scope
from foundation.errors import ToolFailed
from tools.crm.models import Customer
from tools.mail.models import OutboxMessage
from tools.spec import JSONValue, RegisteredTool, ToolContext, adapter

_ADDRESS = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")


class Email(BaseModel):
    to: str = Field(min_length=6, max_length=254, description="Recipient address")
    subject: str = Field(min_length=1, max_length=200, description="Subject line")
    body: str = Field(min_length=1, max_length=20000, description="Plain-text body")
    customer_id: int | None = Field(
        default=None, gt=0, description="CRM customer the message is about, if any"
    )

    @field_validator("to")
    @classmethod
    def _address_shape(cls, value: str) -> str:
        address = value.strip()
        if not _ADDRESS.match(address) or ".." in address:
            raise ValueError(f"{value!r} is not an email address like name@example.com")
        return address


class OutboxQuery(BaseModel):
    limit: int = Field(default=20, ge=1, le=200, description="At most this many, newest first")


def _sent(session: Session, key: str) -> OutboxMessage | None:
    return session.exec(select(OutboxMessage).where(OutboxMessage.idempotency_key == key)).first()


def _view(message: OutboxMessage, *, replayed: bool) -> JSONValue:
    return {**message.model_dump(mode="json", exclude={"idempotency_key"}), "replayed": replayed}


@adapter(
    name="send_email",
    description="Send an email (plain text) to a customer or other recipient.",
    args=Email,
    system="mail",
    effect="external_message",
    idempotent=True,
    owner="support",
)
def send_email(args: Email, ctx: ToolContext) -> JSONValue:
    try:
        with session_scope(ctx.engine) as session:
            earlier = _sent(session, ctx.idempotency_key)
            if earlier is not None:
                return _view(earlier, replayed=True)
            if args.customer_id is not None and session.get(Customer, args.customer_id) is None:
                raise ToolFailed(f"no customer with id {args.customer_id} exists in the CRM")
            message = OutboxMessage(
                to_address=args.to,
                customer_id=args.customer_id,
                subject=args.subject,
                body=args.body,
                sent_by=ctx.agent,
                idempotency_key=ctx.idempotency_key,
            )
            session.add(message)
            session.flush()
            return _view(message, replayed=False)
    except IntegrityError:
        # A concurrent retry with the same key committed first: report its message.
        with session_scope(ctx.engine) as session:
            winner = _sent(session, ctx.idempotency_key)
        if winner is None:
            raise
        return _view(winner, replayed=True)


@adapter(
    name="list_outbox",
    description="List the most recently sent emails, newest first.",
    args=OutboxQuery,
    system="mail",
    effect="read",
    idempotent=True,
    owner="support",
)
def list_outbox(args: OutboxQuery, ctx: ToolContext) -> JSONValue:
    with session_scope(ctx.engine) as session:
        rows = session.exec(
            select(OutboxMessage)
            .order_by(col(OutboxMessage.sent_at).desc(), col(OutboxMessage.id).desc())
            .limit(args.limit)
        ).all()
        return {"messages": [m.model_dump(mode="json", exclude={"idempotency_key"}) for m in rows]}


TOOLS: list[RegisteredTool] = [send_email, list_outbox]
