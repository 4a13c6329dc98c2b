"""Idempotency-Key: a retried POST gets the first answer and its effect happens once."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi import Response
from pydantic import BaseModel
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select
from starlette.requests import Request

from api import idempotency
from api.idempotency import Claim, Idempotency, IdempotencyKey, Owner, request_hash
from api.schemas import DecisionIn, MessageIn
from api.schemas_admin import UserCreateIn
from approvals.deciding import decide
from foundation.db import utcnow
from foundation.errors import Conflict
from foundation.users import User
from graph.records import Run
from tests.api.conftest import OpenApi
from tests.approvals.factories import make_request
from tests.graph.harness import call, executions, say, turn


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


# --- a key whose owner died (issue 14: "After an API crash, a retry with the same
# Idempotency-Key gets 409 for 10 minutes, whether or not the decision had committed") ---


@pytest.fixture
def exited_pid() -> int:
    """The pid of a process of this host that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def live_process() -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield child
    child.kill()
    child.wait()


def here(pid: int, started: str | None = None) -> Owner:
    """An owner on this host (another process, or an earlier one with our pid)."""
    me = idempotency.this_process()
    return Owner(me.host, pid, uuid.uuid4().hex, me.scope, started)


ELSEWHERE = Owner("api-2", 7, "b00t", "another-machine/pid:[1]", "42")


def left_behind(
    engine: Engine, user: str, key: str, path: str, body: BaseModel, owner: Owner, age_s: float
) -> None:
    """An in-progress key as a request left it when its process stopped ``age_s`` ago."""
    with Session(engine) as session:
        session.add(
            IdempotencyKey(
                user_name=user,
                key=key,
                method="POST",
                path=path,
                request_hash=request_hash("POST", path, body),
                response_body={"owner": owner.as_json()},
                created_at=utcnow() - timedelta(seconds=age_s),
            )
        )
        session.commit()


NINA = {"name": "nina", "role": "auditor"}


@pytest.mark.parametrize("owner", ["exited", "restarted"])
def test_a_retry_after_its_owner_died_on_this_host_takes_the_key_at_once(
    open_api: OpenApi, exited_pid: int, owner: str
) -> None:
    """Exited: its pid is gone. Restarted: the API came back with the same pid (pid 1 in
    a container) but is another process. Either way, no waiting for a lease."""
    dead = here(exited_pid) if owner == "exited" else here(idempotency.this_process().pid)
    with open_api([]) as api:
        engine = api.rt.gov.engine
        left_behind(engine, "root", "u-crash", "/users", UserCreateIn(**NINA), dead, age_s=1)
        retry = api.post("/users", "root", json=NINA, headers={"Idempotency-Key": "u-crash"})
        assert retry.status_code == 201, retry.text
        replay = api.post("/users", "root", json=NINA, headers={"Idempotency-Key": "u-crash"})
        assert replay.status_code == 201
        assert replay.headers["idempotent-replayed"] == "true"


def test_a_retry_takes_the_key_once_a_remote_owner_stopped_renewing_it(
    open_api: OpenApi,
) -> None:
    with open_api([]) as api:
        lapsed = idempotency.LEASE.total_seconds() + 1
        left_behind(
            api.rt.gov.engine, "root", "u-2", "/users", UserCreateIn(**NINA), ELSEWHERE, lapsed
        )
        retry = api.post("/users", "root", json=NINA, headers={"Idempotency-Key": "u-2"})
        assert retry.status_code == 201, retry.text


@pytest.mark.parametrize("owner", ["elsewhere", "this process", "alive here"])
def test_a_key_whose_owner_is_alive_is_still_in_progress(
    open_api: OpenApi, live_process: subprocess.Popen[bytes], owner: str
) -> None:
    alive = {
        "elsewhere": ELSEWHERE,
        "this process": idempotency.this_process(),
        "alive here": here(live_process.pid, idempotency._start_time(live_process.pid)),
    }[owner]
    with open_api([]) as api:
        renewed = idempotency.RENEW_EVERY.total_seconds()  # renewed a moment ago
        left_behind(
            api.rt.gov.engine, "root", "u-3", "/users", UserCreateIn(**NINA), alive, renewed
        )
        retry = api.post("/users", "root", json=NINA, headers={"Idempotency-Key": "u-3"})
        assert retry.status_code == 409
        assert "still in progress" in retry.json()["error"]["message"]


