"""Courses and membership over HTTP, with every endpoint walked by every kind of caller."""

import pytest

from coagent.domain.accounts.roles import Role
from tests.api.conftest import COURSES, World, create_course, enroll, matrix_cases, signed_in


def _call(client, world: World, caller: str, method: str, path: str, body=None):
    headers = {} if caller == "anonymous" else world.sessions[caller].headers
    return client.request(method, path, json=body, headers=headers)


# Expected status per caller, in the order of CALLERS.
MATRIX = {
    "read course": ("GET", "{c}", None, (401, 404, 200, 200, 200, 200, 404, 404, 200, 200)),
    "update course": (
        "PUT",
        "{c}",
        {"title": "New"},
        (401, 404, 403, 403, 200, 200, 404, 404, 200, 200),
    ),
    "delete course": ("DELETE", "{c}", None, (401, 404, 403, 403, 403, 200, 404, 404, 200, 200)),
    "list members": (
        "GET",
        "{c}/members",
        None,
        (401, 404, 200, 200, 200, 200, 404, 404, 200, 200),
    ),
    "enroll student": (
        "POST",
        "{c}/enroll",
        {"user_id": "{n}", "role": "student"},
        (401, 404, 403, 200, 200, 200, 404, 404, 200, 200),
    ),
    "enroll ta": (
        "POST",
        "{c}/enroll",
        {"user_id": "{n}", "role": "ta"},
        (401, 404, 403, 403, 200, 200, 404, 404, 200, 200),
    ),
    "enroll teacher": (
        "POST",
        "{c}/enroll",
        {"user_id": "{n}", "role": "teacher"},
        (401, 404, 403, 403, 403, 200, 404, 404, 200, 200),
    ),
    "make student a ta": (
        "PUT",
        "{c}/members/{s}",
        {"role": "ta"},
        (401, 404, 403, 403, 200, 200, 404, 404, 200, 200),
    ),
    "remove student": (
        "DELETE",
        "{c}/members/{s}",
        None,
        (401, 404, 403, 200, 200, 200, 404, 404, 200, 200),
    ),
    "remove ta": (
        "DELETE",
        "{c}/members/{t}",
        None,
        (401, 404, 403, 403, 200, 200, 404, 404, 200, 200),
    ),
    "create course": (
        "POST",
        "",
        {"title": "Mine"},
        (401, 403, 403, 403, 201, 201, 201, 403, 201, 201),
    ),
    "list courses": ("GET", "", None, (401, 200, 200, 200, 200, 200, 200, 200, 200, 200)),
}
CASES = matrix_cases({name: expected for name, (*_, expected) in MATRIX.items()})


def _fill(template, world: World):
    ids = {
        "{c}": world.course_id,
        "{n}": world.newcomer_id,
        "{s}": str(world.sessions["student"].user.id),
        "{t}": str(world.sessions["ta"].user.id),
    }
    if isinstance(template, dict):
        return {key: _fill(value, world) for key, value in template.items()}
    if isinstance(template, str):
        for key, value in ids.items():
            template = template.replace(key, value)
    return template


@pytest.mark.parametrize(("endpoint", "caller", "status"), CASES)
def test_every_endpoint_by_every_caller(client, world, endpoint, caller, status):
    method, path, body, _ = MATRIX[endpoint]
    response = _call(
        client, world, caller, method, COURSES + _fill(path, world), _fill(body, world)
    )
    assert response.status_code == status, response.text
    if status == 404:
        assert response.json()["detail"] == "Course not found"  # nothing says the course exists


def test_creator_owns_and_teaches(client):
    teacher = signed_in(client, Role.TEACHER)
    created = client.post(
        COURSES, json={"title": "  Logic  ", "description": "Intro"}, headers=teacher.headers
    ).json()
    assert created["title"] == "Logic"
    assert created["owner_id"] == str(teacher.user.id)
    assert created["owner_name"] == teacher.user.full_name
    members = client.get(f"{COURSES}{created['id']}/members", headers=teacher.headers).json()
    assert [(m["user_id"], m["role"], m["is_owner"]) for m in members] == [
        (str(teacher.user.id), "teacher", True)
    ]


def test_course_list_shows_only_your_courses_newest_first_and_pages(client, world):
    student = world.sessions["student"]
    owner = world.sessions["owner"]
    second = create_course(client, owner, "Second")
    enroll(client, owner, second, student.user.id, "student")
    mine = client.get(COURSES, headers=student.headers)
    assert [c["id"] for c in mine.json()] == [second, world.course_id]
    assert mine.headers["x-total-count"] == "2"
    page = client.get(COURSES, params={"limit": 1, "offset": 1}, headers=student.headers)
    assert [c["id"] for c in page.json()] == [world.course_id]
    assert 'rel="prev"' in page.headers["link"]
    everything = client.get(COURSES, headers=world.sessions["admin"].headers).json()
    assert {world.course_id, second} <= {c["id"] for c in everything}
    assert len(everything) == 3


