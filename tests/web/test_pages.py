"""Every page renders for the role that uses it (the screenshot tour), and refuses the
roles that may not see it."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.web.conftest import Server, signed_in
from tests.web.tour import populate, process_invoices, tour

PAGES = (
    *("sign-in", "inbox", "approval", "approval-edited", "holds", "hold", "chat", "tools"),
    *("runs", "trace", "costs"),
)


def test_the_tour_renders_every_page(browser: Browser, pg_server: Server, tmp_path: Path) -> None:
    scene = populate(pg_server, tmp_path)
    shots = tour(browser, pg_server, scene, tmp_path / "shots")
    assert [p.stem for p in shots] == list(PAGES)
    assert all(p.stat().st_size > 10_000 for p in shots)  # a real rendering, not a blank


@pytest.mark.parametrize(
    ("who", "path", "needs"),
    [
        ("olivia", "/web/inbox", "approver or auditor"),
        ("olivia", "/web/holds", "approver or auditor"),
        ("olivia", "/web/costs", "auditor"),
        ("adam", "/web/chat", "operator"),
        ("aria", "/web/chat", "operator"),
        ("adam", "/web/costs", "auditor"),
    ],
)
def test_a_page_refuses_a_role_that_may_not_see_it(
    browser: Browser, pg_server: Server, who: str, path: str, needs: str
) -> None:
    page = signed_in(browser, pg_server, who)
    response = page.goto(path)
    assert response is not None
    assert response.status == 403
    assert f"this page needs the {needs} role" in page.locator("main").inner_text()
    assert path not in [a.get_attribute("href") for a in page.locator("header nav a").all()]
    page.context.close()


def test_an_approver_releases_a_hold_and_an_auditor_only_reads_it(
    browser: Browser, pg_server: Server, tmp_path: Path
) -> None:
    process_invoices(pg_server, tmp_path / "more", 20, seed=2)
    aria = signed_in(browser, pg_server, "aria")
    aria.goto("/web/holds")
    hold_link = aria.locator("tr[data-hold] a").first
    hold_id = hold_link.inner_text()
    hold_link.click()
    expect(aria.locator("#decide")).to_contain_text("Read-only")
    expect(aria.get_by_role("button", name="Release (file it)")).to_have_count(0)

    adam = signed_in(browser, pg_server, "adam")
    adam.goto(f"/web/holds/{hold_id}")
    adam.get_by_label("Reason or note (kept in the audit trail)").fill("price agreed by phone")
    adam.get_by_role("button", name="Release (file it)").click()
    expect(adam.locator(".flash.ok")).to_contain_text("Hold released")
    expect(adam.locator(".heading .status")).to_have_text("released")
    expect(adam.locator("#decide")).to_contain_text("This hold is released")
    aria.goto("/web/holds?status=released")
    expect(aria.locator(f"tr[data-hold={hold_id}]")).to_contain_text("by adam")
