"""Three-way match, per line: what was invoiced against what was ordered (the PO line)
and what arrived (goods receipts).

Price and quantity variances are judged by the tolerance in force for the line's item
and supplier; billing for more than was received is always an exception (paying for
goods not delivered is what the match exists to stop). Lines are paired by SKU.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from policies.checks.engine import number
from policies.checks.results import Finding
from policies.matching.tolerances import Tolerances

CENT = Decimal("0.01")


def match_lines(
    invoice: Mapping[str, Any], po: Mapping[str, Any], tolerances: Tolerances
) -> list[Finding]:
    """Findings for every invoice line (passing ones included, for the audit trail)."""
    supplier_id = int(invoice["supplier_id"])
    by_sku = {line["sku"]: line for line in po.get("lines", [])}
    findings: list[Finding] = []
    for index, line in enumerate(invoice.get("lines", [])):
        where = f"invoice.lines[{index}]"
        sku = str(line.get("sku"))
        qty, price = number(line.get("qty")), number(line.get("unit_price"))
        if qty is None or price is None:
            continue  # the output checks already hold this invoice
        ordered = by_sku.get(sku)
        if ordered is None:
            findings.append(
                Finding(
                    check="line-on-po",
                    reason="unmatched_line",
                    passed=False,
                    expected=f"SKU {sku} on PO {po.get('po_number')}",
                    found="not on the PO",
                    amount_at_stake=(qty * price).quantize(CENT),
                    message=f"{where}: SKU {sku} is not on PO {po.get('po_number')}",
                    where=where,
                )
            )
            continue
        findings.extend(_line(where, sku, supplier_id, qty, price, ordered, tolerances))
    return findings


def _line(
    where: str,
    sku: str,
    supplier_id: int,
    qty: Decimal,
    price: Decimal,
    ordered: Mapping[str, Any],
    tolerances: Tolerances,
) -> list[Finding]:
    po_price, po_qty = Decimal(str(ordered["unit_price"])), Decimal(ordered["qty"])
    received = Decimal(ordered["qty_received"])
    out: list[Finding] = []

    tol, scope = tolerances.for_line("price", supplier_id, sku)
    ok = tol.allows(price - po_price, po_price)
    out.append(
        Finding(
            check="price-match",
            reason="price_mismatch",
            passed=ok,
            expected=f"unit price {po_price} (PO)",
            found=f"unit price {price}",
            tolerance=f"{tol.describe()} [{scope}]",
            amount_at_stake=(abs(price - po_price) * qty).quantize(CENT),
            message=f"{where} {sku}: PO price {po_price}, invoiced {price}",
            where=where,
        )
    )

    tol, scope = tolerances.for_line("quantity", supplier_id, sku)
    ok = tol.allows(qty - po_qty, po_qty)
    out.append(
        Finding(
            check="quantity-match",
            reason="quantity_mismatch",
            passed=ok,
            expected=f"quantity {po_qty} (PO)",
            found=f"quantity {qty}",
            tolerance=f"{tol.describe()} [{scope}]",
            amount_at_stake=(abs(qty - po_qty) * price).quantize(CENT),
            message=f"{where} {sku}: ordered {po_qty}, invoiced {qty}",
            where=where,
        )
    )

    out.append(
        Finding(
            check="received-covers-invoiced",
            reason="qty_over_received",
            passed=qty <= received,
            expected=f"at most {received} (received)",
            found=f"quantity {qty}",
            amount_at_stake=(max(qty - received, Decimal(0)) * price).quantize(CENT),
            message=f"{where} {sku}: received {received}, invoiced {qty}",
            where=where,
        )
    )
    return out