def test_a_pid_reused_by_another_process_is_known_dead(
    live_process: subprocess.Popen[bytes],
) -> None:
    pid = live_process.pid
    assert not idempotency.owner_is_dead(here(pid, idempotency._start_time(pid)))
    assert idempotency.owner_is_dead(here(pid, "1"))  # that pid started at another time


def test_a_long_request_keeps_its_key_by_renewing_it(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(idempotency, "LEASE", timedelta(seconds=0.4))
    monkeypatch.setattr(idempotency, "RENEW_EVERY", timedelta(seconds=0.05))
    path = "/things"
    body = MessageIn(text="slow")
    request = Request({"type": "http", "method": "POST", "path": path, "headers": []})
    seen: list[object] = []

    def slow() -> MessageIn:
        time.sleep(1.0)  # well past the lease: only renewals keep the key
        try:
            seen.append(
                idempotency.claim(
                    engine, "olivia", "slow", "POST", path, request_hash("POST", path, body)
                )
            )
        except Conflict as exc:
            seen.append(exc)
        return body

    helper = Idempotency(engine, "olivia", "slow", request, Response())
    assert helper.run(body, MessageIn, slow) == body
    [other] = seen
    assert isinstance(other, Conflict), f"a live request lost its key: {other}"
    with Session(engine) as session:
        row = session.get(IdempotencyKey, ("olivia", "slow"))
        assert row is not None
        assert row.status == "done"


def test_a_key_taken_from_a_stalled_owner_is_not_completed_by_it(engine: Engine) -> None:
    path, body = "/things", MessageIn(text="x")
    digest = request_hash("POST", path, body)
    stalled = idempotency.claim(engine, "olivia", "k", "POST", path, digest)
    assert isinstance(stalled, Claim)
    with Session(engine) as session:  # it stalled past its lease
        row = session.get(IdempotencyKey, ("olivia", "k"))
        assert row is not None
        row.created_at = utcnow() - idempotency.LEASE - timedelta(seconds=1)
        stalled.stamp = row.created_at
        session.add(row)
        session.commit()
    taker = idempotency.claim(engine, "olivia", "k", "POST", path, digest)
    assert isinstance(taker, Claim)
    assert taker.taken_over
    assert not idempotency.renew(engine, stalled)
    idempotency.complete(engine, stalled, idempotency.Stored(200, {"from": "stalled"}))
    idempotency.complete(engine, taker, idempotency.Stored(200, {"from": "taker"}))
    stored = idempotency.claim(engine, "olivia", "k", "POST", path, digest)
    assert stored == idempotency.Stored(200, {"from": "taker"})


def test_a_decision_retried_after_its_api_died_gets_the_decision(
    open_api: OpenApi, exited_pid: int
) -> None:
    """The first attempt decided and committed, then its process died before storing
    the answer: the retry reads the decision back instead of a 409."""
    with open_api([]) as api:
        engine = api.rt.gov.engine
        request = make_request(engine)
        decide(engine, request.id, approver="adam", action="approve", comment="ok")
        url = f"/approvals/{request.id}/decision"
        body = DecisionIn(action="approve", comment="ok")
        left_behind(engine, "adam", "d-crash", url, body, here(exited_pid), age_s=1)

        retry = api.post(
            url, "adam", json=body.model_dump(), headers={"Idempotency-Key": "d-crash"}
        )
        assert retry.status_code == 200, retry.text
        assert retry.json()["status"] == "approved"
        assert [(d["approver"], d["action"]) for d in retry.json()["decisions"]] == [
            ("adam", "approve")
        ]
        # Without the key, the same decision again is still refused: it was already made.
        assert api.post(url, "adam", json=body.model_dump()).status_code == 409


def test_an_owner_that_exited_unreaped_is_known_dead() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    started = idempotency._start_time(child.pid)
    deadline = time.monotonic() + 10
    while idempotency._stat(child.pid)[:1] != ["Z"]:  # exited; not waited for yet
        assert time.monotonic() < deadline, "the child never exited"
        time.sleep(0.01)
    try:
        assert idempotency.owner_is_dead(here(child.pid, started))
    finally:
        child.wait()
