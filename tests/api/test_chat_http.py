"""Chat over HTTP: history pages, sending (idempotent), who may do what, seq and deletion."""

import asyncio
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from coagent.domain.accounts.roles import Role
from tests.api.chat_helpers import create_room, post
from tests.api.conftest import World, enroll, matrix_cases, signed_in

MESSAGES = "/api/v1/chat/messages/"
TICKET = "/api/v1/chat/ws-ticket"


@pytest.fixture
def room_id(client, world: World) -> str:
    return create_room(client, world.sessions["owner"], world.course_id)


def fill(client, world: World, room_id: str, count: int) -> None:
    """`count` messages m1..mN from the student, so message mN has seq N."""
    for number in range(1, count + 1):
        response = post(client, world.sessions["student"], room_id, f"m{number}")
        assert response.status_code == 201, response.text


def history(client, world: World, room_id: str, caller: str = "ta", **params: Any) -> Any:
    return client.get(f"{MESSAGES}{room_id}", params=params, headers=world.sessions[caller].headers)


def seqs(response: Any) -> list[int]:
    assert response.status_code == 200, response.text
    return [message["seq"] for message in response.json()]


# --- history paging


def test_history_of_an_empty_room_is_an_empty_array_without_link(client, world, room_id):
    response = history(client, world, room_id)
    assert response.status_code == 200
    assert response.json() == []
    assert "link" not in response.headers


def test_history_defaults_to_the_newest_50_ascending(client, world, room_id):
    fill(client, world, room_id, 55)
    response = history(client, world, room_id)
    assert seqs(response) == list(range(6, 56))
    assert [m["content"] for m in response.json()][-1] == "m55"


def test_history_limit(client, world, room_id):
    fill(client, world, room_id, 12)
    assert seqs(history(client, world, room_id, limit=5)) == [8, 9, 10, 11, 12]
    assert seqs(history(client, world, room_id, limit=200)) == list(range(1, 13))


def test_history_before_seq(client, world, room_id):
    fill(client, world, room_id, 12)
    assert seqs(history(client, world, room_id, before_seq=10, limit=3)) == [7, 8, 9]
    assert seqs(history(client, world, room_id, before_seq=3)) == [1, 2]
    assert seqs(history(client, world, room_id, before_seq=1)) == []
    assert seqs(history(client, world, room_id, before_seq=0)) == []


def test_history_after_seq(client, world, room_id):
    fill(client, world, room_id, 12)
    assert seqs(history(client, world, room_id, after_seq=4, limit=3)) == [5, 6, 7]
    assert seqs(history(client, world, room_id, after_seq=10)) == [11, 12]
    assert seqs(history(client, world, room_id, after_seq=12)) == []
    assert seqs(history(client, world, room_id, after_seq=0, limit=2)) == [1, 2]


def test_history_with_both_cursors(client, world, room_id):
    fill(client, world, room_id, 12)
    assert seqs(history(client, world, room_id, after_seq=2, before_seq=6)) == [3, 4, 5]
    # The page after `after_seq`, cut short by `before_seq`: the oldest ones first.
    assert seqs(history(client, world, room_id, after_seq=2, before_seq=10, limit=3)) == [3, 4, 5]
    assert seqs(history(client, world, room_id, after_seq=5, before_seq=6)) == []


def test_link_header_names_the_previous_page_until_the_first(client, world, room_id):
    fill(client, world, room_id, 7)
    headers = world.sessions["ta"].headers
    response = client.get(f"{MESSAGES}{room_id}?limit=3", headers=headers)
    assert seqs(response) == [5, 6, 7]
    collected = [5, 6, 7]
    while "link" in response.headers:
        match = re.fullmatch(r'<([^>]+)>; rel="prev"', response.headers["link"])
        assert match, response.headers["link"]
        assert match.group(1).startswith(f"{MESSAGES}{room_id}?")
        response = client.get(match.group(1), headers=headers)
        collected = seqs(response) + collected
    assert collected == list(range(1, 8))
    assert (
        "before_seq=2"
        in client.get(f"{MESSAGES}{room_id}?limit=3&before_seq=5", headers=headers).headers["link"]
    )


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 201},
        {"limit": -1},
        {"limit": "many"},
        {"after_seq": "abc"},
    ],
)
def test_history_rejects_bad_paging(client, world, room_id, params):
    assert history(client, world, room_id, **params).status_code == 422


