"""Impersonation rules and the CSRF defence of cookie sessions."""

import asyncio

import asyncpg
import pytest

from coagent.domain.accounts.roles import Role
from tests.api.conftest import PASSWORD, seed_user, signed_in

ME = "/api/v1/users/me"


def _impersonate(client, admin, target_id):
    return client.post(f"/api/v1/login/impersonate/{target_id}", headers=admin.headers)


def _audit_actions(pg_url: str) -> list[tuple[str, str]]:
    async def read():
        connection = await asyncpg.connect(pg_url.replace("+asyncpg", ""))
        try:
            rows = await connection.fetch(
                "SELECT action, target_id FROM audit_event ORDER BY created_at"
            )
        finally:
            await connection.close()
        return [(row["action"], row["target_id"]) for row in rows]

    return asyncio.run(read())


def test_super_admin_impersonates_and_returns(client, pg):
    admin = signed_in(client, Role.SUPER_ADMIN)
    student = seed_user(client, Role.STUDENT)
    response = _impersonate(client, admin, student.id)
    assert response.status_code == 200
    cookie = next(
        h for h in response.headers.get_list("set-cookie") if h.startswith("is_impersonating=")
    )
    assert cookie.startswith("is_impersonating=true")
    assert "HttpOnly" not in cookie
    acting = {"Authorization": f"Bearer {response.json()['access_token']}"}
    assert client.get(ME, headers=acting).json()["id"] == str(student.id)
    session = client.get("/api/v1/login/session", headers=acting).json()
    assert session["impersonator_id"] == str(admin.user.id)

    stopped = client.post("/api/v1/login/stop-impersonate", headers=acting)
    assert stopped.status_code == 200
    back = {"Authorization": f"Bearer {stopped.json()['access_token']}"}
    assert client.get(ME, headers=back).json()["id"] == str(admin.user.id)
    assert client.get(ME, headers=acting).status_code == 401  # the impersonation is over
    cleared = next(
        h for h in stopped.headers.get_list("set-cookie") if h.startswith("is_impersonating=")
    )
    assert "Max-Age=0" in cleared
    actions = _audit_actions(pg)
    assert ("impersonation.started", str(student.id)) in actions
    assert ("impersonation.stopped", str(student.id)) in actions


@pytest.mark.parametrize(
    ("actor_role", "target_role", "target_active", "status"),
    [
        (Role.ADMIN, Role.STUDENT, True, 403),
        (Role.TEACHER, Role.STUDENT, True, 403),
        (Role.SUPER_ADMIN, Role.SUPER_ADMIN, True, 403),
        (Role.SUPER_ADMIN, Role.ADMIN, True, 200),
        (Role.SUPER_ADMIN, Role.STUDENT, False, 403),
    ],
)
def test_impersonation_limits(client, actor_role, target_role, target_active, status):
    actor = signed_in(client, actor_role)
    target = seed_user(client, target_role, active=target_active)
    assert _impersonate(client, actor, target.id).status_code == status


def test_impersonating_unknown_user_is_404_and_self_is_403(client):
    admin = signed_in(client, Role.SUPER_ADMIN)
    assert _impersonate(client, admin, "0190c2a4-0000-7000-8000-000000000000").status_code == 404
    assert _impersonate(client, admin, admin.user.id).status_code == 403


def test_no_nested_impersonation(client):
    admin = signed_in(client, Role.SUPER_ADMIN)
    first = _impersonate(client, admin, seed_user(client).id).json()
    acting = type(admin)(user=admin.user, access_token=first["access_token"], refresh_token="")
    assert _impersonate(client, acting, seed_user(client).id).status_code == 403


def test_stop_restores_only_a_live_original_session(client):
    admin = signed_in(client, Role.SUPER_ADMIN)
    acting = {
        "Authorization": "Bearer "
        + _impersonate(client, admin, seed_user(client).id).json()["access_token"]
    }
    # The admin's own session ends meanwhile (log out everywhere from another device).
    other_device = client.post(
        "/api/v1/login/access-token", data={"username": admin.user.email, "password": PASSWORD}
    ).json()
    client.cookies.clear()
    client.post(
        "/api/v1/login/logout-all",
        headers={"Authorization": f"Bearer {other_device['access_token']}"},
    )
    response = client.post("/api/v1/login/stop-impersonate", headers=acting)
    assert response.status_code == 401
    assert client.get(ME, headers=acting).status_code == 401


def test_stop_without_impersonating_is_a_conflict(client):
    session = signed_in(client)
    response = client.post("/api/v1/login/stop-impersonate", headers=session.headers)
    assert response.status_code == 409
    assert response.json()["detail"] == "Not impersonating"


# --- CSRF -------------------------------------------------------------------------------


@pytest.fixture
def cookie_client(client):
    user = seed_user(client)
    client.post("/api/v1/login/access-token", data={"username": user.email, "password": PASSWORD})
    assert client.cookies.get("access_token")
    return client


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Origin": "https://evil.example"}, 403),
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Origin": "null"}, 403),
        ({"Origin": "http://testserver.local", "Sec-Fetch-Site": "cross-site"}, 403),
        ({"Origin": "https://evil.example", "Sec-Fetch-Site": "same-site"}, 403),
        # Fetch Metadata first: the browser saw one origin, although a proxy rewrote `Host`.
        ({"Origin": "http://localhost:5173", "Sec-Fetch-Site": "same-origin"}, 200),
        ({"Origin": "http://testserver.local"}, 200),
        ({"Sec-Fetch-Site": "same-origin"}, 200),
        ({"Origin": "https://app.example"}, 200),
        ({}, 200),
    ],
)
def test_cookie_authenticated_unsafe_requests_need_an_allowed_origin(
    cookie_client, headers, status
):
    response = cookie_client.put(ME, json={"full_name": "Changed"}, headers=headers)
    assert response.status_code == status
    if status == 403:
        assert "origin" in response.json()["detail"].lower()


def test_bearer_requests_are_not_subject_to_csrf_checks(client):
    session = signed_in(client)
    response = client.put(
        ME,
        json={"full_name": "Bearer"},
        headers={**session.headers, "Origin": "https://evil.example"},
    )
    assert response.status_code == 200


def test_login_from_a_foreign_origin_is_refused(client):
    user = seed_user(client)
    response = client.post(
        "/api/v1/login/access-token",
        data={"username": user.email, "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert "set-cookie" not in response.headers


def test_safe_requests_pass_from_any_origin(cookie_client):
    response = cookie_client.get(ME, headers={"Origin": "https://evil.example"})
    assert response.status_code == 200
