"""A tour of every page, each seen by the role that uses it, with a screenshot of each.

``test_pages.py`` takes the tour into a temporary folder; regenerate the screenshots in
``docs/screenshots/`` (shown by the README) with::

    python -m tests.web.tour docs/screenshots

Data comes in the way it would in production: chats and decisions over the HTTP API,
invoices through ``tethra invoices process``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, sync_playwright

from tests.web.conftest import CHROMIUM, ROOT, Server, own_pg_database, running, signed_in


def api(server: Server, who: str) -> httpx.Client:
    auth = {"Authorization": f"Bearer {server.keys[who]}"}
    return httpx.Client(base_url=server.base, headers=auth, timeout=30)


def chat(server: Server, who: str, text: str) -> dict[str, Any]:
    """One message in a new thread, through the API; the run once it stops running."""
    with api(server, who) as http:
        thread = http.post("/threads").json()["thread_id"]
        accepted = http.post(f"/threads/{thread}/messages", json={"text": text})
        assert accepted.status_code == 202, accepted.text
        for _ in range(400):
            run: dict[str, Any] = http.get(f"/runs/{accepted.json()['run_id']}").json()
            if run["status"] not in ("queued", "running", "stalled"):
                return run
            time.sleep(0.05)
    raise AssertionError(f"run of {text!r} still running: {run}")


def waiting(server: Server, who: str, text: str) -> dict[str, Any]:
    """Chat until the risky call waits; the pending approval request."""
    run = chat(server, who, text)
    assert run["status"] == "waiting", run
    pending: dict[str, Any] = run["pending_approvals"][0]
    return pending


def approval(server: Server, approval_id: str) -> dict[str, Any]:
    with api(server, "aria") as http:
        body: dict[str, Any] = http.get(f"/approvals/{approval_id}").json()
        return body


def decide(server: Server, who: str, approval_id: str, **body: Any) -> None:
    with api(server, who) as http:
        response = http.post(f"/approvals/{approval_id}/decision", json=body)
        assert response.status_code == 200, response.text


def process_invoices(server: Server, folder: Path, count: int, seed: int = 1) -> None:
    """Generated invoices through the AP workflow, a few of them held by a check
    (a second batch in the same database needs another ``seed``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHRA_")}
    env |= {
        "TETHRA_DATABASE_URL": server.database_url,
        "TETHRA_SPOT_CHECK_SHARE": "0.3",
        "TETHRA_LOG_LEVEL": "WARNING",
    }
    for args in (
        ["generate", str(folder), "-n", str(count), "--seed", str(seed), "--exceptions", "0.3"],
        ["process", str(folder), "--as", "olivia"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "tethra.cli", "invoices", *args],
            cwd=ROOT,
            env=env,
            check=False,
            capture_output=True,
        )
        assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()


@dataclass(frozen=True)
class Scene:
    """What the tour left behind, for the pages to show."""

    pending: dict[str, Any]
    edited: dict[str, Any]
    executed: dict[str, Any]


def populate(server: Server, tmp: Path) -> Scene:
    done = waiting(server, "olivia", "refund $250 on order 1042")
    decide(server, "adam", done["id"], action="approve", comment="customer confirmed by phone")
    edited = waiting(server, "olivia", "refund $300 on order 1043 because it arrived damaged")
    decide(
        server,
        "erin",
        edited["id"],
        action="edit",
        comment="refund the damaged item only",
        args={**edited["args"], "amount": 40},
    )
    waiting(server, "olivia", "change bank details of supplier 7 to DE89 3704 0044 0532 0130 00")
    waiting(server, "olivia", "email customer 311: your refund is on its way")
    pending = waiting(
        server,
        "olivia",
        "customer 311 says invoice INV-2024-118 was paid twice — check and refund the duplicate",
    )
    chat(server, "olivia", "look up customer 311")
    process_invoices(server, tmp / "inbox", 30)
    return Scene(pending=pending, edited=edited, executed=done)


def tour(browser: Browser, server: Server, scene: Scene, out: Path) -> list[Path]:
    """Visit each page as its user and screenshot it; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    shots: list[Path] = []

    def shot(page: Any, name: str) -> None:
        page.wait_for_load_state("networkidle")
        path = out / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        shots.append(path)

    context = browser.new_context(base_url=server.base, viewport={"width": 1280, "height": 800})
    anonymous = context.new_page()
    anonymous.goto("/web/sign-in")
    shot(anonymous, "sign-in")
    context.close()

    adam = signed_in(browser, server, "adam")
    adam.goto("/web/inbox")
    adam.locator(f"tr[data-approval={scene.pending['id']}]").wait_for()
    shot(adam, "inbox")
    adam.goto(f"/web/inbox/{scene.pending['id']}")
    shot(adam, "approval")
    adam.goto(f"/web/inbox/{scene.edited['id']}")
    adam.locator("table.diff").wait_for()
    shot(adam, "approval-edited")
    adam.goto("/web/holds")
    shot(adam, "holds")
    first_hold = adam.locator("tr[data-hold] a").first
    first_hold.click()
    shot(adam, "hold")

    olivia = signed_in(browser, server, "olivia")
    olivia.goto(f"/web/chat/{scene.executed['thread_id']}")
    olivia.locator("li.divider", has_text="run completed").wait_for()
    shot(olivia, "chat")
    olivia.goto("/web/tools")
    olivia.get_by_label("Tool").select_option("refund_order")
    olivia.get_by_label("Arguments (JSON)").fill(
        '{"order_id": 1042, "amount": 250, "reason": "damaged"}'
    )
    olivia.get_by_role("button", name="Check").click()
    olivia.locator(".verdict").wait_for()
    shot(olivia, "tools")

    aria = signed_in(browser, server, "aria")
    aria.goto("/web/runs")
    shot(aria, "runs")
    aria.goto(f"/web/runs/{scene.executed['run_id']}")
    aria.locator("#chain-state").wait_for()
    shot(aria, "trace")
    aria.goto("/web/costs")
    shot(aria, "costs")
    for page in (adam, olivia, aria):
        page.context.close()
    return shots


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots").resolve()
    with (
        tempfile.TemporaryDirectory() as tmp,
        own_pg_database() as url,
        running(Path(tmp), url) as server,
        sync_playwright() as pw,
    ):
        scene = populate(server, Path(tmp))
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        for path in tour(browser, server, scene, out):
            print(path)
        browser.close()


if __name__ == "__main__":
    main()