def test_students_do_not_see_emails_staff_do(client, world):
    members = client.get(
        f"{COURSES}{world.course_id}/members", headers=world.sessions["student"].headers
    ).json()
    assert {m["email"] for m in members} == {None}
    assert [m["role"] for m in members] == ["teacher", "teacher", "ta", "student"]
    staff_view = client.get(
        f"{COURSES}{world.course_id}/members", headers=world.sessions["ta"].headers
    ).json()
    assert all("@" in m["email"] for m in staff_view)


def test_enrollment_rules(client, world):
    owner = world.sessions["owner"]
    url = f"{COURSES}{world.course_id}/enroll"
    by_email = client.post(
        url, json={"user_email": world.sessions["guest"].user.email.upper()}, headers=owner.headers
    )
    assert by_email.status_code == 200
    assert by_email.json()["message"].endswith("enrolled as student")
    again = client.post(
        url, json={"user_id": str(world.sessions["guest"].user.id)}, headers=owner.headers
    )
    assert again.json() == {"message": "User already enrolled"}
    both = {"user_id": world.newcomer_id, "user_email": "x@y.test"}
    assert client.post(url, json=both, headers=owner.headers).status_code == 422
    assert client.post(url, json={}, headers=owner.headers).status_code == 422
    unknown = client.post(url, json={"user_email": "nobody@x.test"}, headers=owner.headers)
    assert unknown.status_code == 404
    bad_role = client.post(
        url, json={"user_id": world.newcomer_id, "role": "owner"}, headers=owner.headers
    )
    assert bad_role.status_code == 422


def test_the_owner_is_immutable(client, world):
    owner_id = world.sessions["owner"].user.id
    for actor in ("owner", "admin"):
        headers = world.sessions[actor].headers
        change = client.put(
            f"{COURSES}{world.course_id}/members/{owner_id}", json={"role": "ta"}, headers=headers
        )
        assert change.status_code == 409
        removal = client.delete(f"{COURSES}{world.course_id}/members/{owner_id}", headers=headers)
        assert removal.status_code == 409


def test_member_changes_take_effect(client, world):
    co_teacher = world.sessions["co_teacher"]
    student = world.sessions["student"]
    url = f"{COURSES}{world.course_id}/members/{student.user.id}"
    assert client.put(url, json={"role": "ta"}, headers=co_teacher.headers).json() == {
        "message": "Role updated"
    }
    # Now a TA, the former student sees emails.
    members = client.get(f"{COURSES}{world.course_id}/members", headers=student.headers).json()
    assert all(m["email"] for m in members)
    assert client.delete(url, headers=co_teacher.headers).status_code == 200
    assert client.get(f"{COURSES}{world.course_id}", headers=student.headers).status_code == 404
    not_member = client.put(url, json={"role": "ta"}, headers=co_teacher.headers)
    assert not_member.status_code == 404


def test_partial_update(client, world):
    owner = world.sessions["owner"]
    url = f"{COURSES}{world.course_id}"
    client.put(url, json={"description": "About ethics"}, headers=owner.headers)
    renamed = client.put(url, json={"title": "Ethics 102"}, headers=owner.headers).json()
    assert (renamed["title"], renamed["description"]) == ("Ethics 102", "About ethics")
    assert renamed["updated_at"] > renamed["created_at"]
    cleared = client.put(url, json={"description": None}, headers=owner.headers).json()
    assert cleared["description"] is None
    assert client.put(url, json={"title": "   "}, headers=owner.headers).status_code == 422


def test_deleting_a_course_removes_its_memberships_and_is_audited(client, world, pg):
    import asyncio  # noqa: PLC0415

    import asyncpg  # noqa: PLC0415

    owner = world.sessions["owner"]
    assert client.delete(f"{COURSES}{world.course_id}", headers=owner.headers).status_code == 200

    async def counts():
        connection = await asyncpg.connect(pg.replace("+asyncpg", ""))
        try:
            members = await connection.fetchval(
                "SELECT count(*) FROM course_membership WHERE course_id = $1::uuid", world.course_id
            )
            audited = await connection.fetchval(
                "SELECT count(*) FROM audit_event"
                " WHERE action = 'course.deleted' AND target_id = $1",
                world.course_id,
            )
        finally:
            await connection.close()
        return members, audited

    assert asyncio.run(counts()) == (0, 1)
    assert client.get(f"{COURSES}{world.course_id}", headers=owner.headers).status_code == 404


def test_deleting_the_owner_keeps_the_course_for_admins(client, world):
    admin = world.sessions["super_admin"]
    owner = world.sessions["owner"]
    assert client.delete(f"/api/v1/users/{owner.user.id}", headers=admin.headers).status_code == 200
    course = client.get(f"{COURSES}{world.course_id}", headers=admin.headers).json()
    assert (course["owner_id"], course["owner_name"]) == (None, None)
    members = client.get(f"{COURSES}{world.course_id}/members", headers=admin.headers).json()
    assert str(owner.user.id) not in {m["user_id"] for m in members}
