"""Sign-in, sessions and bad input on the pages, on SQLite and PostgreSQL (no browser:
the app in-process with the scripted-model harness)."""

from __future__ import annotations

import re
import time

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import col

from api.web.session import Signer
from foundation.db import session_scope
from foundation.users import User
from tests.api.client import Api
from tests.api.conftest import OpenApi, open_api
from tests.graph.harness import call, executions, say, turn

__all__ = ["open_api"]  # the API harness fixture, reused for the pages

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def sign_in(api: Api, who: str, next_: str = "/web") -> str:
    """Signs the test client in as ``who``; returns the session's CSRF token."""
    api.client.cookies.clear()
    form = api.client.get("/web/sign-in")
    token = CSRF.search(form.text)
    assert token is not None
    done = api.client.post(
        "/web/sign-in",
        data={"api_key": api.keys[who], "csrf_token": token.group(1), "next": next_},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    page = api.client.get("/web/runs")
    session_token = CSRF.search(page.text)
    assert session_token is not None
    return session_token.group(1)


def waiting_request(api: Api) -> str:
    thread = api.new_thread("olivia")
    run = api.send(thread, "refund $250 on order 7")
    assert api.wait_run(run["run_id"])["status"] == "waiting"
    pending = api.get(f"/runs/{run['run_id']}", "olivia").json()["pending_approvals"]
    approval_id: str = pending[0]["id"]
    return approval_id


def test_a_signed_token_rejects_tampering_another_key_and_expiry() -> None:
    signer = Signer(b"k" * 32)
    token = signer.sign({"u": "adam"}, ttl_s=60)
    assert signer.unsign(token) is not None
    body, mac = token.split(".")
    assert signer.unsign(body[:-2] + "AA." + mac) is None
    assert signer.unsign(token + "x") is None
    assert Signer(b"j" * 32).unsign(token) is None
    assert signer.unsign(signer.sign({"u": "adam"}, ttl_s=-1)) is None
    assert signer.unsign("not-a-token") is None


def test_sign_in_needs_the_form_token_and_never_redirects_off_site(open_api: OpenApi) -> None:
    with open_api([]) as api:
        no_token = api.client.post(
            "/web/sign-in", data={"api_key": api.keys["adam"]}, follow_redirects=False
        )
        assert no_token.status_code == 403
        assert "tethra_session" not in no_token.cookies
        api.client.cookies.clear()
        token = CSRF.search(api.client.get("/web/sign-in").text)
        assert token is not None
        done = api.client.post(
            "/web/sign-in",
            data={
                "api_key": api.keys["adam"],
                "csrf_token": token.group(1),
                "next": "//evil.example/x",
            },
            follow_redirects=False,
        )
        assert done.status_code == 303
        assert done.headers["location"] == "/web/inbox"


def test_deactivating_a_user_ends_their_browser_session(open_api: OpenApi, engine: Engine) -> None:
    with open_api([]) as api:
        sign_in(api, "aria")
        assert api.client.get("/web/runs").status_code == 200
        with session_scope(engine) as session:
            session.execute(update(User).where(col(User.name) == "aria").values(active=False))
        after = api.client.get("/web/runs", follow_redirects=False)
        assert after.status_code == 303
        assert after.headers["location"].startswith("/web/sign-in")


def test_bad_decision_input_is_a_clear_4xx_and_changes_nothing(
    open_api: OpenApi, engine: Engine
) -> None:
    with open_api([turn(call("refund", "c1", order_id=7, amount=250))]) as api:
        approval_id = waiting_request(api)
        csrf = sign_in(api, "adam")
        url = f"/web/inbox/{approval_id}/decide"
        unknown = api.client.post(url, data={"action": "explode", "csrf_token": csrf})
        assert unknown.status_code == 422
        assert "action" in unknown.text
        not_json = api.client.post(
            url, data={"action": "edit", "args": "{amount: 5", "csrf_token": csrf}
        )
        assert not_json.status_code == 422
        assert "not valid JSON" in not_json.text
        wrong_type = api.client.post(
            url,
            data={
                "action": "edit",
                "args": '{"order_id": 7, "amount": "lots"}',
                "csrf_token": csrf,
            },
        )
        assert wrong_type.status_code == 422
        assert "amount" in wrong_type.text
        missing = api.client.post(
            "/web/inbox/apr_00000000deadbeef/decide", data={"action": "approve", "csrf_token": csrf}
        )
        assert missing.status_code == 404
        detail = api.get(f"/approvals/{approval_id}", "aria").json()
        assert (detail["status"], detail["decisions"]) == ("pending", [])
        assert executions["refund"] == 0


def test_the_chat_stream_is_only_for_those_who_may_read_the_thread(open_api: OpenApi) -> None:
    with open_api([turn(call("refund", "c1", order_id=7, amount=250))]) as api:
        thread = api.new_thread("olivia")
        run = api.send(thread, "refund $250 on order 7")
        api.wait_run(run["run_id"])
        sign_in(api, "oscar")
        assert api.client.get(f"/web/chat/{thread}").status_code == 403
        assert api.client.get(f"/web/chat/{thread}/events").status_code == 403
        sign_in(api, "olivia")
        page = api.client.get(f"/web/chat/{thread}")
        assert page.status_code == 200
        assert "Waiting for approval" in page.text
        started = time.monotonic()
        with api.client.stream("GET", f"/web/chat/{thread}/events?after=0") as stream:
            assert stream.status_code == 200
            items = []
            for line in stream.iter_lines():
                if line.startswith("event: item"):
                    items.append(line)
                if len(items) >= 3 or time.monotonic() - started > 10:
                    break
        assert len(items) == 3


def test_a_run_whose_only_call_was_denied_does_not_read_as_a_plain_success(
    open_api: OpenApi,
) -> None:
    script = [turn(call("refund", "r1", order_id=7, amount=20000)), say("not allowed")]
    with open_api(script) as api:
        thread = api.new_thread("olivia")
        run = api.wait_run(api.send(thread, "refund $20,000 on order 7")["run_id"])
        assert run["status"] == "completed"
        sign_in(api, "olivia")
        page = api.client.get("/web/runs").text
        row = page[page.index(run["id"]) :].split("</tr>")[0]
        assert "completed" in row
        assert "1 denied" in row
