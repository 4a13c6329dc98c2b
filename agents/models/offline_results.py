"""How the offline model reads tool results: follow-up calls and the plain-text summary.

The tool result shapes belong to the adapters, so everything here reads them
defensively (JSON or text, a few key spellings) instead of depending on one schema.
Anything that looks like a denial, a pending approval or an error is reported as
"not executed" with the reason, because an operator must never read a failed
refund as a done one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from langchain_core.messages import ToolCall, ToolMessage


@dataclass(frozen=True)
class Call:
    name: str
    args: dict[str, Any]


@dataclass(frozen=True)
class ToolResult:
    name: str
    args: dict[str, Any]
    text: str
    status_error: bool = False
    data: Any = field(default=None, compare=False)

    @classmethod
    def of(cls, call: ToolCall, message: ToolMessage | None) -> ToolResult:
        if message is None:
            return cls(call["name"], call["args"], "no result was returned", status_error=True)
        text = message.text.strip()
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        return cls(call["name"], call["args"], text, message.status == "error", data)

    @property
    def failure(self) -> str | None:
        """The reason this call did not happen, or None if it succeeded."""
        if isinstance(self.data, dict):
            error = self.data.get("error")
            status = str(self.data.get("status", "")).lower()
            if error or status in _FAILED_STATUSES or self.status_error:
                detail = error or self.data.get("reason") or self.data.get("message") or status
                return _oneline(str(detail or self.text))
            return None
        if self.status_error or _FAILURE_TEXT.search(self.text):
            return _oneline(_PREFIX.sub("", self.text))
        return None


FollowUp = Callable[[ToolResult], "Call | str"]


@dataclass(frozen=True)
class Request:
    """One thing the user asked for: a first call and, for two-step requests, the rule
    that turns its result into the second call (or into a note saying why not)."""

    first: Call
    then: FollowUp | None = None
    then_tool: str | None = None

    @property
    def tools(self) -> tuple[str, ...]:
        return (self.first.name,) if self.then_tool is None else (self.first.name, self.then_tool)


_FAILED_STATUSES = {
    "denied",
    "expired",
    "pending_approval",
    "awaiting_approval",
    "waiting_for_approval",
    "not_executed",
}
_FAILURE_TEXT = re.compile(
    r"\b(?:denied|expired|not executed|(?:waiting|awaiting|pending)(?: for)? approval|"
    r"rejected by)\b|^(?:error|failed)\b",
    re.IGNORECASE,
)
_PREFIX = re.compile(r"^(?:error|failed|not executed)\s*:\s*", re.IGNORECASE)
_REMAINDER_KEYS = (
    "refundable_amount",
    "refundable",
    "refundable_remainder",
    "remaining_refundable",
    "amount_refundable",
)
_TOTAL_KEYS = ("total", "total_amount", "order_total", "grand_total", "amount")
_REFUNDED_KEYS = ("refunded_amount", "refunded", "amount_refunded", "total_refunded")
_EMAIL_KEYS = ("email", "email_address", "mail")


def _oneline(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def find_value(data: Any, keys: Iterable[str]) -> Any:
    """The first of ``keys`` in a dict or in one of its nested dicts ({"order": {...}})."""
    if not isinstance(data, dict):
        return None
    keys = tuple(keys)
    for key in keys:
        if data.get(key) is not None:
            return data[key]
    for value in data.values():
        if isinstance(value, dict):
            found = find_value(value, keys)
            if found is not None:
                return found
    return None


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return Decimal(str(value).replace(",", "").lstrip("$€£").strip())
    except InvalidOperation:
        return None


def refundable_amount(data: Any) -> Decimal | None:
    remainder = _decimal(find_value(data, _REMAINDER_KEYS))
    if remainder is not None:
        return remainder
    total = _decimal(find_value(data, _TOTAL_KEYS))
    if total is None:
        return None
    refunded = _decimal(find_value(data, _REFUNDED_KEYS)) or Decimal(0)
    return total - refunded


def money(value: Any) -> str:
    amount = _decimal(value)
    return str(value) if amount is None else f"{amount.quantize(Decimal('0.01')):,}"


def refund_after_lookup(order_id: int, reason: str) -> FollowUp:
    def follow(result: ToolResult) -> Call | str:
        if result.failure is not None:
            return f"The refund on order {order_id} was not executed: the order lookup failed."
        amount = refundable_amount(result.data)
        if amount is None:
            return (
                f"The refund on order {order_id} was not executed: "
                "I could not find a refundable amount in the order."
            )
        if amount <= 0:
            return f"Order {order_id} has nothing left to refund, so no refund was made."
        args = {"order_id": order_id, "amount": float(round(amount, 2)), "reason": reason}
        return Call("refund_order", args)

    return follow


def refund_duplicate_after_lookup(invoice: str) -> FollowUp:
    """After listing an invoice's charges: refund one charge if exactly one was doubled."""

    def follow(result: ToolResult) -> Call | str:
        if result.failure is not None:
            return f"No refund was made: the payments of invoice {invoice} could not be listed."
        payments = find_value(result.data, ("payments",))
        groups: dict[tuple[Any, Decimal], int] = {}
        for p in payments if isinstance(payments, list) else []:
            amount = _decimal(p.get("amount")) if isinstance(p, dict) else None
            if amount is not None and isinstance(p, dict) and p.get("order_id") is not None:
                key = (p["order_id"], amount)
                groups[key] = groups.get(key, 0) + 1
        doubled = [key for key, count in groups.items() if count == 2]
        if not doubled:
            return f"Invoice {invoice} was not charged twice, so no refund was made."
        if len(doubled) > 1 or any(count > 2 for count in groups.values()):
            return (
                f"Invoice {invoice} has more than one repeated charge; no refund was made. "
                "Say which charge to refund."
            )
        (order_id, amount) = doubled[0]
        reason = f"duplicate charge on invoice {invoice}"
        return Call(
            "refund_order",
            {"order_id": int(order_id), "amount": float(round(amount, 2)), "reason": reason},
        )

    return follow


