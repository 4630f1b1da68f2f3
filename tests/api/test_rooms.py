"""Rooms over HTTP: every endpoint by every kind of caller, validation, assignment."""

import pytest

from tests.api.conftest import World, matrix_cases, seed_user

ROOMS = "/api/v1/rooms/"


@pytest.fixture
def room(client, world: World) -> str:
    response = client.post(
        ROOMS,
        json={"name": "Debate", "course_id": world.course_id},
        headers=world.sessions["owner"].headers,
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _call(client, world, caller, method, path, body=None):
    headers = {} if caller == "anonymous" else world.sessions[caller].headers
    return client.request(method, path, json=body, headers=headers)


MATRIX = {
    "create": (
        "POST",
        "",
        {"name": "New", "course_id": "{c}"},
        (401, 404, 403, 201, 201, 201, 404, 404, 201, 201),
    ),
    "list": ("GET", "?course_id={c}", None, (401, 404, 200, 200, 200, 200, 404, 404, 200, 200)),
    "read": ("GET", "{r}", None, (401, 404, 200, 200, 200, 200, 404, 404, 200, 200)),
    "update": (
        "PUT",
        "{r}",
        {"ai_mode": "both"},
        (401, 404, 403, 200, 200, 200, 404, 404, 200, 200),
    ),
    "delete": ("DELETE", "{r}", None, (401, 404, 403, 204, 204, 204, 404, 404, 204, 204)),
    "assign": (
        "POST",
        "{r}/assign",
        {"user_id": "{s}"},
        (401, 404, 403, 200, 200, 200, 404, 404, 200, 200),
    ),
}
CASES = matrix_cases({name: expected for name, (*_, expected) in MATRIX.items()})


def _fill(value, world: World, room_id: str):
    ids = {"{c}": world.course_id, "{r}": room_id, "{s}": str(world.sessions["student"].user.id)}
    if isinstance(value, dict):
        return {key: _fill(item, world, room_id) for key, item in value.items()}
    if isinstance(value, str):
        for key, replacement in ids.items():
            value = value.replace(key, replacement)
    return value


@pytest.mark.parametrize(("endpoint", "caller", "status"), CASES)
def test_every_endpoint_by_every_caller(client, world, room, endpoint, caller, status):
    method, path, body, _ = MATRIX[endpoint]
    response = _call(
        client, world, caller, method, ROOMS + _fill(path, world, room), _fill(body, world, room)
    )
    assert response.status_code == status, response.text
    if status == 404:
        assert response.json()["detail"] in {"Room not found", "Course not found"}


def test_defaults_and_validation(client, world):
    owner = world.sessions["owner"].headers
    created = client.post(
        ROOMS, json={"name": " Lab ", "course_id": world.course_id}, headers=owner
    )
    body = created.json()
    assert (body["name"], body["ai_mode"], body["ai_frequency"]) == ("Lab", "teacher_only", 0.5)
    assert (body["is_ai_active"], body["is_analytics_active"], body["is_restricted"]) == (
        True,
        False,
        False,
    )
    for bad in (
        {"ai_mode": "always"},
        {"ai_frequency": 1.5},
        {"ai_frequency": -0.1},
        {"name": "   "},
        {"ai_frequency": "0.5"},
    ):
        response = client.put(f"{ROOMS}{body['id']}", json=bad, headers=owner)
        assert response.status_code == 422, bad
    unchanged = client.get(f"{ROOMS}{body['id']}", headers=owner).json()
    assert unchanged == body
    missing_course = client.post(
        ROOMS,
        json={"name": "X", "course_id": "0190c2a4-0000-7000-8000-000000000000"},
        headers=owner,
    )
    assert missing_course.status_code == 404


def test_partial_update_changes_only_what_is_sent(client, world, room):
    ta = world.sessions["ta"].headers
    client.put(f"{ROOMS}{room}", json={"description": "Topic", "ai_frequency": 0.2}, headers=ta)
    updated = client.put(f"{ROOMS}{room}", json={"is_ai_active": False}, headers=ta).json()
    assert (updated["description"], updated["ai_frequency"], updated["is_ai_active"]) == (
        "Topic",
        0.2,
        False,
    )
    assert updated["name"] == "Debate"
    assert updated["updated_at"] > updated["created_at"]


def test_assignment_makes_a_room_private_to_its_members_and_staff(client, world, room):
    ta = world.sessions["ta"].headers
    student = world.sessions["student"]
    classmate = seed_user(client)
    from tests.api.conftest import enroll, login  # noqa: PLC0415

    enroll(client, world.sessions["owner"], world.course_id, classmate.id, "student")
    classmate_session = login(client, classmate)
    open_room = client.post(
        ROOMS, json={"name": "Open", "course_id": world.course_id}, headers=ta
    ).json()

    assigned = client.post(
        f"{ROOMS}{room}/assign", json={"user_email": student.user.email}, headers=ta
    )
    assert assigned.json()["message"].endswith("assigned to room")
    again = client.post(f"{ROOMS}{room}/assign", json={"user_id": str(student.user.id)}, headers=ta)
    assert again.json() == {"message": "User already assigned to room"}

    def visible(headers):
        rooms = client.get(ROOMS, params={"course_id": world.course_id}, headers=headers).json()
        return [r["name"] for r in rooms]

    assert visible(student.headers) == ["Debate", "Open"]
    assert visible(classmate_session.headers) == ["Open"]
    assert visible(ta) == ["Debate", "Open"]
    assert client.get(f"{ROOMS}{room}", headers=classmate_session.headers).status_code == 404
    assert client.get(f"{ROOMS}{room}", headers=student.headers).json()["is_restricted"] is True
    assert (
        client.get(f"{ROOMS}{open_room['id']}", headers=classmate_session.headers).status_code
        == 200
    )


def test_only_course_members_can_be_assigned(client, world, room):
    ta = world.sessions["ta"].headers
    outsider = world.sessions["other_student"].user
    response = client.post(f"{ROOMS}{room}/assign", json={"user_id": str(outsider.id)}, headers=ta)
    assert response.status_code == 404
    both = {"user_id": str(outsider.id), "user_email": outsider.email}
    assert client.post(f"{ROOMS}{room}/assign", json=both, headers=ta).status_code == 404


def test_deleting_the_course_deletes_its_rooms(client, world, room):
    owner = world.sessions["owner"].headers
    assert client.delete(f"/api/v1/courses/{world.course_id}", headers=owner).status_code == 200
    assert client.get(f"{ROOMS}{room}", headers=world.sessions["admin"].headers).status_code == 404
