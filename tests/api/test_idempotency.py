"""Idempotency-Key: a retried POST gets the first answer and its effect happens once."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from api.idempotency import IdempotencyKey, request_hash
from api.schemas import MessageIn
from graph.records import Run
from tests.api.conftest import OpenApi
from tests.graph.harness import call, executions, say, turn
from tethra.users import User


def runs_in(engine: Engine, thread: str) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).where(Run.thread_id == thread)).one())


def test_a_repeated_message_gets_the_first_answer_and_starts_one_run(open_api: OpenApi) -> None:
    with open_api([say("hello"), say("again")]) as api:
        thread = api.new_thread()
        url, key = f"/threads/{thread}/messages", {"Idempotency-Key": "msg-1"}
        first = api.post(url, "olivia", json={"text": "hi"}, headers=key)
        assert first.status_code == 202
        api.wait_run(first.json()["run_id"])
        repeat = api.post(url, "olivia", json={"text": "hi"}, headers=key)
        assert (repeat.status_code, repeat.json()) == (202, first.json())
        assert repeat.headers["idempotent-replayed"] == "true"
        assert runs_in(api.rt.gov.engine, thread) == 1

        other = api.post(url, "olivia", json={"text": "something else"}, headers=key)
        assert other.status_code == 422
        assert "different request" in other.json()["error"]["message"]
        assert runs_in(api.rt.gov.engine, thread) == 1


def test_a_repeat_while_the_first_is_in_progress_is_a_conflict(open_api: OpenApi) -> None:
    with open_api([say("hello")]) as api:
        thread = api.new_thread()
        url = f"/threads/{thread}/messages"
        with Session(api.rt.gov.engine) as session:  # another process is mid-way
            session.add(
                IdempotencyKey(
                    user_name="olivia",
                    key="busy",
                    method="POST",
                    path=url,
                    request_hash=request_hash("POST", url, MessageIn(text="hi")),
                )
            )
            session.commit()
        response = api.post(url, "olivia", json={"text": "hi"}, headers={"Idempotency-Key": "busy"})
        assert response.status_code == 409
        assert "still in progress" in response.json()["error"]["message"]
        assert runs_in(api.rt.gov.engine, thread) == 0


def test_a_repeated_decision_is_applied_once(open_api: OpenApi) -> None:
    with open_api([turn(call("refund", "c1", order_id=7, amount=250)), say("done")]) as api:
        run = api.send(api.new_thread(), "refund $250 on order 7")
        [pending] = api.wait_run(run["run_id"])["pending_approvals"]
        url, key = f"/approvals/{pending['id']}/decision", {"Idempotency-Key": "d-1"}
        body = {"action": "approve", "comment": "ok"}
        first = api.post(url, "adam", json=body, headers=key)
        repeat = api.post(url, "adam", json=body, headers=key)
        assert first.status_code == repeat.status_code == 200
        assert repeat.json() == first.json()
        assert len(first.json()["decisions"]) == 1
        assert executions["refund"] == 1
        # Without the key, the same decision again is refused: it was already made.
        assert api.post(url, "adam", json=body).status_code == 409


def test_a_repeated_user_creation_never_shows_the_key_twice(open_api: OpenApi) -> None:
    with open_api([]) as api:
        key = {"Idempotency-Key": "u-1"}
        first = api.post("/users", "root", json={"name": "nina", "role": "auditor"}, headers=key)
        repeat = api.post("/users", "root", json={"name": "nina", "role": "auditor"}, headers=key)
        assert (first.status_code, repeat.status_code) == (201, 201)
        assert first.json()["api_key"].startswith("tk_")
        assert repeat.json() == {**first.json(), "api_key": None}
        assert (
            api.get("/users/me", None, headers={"X-API-Key": first.json()["api_key"]}).json()[
                "name"
            ]
            == "nina"
        )
        with Session(api.rt.gov.engine) as session:
            assert session.exec(select(User).where(User.name == "nina")).one()


def test_a_failed_request_releases_its_key(open_api: OpenApi) -> None:
    with open_api([]) as api:
        key = {"Idempotency-Key": "u-2"}
        taken = api.post("/users", "root", json={"name": "adam", "role": "auditor"}, headers=key)
        assert taken.status_code == 409
        retry = api.post("/users", "root", json={"name": "nina", "role": "auditor"}, headers=key)
        assert retry.status_code == 201