def email_after_lookup(customer_id: int, subject: str, body: str) -> FollowUp:
    def follow(result: ToolResult) -> Call | str:
        address = find_value(result.data, _EMAIL_KEYS)
        if result.failure is not None or not isinstance(address, str) or "@" not in address:
            return (
                f"The email to customer {customer_id} was not sent: "
                "I could not find the customer's email address."
            )
        args = {"to": address, "subject": subject, "body": body, "customer_id": customer_id}
        return Call("send_email", args)

    return follow


_DONE = {
    "get_customer": "Customer {customer_id}",
    "find_customers": "Customers matching '{query}'",
    "get_order": "Order {order_id}",
    "list_orders": "Orders for customer {customer_id}",
    "list_customer_notes": "Notes for customer {customer_id}",
    "add_customer_note": "Added a note to customer {customer_id}",
    "list_payments": "Payments for invoice {invoice_number}",
    "refund_order": "Refunded {amount} on order {order_id} (reason: {reason})",
    "pay_invoice": "Paid invoice {invoice_number}",
    "get_supplier": "Supplier {supplier_id}",
    "get_purchase_order": "Purchase order {po_number}",
    "get_invoice": "Invoice {invoice_number}",
    "post_invoice": "Posted invoice {invoice_number}",
    "update_supplier_bank_details": "Changed the bank details of supplier {supplier_id} to {iban}",
    "send_email": "Sent an email to {to} (subject '{subject}')",
    "list_outbox": "Outbox",
    "list_suppliers": "Suppliers",
}
_NOT_DONE = {
    "refund_order": "refund of {amount} on order {order_id}",
    "pay_invoice": "payment of invoice {invoice_number}",
    "post_invoice": "posting of invoice {invoice_number}",
    "add_customer_note": "note for customer {customer_id}",
    "update_supplier_bank_details": "bank details change for supplier {supplier_id}",
    "send_email": "email to {to}",
}


class _Args(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def _shown(args: dict[str, Any]) -> _Args:
    shown = _Args(args)
    if "amount" in args:
        shown["amount"] = money(args["amount"])
    return shown


def _lead(name: str, args: dict[str, Any]) -> str:
    if name == "list_invoices":
        return "Invoices" + (f" with status {args['status']}" if args.get("status") else "")
    if name == "list_refunds":
        return "Refunds" + (f" for order {args['order_id']}" if "order_id" in args else "")
    return _DONE.get(name, name).format_map(_shown(args))


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _fields(item: dict[str, Any], limit: int) -> str:
    shown = [f"{k}: {v}" for k, v in item.items() if _scalar(v)][:limit]
    shown += [f"{k}: {len(v)} item(s)" for k, v in item.items() if isinstance(v, list)]
    return ", ".join(shown) or "no details"


def render(result: ToolResult) -> str:
    data = result.data
    if isinstance(data, dict):
        return _fields(data, 10)
    if isinstance(data, list):
        if not data:
            return "none found"
        items = [_fields(i, 5) if isinstance(i, dict) else _oneline(str(i), 80) for i in data[:5]]
        more = f"; and {len(data) - 5} more" if len(data) > 5 else ""
        return f"{len(data)} found: " + "; ".join(f"({i})" for i in items) + more
    return _oneline(result.text) or "done"


def describe(result: ToolResult) -> str:
    """One plain sentence per result; failures say plainly that nothing was executed."""
    reason = result.failure
    if reason is None:
        return f"{_lead(result.name, result.args)}: {render(result)}"
    if result.name in _NOT_DONE:
        label = _NOT_DONE[result.name].format_map(_shown(result.args))
        return f"The {label} was not executed: {reason}"
    return f"{_lead(result.name, result.args)} could not be retrieved: {reason}"


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else text + "."


def summarise(results: Iterable[ToolResult], notes: Iterable[str] = ()) -> str:
    lines = [_sentence(describe(r)) for r in results] + list(notes)
    return "\n".join(lines) if lines else "Nothing was done."