# --- sending


def test_send_answers_201_with_the_stored_message(client, world, room_id):
    student = world.sessions["student"]
    response = post(client, student, room_id, "Hello")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["type"] == "message"
    assert body["seq"] == 1
    assert body["content"] == "Hello"
    assert body["room_id"] == room_id
    assert uuid.UUID(body["id"])
    assert body["client_msg_id"] is None
    assert body["agent_type"] is None
    assert body["author"] == {
        "id": str(student.user.id),
        "name": student.user.full_name,
        "kind": "user",
    }
    assert body["sender"] == student.user.full_name
    assert body["sender_id"] == str(student.user.id)
    assert body["metadata"] == {"is_ai": False, "sender_id": str(student.user.id)}
    assert body["timestamp"] == body["created_at"]
    created = datetime.fromisoformat(body["created_at"].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - created).total_seconds()) < 60
    assert "idempotent-replayed" not in response.headers
    assert student.user.email not in response.text
    assert [m["id"] for m in history(client, world, room_id).json()] == [body["id"]]


def test_idempotency_key_replays_the_stored_message(client, world, room_id):
    student = world.sessions["student"]
    key = {"Idempotency-Key": "key-1"}
    first = post(client, student, room_id, "once", headers=key)
    again = post(client, student, room_id, "once", headers=key)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    assert again.status_code == 200, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert (again.json()["id"], again.json()["seq"]) == (first.json()["id"], first.json()["seq"])
    assert first.json()["client_msg_id"] == "key-1"
    assert seqs(history(client, world, room_id)) == [1]
    # The key belongs to the sender: another member may use the same one.
    other = post(client, world.sessions["ta"], room_id, "once", headers=key)
    assert other.status_code == 201
    assert other.json()["seq"] == 2


