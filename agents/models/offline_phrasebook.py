"""The sentences the offline model understands and the tool calls they stand for.

Table-driven so a new phrasing is one ``Phrase`` (pattern, builder, example): the
docs, the capability list the model offers and the tests all read the same table.
Patterns match a whole clause, so an unrecognised sentence is refused rather than
half-understood — a governed platform should not guess which refund was meant.
Splitting a message into clauses is ``offline_parser``'s job.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from agents.models.offline_results import (
    Call,
    Request,
    email_after_lookup,
    refund_after_lookup,
    refund_duplicate_after_lookup,
)

DEFAULT_REASON = "customer request"
DEFAULT_SUBJECT = "A message from our team"

_TOKENS = {
    "{SHOW}": r"(?:look\s*up|lookup|show(?:\s+me)?|find|get|display|open|fetch|check)",
    "{LIST}": r"(?:list|show(?:\s+me)?|get|find|display|fetch|check)",
    "{ID}": r"(?:\#|no\.?\s*|id\s*|number\s*)?(?P<id>\d+)",
    "{AMOUNT}": (
        r"(?:[$€£]\s*)?(?P<amount>\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+(?:\.\d{1,2})?)"
        r"(?:\s*(?:usd|eur|gbp|dollars?|euros?))?"
    ),
    "{INV}": r"(?:\#\s*)?(?P<invoice>[A-Za-z0-9](?:[A-Za-z0-9_/-]*[A-Za-z0-9])?)",
    "{PO}": r"(?P<po>PO-[A-Za-z0-9-]*[A-Za-z0-9])",
    "{EMAIL}": r"(?P<to>[^\s@:]+@[^\s@:]+\.[A-Za-z]{2,})",
    "{REASON}": r"(?:\s*(?:,\s*)?(?:because|since|reason:?)\s+(?P<reason>.+?))?",
    "{SUBJECT}": r"(?:\s+(?:with\s+)?(?:the\s+)?subject\s+(?P<subject>[^:]+?))?",
}
_END = r"(?:[\s,]+please)?[\s.!?]*"


def pattern(template: str) -> re.Pattern[str]:
    for token, regex in _TOKENS.items():
        template = template.replace(token, regex)
    return re.compile(rf"^{template}{_END}$", re.IGNORECASE | re.DOTALL)


def _money(raw: str) -> float:
    return round(float(raw.replace(",", "")), 2)


def _clean(text: str) -> str:
    return text.strip().strip("\"'“”‘’").strip()


def _opt_status(match: re.Match[str]) -> dict[str, object]:
    status = match.groupdict().get("status")
    return {"status": status.lower()} if status else {}


Builder = Callable[[re.Match[str]], Request | None]


@dataclass(frozen=True)
class Phrase:
    pattern: re.Pattern[str]
    build: Builder
    example: str
    tools: tuple[str, ...]


def _one(name: str, **fields: Callable[[re.Match[str]], object]) -> Builder:
    """A builder for a single call whose args are read straight from the match."""

    def build(match: re.Match[str]) -> Request:
        return Request(Call(name, {key: get(match) for key, get in fields.items()}))

    return build


def _int(group: str) -> Callable[[re.Match[str]], object]:
    return lambda m: int(m.group(group))


def _str(group: str) -> Callable[[re.Match[str]], object]:
    return lambda m: _clean(m.group(group))


def _refund(match: re.Match[str]) -> Request:
    order_id = int(match.group("id"))
    reason = _clean(match.group("reason") or "") or DEFAULT_REASON
    amount = match.groupdict().get("amount")
    if amount is None:
        follow = refund_after_lookup(order_id, reason)
        return Request(Call("get_order", {"order_id": order_id}), follow, "refund_order")
    args = {"order_id": order_id, "amount": _money(amount), "reason": reason}
    return Request(Call("refund_order", args))


def _email(match: re.Match[str]) -> Request:
    subject = _clean(match.group("subject") or "") or DEFAULT_SUBJECT
    body = match.group("body").strip()
    to = match.groupdict().get("to")
    if to is None:
        customer_id = int(match.group("id"))
        follow = email_after_lookup(customer_id, subject, body)
        return Request(Call("get_customer", {"customer_id": customer_id}), follow, "send_email")
    return Request(Call("send_email", {"to": to, "subject": subject, "body": body}))


def _duplicate(match: re.Match[str]) -> Request:
    invoice = _clean(match.group("invoice"))
    follow = refund_duplicate_after_lookup(invoice)
    return Request(Call("list_payments", {"invoice_number": invoice}), follow, "refund_order")


def _bank_details(match: re.Match[str]) -> Request | None:
    iban = re.sub(r"\s+", "", match.group("iban")).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}", iban):
        return None
    args = {"supplier_id": int(match.group("id")), "iban": iban}
    return Request(Call("update_supplier_bank_details", args))


def _phrase(template: str, build: Builder, example: str, *tools: str) -> Phrase:
    return Phrase(pattern(template), build, example, tools)


_BANK_PREFIX = r"(?:change|update|set)\s+(?:the\s+)?(?:bank\s+(?:details|account)|iban)"
_BANK_TAIL = r"\s+to\s+(?:iban\s+)?(?P<iban>[A-Za-z]{2}\d{2}[A-Za-z0-9 ]{10,40}?)"

PHRASES: tuple[Phrase, ...] = (
    _phrase(
        r"(?:find|search(?:\s+for)?|look\s*up)\s+customers?\s+(?:named|called|matching|"
        r"with\s+(?:the\s+)?name)\s+(?P<q>.+?)",
        _one("find_customers", query=_str("q")),
        "find customers named Dana Reyes",
        "find_customers",
    ),
    _phrase(
        r"search\s+(?:for\s+)?customers\s+(?:for\s+)?(?P<q>.+?)",
        _one("find_customers", query=_str("q")),
        "search customers Reyes",
        "find_customers",
    ),
    _phrase(
        r"{SHOW}\s+(?:the\s+)?customer\s+{ID}",
        _one("get_customer", customer_id=_int("id")),
        "look up customer 311",
        "get_customer",
    ),
    _phrase(
        r"(?:{LIST}\s+)?(?:all\s+)?(?:the\s+)?orders\s+(?:for|of|from|by)\s+(?:the\s+)?customer\s+{ID}",
        _one("list_orders", customer_id=_int("id")),
        "list orders for customer 311",
        "list_orders",
    ),
    _phrase(
        r"{SHOW}\s+(?:the\s+)?order\s+{ID}",
        _one("get_order", order_id=_int("id")),
        "show order 1042",
        "get_order",
    ),
    _phrase(
        r"(?:{LIST}\s+)?(?:all\s+)?(?:the\s+)?(?:customer\s+)?notes\s+(?:for|on|of|about)\s+"
        r"(?:the\s+)?customer\s+{ID}",
        _one("list_customer_notes", customer_id=_int("id")),
        "notes for customer 311",
        "list_customer_notes",
    ),
    _phrase(
        r"(?:add|write|leave|put)\s+(?:a\s+)?note\s+(?:to|on|for)\s+(?:the\s+)?customer\s+{ID}"
        r"\s*(?::|,|-|saying)\s*(?P<text>.+)",
        _one("add_customer_note", customer_id=_int("id"), text=_str("text")),
        "add a note to customer 311: called back, issue resolved",
        "add_customer_note",
    ),
    _phrase(
        r"(?:{LIST}\s+)?(?:all\s+)?(?:the\s+)?refunds\s+(?:for|on|of)\s+(?:the\s+)?order\s+{ID}",
        _one("list_refunds", order_id=_int("id")),
        "list refunds for order 1042",
        "list_refunds",
    ),
    _phrase(
        r"(?:issue\s+a\s+)?refund(?:\s+of)?\s+{AMOUNT}\s+(?:on|for|from|to|of)\s+(?:the\s+)?"
        r"order\s+{ID}{REASON}",
        _refund,
        "refund $40 on order 1042 because the item arrived damaged",
        "refund_order",
    ),
    _phrase(
        r"refund\s+(?:the\s+)?order\s+{ID}\s+(?:for|by|with)\s+{AMOUNT}{REASON}",
        _refund,
        "refund order 1042 for $40",
        "refund_order",
    ),
    _phrase(
        r"refund\s+(?:the\s+)?order\s+{ID}(?:\s+in\s+full|\s+fully)?{REASON}",
        _refund,
        "refund order 1042",
        "get_order",
        "refund_order",
    ),
    _phrase(
        r"(?:{LIST}\s+)?(?:all\s+)?(?:the\s+)?payments\s+(?:for|on|of|against)\s+(?:the\s+)?"
        r"invoice\s+{INV}",
        _one("list_payments", invoice_number=_str("invoice")),
        "payments for invoice INV-2024-118",
        "list_payments",
    ),
    _phrase(
        r"(?:customer\s+{ID}\s+(?:says|reports|tells\s+us)\s+(?:that\s+)?)?(?:the\s+)?"
        r"invoice\s+{INV}\s+was\s+(?:paid|charged)\s+(?:twice|double|two\s+times)"
        r"[\s,;:.!—–-]*(?:please\s+)?check\s+(?:it\s+)?and\s+refund\s+the\s+duplicate"
        r"(?:\s+(?:charge|payment))?",
        _duplicate,
        "customer 311 says invoice INV-2024-118 was paid twice — check and refund the duplicate",
        "list_payments",
        "refund_order",
    ),
    _phrase(
        r"(?:was|has|is|did)\s+(?:the\s+)?invoice\s+{INV}\s+(?:been\s+|get\s+)?(?:paid|charged)"
        r"(?:\s+(?:twice|double|two\s+times|more\s+than\s+once))?",
        _one("list_payments", invoice_number=_str("invoice")),
        "was invoice INV-2024-118 paid twice?",
        "list_payments",
    ),
    _phrase(
        r"{LIST}\s+(?:all\s+)?(?:the\s+)?(?P<status>received|posted|paid|held|rejected)\s+"
        r"(?:supplier\s+)?invoices",
        lambda m: Request(Call("list_invoices", _opt_status(m))),
        "list held invoices",
        "list_invoices",
    ),
    _phrase(
        r"(?:list|show(?:\s+me)?|display)\s+(?:all\s+)?(?:the\s+)?(?:supplier\s+)?invoices"
        r"(?:\s+(?:with|in|that\s+are|having)\s+(?:the\s+)?(?:status\s+)?(?P<status>[a-z_]+))?",
        lambda m: Request(Call("list_invoices", _opt_status(m))),
        "list invoices with status received",
        "list_invoices",
    ),
    _phrase(
        r"{SHOW}\s+(?:the\s+)?(?:supplier\s+)?invoice\s+{INV}",
        _one("get_invoice", invoice_number=_str("invoice")),
        "look up invoice ACME-1234",
        "get_invoice",
    ),
    _phrase(
        r"post\s+(?:the\s+)?(?:supplier\s+)?invoice\s+{INV}",
        _one("post_invoice", invoice_number=_str("invoice")),
        "post invoice ACME-1234",
        "post_invoice",
    ),
    _phrase(
        r"pay\s+(?:the\s+)?(?:supplier\s+)?invoice\s+{INV}",
        _one("pay_invoice", invoice_number=_str("invoice")),
        "pay invoice ACME-1234",
        "pay_invoice",
    ),
    _phrase(
        r"{SHOW}\s+(?:the\s+)?supplier\s+{ID}",
        _one("get_supplier", supplier_id=_int("id")),
        "show supplier 7",
        "get_supplier",
    ),
    _phrase(
        r"(?:list|show(?:\s+me)?|display)\s+(?:all\s+)?(?:the\s+)?suppliers",
        lambda m: Request(Call("list_suppliers", {})),
        "list suppliers",
        "list_suppliers",
    ),
    _phrase(
        r"{SHOW}\s+(?:the\s+)?(?:(?:purchase\s+order|po)\s+)?{PO}",
        _one("get_purchase_order", po_number=lambda m: m.group("po").upper()),
        "show purchase order PO-2024-0311",
        "get_purchase_order",
    ),
    _phrase(
        _BANK_PREFIX + r"\s+(?:of|for)\s+supplier\s+{ID}" + _BANK_TAIL,
        _bank_details,
        "change bank details of supplier 7 to DE89370400440532013000",
        "update_supplier_bank_details",
    ),
    _phrase(
        r"(?:change|update|set)\s+supplier\s+{ID}(?:'s)?\s+(?:bank\s+(?:details|account)|iban)"
        + _BANK_TAIL,
        _bank_details,
        "update supplier 7's IBAN to DE89370400440532013000",
        "update_supplier_bank_details",
    ),
    _phrase(
        r"(?:send\s+)?(?:an?\s+)?e-?mail\s+(?:to\s+)?(?:the\s+)?customer\s+{ID}{SUBJECT}"
        r"\s*:\s*(?P<body>.+)",
        _email,
        "email customer 311: your refund is on its way",
        "get_customer",
        "send_email",
    ),
    _phrase(
        r"(?:send\s+)?(?:an?\s+)?e-?mail\s+(?:to\s+)?{EMAIL}{SUBJECT}\s*:\s*(?P<body>.+)",
        _email,
        "email dana@example.com subject Your order: it has shipped",
        "send_email",
    ),
    _phrase(
        r"(?:(?:show|list|check|display|open)\s+(?:me\s+)?)?(?:the\s+)?(?:e-?mail\s+)?outbox",
        lambda m: Request(Call("list_outbox", {})),
        "show outbox",
        "list_outbox",
    ),
)
