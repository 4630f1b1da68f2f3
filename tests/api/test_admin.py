"""/api/v1/admin: the read-only database viewer and the audit log."""

import base64
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from coagent.adapters.persistence.models import AuthSessionModel
from coagent.domain.accounts.roles import Role
from tests.api.conftest import COURSES, World, container_of, matrix_cases, run, signed_in
from tests.api.test_users import png_bytes

TABLES = "/api/v1/admin/db/tables"
AUDIT = "/api/v1/admin/audit"
EXPECTED = (401, 403, 403, 403, 403, 403, 403, 403, 200, 200)
ENDPOINTS = {
    "tables": TABLES,
    "rows": f"{TABLES}/user_account",
    "audit": AUDIT,
}
CASES = matrix_cases(dict.fromkeys(ENDPOINTS, EXPECTED))


@pytest.mark.parametrize(("endpoint", "caller", "status"), CASES)
def test_every_endpoint_by_every_caller(client, world: World, endpoint, caller, status):
    headers = {} if caller == "anonymous" else world.sessions[caller].headers
    response = client.get(ENDPOINTS[endpoint], headers=headers)
    assert response.status_code == status, response.text
    if status != 200:
        assert response.headers["content-type"].startswith("application/problem+json")


def test_tables_are_ours_without_alembic(client):
    admin = signed_in(client, Role.ADMIN).headers
    tables = client.get(TABLES, headers=admin).json()
    assert {"user_account", "auth_session", "avatar", "course", "audit_event"} <= set(tables)
    assert "alembic_version" not in tables
    assert tables == sorted(tables)
    hidden = client.get(f"{TABLES}/alembic_version", headers=admin)
    assert hidden.status_code == 404


def test_no_secret_ever_leaves(client):
    admin = signed_in(client, Role.ADMIN)
    image = png_bytes()
    uploaded = client.post(
        "/api/v1/users/me/avatar",
        files={"file": ("a.png", image, "image/png")},
        headers=admin.headers,
    )
    assert uploaded.status_code == 200, uploaded.text
    container = container_of(client)

    async def jtis() -> list[str]:
        async with container.uow() as uow:
            session = uow._session  # type: ignore[attr-defined]
            return list(await session.scalars(select(AuthSessionModel.refresh_jti)))

    refresh_ids = run(client, jtis)
    assert refresh_ids
    encoded = {base64.b64encode(image).decode(), image.hex()}
    for table in ("user_account", "auth_session", "avatar"):
        for resolve in ("false", "true"):
            response = client.get(
                f"{TABLES}/{table}",
                params={"limit": 1000, "resolve_relations": resolve},
                headers=admin.headers,
            )
            assert response.status_code == 200, response.text
            rows = response.json()
            assert rows, table
            for row in rows:
                assert not {"password_hash", "refresh_jti", "data"} & set(row)
                assert not [key for key in row if "hash" in key or "token" in key]
            text = response.text
            assert "$argon2" not in text
            assert not [jti for jti in refresh_ids if jti in text]
            assert not [blob for blob in encoded if blob in text]
    # Hidden columns cannot be probed through search either.
    for probe in ("$argon2", "argon2", refresh_ids[0]):
        for table in ("user_account", "auth_session"):
            found = client.get(f"{TABLES}/{table}", params={"search": probe}, headers=admin.headers)
            assert found.status_code == 200
            assert found.json() == [], (table, probe)
    # The avatar's metadata is still visible.
    avatars = client.get(f"{TABLES}/avatar", headers=admin.headers).json()
    assert avatars[0]["content_type"] == "image/png"
    assert avatars[0]["user_id"] == str(admin.user.id)


@pytest.mark.parametrize(
    "name",
    [
        "no_such_table",
        "user_account; DROP TABLE user_account",
        "user_account' OR '1'='1",
        'user_account"--',
        "pg_catalog.pg_user",
        "USER_ACCOUNT",
    ],
)
def test_unknown_or_hostile_table_names_are_404_without_traceback(client, name):
    admin = signed_in(client, Role.ADMIN).headers
    response = client.get(f"{TABLES}/{name}", headers=admin)
    assert response.status_code == 404, response.text
    body = response.json()
    assert body["status"] == 404
    assert body["detail"] == "Table not found"
    assert "Traceback" not in response.text
    assert "File " not in response.text
    # Nothing was dropped.
    assert client.get(f"{TABLES}/user_account", headers=admin).status_code == 200


