"""Declarative output checks: each kind, expected vs found, and a broken file."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from foundation.errors import ConfigError
from policies.checks.engine import run_checks
from policies.checks.schema import load_checks

CHECKS = load_checks()


def invoice(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "supplier_id": 7,
        "invoice_number": "INV-1",
        "po_number": "PO-1",
        "currency": "EUR",
        "invoice_date": "2026-11-01",
        "iban": "DE00X",
        "tax_rate": "0.19",
        "lines": [
            {"line_no": 1, "sku": "A", "qty": 2, "unit_price": "10.00", "amount": "20.00"},
            {"line_no": 2, "sku": "B", "qty": 1, "unit_price": "5.55", "amount": "5.55"},
        ],
        "subtotal": "25.55",
        "tax": "4.85",
        "total": "30.40",
    }
    doc.update(changes)
    return doc


def facts(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "supplier": {
            "id": 7,
            "status": "active",
            "currency": "EUR",
            "iban": "DE00X",
            "bank_changed_recently": False,
        },
        "po": {"po_number": "PO-1", "supplier_id": 7, "status": "open", "currency": "EUR"},
        "duplicates": [],
    }
    base.update(changes)
    return base


def failed(doc: dict[str, Any], erp: dict[str, Any] | None = None) -> dict[str, Any]:
    report = run_checks(CHECKS, {"invoice": doc, "facts": erp or facts()}, Decimal("30.40"))
    return {f.check: f for f in report.failed}


def test_a_clean_invoice_passes_every_check() -> None:
    assert failed(invoice()) == {}


def test_required_and_formats() -> None:
    found = failed(invoice(invoice_date="01/11/2026", currency="EURO", total="30.4O"))
    assert set(found) >= {"date-format", "currency-format", "amount-format"}
    assert found["date-format"].expected == "a date (YYYY-MM-DD)"
    assert found["date-format"].found == "01/11/2026"
    missing = invoice()
    del missing["invoice_number"]
    assert failed(missing)["required-fields"].where == "invoice.invoice_number"


def test_ranges() -> None:
    lines = invoice()["lines"]
    lines[0]["qty"] = 0
    found = failed(invoice(lines=lines, tax_rate="0.9"))
    assert found["quantity-range"].where == "invoice.lines[0].qty"
    assert "tax-rate-range" in found


def test_arithmetic_states_expected_and_found() -> None:
    found = failed(invoice(total="31.40"))
    check = found["total-is-subtotal-plus-tax"]
    assert check.reason == "arithmetic_error"
    assert "30.40" in check.expected
    assert check.found == "invoice.total = 31.40"


def test_tax_within_rounding_passes_beyond_it_fails() -> None:
    assert failed(invoice(tax="4.86", total="30.41")) == {}  # 25.55 x 0.19 = 4.8545
    assert "tax-is-rate-times-subtotal" in failed(invoice(tax="4.88", total="30.43"))


def test_line_amount_is_qty_times_price() -> None:
    lines = invoice()["lines"]
    lines[1]["amount"] = "6.55"
    found = failed(invoice(lines=lines, subtotal="26.55", tax="5.04", total="31.59"))
    assert found["line-amounts"].where == "invoice.lines[1]"


def test_reference_checks_against_live_data() -> None:
    assert failed(invoice(), facts(supplier=None))["supplier-known"].reason == "unknown_supplier"
    new = facts()
    new["supplier"]["status"] = "new"
    assert failed(invoice(), new)["supplier-vetted"].found == "new"
    assert "not-a-duplicate" in failed(invoice(), facts(duplicates=["invoice id 3 (posted)"]))
    assert failed(invoice(), facts(po=None))["po-exists"].reason == "missing_po"
    closed = facts()
    closed["po"]["status"] = "closed"
    assert failed(invoice(), closed)["po-open"].reason == "closed_po"
    assert failed(invoice(iban="DE99Y"))["bank-account-on-file"].found == "DE99Y"
    assert "currency-of-po" in failed(invoice(currency="USD"))


def test_one_cause_gives_one_finding() -> None:
    found = failed(invoice(), facts(supplier=None))
    assert "supplier-vetted" not in found  # skipped: requires supplier-known
    assert "bank-account-on-file" not in found


def test_a_broken_check_file_names_the_check(tmp_path: Path) -> None:
    bad = tmp_path / "checks.yaml"
    bad.write_text(
        "version: x\nchecks:\n  - {name: a, kind: required, fields: [x], reason: nope}\n"
    )
    with pytest.raises(ConfigError, match="reason 'nope'"):
        load_checks(bad)
    bad.write_text(
        "version: x\nchecks:\n"
        "  - {name: a, kind: required, fields: [x], reason: missing_po, requires: [b]}\n"
    )
    with pytest.raises(ConfigError, match="requires b"):
        load_checks(bad)
