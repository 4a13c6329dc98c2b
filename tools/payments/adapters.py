"""Payments tools for finance: see charges, refund customers, pay supplier invoices.

Refunds and payouts move money, so each one is written together with the idempotency
key of the tool call inside a single transaction: a crash after the money moved but
before the platform recorded it replays to the same row instead of paying again.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Self

from pydantic import BaseModel, Field, model_validator
from sqlmodel import col, select

from foundation.db import session_scope
from foundation.errors import ToolFailed
from tools.crm.adapters import order_summary
from tools.crm.models import Order
from tools.payments.models import Payment, Refund
from tools.payments.payouts import pay_invoice
from tools.spec import JSONValue, Money, RegisteredTool, ToolContext, adapter


class PaymentFilter(BaseModel):
    invoice_number: str | None = Field(
        default=None, min_length=1, max_length=32, description="Customer invoice, e.g. INV-2024-118"
    )
    customer_id: int | None = Field(default=None, gt=0, description="CRM customer id, e.g. 311")

    @model_validator(mode="after")
    def _needs_a_filter(self) -> Self:
        if self.invoice_number is None and self.customer_id is None:
            raise ValueError("give invoice_number or customer_id (or both)")
        return self


class OrderRefunds(BaseModel):
    order_id: int = Field(gt=0, description="CRM order id, e.g. 1042")


class RefundRequest(BaseModel):
    order_id: int = Field(gt=0, description="CRM order id to refund, e.g. 1042")
    amount: Money = Field(description="Amount in the order's currency")
    reason: str = Field(min_length=3, max_length=500, description="Why, as the customer is told")


@adapter(
    name="list_payments",
    description="List customer charges by invoice number and/or customer id, oldest first.",
    args=PaymentFilter,
    system="payments",
    effect="read",
    idempotent=True,
    owner="finance",
)
def list_payments(args: PaymentFilter, ctx: ToolContext) -> JSONValue:
    stmt = select(Payment)
    if args.invoice_number is not None:
        stmt = stmt.where(Payment.invoice_number == args.invoice_number)
    if args.customer_id is not None:
        stmt = stmt.where(Payment.customer_id == args.customer_id)
    with session_scope(ctx.engine) as session:
        rows = session.exec(stmt.order_by(col(Payment.received_at), col(Payment.id))).all()
        return {"payments": [p.model_dump(mode="json") for p in rows]}


@adapter(
    name="list_refunds",
    description="List the refunds already made on an order, oldest first.",
    args=OrderRefunds,
    system="payments",
    effect="read",
    idempotent=True,
    owner="finance",
)
def list_refunds(args: OrderRefunds, ctx: ToolContext) -> JSONValue:
    with session_scope(ctx.engine) as session:
        if session.get(Order, args.order_id) is None:
            raise ToolFailed(f"no order with id {args.order_id} exists in the CRM")
        rows = session.exec(
            select(Refund).where(Refund.order_id == args.order_id).order_by(col(Refund.id))
        ).all()
        refunds = [r.model_dump(mode="json", exclude={"idempotency_key"}) for r in rows]
        return {"order_id": args.order_id, "refunds": refunds}


@adapter(
    name="refund_order",
    description=(
        "Refund part or all of what a customer was charged for an order, in the order's "
        "currency. Fails if the amount exceeds what was charged minus earlier refunds."
    ),
    args=RefundRequest,
    system="payments",
    effect="money",
    idempotent=True,
    owner="finance",
)
def refund_order(args: RefundRequest, ctx: ToolContext) -> JSONValue:
    with session_scope(ctx.engine) as session:
        # Lock the order: concurrent refunds queue here, so the remainder check is exact
        # and a retry with the same key sees the first attempt's row.
        order = session.exec(
            select(Order).where(Order.id == args.order_id).with_for_update()
        ).first()
        if order is None:
            raise ToolFailed(f"no order with id {args.order_id} exists in the CRM")
        done = session.exec(
            select(Refund).where(Refund.idempotency_key == ctx.idempotency_key)
        ).first()
        if done is not None:
            return _refund_result(done, order_summary(session, order), replayed=True)
        before = order_summary(session, order)
        refundable = Decimal(before["refundable"])
        if args.amount > refundable:
            raise ToolFailed(
                f"cannot refund {args.amount} {order.currency} on order {order.id}: "
                f"at most {refundable} is refundable (charged {before['paid']}, "
                f"already refunded {before['refunded']})"
            )
        refund = Refund(
            order_id=order.id,
            amount=args.amount.quantize(Decimal("0.01")),
            currency=order.currency,
            reason=args.reason,
            requested_by=ctx.requester,
            idempotency_key=ctx.idempotency_key,
        )
        session.add(refund)
        if args.amount == refundable:
            order.status = "refunded"
            session.add(order)
        session.flush()
        return _refund_result(refund, order_summary(session, order), replayed=False)


def _refund_result(refund: Refund, order: dict[str, JSONValue], *, replayed: bool) -> JSONValue:
    return {
        "refund": refund.model_dump(mode="json", exclude={"idempotency_key"}),
        "order_id": refund.order_id,
        "refunded_total": order["refunded"],
        "refundable_remaining": order["refundable"],
        "replayed": replayed,
    }


TOOLS: list[RegisteredTool] = [list_payments, list_refunds, refund_order, pay_invoice]