def test_client_msg_id_in_the_body_is_idempotent_too(client, world, room_id):
    student = world.sessions["student"]
    url = f"{MESSAGES}{room_id}"
    body = {"content": "hi", "client_msg_id": "c-9"}
    first = client.post(url, json=body, headers=student.headers)
    again = client.post(url, json=body, headers=student.headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    # The header may repeat the body's id.
    same = client.post(url, json=body, headers={**student.headers, "Idempotency-Key": "c-9"})
    assert same.status_code == 200
    assert same.json()["id"] == first.json()["id"]


def test_same_key_with_different_content_is_a_conflict(client, world, room_id):
    student = world.sessions["student"]
    key = {"Idempotency-Key": "key-2"}
    assert post(client, student, room_id, "first", headers=key).status_code == 201
    conflict = post(client, student, room_id, "second", headers=key)
    assert conflict.status_code == 409, conflict.text
    assert [m["content"] for m in history(client, world, room_id).json()] == ["first"]


def test_the_idempotency_key_wins_over_the_body_client_msg_id(client, world, room_id):
    student = world.sessions["student"]
    response = client.post(
        f"{MESSAGES}{room_id}",
        json={"content": "hi", "client_msg_id": "body-id"},
        headers={**student.headers, "Idempotency-Key": "header-id"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["client_msg_id"] == "header-id"
    again = post(client, student, room_id, "hi", headers={"Idempotency-Key": "header-id"})
    assert again.status_code == 200
    assert [m["content"] for m in history(client, world, room_id).json()] == ["hi"]


def test_negative_cursors_are_cursors_before_the_first_seq(client, world, room_id):
    post(client, world.sessions["student"], room_id, "only")
    assert history(client, world, room_id, before_seq=-1).json() == []
    assert [m["seq"] for m in history(client, world, room_id, after_seq=-5).json()] == [1]


@pytest.mark.parametrize("content", ["", "   ", "\n\t", "y" * 8001])
def test_blank_or_too_long_content_is_invalid(client, world, room_id, content):
    response = post(client, world.sessions["student"], room_id, content)
    assert response.status_code == 422, response.text
    assert history(client, world, room_id).json() == []


def test_content_of_exactly_8000_characters_is_accepted(client, world, room_id):
    response = post(client, world.sessions["student"], room_id, "z" * 8000)
    assert response.status_code == 201, response.text
    assert len(response.json()["content"]) == 8000


@pytest.mark.parametrize("key", ["", "k" * 65])
def test_bad_idempotency_keys_are_invalid(client, world, room_id, key):
    response = post(
        client, world.sessions["student"], room_id, "hi", headers={"Idempotency-Key": key}
    )
    assert response.status_code in {400, 422}, response.text
    assert history(client, world, room_id).json() == []


def test_unknown_room_is_not_found(client, world):
    unknown = uuid.uuid4()
    student = world.sessions["student"]
    assert post(client, student, str(unknown), "hi").status_code == 404
    assert client.get(f"{MESSAGES}{unknown}", headers=student.headers).status_code == 404


def test_a_room_of_another_course_is_not_found(client, world):
    other_teacher = world.sessions["other_teacher"]
    courses = client.get("/api/v1/courses/", headers=other_teacher.headers).json()
    items = courses["data"] if isinstance(courses, dict) else courses
    other_course = next(c["id"] for c in items if c["id"] != world.course_id)
    foreign_room = create_room(client, other_teacher, other_course)
    assert post(client, other_teacher, foreign_room, "ours").status_code == 201
    for caller in ("student", "owner", "ta"):
        session = world.sessions[caller]
        assert post(client, session, foreign_room, "hi").status_code == 404
        assert client.get(f"{MESSAGES}{foreign_room}", headers=session.headers).status_code == 404
    assert seqs(history(client, world, foreign_room, caller="other_student")) == [1]


def test_a_student_not_assigned_to_a_restricted_room_cannot_see_it(client, world, room_id):
    owner = world.sessions["owner"]
    chosen = signed_in(client, Role.STUDENT)
    enroll(client, owner, world.course_id, chosen.user.id, "student")
    assigned = client.post(
        f"/api/v1/rooms/{room_id}/assign",
        json={"user_id": str(chosen.user.id)},
        headers=owner.headers,
    )
    assert assigned.status_code == 200, assigned.text
    student = world.sessions["student"]
    assert post(client, student, room_id, "let me in").status_code == 404
    assert client.get(f"{MESSAGES}{room_id}", headers=student.headers).status_code == 404
    assert post(client, chosen, room_id, "I am in").status_code == 201
    assert seqs(history(client, world, room_id, caller="ta")) == [1]
    assert client.get(f"{MESSAGES}{room_id}", headers=chosen.headers).status_code == 200


# --- who may do what

MATRIX = {
    "history": ("GET", MESSAGES + "{r}", (401, 404, 200, 200, 200, 200, 404, 404, 200, 200)),
    "send": ("POST", MESSAGES + "{r}", (401, 404, 201, 201, 201, 201, 404, 404, 201, 201)),
    "ticket": ("POST", TICKET, (401, 201, 201, 201, 201, 201, 201, 201, 201, 201)),
}


@pytest.mark.parametrize(
    ("endpoint", "caller", "status"),
    matrix_cases({name: expected for name, (*_, expected) in MATRIX.items()}),
)
def test_every_chat_endpoint_by_every_caller(client, world, room_id, endpoint, caller, status):
    method, path, _ = MATRIX[endpoint]
    headers = {} if caller == "anonymous" else world.sessions[caller].headers
    body = {"content": f"from {caller}"} if endpoint == "send" else None
    response = client.request(method, path.replace("{r}", room_id), json=body, headers=headers)
    assert response.status_code == status, response.text
    if status == 404:
        assert response.json()["detail"] == "Room not found"
    if endpoint == "send":
        stored = history(client, world, room_id).json()
        assert [m["content"] for m in stored] == ([body["content"]] if status == 201 else [])
        if status == 201:
            assert stored[0]["sender_id"] == str(world.sessions[caller].user.id)
    if endpoint == "ticket" and status == 201:
        assert len(response.json()["ticket"]) >= 32
        assert response.json()["expires_in"] > 0


# --- seq is gapless under concurrent sends


def test_concurrent_sends_get_gapless_seqs(client, world, room_id):
    senders = [world.sessions[name] for name in ("student", "ta", "co_teacher", "owner")]

    def send(number: int) -> Any:
        return post(client, senders[number % len(senders)], room_id, f"c{number}")

    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(send, range(20)))
    assert [r.status_code for r in responses] == [201] * 20, [r.text for r in responses]
    assert sorted(r.json()["seq"] for r in responses) == list(range(1, 21))
    stored = history(client, world, room_id).json()
    assert [m["seq"] for m in stored] == list(range(1, 21))
    assert sorted(m["content"] for m in stored) == sorted(f"c{n}" for n in range(20))
    by_seq = {r.json()["seq"]: r.json()["id"] for r in responses}
    assert {m["seq"]: m["id"] for m in stored} == by_seq


def test_concurrent_sends_with_one_key_store_one_message(client, world, room_id):
    student = world.sessions["student"]
    key = {"Idempotency-Key": "same-key"}

    def send(_: int) -> Any:
        return post(client, student, room_id, "only once", headers=key)

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(send, range(8)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 7 + [201], [r.text for r in responses]
    assert {r.json()["id"] for r in responses} == {responses[0].json()["id"]}
    assert seqs(history(client, world, room_id)) == [1]
    assert post(client, student, room_id, "next").json()["seq"] == 2


# --- deleting rooms and courses with messages and reports


def _sql(pg: str, sql: str, *args: Any) -> Any:
    async def go() -> Any:
        connection = await asyncpg.connect(pg.replace("+asyncpg", ""))
        try:
            if sql.lstrip().upper().startswith("SELECT"):
                return await connection.fetch(sql, *args)
            return await connection.execute(sql, *args)
        finally:
            await connection.close()

    return asyncio.run(go())


def add_report(pg: str, course_id: str, room_id: str | None, created_by: Any) -> uuid.UUID:
    report_id = uuid.uuid4()
    now = datetime.now(UTC)
    _sql(
        pg,
        "INSERT INTO analytics_report (id, course_id, room_id, report_type, content, created_by,"
        " sa_orm_sentinel, created_at, updated_at)"
        " VALUES ($1, $2::uuid, $3::uuid, 'room_summary', 'All agreed.', $4, NULL, $5, $5)",
        report_id,
        course_id,
        room_id,
        created_by,
        now,
    )
    return report_id


def count_messages(pg: str, room_id: str) -> int:
    return _sql(pg, "SELECT count(*) AS n FROM message WHERE room_id = $1::uuid", room_id)[0]["n"]


def test_deleting_a_room_deletes_its_messages_and_keeps_its_reports(client, world, room_id, pg):
    fill(client, world, room_id, 3)
    keep = create_room(client, world.sessions["owner"], world.course_id, name="Keep")
    assert post(client, world.sessions["student"], keep, "stays").status_code == 201
    report = add_report(pg, world.course_id, room_id, world.sessions["owner"].user.id)
    assert count_messages(pg, room_id) == 3

    owner = world.sessions["owner"]
    response = client.delete(f"/api/v1/rooms/{room_id}", headers=owner.headers)
    assert response.status_code == 204, response.text

    assert count_messages(pg, room_id) == 0
    assert count_messages(pg, keep) == 1
    rows = _sql(pg, "SELECT room_id, course_id FROM analytics_report WHERE id = $1", report)
    assert len(rows) == 1
    assert rows[0]["room_id"] is None
    assert str(rows[0]["course_id"]) == world.course_id
    assert client.get(f"{MESSAGES}{room_id}", headers=owner.headers).status_code == 404


def test_deleting_a_course_with_messages_and_reports(client, world, room_id, pg):
    fill(client, world, room_id, 3)
    owner = world.sessions["owner"]
    room_report = add_report(pg, world.course_id, room_id, owner.user.id)
    course_report = add_report(pg, world.course_id, None, None)

    response = client.delete(f"/api/v1/courses/{world.course_id}", headers=owner.headers)
    assert response.status_code == 200, response.text

    assert count_messages(pg, room_id) == 0
    left = _sql(
        pg,
        "SELECT id FROM analytics_report WHERE id = ANY($1::uuid[]) OR course_id = $2::uuid",
        [room_report, course_report],
        world.course_id,
    )
    assert left == []
    assert _sql(pg, "SELECT id FROM room WHERE id = $1::uuid", room_id) == []
    assert client.get(f"{MESSAGES}{room_id}", headers=owner.headers).status_code == 404


def test_the_send_body_declares_that_it_takes_no_other_fields(client, world, room_id):
    schema = client.get("/api/v1/openapi.json").json()["components"]["schemas"]["MessageCreate"]
    assert schema["additionalProperties"] is False
    response = client.post(
        f"{MESSAGES}{room_id}",
        json={"content": "x", "extra": 1},
        headers=world.sessions["student"].headers,
    )
    assert response.status_code == 422
    assert history(client, world, room_id).json() == []
