"""Every page renders for the role that uses it (the screenshot tour), and refuses the
roles that may not see it."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.web.conftest import Server, signed_in
from tests.web.tour import populate, tour

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
    browser: Browser, server: Server, who: str, path: str, needs: str
) -> None:
    page = signed_in(browser, server, who)
    response = page.goto(path)
    assert response is not None
    assert response.status == 403
    assert f"this page needs the {needs} role" in page.locator("main").inner_text()
    assert path not in [a.get_attribute("href") for a in page.locator("header nav a").all()]
    page.context.close()
