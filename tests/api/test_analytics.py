"""Analytics over HTTP: generate (200 with the report, 202 with the job, RFC 7240), jobs,
reports, the student export, job events on staff sockets, and who may do what.

The app runs with PostgreSQL and the in-process broker (no REDIS_URL), so jobs run in the
web process as in the embedded default. Providers: the real offline one, or the real OpenAI
SDK against the scripted server of tests/integration/fake_llm_server.py.
"""

import csv
import io
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from litestar.testing import TestClient

from coagent.adapters.http.analytics.controller import wants_async
from coagent.application.analytics.await_job import AwaitAnalyticsJobCommand
from coagent.application.ports.chat import NewMessage
from coagent.main.app import create_app
from coagent.main.settings import Settings
from tests.api.chat_helpers import connect, create_room, next_event
from tests.api.conftest import CALLERS, Session, World, container_of, run
from tests.conftest import make_settings
from tests.integration.analytics_fixture import T0
from tests.integration.conftest import new_id
from tests.integration.fake_llm_server import FakeLLMServer, Reply, Seen, openai_completion

ANALYTICS = "/api/v1/analytics/"
JOBS = "/api/v1/jobs/"
AGENTS = "/api/v1/agents/"
ASYNC = {"Prefer": "respond-async"}
KEY = "sk-analytics-0123456789abcdef"


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path, pg: str) -> Settings:
    extra: dict[str, Any] = getattr(request, "param", {})
    values: dict[str, Any] = {"LLM_MAX_RETRIES": 0, **extra}
    return make_settings(tmp_path, DATABASE_URL=pg, **values)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient[Any]]:
    with TestClient(app=create_app(settings), base_url="http://testserver.local") as test_client:
        yield test_client


def say(client, room_id: str, session: Session, *texts: str, start: int = 0) -> None:
    """Store messages by `session`'s user, 20 s apart from T0 + `start` seconds."""
    container = container_of(client)

    async def add() -> None:
        async with container.uow() as uow:
            for index, text in enumerate(texts):
                await uow.messages.append(
                    NewMessage(
                        id=new_id(),
                        room_id=UUID(room_id),
                        content=text,
                        created_at=T0 + timedelta(seconds=start + 20 * index),
                        sender_id=session.user.id,
                        agent_type=None,
                        client_msg_id=None,
                    )
                )
            await uow.commit()

    run(client, add)


def analysed_room(client, world: World, name: str, *, on: bool = True) -> str:
    return create_room(
        client, world.sessions["owner"], world.course_id, name=name, is_analytics_active=on
    )


def wait_for(client, job_id: str) -> dict[str, Any]:
    """Await the job's end through the app's own waiter (no polling from here)."""
    analytics = container_of(client).analytics.http
    run(
        client,
        analytics.wait.execute,
        AwaitAnalyticsJobCommand(job_id=UUID(job_id), timeout=20),
    )
    response = client.get(f"{JOBS}{job_id}", headers={})
    return response.json() if response.status_code == 200 else {}


def job_of(client, world: World, job_id: str) -> dict[str, Any]:
    response = client.get(f"{JOBS}{job_id}", headers=world.sessions["owner"].headers)
    assert response.status_code == 200, response.text
    return response.json()


def openai_config(client, world: World, server_url: str) -> None:
    response = client.post(
        f"{AGENTS}{world.course_id}",
        json={
            "type": "analytics",
            "name": "Analyst",
            "system_prompt": "Summarise the room.",
            "model_provider": "openai",
            "model": "gpt-analyst",
            "base_url": f"{server_url}/v1",
            "api_key": KEY,
        },
        headers=world.sessions["owner"].headers,
    )
    assert response.status_code == 201, response.text


@pytest.fixture
def start_server(client) -> Iterator[Any]:
    """Starts scripted servers on the app's loop; closes them before the app stops."""
    started: list[FakeLLMServer] = []

    def start(server: FakeLLMServer) -> FakeLLMServer:
        run(client, server.__aenter__)
        started.append(server)
        return server

    yield start
    for server in started:
        run(client, server.__aexit__, None, None, None)


