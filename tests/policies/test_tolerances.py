"""Tolerance shapes as finance writes them: AND, OR, one-sided, scoped, blank."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from foundation.errors import ConfigError
from policies.checks.results import Finding
from policies.matching.three_way import match_lines
from policies.matching.tolerances import Tolerances

D = Decimal
TOLERANCES = """
version: t1
default:
  price: {absolute: 5.00, percent: 2, combine: and}
  quantity: {absolute: 0}
suppliers:
  7:
    price: {absolute: 5.00, percent: 2, combine: or}
  8:
    price: {percent: 10, direction: over}
  9:
    price:
items:
  SKU-FREE:
    price: {absolute: 1000}
"""


def tolerances() -> Tolerances:
    import yaml

    return Tolerances.from_data(yaml.safe_load(TOLERANCES))


def price_ok(supplier: int, sku: str, po: str, invoiced: str) -> bool:
    invoice = {"supplier_id": supplier, "lines": [{"sku": sku, "qty": 1, "unit_price": invoiced}]}
    po_facts = {
        "po_number": "PO-1",
        "lines": [{"sku": sku, "qty": 1, "unit_price": po, "qty_received": 1}],
    }
    findings = match_lines(invoice, po_facts, tolerances())
    price: Finding = next(f for f in findings if f.reason == "price_mismatch")
    return price.passed


def test_and_needs_both_limits() -> None:
    assert price_ok(1, "A", "100.00", "101.99")  # 1.99: under 2% and under 5.00
    assert not price_ok(1, "A", "100.00", "102.50")  # 2.5%: percent fails
    assert not price_ok(1, "A", "1000.00", "1006.00")  # 0.6% but 6.00: absolute fails


def test_or_needs_either_limit() -> None:
    assert price_ok(7, "A", "1000.00", "1006.00")  # 6.00 > 5.00, but 0.6% <= 2%
    assert price_ok(7, "A", "10.00", "14.00")  # 40%, but 4.00 <= 5.00
    assert not price_ok(7, "A", "1000.00", "1030.00")  # 30.00 and 3%: both fail


def test_one_sided_only_checks_over_billing() -> None:
    assert price_ok(8, "A", "100.00", "109.00")
    assert not price_ok(8, "A", "100.00", "111.00")
    assert price_ok(8, "A", "100.00", "50.00")  # billed less than agreed: not an exception
    assert not price_ok(1, "A", "100.00", "50.00")  # two-sided default: it is


def test_item_scope_beats_supplier_scope_beats_default() -> None:
    assert price_ok(9, "SKU-FREE", "100.00", "900.00")  # item tolerance 1000
    assert not price_ok(9, "A", "100.00", "100.01")  # supplier 9: blank
    t = tolerances()
    assert t.for_line("price", 9, "SKU-FREE")[1] == "item SKU-FREE"
    assert t.for_line("price", 7, "A")[1] == "supplier 7"
    assert t.for_line("price", 3, "A")[1] == "default"
    assert t.for_line("quantity", 7, "A")[1] == "default"  # supplier 7 says nothing on qty


def test_a_blank_tolerance_blocks_any_variance_but_not_an_exact_match() -> None:
    assert not price_ok(9, "A", "100.00", "100.01")
    assert not price_ok(9, "A", "100.00", "99.99")
    assert price_ok(9, "A", "100.00", "100.00")
    assert Tolerances.from_data({}).for_line("price", 1, "A")[0].blank  # nothing set: blocks


def test_quantity_and_receipts_are_matched_per_line() -> None:
    invoice = {"supplier_id": 1, "lines": [{"sku": "A", "qty": 5, "unit_price": "2.00"}]}
    po = {
        "po_number": "P",
        "lines": [{"sku": "A", "qty": 4, "unit_price": "2.00", "qty_received": 3}],
    }
    failed = {f.reason: f for f in match_lines(invoice, po, tolerances()) if not f.passed}
    assert set(failed) == {"quantity_mismatch", "qty_over_received"}
    assert failed["qty_over_received"].amount_at_stake == D("4.00")  # 2 units not received
    assert failed["quantity_mismatch"].expected == "quantity 4 (PO)"


def test_a_broken_tolerance_file_names_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "t.yaml"
    bad.write_text("default:\n  price: {percent: 200}\n")
    with pytest.raises(ConfigError, match=r"default.price.percent"):
        Tolerances.from_file(bad)


def test_the_shipped_file_loads() -> None:
    shipped = Tolerances.from_file()
    assert not shipped.for_line("price", 1, "X")[0].blank
