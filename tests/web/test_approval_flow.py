"""The pages in a real browser: an operator's risky chat waits, an approver approves it
in the inbox, and the operator sees the result in the chat (live) and in the trace;
an auditor reads but cannot decide; forged posts change nothing."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.web.conftest import Server, signed_in
from tests.web.tour import approval, waiting


def test_operator_chats_approver_approves_result_in_chat_and_trace(
    browser: Browser, server: Server
) -> None:
    olivia = signed_in(browser, server, "olivia")
    expect(olivia).to_have_url(re.compile(r"/web/chat$"))
    olivia.get_by_role("link", name="New conversation").click()
    olivia.get_by_label("Message").fill("refund $250 on order 1042")
    olivia.get_by_role("button", name="Send").click()

    wait = olivia.locator("li.card.wait")
    expect(wait).to_contain_text("Waiting for approval", timeout=20_000)
    expect(wait).to_contain_text("refund-large")
    approval_id = wait.get_attribute("data-approval")
    assert approval_id is not None
    assert approval_id.startswith("apr_")
    assert approval(server, approval_id)["status"] == "pending"

    adam = signed_in(browser, server, "adam")
    expect(adam).to_have_url(re.compile(r"/web/inbox$"))
    row = adam.locator(f"tr[data-approval={approval_id}]")
    expect(row).to_contain_text("refund_order")
    expect(row).to_contain_text("olivia")
    expect(row).to_contain_text("review · 1 approver")
    row.get_by_role("link", name=approval_id).click()
    expect(adam.locator(".args")).to_contain_text('"order_id": 1042')
    expect(adam.locator(".context")).to_contain_text("refund $250 on order 1042")
    adam.get_by_label("Comment (kept in the audit trail)").fill("customer confirmed by phone")
    adam.get_by_role("button", name="Approve", exact=True).click()
    expect(adam.locator(".flash.ok")).to_have_text("You approved this call.")
    expect(adam.locator("#approval-state")).to_have_text(re.compile("approved|executed"))

    # Olivia's page was never reloaded: the stream brings the decision and the result.
    expect(olivia.locator("li.card.decided")).to_contain_text("adam approved", timeout=20_000)
    expect(olivia.locator("li.card.decided")).to_contain_text("customer confirmed by phone")
    expect(olivia.locator("li.note.ok")).to_contain_text("refund_order ran")
    expect(olivia.locator("li.divider").last).to_contain_text("run completed")
    expect(olivia.locator("li.bubble.agent").last).to_contain_text("1042")
    done = approval(server, approval_id)
    assert (done["status"], done["outcome"]) == ("approved", "succeeded")

    olivia.locator("li.divider").last.get_by_role("link", name="trace").click()
    expect(olivia.locator("#run-status")).to_have_text("completed")
    timeline = olivia.locator("table.timeline")
    expect(timeline.locator("tr[data-kind=approval_decision]")).to_contain_text("adam approved")
    expect(timeline.locator("tr[data-kind=tool_executed]")).to_have_count(1)
    expect(timeline.locator("tr[data-kind=handoff]")).to_contain_text("ops -> support")
    model_call = timeline.locator("tr[data-kind=model_call]").first
    expect(model_call).to_contain_text("offline")
    expect(model_call.locator("td.num").first).to_have_text(re.compile(r"\d+ / \d+"))
    expect(olivia.locator("#chain-state")).to_contain_text("verified")


def test_auditor_reads_everything_but_cannot_decide(browser: Browser, server: Server) -> None:
    pending = waiting(server, "olivia", "refund $300 on order 1043")
    aria = signed_in(browser, server, "aria")
    expect(aria).to_have_url(re.compile(r"/web/runs$"))
    aria.goto("/web/inbox")
    expect(aria.get_by_text("Read-only: you can read every request")).to_be_visible()
    row = aria.locator(f"tr[data-approval={pending['id']}]")
    expect(row.locator("input[type=checkbox]")).to_have_count(0)
    expect(aria.get_by_role("button", name="Approve selected")).to_have_count(0)

    aria.goto(f"/web/inbox/{pending['id']}")
    expect(aria.locator(".args")).to_contain_text('"order_id": 1043')
    expect(aria.get_by_role("button", name="Approve", exact=True)).to_have_count(0)
    expect(aria.locator("#decide")).to_contain_text("Read-only: deciding needs the approver role")

    # Even with her own valid CSRF token, a hand-made post is refused.
    csrf = aria.locator("input[name=csrf_token]").first.get_attribute("value")
    forged = aria.request.post(
        f"/web/inbox/{pending['id']}/decide",
        form={"action": "approve", "csrf_token": csrf or ""},
        max_redirects=0,
    )
    assert forged.status == 403
    assert "needs the approver role" in forged.text()
    assert approval(server, pending["id"])["status"] == "pending"

    aria.goto(f"/web/runs/{pending['run_id']}")
    expect(aria.locator("#run-status")).to_have_text("waiting")
    expect(aria.locator("#chain-state")).to_contain_text("verified")


@pytest.mark.parametrize("token", [None, "forged-token"])
def test_a_decision_posted_without_the_csrf_token_is_refused(
    browser: Browser, server: Server, token: str | None
) -> None:
    pending = waiting(server, "olivia", "refund $150 on order 1044")
    adam = signed_in(browser, server, "adam")  # a valid session cookie rides along
    form: dict[str, str | float | bool] = {"action": "approve", "comment": "forged"}
    if token is not None:
        form["csrf_token"] = token
    forged = adam.request.post(f"/web/inbox/{pending['id']}/decide", form=form, max_redirects=0)
    assert forged.status == 403
    assert "CSRF" in forged.text()
    assert approval(server, pending["id"])["status"] == "pending"
    assert approval(server, pending["id"])["decisions"] == []


def test_the_requester_is_shown_they_cannot_approve_their_own_call(
    browser: Browser, server: Server
) -> None:
    pending = waiting(server, "root", "refund $120 on order 1045")
    root = signed_in(browser, server, "root")  # an admin holds every role, even approver
    root.goto(f"/web/inbox/{pending['id']}")
    expect(root.locator("#decide")).to_contain_text("You asked for this call")
    expect(root.get_by_role("button", name="Approve", exact=True)).to_have_count(0)
    csrf = root.locator("input[name=csrf_token]").first.get_attribute("value")
    attempt = root.request.post(
        f"/web/inbox/{pending['id']}/decide",
        form={"action": "approve", "csrf_token": csrf or ""},
        max_redirects=0,
    )
    assert attempt.status == 403
    assert "the requester of a call cannot decide on it" in attempt.text()
    assert approval(server, pending["id"])["status"] == "pending"


def test_bulk_approval_takes_low_tiers_only_and_the_inbox_updates_live(
    browser: Browser, server: Server
) -> None:
    erin = signed_in(browser, server, "erin")
    low = waiting(server, "olivia", "refund $110 on order 1046")
    high = waiting(
        server, "olivia", "change bank details of supplier 7 to DE89 3704 0044 0532 0130 00"
    )
    # Both arrived after the page loaded: the table polls.
    low_row = erin.locator(f"tr[data-approval={low['id']}]")
    high_row = erin.locator(f"tr[data-approval={high['id']}]")
    expect(low_row).to_be_visible()
    expect(high_row).to_contain_text("review · 2 approvers")
    expect(high_row.locator("input[type=checkbox]")).to_have_count(0)

    low_row.locator("input[type=checkbox]").check()
    erin.wait_for_timeout(2500)  # a poll in between keeps the tick
    expect(low_row.locator("input[type=checkbox]")).to_be_checked()

    # A high-tier id slipped into the form by hand is refused on the server.
    erin.evaluate(
        """id => { const i = document.createElement('input'); i.type = 'hidden';
        i.name = 'ids'; i.value = id; document.getElementById('bulk-form').append(i); }""",
        high["id"],
    )
    erin.get_by_role("button", name="Approve selected").click()
    results = erin.locator("#bulk-results")
    expect(results.locator("li.ok")).to_contain_text(low["id"])
    expect(results.locator("li.bad")).to_contain_text("needs 2 approvers")
    assert approval(server, high["id"])["status"] == "pending"
    assert approval(server, low["id"])["status"] == "approved"


def page_text(page: Page) -> str:
    return page.locator("main").inner_text()


def test_sign_in_refuses_a_wrong_key_and_sign_out_ends_the_session(
    browser: Browser, server: Server
) -> None:
    context = browser.new_context(base_url=server.base)
    page = context.new_page()
    page.goto("/web/inbox")
    expect(page).to_have_url(re.compile(r"/web/sign-in\?next=/web/inbox"))
    page.fill("input[name=api_key]", "tk_not-a-real-key")
    page.click("button[type=submit]")
    expect(page.locator(".flash.error")).to_contain_text("matches no active user")
    page.fill("input[name=api_key]", server.keys["adam"])
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/web/inbox$"))
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/web/sign-in"))
    page.goto("/web/inbox")
    expect(page).to_have_url(re.compile(r"/web/sign-in"))
    assert "Sign in" in page_text(page)
    context.close()