# --- generate -----------------------------------------------------------------------------


def test_generate_answers_the_report_the_original_client_reads(client, world: World) -> None:
    room = analysed_room(client, world, "Seminar")
    off = analysed_room(client, world, "Lounge", on=False)
    student = world.sessions["student"]
    say(client, room, student, "Virtue is  knowledge", "Is it?")
    say(client, off, student, "not analysed")

    response = client.post(
        f"{ANALYTICS}{world.course_id}/generate", headers=world.sessions["ta"].headers
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["course_id"] == world.course_id
    assert body["room_id"] is None
    assert body["report_type"] == "course_summary"
    assert body["content"].startswith("# Course Analytics Report: Ethics 101")
    assert "## Room: Seminar" in body["content"]
    assert "Lounge" not in body["content"]
    assert body["provider"] == "offline"
    assert response.headers["content-location"] == f"{ANALYTICS}reports/{body['id']}"
    (section,) = body["rooms"]
    assert (section["room_name"], section["error_code"], section["room_deleted"]) == (
        "Seminar",
        None,
        False,
    )
    assert section["summary"]
    assert section["figures"]["messages"] == 2
    (figures,) = section["students"]
    assert (figures["name"], figures["messages"], figures["words"], figures["share"]) == (
        student.user.full_name,
        2,
        5,
        1.0,
    )
    job = job_of(client, world, body["job_id"])
    assert (job["status"], job["rooms_done"], job["rooms_total"], job["report_id"]) == (
        "succeeded",
        1,
        1,
        body["id"],
    )
    assert job["report_url"] == f"{ANALYTICS}reports/{body['id']}"
    listed = client.get(f"{ANALYTICS}{world.course_id}", headers=world.sessions["owner"].headers)
    assert listed.status_code == 200
    assert [r["id"] for r in listed.json()] == [body["id"]]
    assert listed.headers["x-total-count"] == "1"


def test_a_course_without_analysed_rooms_gets_a_report_that_says_so(client, world) -> None:
    analysed_room(client, world, "Lounge", on=False)
    response = client.post(
        f"{ANALYTICS}{world.course_id}/generate", headers=world.sessions["owner"].headers
    )
    assert response.status_code == 200, response.text
    assert "No room of this course has analytics turned on" in response.json()["content"]
    assert response.json()["rooms"] == []


def test_prefer_respond_async_answers_202_with_the_job(client, world) -> None:
    room = analysed_room(client, world, "Seminar")
    say(client, room, world.sessions["student"], "hello")
    response = client.post(
        f"{ANALYTICS}{world.course_id}/generate",
        headers={**world.sessions["owner"].headers, "Prefer": "wait=10, Respond-Async"},
    )
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == f"{JOBS}{job['id']}"
    assert response.headers["preference-applied"] == "respond-async"
    assert job["status"] in {"queued", "running", "succeeded"}
    assert job["course_id"] == world.course_id
    wait_for(client, job["id"])
    ended = job_of(client, world, job["id"])
    assert ended["status"] == "succeeded"
    report = client.get(ended["report_url"], headers=world.sessions["owner"].headers)
    assert report.status_code == 200
    assert report.json()["job_id"] == job["id"]


@pytest.mark.parametrize("settings", [{"ANALYTICS_WAIT_SECONDS": 0}], indirect=True)
def test_a_job_not_done_in_time_answers_202_without_preference_applied(client, world) -> None:
    room = analysed_room(client, world, "Seminar")
    say(client, room, world.sessions["student"], "hello")
    response = client.post(
        f"{ANALYTICS}{world.course_id}/generate", headers=world.sessions["owner"].headers
    )
    assert response.status_code == 202, response.text
    assert "preference-applied" not in response.headers
    assert response.headers["location"] == f"{JOBS}{response.json()['id']}"
    wait_for(client, response.json()["id"])


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, False),
        ("", False),
        ("respond-async", True),
        ("RESPOND-ASYNC", True),
        ("wait=10, respond-async", True),
        ("respond-async; foo=bar", True),
        ("return=minimal", False),
        ("respond-asynchronously", False),
    ],
)
def test_prefer_header_parsing(header: str | None, expected: bool) -> None:
    assert wants_async(header) is expected