def test_search_is_literal_and_case_insensitive(client, world: World):
    admin = world.sessions["admin"].headers
    target = world.sessions["student"].user
    found = client.get(
        f"{TABLES}/user_account", params={"search": target.email.upper()}, headers=admin
    ).json()
    assert [row["id"] for row in found] == [str(target.id)]
    by_id = client.get(
        f"{TABLES}/course_membership", params={"search": str(target.id)}, headers=admin
    ).json()
    assert by_id
    assert {row["user_id"] for row in by_id} == {str(target.id)}
    for hostile in ("' OR 1=1 --", "%", "\\", "x'); DROP TABLE course; --"):
        response = client.get(f"{TABLES}/user_account", params={"search": hostile}, headers=admin)
        assert response.status_code == 200, response.text
        assert response.json() == []
    assert client.get(f"{TABLES}/course", headers=admin).json()
    # An underscore is matched literally, not as "any character".
    underscored = client.get(f"{TABLES}/user_account", params={"search": "_"}, headers=admin)
    assert {row["role"] for row in underscored.json()} == {"super_admin"}


def test_date_filters_and_paging(client, world: World):
    admin = world.sessions["admin"].headers
    url = f"{TABLES}/user_account"
    everyone = client.get(url, headers=admin).json()
    assert len(everyone) >= 10
    stamps = [row["created_at"] for row in everyone]
    assert stamps == sorted(stamps, reverse=True)
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    assert client.get(url, params={"start_date": future}, headers=admin).json() == []
    assert client.get(url, params={"end_date": past}, headers=admin).json() == []
    within = client.get(url, params={"start_date": past, "end_date": future}, headers=admin)
    assert len(within.json()) == len(everyone)
    naive = (datetime.now(UTC) - timedelta(days=1)).replace(tzinfo=None).isoformat()
    assert len(client.get(url, params={"start_date": naive}, headers=admin).json()) == len(everyone)
    newest = everyone[0]["created_at"]
    exact = client.get(url, params={"start_date": newest}, headers=admin).json()
    assert [row["id"] for row in exact] == [everyone[0]["id"]]
    page = client.get(url, params={"limit": 2, "offset": 1}, headers=admin).json()
    assert [row["id"] for row in page] == [row["id"] for row in everyone[1:3]]
    backwards = client.get(url, params={"start_date": future, "end_date": past}, headers=admin)
    assert backwards.status_code == 200
    assert backwards.json() == []  # an empty window, not an error
    for bad in (
        {"limit": 0},
        {"limit": 1001},
        {"offset": -1},
        {"start_date": "yesterday"},
        {"start_date": "0.5"},
        {"end_date": "1700000000"},
    ):
        response = client.get(url, params=bad, headers=admin)
        assert response.status_code in {400, 422}, (bad, response.text)
        assert "Traceback" not in response.text


def test_resolve_relations_adds_names(client, world: World):
    admin = world.sessions["admin"].headers
    student = world.sessions["student"].user
    memberships = client.get(
        f"{TABLES}/course_membership",
        params={"resolve_relations": "true", "search": str(student.id)},
        headers=admin,
    ).json()
    assert memberships[0]["user_email"] == student.email
    assert memberships[0]["course_title"] == "Ethics 101"
    courses = client.get(
        f"{TABLES}/course", params={"resolve_relations": "true"}, headers=admin
    ).json()
    ethics = next(row for row in courses if row["id"] == world.course_id)
    owner = world.sessions["owner"].user
    assert ethics["owner_name"] == owner.full_name
    assert ethics["owner_email"] == owner.email
    plain = client.get(f"{TABLES}/course", headers=admin).json()
    assert "owner_name" not in plain[0]


def test_audit_log_newest_first_filtered_and_paged(client, world: World):
    owner = world.sessions["owner"]
    deleted = client.delete(f"{COURSES}{world.course_id}", headers=owner.headers)
    assert deleted.status_code == 200, deleted.text
    admin = world.sessions["super_admin"].headers
    response = client.get(AUDIT, headers=admin)
    assert response.status_code == 200, response.text
    events = response.json()
    assert events[0]["action"] == "course.deleted"
    assert events[0]["target_id"] == world.course_id
    assert events[0]["actor_id"] == str(owner.user.id)
    assert set(events[0]) == {
        "id",
        "created_at",
        "actor_id",
        "action",
        "target_type",
        "target_id",
        "details",
    }
    stamps = [event["created_at"] for event in events]
    assert stamps == sorted(stamps, reverse=True)
    assert "user.created" in {event["action"] for event in events}
    total = int(response.headers["x-total-count"])
    assert total == len(events)

    created = client.get(AUDIT, params={"action": "user.created"}, headers=admin)
    assert {event["action"] for event in created.json()} == {"user.created"}
    assert int(created.headers["x-total-count"]) < total

    first = client.get(AUDIT, params={"limit": 1}, headers=admin)
    assert [event["id"] for event in first.json()] == [events[0]["id"]]
    assert first.headers["x-total-count"] == str(total)
    assert 'rel="next"' in first.headers["link"]
    second = client.get(AUDIT, params={"limit": 1, "offset": 1}, headers=admin)
    assert [event["id"] for event in second.json()] == [events[1]["id"]]
    assert 'rel="prev"' in second.headers["link"]
    assert client.get(AUDIT, params={"action": "no.such"}, headers=admin).json() == []
