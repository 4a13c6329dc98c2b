"""Seeded supplier invoices with matching POs and goods receipts, and ground truth.

``generate`` writes suppliers, purchase orders and receipts to the ERP and returns the
invoices as documents (what a supplier would send) with a label naming the one
exception seeded into each, or None for a clean one. The same seed gives the same
invoices, so the AP workflow can be scored (recall, precision) and benchmarked.
Every exception kind the workflow must catch is produced; clean invoices include
price variances inside the default tolerance, so a match that is too strict shows up
as false holds.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlmodel import Session

from foundation.db import utcnow
from foundation.errors import InvalidInput
from tools.erp.iban import with_check_digits
from tools.erp.models import (
    GoodsReceipt,
    PurchaseOrder,
    PurchaseOrderLine,
    Supplier,
    SupplierInvoice,
)

CENT = Decimal("0.01")
KINDS = (
    "price_mismatch",
    "quantity_mismatch",
    "unknown_supplier",
    "duplicate_invoice",
    "missing_po",
    "closed_po",
    "qty_over_received",
    "bank_details_changed",
    "arithmetic_error",
    "currency_mismatch",
)
_COUNTRIES = (("DE", "EUR", "0.19"), ("NL", "EUR", "0.21"), ("GB", "GBP", "0.20"))
_SUPPLIERS = 20


@dataclass(frozen=True)
class GeneratedInvoice:
    name: str
    invoice: dict[str, Any]
    exception: str | None
    """The seeded exception kind (a hold reason), or None for a clean invoice."""


def generate(
    session: Session,
    n: int,
    *,
    seed: int = 0,
    exception_share: float = 0.15,
    kinds: Sequence[str] = KINDS,
    now: datetime | None = None,
) -> list[GeneratedInvoice]:
    """Write the ERP side of ``n`` invoices and return the invoices with their labels.

    Exceptions are spread evenly over ``kinds`` and over the batch; ids are derived from
    ``seed`` so batches with different seeds can share one database."""
    rng = random.Random(seed)
    when = now or utcnow()
    base = 100_000 + (seed % 1000) * 1000
    if session.get(Supplier, base) is not None:
        raise InvalidInput(f"seed {seed} was already generated into this database; use another")
    suppliers = [_supplier(session, base + i, rng, when) for i in range(_SUPPLIERS)]
    session.flush()
    seeded = round(n * exception_share)
    slots = set(rng.sample(range(n), seeded)) if seeded else set()
    labels = iter([kinds[i % len(kinds)] for i in range(seeded)])
    out = []
    for i in range(n):
        kind = next(labels) if i in slots else None
        out.append(_one(session, rng, when, base, i, suppliers[i % _SUPPLIERS], kind))
    session.flush()
    return out


def _supplier(session: Session, sid: int, rng: random.Random, when: datetime) -> Supplier:
    country, currency, _ = _COUNTRIES[sid % len(_COUNTRIES)]
    supplier = Supplier(
        id=sid,
        name=f"Generated Supplier {sid}",
        country=country,
        currency=currency,
        iban=_iban(country, rng),
        created_at=when - timedelta(days=400),
    )
    session.add(supplier)
    return supplier


def _iban(country: str, rng: random.Random) -> str:
    return with_check_digits(country, "".join(str(rng.randrange(10)) for _ in range(18)))


def _one(
    session: Session,
    rng: random.Random,
    when: datetime,
    base: int,
    i: int,
    supplier: Supplier,
    kind: str | None,
) -> GeneratedInvoice:
    rate = Decimal(_COUNTRIES[supplier.id % len(_COUNTRIES)][2])
    po_number = f"PO-G{base // 1000}-{i:05d}"
    number = f"INV-{base // 1000}-{i:05d}"
    po = PurchaseOrder(
        po_number=po_number,
        supplier_id=supplier.id,
        status="closed" if kind == "closed_po" else "open",
        currency=supplier.currency,
        created_at=when - timedelta(days=20),
    )
    session.add(po)
    ordered = []
    for line_no in range(1, rng.randint(1, 4) + 1):
        qty = rng.randint(2, 40)
        price = Decimal(rng.randint(150, 30000)) / 100
        line = PurchaseOrderLine(
            po_number=po_number,
            line_no=line_no,
            sku=f"SKU-{rng.randint(1000, 9999)}-{line_no}",
            description=f"Generated item {line_no}",
            qty=qty,
            unit_price=price,
        )
        ordered.append(line)
    session.add_all(ordered)
    session.flush()
    short = kind == "qty_over_received"
    for index, line in enumerate(ordered):
        assert line.id is not None
        got = line.qty - 1 if short and index == 0 else line.qty
        received = when - timedelta(days=10)
        session.add(GoodsReceipt(po_line_id=line.id, qty_received=got, received_at=received))

    lines: list[dict[str, Any]] = []
    for line in ordered:
        price = line.unit_price
        if kind is None and rng.random() < 0.1:  # a variance finance's tolerance accepts
            price = (price * Decimal("1.01")).quantize(CENT, rounding=ROUND_HALF_UP)
        lines.append(
            {"sku": line.sku, "description": line.description, "qty": line.qty, "price": price}
        )
    if kind == "price_mismatch":
        lines[0]["price"] = (lines[0]["price"] * Decimal("1.10") + 1).quantize(CENT)
    if kind == "quantity_mismatch":
        lines[0]["qty"] -= 1

    invoice = _document(supplier, number, po_number, rate, lines, when)
    _seed_exception(session, rng, invoice, kind, supplier, base, i, when)
    return GeneratedInvoice(name=f"{number}.json", invoice=invoice, exception=kind)


def _document(
    supplier: Supplier,
    number: str,
    po_number: str,
    rate: Decimal,
    lines: list[dict[str, Any]],
    when: datetime,
) -> dict[str, Any]:
    rows = [
        {
            "line_no": n,
            "sku": ln["sku"],
            "description": ln["description"],
            "qty": ln["qty"],
            "unit_price": str(ln["price"]),
            "amount": str((ln["qty"] * ln["price"]).quantize(CENT)),
        }
        for n, ln in enumerate(lines, start=1)
    ]
    subtotal = sum((Decimal(r["amount"]) for r in rows), Decimal("0.00"))
    tax = (subtotal * rate).quantize(CENT, rounding=ROUND_HALF_UP)
    issued = (when - timedelta(days=5)).date()
    return {
        "supplier_id": supplier.id,
        "invoice_number": number,
        "po_number": po_number,
        "currency": supplier.currency,
        "invoice_date": issued.isoformat(),
        "due_date": (issued + timedelta(days=30)).isoformat(),
        "iban": supplier.iban,
        "tax_rate": str(rate),
        "lines": rows,
        "subtotal": str(subtotal),
        "tax": str(tax),
        "total": str(subtotal + tax),
    }


def _seed_exception(
    session: Session,
    rng: random.Random,
    invoice: dict[str, Any],
    kind: str | None,
    supplier: Supplier,
    base: int,
    i: int,
    when: datetime,
) -> None:
    if kind == "unknown_supplier":
        if rng.random() < 0.5:
            invoice["supplier_id"] = base + 900 + i  # never seen
        else:  # onboarded, not yet vetted
            fresh = Supplier(
                id=base + 500 + i,
                name=f"New Supplier {i}",
                country=supplier.country,
                currency=supplier.currency,
                iban=supplier.iban,
                status="new",
            )
            session.add(fresh)
            session.flush()
            session.get(PurchaseOrder, invoice["po_number"]).supplier_id = fresh.id  # type: ignore[union-attr]
            invoice["supplier_id"] = fresh.id
    elif kind == "duplicate_invoice":  # the same number was filed last month
        total = Decimal(invoice["total"])
        session.add(
            SupplierInvoice(
                invoice_number=invoice["invoice_number"],
                supplier_id=supplier.id,
                currency=supplier.currency,
                subtotal=Decimal(invoice["subtotal"]),
                tax=Decimal(invoice["tax"]),
                total=total,
                invoice_date=(when - timedelta(days=35)).date(),
                due_date=(when - timedelta(days=5)).date(),
                status="posted",
            )
        )
    elif kind == "missing_po":
        if rng.random() < 0.5:
            del invoice["po_number"]
        else:
            invoice["po_number"] = invoice["po_number"] + "-X"
    elif kind == "bank_details_changed":
        invoice["iban"] = _iban(supplier.country, rng)
    elif kind == "arithmetic_error":
        field = rng.choice(("total", "tax", "line"))
        if field == "line":
            amount = Decimal(invoice["lines"][0]["amount"]) + 10
            invoice["lines"][0]["amount"] = str(amount)
        else:
            invoice[field] = str(Decimal(invoice[field]) + Decimal("10.00"))
    elif kind == "currency_mismatch":
        invoice["currency"] = "USD"