def test_a_second_request_gets_the_running_job_and_cancel_stops_it(
    client, world, start_server
) -> None:
    slow = {"on": True}

    def answer(_: Seen) -> Reply:
        return Reply(json=openai_completion("x"), delay=5 if slow["on"] else 0)

    server = start_server(FakeLLMServer(default=answer))
    openai_config(client, world, server.url)
    room = analysed_room(client, world, "Seminar")
    say(client, room, world.sessions["student"], "hello")
    owner, ta = world.sessions["owner"], world.sessions["ta"]

    first = client.post(
        f"{ANALYTICS}{world.course_id}/generate", headers={**owner.headers, **ASYNC}
    )
    second = client.post(f"{ANALYTICS}{world.course_id}/generate", headers={**ta.headers, **ASYNC})
    assert (first.status_code, second.status_code) == (202, 202)
    job_id = first.json()["id"]
    assert second.json()["id"] == job_id

    cancelled = client.delete(f"{JOBS}{job_id}", headers=ta.headers)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["finished_at"] is not None
    # The runner notices at its next step and stops; wait for its end (its signal).
    signals = container_of(client).analytics.http.wait._signals
    run(client, signals.wait, UUID(job_id), 15)
    assert job_of(client, world, job_id)["status"] == "cancelled"
    again = client.delete(f"{JOBS}{job_id}", headers=owner.headers)
    assert again.json()["status"] == "cancelled"
    # A new request starts a new job, which ends with the only report.
    slow["on"] = False
    third = client.post(f"{ANALYTICS}{world.course_id}/generate", headers=owner.headers)
    assert third.status_code == 200, third.text
    assert third.json()["job_id"] != job_id
    listed = client.get(f"{ANALYTICS}{world.course_id}", headers=owner.headers)
    assert [r["id"] for r in listed.json()] == [third.json()["id"]]


def test_a_room_whose_model_call_fails_is_marked_and_the_job_is_partial(
    client, world, start_server
) -> None:
    def answer(seen: Seen) -> Reply:
        if "Room: Broken" in json.dumps(seen.body):
            return Reply(
                status=400,
                json={"error": {"message": "SECRET provider text", "type": "invalid_request"}},
            )
        return Reply(json=openai_completion("**Participation**: lively."))

    server = start_server(FakeLLMServer(default=answer))
    openai_config(client, world, server.url)
    good = analysed_room(client, world, "Fine")
    broken = analysed_room(client, world, "Broken")
    student = world.sessions["student"]
    say(client, good, student, "one two three")
    say(client, broken, student, "four five")

    response = client.post(
        f"{ANALYTICS}{world.course_id}/generate", headers=world.sessions["owner"].headers
    )

    assert response.status_code == 200, response.text
    body = response.json()
    rooms = {r["room_name"]: r for r in body["rooms"]}
    assert (rooms["Fine"]["summary"], rooms["Fine"]["error_code"]) == (
        "**Participation**: lively.",
        None,
    )
    assert (rooms["Broken"]["summary"], rooms["Broken"]["error_code"]) == (
        None,
        "provider_bad_request",
    )
    assert rooms["Broken"]["students"][0]["words"] == 2  # figures are there all the same
    assert "SECRET" not in response.text
    assert "`provider_bad_request`" in body["content"]
    assert job_of(client, world, body["job_id"])["status"] == "partial"
    # The real SDK got the configured model, the key and the chat as delimited data.
    request = server.seen[0]
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.body["model"] == "gpt-analyst"
    user_turn = request.body["messages"][-1]["content"]
    assert "<chat_log>" in user_turn
    assert f"[{student.user.full_name}]:" in user_turn


@pytest.mark.parametrize("settings", [{"LLM_CALLS_PER_COURSE_PER_MINUTE": 1}], indirect=True)
def test_the_course_model_call_limit_marks_rooms_over_it(client, world) -> None:
    student = world.sessions["student"]
    for name in ("A", "B"):
        say(client, analysed_room(client, world, name), student, "hello there")
    response = client.post(
        f"{ANALYTICS}{world.course_id}/generate", headers=world.sessions["owner"].headers
    )
    assert response.status_code == 200, response.text
    codes = sorted(str(r["error_code"]) for r in response.json()["rooms"])
    assert codes == ["None", "rate_limited"]
    assert job_of(client, world, response.json()["job_id"])["status"] == "partial"


# --- reports and the export ---------------------------------------------------------------


def _report(client, world: World) -> dict[str, Any]:
    room = analysed_room(client, world, "Seminar")
    say(client, room, world.sessions["student"], "=cmd() is not a formula", "two words")
    say(client, room, world.sessions["ta"], "a reply", start=30)
    response = client.post(
        f"{ANALYTICS}{world.course_id}/generate", headers=world.sessions["owner"].headers
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_the_student_export_as_json_and_csv(client, world) -> None:
    report = _report(client, world)
    path = f"{ANALYTICS}reports/{report['id']}/students"
    owner = world.sessions["owner"].headers
    rows = client.get(path, headers=owner).json()
    student, ta = world.sessions["student"].user, world.sessions["ta"].user
    assert [(r["name"], r["messages"], r["words"], r["replies"]) for r in rows] == sorted(
        [(student.full_name, 2, 7, 0), (ta.full_name, 1, 2, 1)]
    )
    assert set(rows[0]) == {
        "room",
        "room_id",
        "name",
        "user_id",
        "messages",
        "words",
        "share",
        "first_activity",
        "last_activity",
        "replies",
        "teacher_mentions",
    }
    response = client.get(path, params={"format": "csv"}, headers=owner)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["name"], r["messages"], r["words"]) for r in table] == [
        (r["name"], str(r["messages"]), str(r["words"])) for r in rows
    ]
    assert client.get(path, params={"format": "xml"}, headers=owner).status_code == 422


def test_a_deleted_room_stays_in_its_report_marked_deleted(client, world) -> None:
    report = _report(client, world)
    room_id = report["rooms"][0]["room_id"]
    owner = world.sessions["owner"].headers
    assert client.delete(f"/api/v1/rooms/{room_id}", headers=owner).status_code == 204
    again = client.get(f"{ANALYTICS}reports/{report['id']}", headers=owner).json()
    assert again["rooms"][0]["room_deleted"] is True
    assert again["rooms"][0]["students"]
    assert client.delete(f"/api/v1/courses/{world.course_id}", headers=owner).status_code == 200
    gone = client.get(f"{ANALYTICS}reports/{report['id']}", headers=world.sessions["admin"].headers)
    assert gone.status_code == 404
    job = client.get(f"{JOBS}{report['job_id']}", headers=world.sessions["admin"].headers)
    assert job.status_code == 404


# --- events -------------------------------------------------------------------------------


def test_job_events_reach_staff_sockets_only(client, world) -> None:
    room = analysed_room(client, world, "Seminar")
    say(client, room, world.sessions["student"], "hello")
    with (
        connect(client, room, world.sessions["ta"]) as staff,
        connect(client, room, world.sessions["student"]) as student,
    ):
        next_event(staff, "presence")
        next_event(student, "presence")
        response = client.post(
            f"{ANALYTICS}{world.course_id}/generate", headers=world.sessions["owner"].headers
        )
        assert response.status_code == 200, response.text
        progress = next_event(staff, "job.progress")
        assert progress["course_id"] == world.course_id
        assert progress["rooms_total"] == 1
        done = next_event(staff, "job.completed")
        assert (done["status"], done["report_id"]) == ("succeeded", response.json()["id"])
        student.send_json({"type": "ping"})
        seen = []
        while True:
            event = json.loads(student.receive_text(timeout=5))
            seen.append(event["type"])
            if event["type"] == "pong":
                break
        assert not [kind for kind in seen if kind.startswith("job.")]


# --- who may do what ----------------------------------------------------------------------

ALLOWED_RUN = (401, 404, 403, 202, 202, 202, 404, 404, 202, 202)
ALLOWED_READ = (401, 404, 403, 200, 200, 200, 404, 404, 200, 200)
JOB_VISIBLE = (401, 404, 404, 200, 200, 200, 404, 404, 200, 200)


def _statuses(client, world: World, method: str, path: str, **kwargs: Any) -> tuple[int, ...]:
    statuses = []
    for caller in CALLERS:
        headers = dict(kwargs.get("headers", {}))
        if caller != "anonymous":
            headers.update(world.sessions[caller].headers)
        response = client.request(method, path, headers=headers, params=kwargs.get("params"))
        statuses.append(response.status_code)
    return tuple(statuses)


def test_matrix_generate(client, world) -> None:
    path = f"{ANALYTICS}{world.course_id}/generate"
    assert _statuses(client, world, "POST", path, headers=ASYNC) == ALLOWED_RUN
    job = client.post(path, headers={**world.sessions["owner"].headers, **ASYNC}).json()
    assert wait_for(client, job["id"]) is not None
    unknown = f"{ANALYTICS}{new_id()}/generate"
    assert client.post(unknown, headers=world.sessions["admin"].headers).status_code == 404


def test_matrix_reports_and_export(client, world) -> None:
    report = _report(client, world)
    for path, params in (
        (f"{ANALYTICS}{world.course_id}", None),
        (f"{ANALYTICS}reports/{report['id']}", None),
        (f"{ANALYTICS}reports/{report['id']}/students", None),
        (f"{ANALYTICS}reports/{report['id']}/students", {"format": "csv"}),
    ):
        assert _statuses(client, world, "GET", path, params=params) == ALLOWED_READ, path
    unknown = f"{ANALYTICS}reports/{new_id()}"
    assert client.get(unknown, headers=world.sessions["admin"].headers).status_code == 404


def test_matrix_jobs(client, world) -> None:
    report = _report(client, world)
    path = f"{JOBS}{report['job_id']}"
    assert _statuses(client, world, "GET", path) == JOB_VISIBLE
    # Cancelling an ended job changes nothing; the same callers see it.
    assert _statuses(client, world, "DELETE", path) == JOB_VISIBLE
    assert job_of(client, world, report["job_id"])["status"] == "succeeded"
    unknown = f"{JOBS}{new_id()}"
    assert client.get(unknown, headers=world.sessions["admin"].headers).status_code == 404


def test_the_openapi_document_has_the_operations_and_job_events(client) -> None:
    document = client.get("/api/v1/openapi.json").json()
    operations = {
        operation["operationId"]
        for item in document["paths"].values()
        for method, operation in item.items()
        if method in {"get", "post", "delete"}
    }
    assert {
        "analytics_generate",
        "analytics_list",
        "analytics_report_get",
        "analytics_report_students",
        "jobs_get",
        "jobs_cancel",
    } <= operations
    schemas = document["components"]["schemas"]
    for name, tag in (
        ("JobProgress", "job.progress"),
        ("JobCompleted", "job.completed"),
        ("JobFailed", "job.failed"),
    ):
        assert schemas[name]["properties"]["type"]["enum"] == [tag]
    generate = document["paths"]["/api/v1/analytics/{course_id}/generate"]["post"]
    assert {"200", "202"} <= set(generate["responses"])
    assert any(p["name"] == "Prefer" and p["in"] == "header" for p in generate["parameters"])
